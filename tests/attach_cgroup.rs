//! cgroup programs attached to a cgroup of the test's own, counting the
//! packets and sockets of a child process in it into `__arena` globals
//! (bpf-asm/net_count.bpf.c).
//!
//! Each test mounts the cgroup v2 hierarchy on a fresh temporary directory
//! and makes one child cgroup in it (the [`Cgroup`] guard: on drop the
//! child cgroup is removed and the mount detached, also after a failure).
//! The traffic comes from a re-run of this test binary that first moves
//! itself into that cgroup (`cgroup.procs`), so the test process itself
//! stays where it was; it talks to itself over loopback.

mod common;

use bpf_arena::abi::{BPF_CGROUP_INET_EGRESS, BPF_CGROUP_INET_INGRESS};
use bpf_arena::features::Feature;
use bpf_arena::link::{Link, LinkDetail, LinkType};
use bpf_arena::loader::LoadedObject;
use bpf_arena::sys::Errno;
use bpf_arena::{AttachTarget, Error, ObjectLoader};
use std::io::ErrorKind;
use std::net::{TcpStream, UdpSocket};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Buckets of `struct net_counts` (bpf-asm/net_count.bpf.c).
const ICMP: usize = 0;
const UDP: usize = 2;

/// The child's datagrams: count and payload size.
const DATAGRAMS: usize = 6;
const PAYLOAD: usize = 200;
/// Their IPv4 length.
const PACKET: u64 = 20 + 8 + PAYLOAD as u64;

/// The variables that tell a child which cgroup to join and what to expect.
const CGROUP_VAR: &str = "BPF_ARENA_CGROUP";
const HOOKED_VAR: &str = "BPF_ARENA_HOOKED";

/// The port `cgroup/connect4` refuses while attached.
const DENY_PORT: u16 = 9;

/// Held while a child is spawned and while links are dropped. From its
/// clone until its exec closes the close-on-exec fds, a child holds a copy
/// of every fd of this process — links of other tests included. A link
/// dropped by one test during another test's spawn would stay attached
/// until that exec (long enough, on a busy machine, to count the next
/// child's traffic).
static SPAWN: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn spawn_lock() -> std::sync::MutexGuard<'static, ()> {
    SPAWN.lock().unwrap_or_else(|e| e.into_inner())
}

/// Drops `links` while no child is being spawned: detached on return.
fn drop_links<const N: usize>(links: [Link; N]) {
    let _no_spawn = spawn_lock();
    drop(links);
}

macro_rules! require_cgroup {
    () => {
        require_arena!();
        require!(Feature::ArenaAtomics, Feature::CapSysAdmin);
    };
}

/// The cgroup v2 hierarchy mounted on a fresh temporary directory, with a
/// child cgroup made in it. There is one v2 hierarchy per system: each
/// mount shows the same cgroups, so the child's name is unique to the test
/// (its tag) and the process. On drop: the child cgroup is removed (it is
/// empty once the child processes were reaped), the mount detached and the
/// directory removed.
struct Cgroup {
    mnt: PathBuf,
    dir: PathBuf,
    mounted: bool,
}

impl Cgroup {
    fn new(tag: &str) -> Cgroup {
        let name = format!("bpf-arena-{tag}-{}", std::process::id());
        let mnt = std::env::temp_dir().join(format!("{name}-cgroup2"));
        std::fs::create_dir(&mnt).expect("mount point");
        let mut cg = Cgroup {
            dir: mnt.join(&name),
            mnt,
            mounted: false,
        };
        let c = std::ffi::CString::new(cg.mnt.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: valid C strings for the call, no data argument.
        let r = unsafe {
            libc::mount(
                c"cgroup2".as_ptr(),
                c.as_ptr(),
                c"cgroup2".as_ptr(),
                libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
                std::ptr::null(),
            )
        };
        assert_eq!(
            r,
            0,
            "mount -t cgroup2 on {}: {}",
            cg.mnt.display(),
            std::io::Error::last_os_error()
        );
        cg.mounted = true;
        std::fs::create_dir(&cg.dir).expect("make the test's cgroup");
        cg
    }

    fn target(&self, obj: &LoadedObject, prog: &str) -> AttachTarget {
        obj.attach_target(prog).unwrap().with_cgroup(&self.dir)
    }

    /// Re-runs test `test` as role `role` in this cgroup; `hooked` says
    /// whether the socket hooks are attached. Returns what it printed.
    fn run_child(&self, test: &str, role: &str, hooked: bool) -> String {
        let _no_drop = spawn_lock();
        let (status, text) = common::rerun_with_env(
            test,
            role,
            &[
                (CGROUP_VAR, self.dir.to_str().unwrap()),
                (HOOKED_VAR, if hooked { "1" } else { "0" }),
            ],
        );
        assert!(status.success(), "child {role} failed:\n{text}");
        text
    }
}

impl Drop for Cgroup {
    fn drop(&mut self) {
        // A child that just exited may still be leaving the cgroup.
        for _ in 0..100 {
            match std::fs::remove_dir(&self.dir) {
                Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                    std::thread::sleep(std::time::Duration::from_millis(10))
                }
                _ => break,
            }
        }
        if self.mounted {
            let c = std::ffi::CString::new(self.mnt.as_os_str().as_encoded_bytes()).unwrap();
            // SAFETY: a valid C string for the call.
            unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
        }
        let _ = std::fs::remove_dir(&self.mnt);
    }
}

/// In a child: moves this whole process into the cgroup the parent named.
/// Sockets made from now on belong to it.
fn join_cgroup() {
    let dir = std::env::var(CGROUP_VAR).expect("the parent names the cgroup");
    std::fs::write(
        Path::new(&dir).join("cgroup.procs"),
        std::process::id().to_string(),
    )
    .expect("join the cgroup");
}

fn hooked() -> bool {
    std::env::var(HOOKED_VAR).as_deref() == Ok("1")
}

fn load() -> LoadedObject {
    ObjectLoader::from_file(common::asm_object("net_count.bpf.o"))
        .expect("parse net_count.bpf.o")
        .load()
        .expect("load net_count.bpf.o")
}

/// Packets and bytes per bucket (ICMP, TCP, UDP, other IPv4, not IPv4) of
/// `struct net_counts` global `name`, read straight from the arena.
fn counts(obj: &LoadedObject, name: &str) -> [[u64; 5]; 2] {
    let ptr = obj.arena_global::<[[u64; 5]; 2]>(name).unwrap();
    obj.arena().unwrap().read(ptr).unwrap()
}

/// `n` datagrams of [`PAYLOAD`] bytes, as `struct net_counts`.
fn udp(n: u64) -> [[u64; 5]; 2] {
    let mut c = [[0; 5]; 2];
    c[0][UDP] = n;
    c[1][UDP] = n * PACKET;
    c
}

fn arena_u64(obj: &LoadedObject, name: &str) -> u64 {
    obj.arena()
        .unwrap()
        .read(obj.arena_global::<u64>(name).unwrap())
        .unwrap()
}

/// `cgroup_skb/ingress` and `cgroup_skb/egress` count the child's UDP
/// datagrams over loopback exactly once each way (and nothing of any
/// other process); after detach, and after drop, they count no more.
#[test]
fn cgroup_skb_counts_the_cgroups_packets() {
    const TEST: &str = "cgroup_skb_counts_the_cgroups_packets";
    if common::is_child("udp") {
        join_cgroup();
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        rx.set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        let mut buf = [0u8; PAYLOAD + 1];
        for _ in 0..DATAGRAMS {
            tx.send_to(&[7; PAYLOAD], rx.local_addr().unwrap()).unwrap();
            assert_eq!(rx.recv(&mut buf).unwrap(), PAYLOAD);
        }
        println!("child: {DATAGRAMS} datagrams");
        return;
    }
    require_cgroup!();
    let cg = Cgroup::new("skb");
    let obj = load();
    let ingress = obj
        .attach_to("cg_count_ingress", &cg.target(&obj, "cg_count_ingress"))
        .expect("attach cgroup_skb/ingress");
    // By hand, as a program whose section names no direction would be.
    let egress = Link::attach(
        obj.program("cg_count_egress").unwrap(),
        &AttachTarget::Cgroup {
            path: Some(cg.dir.clone()),
            attach_type: BPF_CGROUP_INET_EGRESS,
            hook: "cgroup_skb/egress".into(),
        },
    )
    .expect("attach cgroup_skb/egress");

    let cgroup_id = std::fs::metadata(&cg.dir).unwrap().ino();
    let info = ingress.info().unwrap();
    assert_eq!(info.link_type, LinkType::CGROUP);
    assert_eq!(
        info.prog_id,
        obj.program("cg_count_ingress").unwrap().info().unwrap().id
    );
    assert_eq!(
        info.detail,
        LinkDetail::Cgroup {
            cgroup_id,
            attach_type: BPF_CGROUP_INET_INGRESS
        }
    );
    assert_eq!(
        egress.info().unwrap().detail,
        LinkDetail::Cgroup {
            cgroup_id,
            attach_type: BPF_CGROUP_INET_EGRESS
        }
    );

    assert_eq!(counts(&obj, "cg_in_counts"), udp(0));
    cg.run_child(TEST, "udp", true);
    let n = DATAGRAMS as u64;
    assert_eq!(counts(&obj, "cg_in_counts"), udp(n));
    assert_eq!(counts(&obj, "cg_out_counts"), udp(n));

    ingress.detach().expect("detach cgroup_skb/ingress");
    assert_eq!(
        ingress.info().unwrap().detail,
        LinkDetail::Cgroup {
            cgroup_id: 0,
            attach_type: BPF_CGROUP_INET_INGRESS
        }
    );
    cg.run_child(TEST, "udp", true);
    assert_eq!(counts(&obj, "cg_in_counts"), udp(n), "detached");
    assert_eq!(counts(&obj, "cg_out_counts"), udp(2 * n));

    drop_links([egress, ingress]);
    cg.run_child(TEST, "udp", false);
    assert_eq!(counts(&obj, "cg_in_counts"), udp(n));
    assert_eq!(counts(&obj, "cg_out_counts"), udp(2 * n), "dropped");
    assert_eq!(counts(&obj, "cg_out_counts")[0][ICMP], 0);
}

/// `cgroup/sock_create` counts exactly the child's sockets;
/// `cgroup/connect4` counts its connects and refuses those to the port
/// user space wrote into the arena (`EPERM` for the caller). Without the
/// links, nothing is counted and nothing refused.
#[test]
fn cgroup_socket_hooks_count_sockets_and_refuse_a_port() {
    const TEST: &str = "cgroup_socket_hooks_count_sockets_and_refuse_a_port";
    if common::is_child("sockets") {
        join_cgroup();
        // Socket 1 and 2, and a connect the hook allows.
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        a.connect(b.local_addr().unwrap()).expect("allowed connect");
        // A UDP connect to the refused port.
        let r = b.connect(("127.0.0.1", DENY_PORT));
        // Socket 3: a TCP connect to the refused port (nothing listens
        // there: refused by the kernel when not by the hook).
        let t = TcpStream::connect(("127.0.0.1", DENY_PORT));
        if hooked() {
            assert_eq!(r.unwrap_err().kind(), ErrorKind::PermissionDenied);
            assert_eq!(t.unwrap_err().kind(), ErrorKind::PermissionDenied);
        } else {
            r.expect("UDP connect without the hook");
            assert_eq!(t.unwrap_err().kind(), ErrorKind::ConnectionRefused);
        }
        println!("child: 3 sockets, 3 connects");
        return;
    }
    require_cgroup!();
    let cg = Cgroup::new("sock");
    let obj = load();
    let port = obj.arena_global::<u32>("deny_port").unwrap();
    obj.arena()
        .unwrap()
        .write(port, u32::from(DENY_PORT))
        .unwrap();
    let create = obj
        .attach_to("cg_sock_create", &cg.target(&obj, "cg_sock_create"))
        .expect("attach cgroup/sock_create");
    let connect = obj
        .attach_to("cg_connect4", &cg.target(&obj, "cg_connect4"))
        .expect("attach cgroup/connect4");
    assert_eq!(
        connect.target().unwrap().to_string(),
        format!("cgroup/connect4 {}", cg.dir.display())
    );

    cg.run_child(TEST, "sockets", true);
    assert_eq!(arena_u64(&obj, "sockets_created"), 3);
    assert_eq!(arena_u64(&obj, "connects"), 3);
    assert_eq!(arena_u64(&obj, "connects_denied"), 2);

    drop_links([create, connect]);
    cg.run_child(TEST, "sockets", false);
    assert_eq!(arena_u64(&obj, "sockets_created"), 3, "dropped");
    assert_eq!(arena_u64(&obj, "connects"), 3, "dropped");
}

/// Attaching without a cgroup, to a path that is not a directory, to one
/// that does not exist or to a directory that is no cgroup: each error
/// names the program and the target.
#[test]
fn cgroup_attach_errors_name_program_and_target() {
    require_cgroup!();
    let cg = Cgroup::new("errors");
    let obj = load();
    let text = |r: bpf_arena::Result<Link>| match r {
        Err(e) => e.to_string(),
        Ok(l) => panic!("attached: {l:?}"),
    };

    let e = obj.attach("cg_count_ingress").unwrap_err();
    assert!(matches!(e, Error::Invalid { .. }), "{e:?}");
    assert_eq!(
        e.to_string(),
        "invalid attach target: program 'cg_count_ingress': cgroup_skb/ingress needs a \
         cgroup directory (AttachTarget::with_cgroup, or the CLI's --cgroup)"
    );

    let file = cg.dir.join("cgroup.procs");
    let r = obj.attach_to(
        "cg_count_ingress",
        &obj.attach_target("cg_count_ingress")
            .unwrap()
            .with_cgroup(&file),
    );
    assert!(matches!(r, Err(Error::Invalid { .. })), "{r:?}");
    assert_eq!(
        text(r),
        format!(
            "invalid cgroup: {0} is a regular file, not a cgroup directory \
             (for program 'cg_count_ingress' to cgroup_skb/ingress {0})",
            file.display()
        )
    );

    let missing = cg.dir.join("no-such-cgroup");
    let r = obj.attach_to("cg_sock_create", &cg_target(&obj, &missing));
    assert_eq!(common::errno(r), Errno::ENOENT);
    let r = obj.attach_to("cg_sock_create", &cg_target(&obj, &missing));
    assert!(
        text(r).contains(&format!(
            "program 'cg_sock_create' to cgroup/sock_create {}",
            missing.display()
        )),
        "names the program and target"
    );

    // A directory outside cgroupfs: the kernel's EBADF.
    let plain = std::env::temp_dir();
    let r = obj.attach_to("cg_sock_create", &cg_target(&obj, &plain));
    match r {
        Err(e @ Error::Bpf { .. }) => {
            assert_eq!(e.errno(), Some(Errno::EBADF), "{e}");
            assert!(e.to_string().contains("program 'cg_sock_create'"), "{e}");
        }
        other => panic!("expected the kernel's EBADF, got {other:?}"),
    }
}

fn cg_target(obj: &LoadedObject, dir: &Path) -> AttachTarget {
    obj.attach_target("cg_sock_create")
        .unwrap()
        .with_cgroup(dir)
}

//! A BPF TCP congestion control (`bpf-asm/tcp_cc.bpf.c`: Reno, with its
//! per-connection state in an arena) loaded from its struct_ops maps,
//! registered, used by a loopback connection, and unregistered.
//!
//! A congestion control's name is global to the kernel, so everything runs
//! in one test function: threads of this binary cannot collide on it.

mod common;

use bpf_arena::link::{LinkDetail, LinkType};
use bpf_arena::obj::{KernelMemberKind, KernelStructOps};
use bpf_arena::{Error, LoadedObject, ObjectLoader, Plain};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

const OBJ: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/bpf-asm/tcp_cc.bpf.o");
/// The `.struct_ops.link` map's congestion control.
const CC: &str = "bpf_arena_cc";
/// The `.struct_ops` map's.
const CC_NOLINK: &str = "bpf_arena_cc_nl";
const SLOTS: usize = 64;
const AVAILABLE: &str = "/proc/sys/net/ipv4/tcp_available_congestion_control";

/// `struct cc_slot` of tcp_cc.bpf.c.
#[derive(Clone, Copy, Debug, Default)]
#[repr(C)]
struct Slot {
    inits: u64,
    releases: u64,
    cong_avoid_calls: u64,
    acked: u64,
    ssthresh_calls: u64,
    undo_calls: u64,
    state_changes: u64,
    cwnd_events: u64,
    cwnd: u32,
    max_cwnd: u32,
    ssthresh: u32,
    local_port: u16,
    remote_port: u16,
}
// SAFETY: repr(C) integers without padding (8 * 8 + 3 * 4 + 2 * 2 = 80
// bytes, a multiple of 8); every bit pattern is valid.
unsafe impl Plain for Slot {}

/// A TCP socket, not connected: enough to ask for a congestion control.
fn tcp_socket() -> OwnedFd {
    // SAFETY: socket() has no memory arguments; a non-negative result is
    // a new fd we own.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    assert!(fd >= 0, "{}", std::io::Error::last_os_error());
    // SAFETY: fd is a fresh descriptor nobody else owns.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

fn available() -> Vec<String> {
    std::fs::read_to_string(AVAILABLE)
        .unwrap()
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

fn is_available(cc: &str) -> bool {
    available().iter().any(|c| c == cc)
}

/// `setsockopt(TCP_CONGESTION, cc)`.
fn set_cc(fd: &impl AsRawFd, cc: &str) -> std::io::Result<()> {
    // SAFETY: the buffer is valid for its length; the fd is open.
    let r = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_CONGESTION,
            cc.as_ptr().cast(),
            cc.len() as libc::socklen_t,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// `getsockopt(TCP_CONGESTION)`.
fn get_cc(fd: &impl AsRawFd) -> String {
    let mut buf = [0u8; 16];
    let mut len = buf.len() as libc::socklen_t;
    // SAFETY: the buffer is valid for `len` bytes; the fd is open.
    let r = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_CONGESTION,
            buf.as_mut_ptr().cast(),
            &mut len,
        )
    };
    assert_eq!(r, 0, "{}", std::io::Error::last_os_error());
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// `tcpi_snd_cwnd` from `getsockopt(TCP_INFO)`.
fn snd_cwnd(fd: &impl AsRawFd) -> u32 {
    // SAFETY: tcp_info is plain data; zero is a valid value.
    let mut info: libc::tcp_info = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
    // SAFETY: `info` is valid for `len` bytes; the fd is open.
    let r = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            (&raw mut info).cast(),
            &mut len,
        )
    };
    assert_eq!(r, 0, "{}", std::io::Error::last_os_error());
    info.tcpi_snd_cwnd
}

fn slots(obj: &LoadedObject) -> Vec<Slot> {
    let arena = obj.arena().unwrap();
    (0..SLOTS)
        .map(|i| {
            let p = obj
                .arena_global_at::<Slot>("slots", (i * std::mem::size_of::<Slot>()) as u64)
                .unwrap();
            arena.read(p).unwrap()
        })
        .collect()
}

/// The slot of the connection from local port `local` to `remote`.
fn slot_of(obj: &LoadedObject, local: u16, remote: u16) -> Option<Slot> {
    slots(obj)
        .into_iter()
        .find(|s| s.inits > 0 && s.local_port == local && s.remote_port == remote)
}

/// Waits up to 5 s for `cond`.
fn eventually(mut cond: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(5) {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    cond()
}

/// A connection over loopback whose both ends use congestion control
/// `cc` (the client selects it once connected, the accepted socket
/// inherits it from the listener), the client sending `bytes` bytes.
/// Returns the client, the accepted socket and the client's cwnd.
fn transfer(cc: &str, bytes: usize) -> (TcpStream, TcpStream, u32) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    set_cc(&listener, cc).unwrap();
    let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    set_cc(&client, cc).unwrap();
    assert_eq!(get_cc(&client), cc);
    let (mut server, _) = listener.accept().unwrap();
    assert_eq!(get_cc(&server), cc, "inherited from the listener");
    let reader = std::thread::spawn(move || {
        let mut buf = vec![0u8; 1 << 16];
        let mut got = 0usize;
        while got < bytes {
            let n = server.read(&mut buf).unwrap();
            assert!(n > 0, "early end of stream after {got} bytes");
            got += n;
        }
        server
    });
    let chunk = vec![0x5au8; 1 << 16];
    let mut sent = 0;
    while sent < bytes {
        let n = chunk.len().min(bytes - sent);
        client.write_all(&chunk[..n]).unwrap();
        sent += n;
    }
    let server = reader.join().unwrap();
    let cwnd = snd_cwnd(&client);
    (client, server, cwnd)
}

fn port(s: &TcpStream, local: bool) -> u16 {
    if local {
        s.local_addr().unwrap().port()
    } else {
        s.peer_addr().unwrap().port()
    }
}

#[test]
fn tcp_congestion_control_with_arena_state() {
    // The object has an arena (6.9), which also covers struct_ops links
    // (6.4) and struct_ops maps (5.6).
    require_arena!();
    if !common::kernel_at_least("6.4") {
        common::report(
            "SKIP",
            "tcp_congestion_control_with_arena_state",
            &format!(
                "struct_ops links need Linux 6.4 (this kernel: {})",
                common::kernel_release()
            ),
        );
        return;
    }
    for cc in [CC, CC_NOLINK] {
        assert!(
            !is_available(cc),
            "{cc} is registered already (another run of this test?): {:?}",
            available()
        );
    }
    let obj = ObjectLoader::from_file(OBJ).unwrap().load().unwrap();
    let maps: Vec<(&str, bool)> = obj
        .struct_ops_maps()
        .map(|s| (s.name.as_str(), s.link))
        .collect();
    assert_eq!(maps, [("arena_cc", true), ("arena_cc_nolink", false)]);
    let map = obj.map("arena_cc").unwrap();
    assert_eq!(map.info().map_type, 26);
    assert_eq!(map.info().key_size, 4);
    let kernel = KernelStructOps::find(
        bpf_arena::kfunc::vmlinux_btf().unwrap(),
        "tcp_congestion_ops",
    )
    .unwrap()
    .expect("struct tcp_congestion_ops in vmlinux BTF");
    assert_eq!(
        map.info().value_size,
        kernel.value_size,
        "the kernel's bpf_struct_ops_tcp_congestion_ops, not the object's 72 bytes"
    );
    let ssthresh = kernel
        .members
        .iter()
        .find(|m| m.name == "ssthresh")
        .unwrap();
    // Its index is its position among the kernel struct's members, which
    // moves between releases (0 in 6.x; 7.3 put members before it).
    let btf = bpf_arena::kfunc::vmlinux_btf().unwrap();
    let id = btf
        .find_by_name(bpf_arena::btf::kind::STRUCT, "tcp_congestion_ops")
        .unwrap();
    let position = btf
        .members(id)
        .unwrap()
        .iter()
        .position(|(n, _, _)| *n == "ssthresh")
        .unwrap();
    assert_eq!(
        (ssthresh.index as usize, ssthresh.kind),
        (position, KernelMemberKind::Func)
    );
    // (The kernel checked each program's expected_attach_type against its
    // member's index when the value was written at load.)
    for (name, p) in obj.programs() {
        assert_eq!(
            p.program_type(),
            bpf_arena::ProgramType::STRUCT_OPS,
            "{name}"
        );
    }
    // Loaded, not registered: nobody can select it yet.
    assert!(!is_available(CC));
    let probe = tcp_socket();
    assert_eq!(
        set_cc(&probe, CC).unwrap_err().raw_os_error(),
        Some(libc::ENOENT)
    );

    // Misuse is a typed error.
    let e = obj.attach_struct_ops("nope").unwrap_err();
    assert!(
        matches!(e, Error::Invalid { .. }) && e.to_string().contains("arena_cc"),
        "{e}"
    );
    let e = obj.attach_struct_ops("arena_cc_nolink").unwrap_err();
    assert!(e.to_string().contains("register_struct_ops"), "{e}");
    let e = obj.register_struct_ops("arena_cc").unwrap_err();
    assert!(e.to_string().contains("attach_struct_ops"), "{e}");

    // Registered through a link.
    let link = obj.attach_struct_ops("arena_cc").unwrap();
    let info = link.info().unwrap();
    assert_eq!(info.link_type, LinkType::STRUCT_OPS);
    assert_eq!(info.prog_id, 0);
    // The map's id in link info came with Linux 6.7.
    let map_id = if common::kernel_at_least("6.7") {
        map.info().id
    } else {
        0
    };
    assert_eq!(info.detail, LinkDetail::StructOps { map_id });
    assert!(is_available(CC), "{:?}", available());

    let (client, server, cwnd) = transfer(CC, 8 << 20);
    let (cport, sport) = (port(&client, true), port(&client, false));
    assert_eq!(port(&server, true), sport);
    let sender = slot_of(&obj, cport, sport).expect("a slot for the client");
    let receiver = slot_of(&obj, sport, cport).expect("a slot for the accepted socket");
    eprintln!("sender {sender:?}\nreceiver {receiver:?}\nTCP_INFO snd_cwnd {cwnd}");
    for s in [&sender, &receiver] {
        assert_eq!(s.inits, 1, "init runs once per socket: {s:?}");
        assert_eq!(s.releases, 0, "{s:?}");
        assert!(s.cwnd > 0 && s.cwnd <= s.max_cwnd, "{s:?}");
    }
    assert!(sender.cong_avoid_calls > 0, "{sender:?}");
    assert!(sender.acked >= sender.cong_avoid_calls, "{sender:?}");
    // Only cong_avoid and undo_cwnd raise the window, and both record it.
    assert!(
        cwnd > 0 && cwnd <= sender.max_cwnd,
        "TCP_INFO {cwnd}, {sender:?}"
    );
    let used = slots(&obj).iter().filter(|s| s.inits > 0).count();
    assert_eq!(used, 2, "exactly the two sockets that selected {CC}");
    assert_eq!(obj.global::<u32>("next_slot").unwrap(), 2);

    // Closed: each socket releases its state once.
    drop(client);
    drop(server);
    assert!(
        eventually(|| {
            [(cport, sport), (sport, cport)]
                .iter()
                .all(|&(l, r)| slot_of(&obj, l, r).is_some_and(|s| s.releases == 1))
        }),
        "{:?} {:?}",
        slot_of(&obj, cport, sport),
        slot_of(&obj, sport, cport)
    );

    // Unregistered with the link.
    drop(link);
    assert!(!is_available(CC), "{:?}", available());
    assert_eq!(
        set_cc(&probe, CC).unwrap_err().raw_os_error(),
        Some(libc::ENOENT)
    );
    // The map keeps its value: it can be attached again.
    let again = obj.attach_struct_ops("arena_cc").unwrap();
    assert!(is_available(CC));
    drop(again);
    assert!(!is_available(CC));

    // The .struct_ops map registers by its update, unregisters by delete.
    obj.register_struct_ops("arena_cc_nolink").unwrap();
    assert!(is_available(CC_NOLINK), "{:?}", available());
    let e = obj.register_struct_ops("arena_cc_nolink").unwrap_err();
    assert_eq!(e.errno(), Some(bpf_arena::Errno::EBUSY), "{e}");
    let (client, server, _) = transfer(CC_NOLINK, 1 << 20);
    let (cport, sport) = (port(&client, true), port(&client, false));
    // The same programs, so the same slots array.
    let sender = slot_of(&obj, cport, sport).expect("a slot for the second client");
    assert_eq!(sender.inits, 1, "{sender:?}");
    assert!(sender.cong_avoid_calls > 0, "{sender:?}");
    assert_eq!(obj.global::<u32>("next_slot").unwrap(), 4);
    obj.unregister_struct_ops("arena_cc_nolink").unwrap();
    assert!(!is_available(CC_NOLINK));
    // Sockets that selected it keep it.
    assert_eq!(get_cc(&client), CC_NOLINK);
    assert_eq!(
        set_cc(&probe, CC_NOLINK).unwrap_err().raw_os_error(),
        Some(libc::ENOENT)
    );
    // Unregistered for good: the kernel says so to a second delete.
    let e = obj.unregister_struct_ops("arena_cc_nolink").unwrap_err();
    assert_eq!(e.errno(), Some(bpf_arena::Errno::EINPROGRESS), "{e}");
    drop((client, server, probe));

    // load_only keeps all of a struct_ops map's programs, or none (then
    // the map is not created).
    let e = ObjectLoader::from_file(OBJ)
        .unwrap()
        .load_only(&["cc_init"])
        .unwrap()
        .load()
        .unwrap_err();
    assert!(e.to_string().contains("needs programs"), "{e}");
    let none = ObjectLoader::from_file(OBJ)
        .unwrap()
        .load_only::<&str>(&[])
        .unwrap()
        .load()
        .unwrap();
    assert_eq!(none.struct_ops_maps().count(), 0);
    assert!(none.map("arena_cc").is_none());
    drop(none);

    // Dropping the object unregisters a registered .struct_ops map.
    let obj2 = ObjectLoader::from_file(OBJ).unwrap().load().unwrap();
    let e = obj2.unregister_struct_ops("arena_cc_nolink").unwrap_err();
    assert_eq!(
        e.errno(),
        Some(bpf_arena::Errno::ENOENT),
        "never registered: {e}"
    );
    obj2.register_struct_ops("arena_cc_nolink").unwrap();
    assert!(is_available(CC_NOLINK));
    drop(obj2);
    assert!(!is_available(CC_NOLINK), "{:?}", available());
}

/// Objects whose struct_ops maps cannot match the kernel are refused
/// before anything is created, each with an error naming the map, member
/// or program (`bpf-asm/bad/tcp_cc_mismatch.bpf.c`; only vmlinux BTF is
/// read, so this registers nothing and needs no privileges).
#[test]
fn mismatched_struct_ops_are_refused_at_load() {
    if !std::path::Path::new(bpf_arena::kfunc::VMLINUX_BTF_PATH).exists() {
        common::report(
            "SKIP",
            "mismatched_struct_ops_are_refused_at_load",
            "this kernel has no /sys/kernel/btf/vmlinux (CONFIG_DEBUG_INFO_BTF)",
        );
        return;
    }
    let bad = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/bpf-asm/bad/tcp_cc_mismatch.bpf.o"
    );
    let load = |progs: &[&str]| {
        ObjectLoader::from_file(bad)
            .unwrap()
            .load_only(progs)
            .unwrap()
            .load()
            .unwrap_err()
    };
    let e = load(&["twice", "avoid"]);
    assert!(
        matches!(&e, Error::Invalid { .. })
            && e.to_string().contains("'twice' fills member")
            && e.to_string().contains("'two_members'"),
        "{e}"
    );
    let e = load(&["extra_ssthresh"]);
    assert!(
        matches!(&e, Error::Object(_))
            && e.to_string()
                .contains("map 'unknown_member': member 'not_in_kernel' is set"),
        "{e}"
    );
    let e = load(&["nothing"]);
    assert!(
        matches!(&e, Error::Unresolved { name, .. } if name == "no_such_ops"),
        "{e}"
    );
    let e = load(&["orphan"]);
    assert!(
        e.to_string().contains("'orphan'") && e.to_string().contains("fills no member"),
        "{e}"
    );
}

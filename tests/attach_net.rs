//! XDP and tcx programs attached to real interfaces, counting real packets
//! per protocol into `__arena` globals (bpf-asm/net_count.bpf.c).
//!
//! Each test makes its own pair of network namespaces joined by a veth pair
//! (examples/common/netns.rs: the test thread enters them with
//! `unshare`/`setns` and leaves them again; they vanish with the pair, the
//! sockets and the links), sends UDP datagrams and pings from the left end
//! to the right one, and checks the arena counts the exact packets and
//! bytes sent; after the link is dropped or detached, more traffic leaves
//! the counts where they were.

mod common;
#[path = "../examples/common/netns.rs"]
mod netns;

use bpf_arena::features::Feature;
use bpf_arena::link::{Iface, Link, LinkDetail, LinkType};
use bpf_arena::loader::LoadedObject;
use bpf_arena::sys::Errno;
use bpf_arena::{AttachTarget, Error, ObjectLoader};
use netns::{LEFT_IF, RIGHT_IF, VethPair};
use std::path::PathBuf;

/// Buckets of `struct net_counts` (bpf-asm/net_count.bpf.c).
const ICMP: usize = 0;
const TCP: usize = 1;
const UDP: usize = 2;
const OTHER_IP: usize = 3;

/// UDP payload and ping payload sizes, and the IPv4 packets they make.
const UDP_PAYLOAD: usize = 100;
const UDP_PACKET: u64 = 20 + 8 + UDP_PAYLOAD as u64;
const PING_PAYLOAD: usize = 56;
const PING_PACKET: u64 = 20 + 8 + PING_PAYLOAD as u64;

/// Skips unless the kernel runs arena programs with atomics and this
/// process may make namespaces.
macro_rules! require_net {
    () => {
        require_arena!();
        require!(Feature::ArenaAtomics, Feature::CapSysAdmin);
    };
}

/// A bpffs mounted on a fresh temporary directory; on drop the mount is
/// detached (and the pins in it go) and the directory removed. Mounted with
/// mount(2), not mount(8): the tests here start no child process, as a
/// child holds a copy of this process's fds from its clone to its exec —
/// a link another test drops meanwhile would stay attached and count.
struct Bpffs(PathBuf);

impl Bpffs {
    fn new(tag: &str) -> Bpffs {
        let dir = std::env::temp_dir().join(format!("bpf-arena-{tag}-{}", std::process::id()));
        std::fs::create_dir(&dir).expect("mount point");
        let fs = Bpffs(dir);
        let c = std::ffi::CString::new(fs.0.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: valid C strings for the call, no data argument.
        let r = unsafe {
            libc::mount(
                c"bpf".as_ptr(),
                c.as_ptr(),
                c"bpf".as_ptr(),
                0,
                std::ptr::null(),
            )
        };
        let e = std::io::Error::last_os_error();
        assert_eq!(r, 0, "mount -t bpf on {}: {e}", fs.0.display());
        fs
    }
}

impl Drop for Bpffs {
    fn drop(&mut self) {
        let c = std::ffi::CString::new(self.0.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a valid C string for the call (EINVAL if not mounted).
        unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
        let _ = std::fs::remove_dir(&self.0);
    }
}

fn load() -> LoadedObject {
    ObjectLoader::from_file(common::asm_object("net_count.bpf.o"))
        .expect("parse net_count.bpf.o")
        .load()
        .expect("load net_count.bpf.o")
}

fn pair() -> VethPair {
    VethPair::new().expect("two network namespaces joined by a veth pair")
}

/// One hook's IPv4 counts, read straight from the arena: packets and bytes
/// per bucket (ICMP, TCP, UDP, other IPv4). The not-IPv4 bucket is left
/// out: ARP and IPv6 chatter come and go on their own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Counts {
    packets: [u64; 4],
    bytes: [u64; 4],
}

fn counts(obj: &LoadedObject, global: &str) -> Counts {
    let ptr = obj
        .arena_global::<[[u64; 5]; 2]>(global)
        .expect("a struct net_counts global");
    let [p, b] = obj.arena().expect("arena").read(ptr).expect("read");
    Counts {
        packets: [p[0], p[1], p[2], p[3]],
        bytes: [b[0], b[1], b[2], b[3]],
    }
}

/// `udp` datagrams and `pings` echo requests, as [`Counts`].
fn expect(udp: u64, pings: u64) -> Counts {
    let mut c = Counts {
        packets: [0; 4],
        bytes: [0; 4],
    };
    c.packets[UDP] = udp;
    c.bytes[UDP] = udp * UDP_PACKET;
    c.packets[ICMP] = pings;
    c.bytes[ICMP] = pings * PING_PACKET;
    c
}

fn send(pair: &VethPair, udp: usize, pings: usize) {
    pair.udp_left_to_right(udp, UDP_PAYLOAD)
        .expect("UDP left to right");
    pair.ping_left_to_right(pings, PING_PAYLOAD)
        .expect("ping left to right");
}

fn prog_id(obj: &LoadedObject, name: &str) -> u32 {
    obj.program(name).unwrap().info().unwrap().id
}

/// `xdp` on the right end through `LoadedObject::attach_to`: every UDP
/// datagram and echo request from the left is counted once, with its IPv4
/// length; dropping the link stops the counting.
#[test]
fn xdp_counts_each_packet_per_protocol() {
    require_net!();
    let pair = pair();
    let obj = load();
    let target = obj
        .attach_target("xdp_count")
        .unwrap()
        .with_iface(Iface::Name(RIGHT_IF.into()));
    assert_eq!(target.to_string(), "xdp veth-r");
    let (link, ifindex) = pair.in_right(|| {
        let link = obj.attach_to("xdp_count", &target).expect("attach xdp");
        (link, netns::if_index(RIGHT_IF).unwrap())
    });
    let info = link.info().unwrap();
    assert_eq!(info.link_type, LinkType::XDP);
    assert_eq!(info.prog_id, prog_id(&obj, "xdp_count"));
    assert_eq!(info.detail, LinkDetail::Xdp { ifindex });
    assert_eq!(link.target(), Some(&target));

    assert_eq!(counts(&obj, "xdp_counts"), expect(0, 0));
    send(&pair, 10, 3);
    assert_eq!(counts(&obj, "xdp_counts"), expect(10, 3));
    pair.tcp_left_to_right(64 * 1024)
        .expect("TCP left to right");
    let with_tcp = counts(&obj, "xdp_counts");
    assert!(with_tcp.packets[TCP] >= 4, "{with_tcp:?}");
    assert_eq!(with_tcp.packets[UDP], 10);
    assert_eq!(with_tcp.packets[OTHER_IP], 0);

    drop(link);
    send(&pair, 10, 3);
    pair.tcp_left_to_right(1024).expect("TCP left to right");
    assert_eq!(counts(&obj, "xdp_counts"), with_tcp, "counted after drop");
}

/// `Link::attach` by index; the link pinned in a private bpffs keeps the
/// program attached after the `Link` is dropped, `open_pinned` finds the
/// same link, a second XDP link on the interface is refused, and
/// `Link::detach` stops the counting and leaves ifindex 0 in the link's
/// info.
#[test]
fn xdp_link_by_index_pinned_then_detached() {
    require_net!();
    let pair = pair();
    let obj = load();
    let bpffs = Bpffs::new("attach-net-xdp-pin");
    let pin = bpffs.0.join("xdp_link");
    let ifindex = pair.in_right(|| netns::if_index(RIGHT_IF).unwrap());
    let target = AttachTarget::Xdp {
        iface: Iface::Index(ifindex),
    };
    let prog = obj.program("xdp_count").unwrap();
    // An index means an interface of the calling thread's namespace.
    let link = pair
        .in_right(|| Link::attach(prog, &target))
        .expect("attach by index");
    let id = link.info().unwrap().id;
    link.pin(&pin).expect("pin the link");
    drop(link);

    send(&pair, 5, 2);
    assert_eq!(counts(&obj, "xdp_counts"), expect(5, 2), "pinned: attached");

    let again = pair.in_right(|| Link::attach(prog, &target));
    assert_eq!(common::errno(again), Errno::EBUSY, "a second XDP link");

    let opened = Link::open_pinned(&pin).expect("open the pin");
    let info = opened.info().unwrap();
    assert_eq!((info.id, info.link_type), (id, LinkType::XDP));
    assert_eq!(info.detail, LinkDetail::Xdp { ifindex });
    assert_eq!(opened.target(), None, "adopted: no target known");

    opened.detach().expect("detach");
    let info = opened.info().unwrap();
    assert_eq!(info.detail, LinkDetail::Xdp { ifindex: 0 });
    assert_eq!(info.prog_id, prog_id(&obj, "xdp_count"), "still named");
    send(&pair, 5, 2);
    assert_eq!(counts(&obj, "xdp_counts"), expect(5, 2), "detached");
    std::fs::remove_file(&pin).expect("unpin");

    // The interface is free again.
    let link = pair
        .in_right(|| Link::attach(prog, &target))
        .expect("attach after detach");
    send(&pair, 1, 0);
    assert_eq!(counts(&obj, "xdp_counts"), expect(6, 2));
    drop(link);
}

/// `tcx/egress` on the left end and `tcx/ingress` on the right one see the
/// same packets; detaching one stops only that one.
#[test]
fn tcx_ingress_and_egress_count_both_ends() {
    require_net!();
    require!(Feature::TcxLinks);
    let pair = pair();
    let obj = load();
    let egress = pair.in_left(|| {
        let target = obj
            .attach_target("tcx_count_egress")
            .unwrap()
            .with_iface(Iface::Name(LEFT_IF.into()));
        assert_eq!(target.to_string(), "tcx/egress veth-l");
        obj.attach_to("tcx_count_egress", &target)
            .expect("attach tcx/egress")
    });
    let right_index = pair.in_right(|| netns::if_index(RIGHT_IF).unwrap());
    let ingress = pair
        .in_right(|| {
            Link::attach(
                obj.program("tcx_count_ingress").unwrap(),
                &AttachTarget::Tcx {
                    iface: Iface::Index(right_index),
                    egress: false,
                },
            )
        })
        .expect("attach tcx/ingress");

    let left_index = pair.in_left(|| netns::if_index(LEFT_IF).unwrap());
    let info = egress.info().unwrap();
    assert_eq!(info.link_type, LinkType::TCX);
    assert_eq!(info.prog_id, prog_id(&obj, "tcx_count_egress"));
    assert_eq!(
        info.detail,
        LinkDetail::Tcx {
            ifindex: left_index,
            attach_type: bpf_arena::abi::BPF_TCX_EGRESS
        }
    );
    assert_eq!(
        ingress.info().unwrap().detail,
        LinkDetail::Tcx {
            ifindex: right_index,
            attach_type: bpf_arena::abi::BPF_TCX_INGRESS
        }
    );

    send(&pair, 7, 2);
    assert_eq!(counts(&obj, "tcx_out_counts"), expect(7, 2));
    assert_eq!(counts(&obj, "tcx_in_counts"), expect(7, 2));

    egress.detach().expect("detach tcx/egress");
    let info = egress.info().unwrap();
    assert_eq!(
        info.detail,
        LinkDetail::Tcx {
            ifindex: 0,
            attach_type: bpf_arena::abi::BPF_TCX_EGRESS
        }
    );
    assert_eq!(info.prog_id, prog_id(&obj, "tcx_count_egress"));
    send(&pair, 3, 1);
    assert_eq!(counts(&obj, "tcx_out_counts"), expect(7, 2), "detached");
    assert_eq!(counts(&obj, "tcx_in_counts"), expect(10, 3));

    drop(ingress);
    drop(egress);
    send(&pair, 3, 1);
    assert_eq!(counts(&obj, "tcx_out_counts"), expect(7, 2));
    assert_eq!(counts(&obj, "tcx_in_counts"), expect(10, 3), "dropped");
}

/// The attach errors a user meets first name the program and what it
/// lacks: no interface chosen, or one that is not in this namespace.
#[test]
fn xdp_and_tcx_errors_name_program_and_target() {
    require_net!();
    let pair = pair();
    let obj = load();
    let invalid = |r: bpf_arena::Result<Link>| match r {
        Err(e @ Error::Invalid { .. }) => e.to_string(),
        other => panic!("expected Error::Invalid, got {other:?}"),
    };

    let msg = invalid(obj.attach("xdp_count"));
    assert_eq!(
        msg,
        "invalid attach target: program 'xdp_count': xdp needs a network interface \
         (AttachTarget::with_iface, or the CLI's --iface)"
    );
    let msg = invalid(obj.attach("tcx_count_ingress"));
    assert!(
        msg.contains("program 'tcx_count_ingress': tcx/ingress needs a network interface"),
        "{msg}"
    );

    // veth-r lives in the right namespace only.
    let target = obj
        .attach_target("xdp_count")
        .unwrap()
        .with_iface(Iface::Name(RIGHT_IF.into()));
    let msg = pair.in_left(|| invalid(obj.attach_to("xdp_count", &target)));
    assert_eq!(
        msg,
        "invalid interface: no interface 'veth-r' in this network namespace \
         (for program 'xdp_count' to xdp veth-r)"
    );
    let target = AttachTarget::Tcx {
        iface: Iface::Name("nope0".into()),
        egress: true,
    };
    let msg = pair.in_left(|| invalid(obj.attach_to("tcx_count_egress", &target)));
    assert!(
        msg.contains("no interface 'nope0'")
            && msg.contains("program 'tcx_count_egress' to tcx/egress nope0"),
        "{msg}"
    );

    // A program of another type than the target takes.
    let ifindex = pair.in_right(|| netns::if_index(RIGHT_IF).unwrap());
    let wrong = pair.in_right(|| {
        Link::attach(
            obj.program("cg_count_ingress").unwrap(),
            &AttachTarget::Xdp {
                iface: Iface::Index(ifindex),
            },
        )
    });
    // Refused before the kernel is asked, naming both types.
    match wrong {
        Err(e @ Error::Invalid { .. }) => {
            let text = e.to_string();
            assert!(
                text.contains(
                    "program 'cg_count_ingress' is a cgroup_skb program; xdp takes a xdp program"
                ),
                "{text}"
            );
        }
        other => panic!("expected Error::Invalid, got {other:?}"),
    }
}

//! Two private network namespaces joined by a veth pair, and traffic
//! between them: the playground of the networking example and tests. No
//! external tool: the devices and addresses are made with rtnetlink
//! messages on a `NETLINK_ROUTE` socket.
//!
//! ```text
//!   namespace "left"                        namespace "right"
//!   veth-l 10.200.0.1/24  <---- veth ---->  veth-r 10.200.0.2/24
//! ```
//!
//! A network namespace belongs to a thread, not to the process:
//! [`VethPair::new`] moves only the calling thread into fresh namespaces
//! (`unshare(CLONE_NEWNET)`) and back, and [`VethPair::in_left`] /
//! [`VethPair::in_right`] run a closure inside one. Sockets, interface
//! lookups and links made in the closure belong to that namespace; the
//! thread is back in its own namespace afterwards, even after a panic.
//! Nothing outside the two namespaces is touched, and they vanish with the
//! last thing that holds them — the pair's namespace fds, dropped with it,
//! and any socket or link made inside — taking the veth pair with them.
//!
//! The kernel needs veth (`CONFIG_VETH`): built in, or a module it can
//! load (rtnetlink asks for `rtnl-link-veth`).
//!
//! Shared by `examples/net_protocols.rs` and `tests/attach_net.rs`
//! (`#[path = "../examples/common/netns.rs"] mod netns;`).

#![allow(dead_code)]

use std::fs::File;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, TcpStream, UdpSocket};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

/// The left end's interface, in the left namespace.
pub const LEFT_IF: &str = "veth-l";
/// The right end's interface, in the right namespace.
pub const RIGHT_IF: &str = "veth-r";
/// `10.200.0.1`, on [`LEFT_IF`].
pub const LEFT_ADDR: Ipv4Addr = Ipv4Addr::new(10, 200, 0, 1);
/// `10.200.0.2`, on [`RIGHT_IF`].
pub const RIGHT_ADDR: Ipv4Addr = Ipv4Addr::new(10, 200, 0, 2);

/// How long any one packet may take to arrive before a traffic helper
/// gives up with `TimedOut`.
const PATIENCE: Duration = Duration::from_secs(5);

/// Two fresh network namespaces, `left` and `right`, joined by the veth
/// pair `veth-l` (left, 10.200.0.1/24) — `veth-r` (right, 10.200.0.2/24),
/// both up, with `lo` up in each. Needs `CAP_SYS_ADMIN` and
/// `CAP_NET_ADMIN`.
pub struct VethPair {
    /// The calling thread's namespace, returned to after each step.
    home: OwnedFd,
    left: OwnedFd,
    right: OwnedFd,
}

impl VethPair {
    /// Creates the namespaces and the veth pair. The calling thread ends
    /// in its own namespace again, also when this fails. A kernel without
    /// veth answers `EOPNOTSUPP`.
    pub fn new() -> io::Result<VethPair> {
        let home = File::open("/proc/thread-self/ns/net")?.into();
        let back = Return(&home);
        // Two unshares in a row: the thread leaves `right` behind, alive as
        // long as its fd is open.
        let right = new_netns()?;
        let left = new_netns()?;
        // In `left`: the pair, with its far end born in `right`.
        let rtnl = Rtnl::open()?;
        rtnl.new_veth(LEFT_IF, RIGHT_IF, &right)?;
        rtnl.set_up("lo")?;
        rtnl.add_addr(LEFT_IF, LEFT_ADDR, 24)?;
        rtnl.set_up(LEFT_IF)?;
        enter(&right)?;
        let rtnl = Rtnl::open()?;
        rtnl.set_up("lo")?;
        rtnl.add_addr(RIGHT_IF, RIGHT_ADDR, 24)?;
        rtnl.set_up(RIGHT_IF)?;
        drop(back);
        Ok(VethPair { home, left, right })
    }

    /// Runs `f` with the calling thread in the left namespace.
    pub fn in_left<T>(&self, f: impl FnOnce() -> T) -> T {
        self.run_in(&self.left, f)
    }

    /// Runs `f` with the calling thread in the right namespace.
    pub fn in_right<T>(&self, f: impl FnOnce() -> T) -> T {
        self.run_in(&self.right, f)
    }

    fn run_in<T>(&self, ns: &OwnedFd, f: impl FnOnce() -> T) -> T {
        enter(ns).expect("setns into a namespace this pair created");
        let _back = Return(&self.home);
        f()
    }

    /// Sends `n` UDP datagrams of `size` payload bytes from left to right
    /// (to a socket bound there) and waits until every one arrived.
    /// Returns the port they went to.
    pub fn udp_left_to_right(&self, n: usize, size: usize) -> io::Result<u16> {
        let rx = self.in_right(|| UdpSocket::bind((RIGHT_ADDR, 0)))?;
        rx.set_read_timeout(Some(PATIENCE))?;
        let to = rx.local_addr()?;
        let tx = self.in_left(|| UdpSocket::bind((LEFT_ADDR, 0)))?;
        let payload = vec![0x5a; size];
        let mut buf = vec![0; size + 1];
        // In batches, so the receive buffer never overflows.
        let mut sent = 0;
        while sent < n {
            let batch = (n - sent).min(32);
            for _ in 0..batch {
                tx.send_to(&payload, to)?;
            }
            for _ in 0..batch {
                let got = rx.recv(&mut buf)?;
                if got != size {
                    return Err(io::Error::other(format!("{got} bytes, sent {size}")));
                }
            }
            sent += batch;
        }
        Ok(to.port())
    }

    /// Sends `n` ICMP echo requests with `size` payload bytes from left to
    /// right, one at a time, each answered before the next goes out.
    pub fn ping_left_to_right(&self, n: usize, size: usize) -> io::Result<()> {
        let sock = self.in_left(raw_icmp_socket)?;
        sock.set_read_timeout(Some(PATIENCE))?;
        sock.connect(SocketAddrV4::new(RIGHT_ADDR, 0))?;
        let id = (std::process::id() & 0xffff) as u16;
        let mut buf = [0u8; 65536];
        for seq in 0..n {
            let seq = seq as u16;
            sock.send(&echo_request(id, seq, size))?;
            // The raw socket sees every ICMP packet for this namespace:
            // wait for our reply.
            loop {
                let got = sock.recv(&mut buf)?;
                let ihl = usize::from(buf[0] & 0xf) * 4;
                let icmp = &buf[ihl.min(got)..got];
                if icmp.len() >= 8
                    && icmp[0] == 0
                    && icmp[4..6] == id.to_be_bytes()
                    && icmp[6..8] == seq.to_be_bytes()
                {
                    break;
                }
            }
        }
        Ok(())
    }

    /// Opens one TCP connection from left to right and moves `bytes` bytes
    /// over it, in 16 KiB chunks each read before the next is written;
    /// both ends are closed when it returns.
    pub fn tcp_left_to_right(&self, bytes: usize) -> io::Result<()> {
        let listener = self.in_right(|| TcpListener::bind((RIGHT_ADDR, 0)))?;
        let to = listener.local_addr()?;
        let mut client = self.in_left(|| TcpStream::connect_timeout(&to, PATIENCE))?;
        let (mut server, _) = listener.accept()?;
        server.set_read_timeout(Some(PATIENCE))?;
        let chunk = vec![0xa5; 16 * 1024];
        let mut buf = vec![0; chunk.len()];
        let mut left = bytes;
        while left > 0 {
            let n = left.min(chunk.len());
            client.write_all(&chunk[..n])?;
            server.read_exact(&mut buf[..n])?;
            left -= n;
        }
        Ok(())
    }
}

/// On drop, puts the calling thread back into namespace `.0`.
struct Return<'a>(&'a OwnedFd);

impl Drop for Return<'_> {
    fn drop(&mut self) {
        enter(self.0).expect("setns back into the thread's own namespace");
    }
}

/// Moves the calling thread into a new network namespace; returns its fd.
fn new_netns() -> io::Result<OwnedFd> {
    // SAFETY: unshare only changes the calling thread's namespaces.
    if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(File::open("/proc/thread-self/ns/net")?.into())
}

/// Moves the calling thread into network namespace `ns`.
fn enter(ns: &OwnedFd) -> io::Result<()> {
    // SAFETY: `ns` is an open namespace fd; setns only changes the calling
    // thread's namespace.
    if unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// A raw `IPPROTO_ICMP` socket in the calling thread's namespace (needs
/// `CAP_NET_RAW`), as a `UdpSocket`: a datagram socket whose `connect`,
/// `send` and `recv` are the plain system calls a raw socket wants.
fn raw_icmp_socket() -> io::Result<UdpSocket> {
    // SAFETY: plain socket(2) call; the result is checked.
    let fd = unsafe {
        libc::socket(
            libc::AF_INET,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            libc::IPPROTO_ICMP,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a new socket that nothing else owns.
    Ok(UdpSocket::from(unsafe { OwnedFd::from_raw_fd(fd) }))
}

/// An ICMP echo request (type 8) with `size` payload bytes.
fn echo_request(id: u16, seq: u16, size: usize) -> Vec<u8> {
    let mut p = vec![8, 0, 0, 0];
    p.extend_from_slice(&id.to_be_bytes());
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend((0..size).map(|i| i as u8));
    let sum = inet_checksum(&p);
    p[2..4].copy_from_slice(&sum.to_be_bytes());
    p
}

/// The Internet checksum (RFC 1071).
fn inet_checksum(bytes: &[u8]) -> u16 {
    let mut sum: u32 = bytes
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

// rtnetlink, as much of it as this file needs (<linux/netlink.h>,
// <linux/rtnetlink.h>, <linux/if_link.h>, <linux/veth.h>).
const RTM_NEWLINK: u16 = 16;
const RTM_NEWADDR: u16 = 20;
const NLMSG_ERROR: u16 = 2;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_EXCL: u16 = 0x200;
const NLM_F_CREATE: u16 = 0x400;
const IFLA_IFNAME: u16 = 3;
const IFLA_LINKINFO: u16 = 18;
const IFLA_INFO_KIND: u16 = 1;
const IFLA_INFO_DATA: u16 = 2;
const IFLA_NET_NS_FD: u16 = 28;
const VETH_INFO_PEER: u16 = 1;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const IFF_UP: u32 = 1;

/// A `NETLINK_ROUTE` socket in the namespace it was opened in.
struct Rtnl(File);

impl Rtnl {
    fn open() -> io::Result<Rtnl> {
        // SAFETY: plain socket(2) call; the result is checked.
        let fd = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                libc::NETLINK_ROUTE,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is a new socket that nothing else owns. An unbound
        // netlink socket's write(2) and read(2) talk to the kernel.
        Ok(Rtnl(File::from(unsafe { OwnedFd::from_raw_fd(fd) })))
    }

    /// `ip link add NAME type veth peer name PEER netns PEER_NS`.
    fn new_veth(&self, name: &str, peer: &str, peer_ns: &OwnedFd) -> io::Result<()> {
        let mut peer_info = ifinfomsg(0, 0);
        attr(&mut peer_info, IFLA_IFNAME, &c_str(peer));
        attr(
            &mut peer_info,
            IFLA_NET_NS_FD,
            &(peer_ns.as_raw_fd() as u32).to_ne_bytes(),
        );
        let mut data = Vec::new();
        attr(&mut data, VETH_INFO_PEER, &peer_info);
        let mut info = Vec::new();
        attr(&mut info, IFLA_INFO_KIND, b"veth");
        attr(&mut info, IFLA_INFO_DATA, &data);
        let mut body = ifinfomsg(0, 0);
        attr(&mut body, IFLA_IFNAME, &c_str(name));
        attr(&mut body, IFLA_LINKINFO, &info);
        self.request(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, &body)
            .map_err(|e| {
                let what = format!("creating veth pair {name}/{peer}");
                match e.kind() {
                    io::ErrorKind::Unsupported => context(
                        e,
                        format!("{what} (no veth driver: CONFIG_VETH off, or a module not loaded)"),
                    ),
                    _ => context(e, what),
                }
            })
    }

    /// `ip link set NAME up`.
    fn set_up(&self, name: &str) -> io::Result<()> {
        let body = ifinfomsg(if_index(name)?, IFF_UP);
        self.request(RTM_NEWLINK, 0, &body)
            .map_err(|e| context(e, format!("setting {name} up")))
    }

    /// `ip addr add ADDR/PREFIX dev NAME`.
    fn add_addr(&self, name: &str, addr: Ipv4Addr, prefix: u8) -> io::Result<()> {
        // struct ifaddrmsg: family, prefixlen, flags, scope, index.
        let mut body = vec![libc::AF_INET as u8, prefix, 0, 0];
        body.extend_from_slice(&if_index(name)?.to_ne_bytes());
        attr(&mut body, IFA_LOCAL, &addr.octets());
        attr(&mut body, IFA_ADDRESS, &addr.octets());
        self.request(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, &body)
            .map_err(|e| context(e, format!("adding {addr}/{prefix} to {name}")))
    }

    /// Sends one request and reads the kernel's acknowledgement.
    fn request(&self, kind: u16, flags: u16, body: &[u8]) -> io::Result<()> {
        // struct nlmsghdr: len, type, flags, seq, pid.
        let mut msg = Vec::with_capacity(16 + body.len());
        msg.extend_from_slice(&(16 + body.len() as u32).to_ne_bytes());
        msg.extend_from_slice(&kind.to_ne_bytes());
        msg.extend_from_slice(&(NLM_F_REQUEST | NLM_F_ACK | flags).to_ne_bytes());
        msg.extend_from_slice(&1u32.to_ne_bytes());
        msg.extend_from_slice(&0u32.to_ne_bytes());
        msg.extend_from_slice(body);
        (&self.0).write_all(&msg)?;
        let mut reply = [0u8; 4096];
        let n = (&self.0).read(&mut reply)?;
        // An ack is NLMSG_ERROR with error 0; anything else, -errno.
        if n < 20 || u16::from_ne_bytes([reply[4], reply[5]]) != NLMSG_ERROR {
            return Err(io::Error::other("unexpected rtnetlink reply"));
        }
        match i32::from_ne_bytes([reply[16], reply[17], reply[18], reply[19]]) {
            0 => Ok(()),
            e => Err(io::Error::from_raw_os_error(-e)),
        }
    }
}

/// A `struct ifinfomsg` for interface `index` with `flags` set (and only
/// those flags changed).
fn ifinfomsg(index: u32, flags: u32) -> Vec<u8> {
    let mut m = vec![libc::AF_UNSPEC as u8, 0, 0, 0];
    m.extend_from_slice(&index.to_ne_bytes());
    m.extend_from_slice(&flags.to_ne_bytes()); // ifi_flags
    m.extend_from_slice(&flags.to_ne_bytes()); // ifi_change
    m
}

/// Appends attribute `kind` holding `data` (a `struct rtattr`, padded to 4
/// bytes).
fn attr(buf: &mut Vec<u8>, kind: u16, data: &[u8]) {
    buf.extend_from_slice(&(4 + data.len() as u16).to_ne_bytes());
    buf.extend_from_slice(&kind.to_ne_bytes());
    buf.extend_from_slice(data);
    buf.resize(buf.len().next_multiple_of(4), 0);
}

fn c_str(s: &str) -> Vec<u8> {
    let mut v = s.as_bytes().to_vec();
    v.push(0);
    v
}

/// The index of interface `name` in the calling thread's namespace.
pub fn if_index(name: &str) -> io::Result<u32> {
    let c = std::ffi::CString::new(name).map_err(io::Error::other)?;
    bpf_arena::sys::if_index(&c)
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("no interface {name}")))
}

fn context(e: io::Error, what: String) -> io::Error {
    io::Error::new(e.kind(), format!("{what}: {e}"))
}

//! Packets per protocol, counted by an XDP program into an arena and read
//! straight from it.
//!
//! The example makes two private network namespaces joined by a veth pair
//! (`examples/common/netns.rs`; nothing outside them is touched, and they
//! vanish when it ends), attaches `xdp_count` from
//! `bpf-asm/net_count.bpf.c` to the right end, sends pings, UDP datagrams
//! and a TCP stream from the left end, and prints what the program counted.
//! The program adds to `__arena` globals; this side reads them from the
//! arena mapping — no map lookups, no system calls.
//!
//! Needs root (namespaces, XDP) and Linux 6.10 (atomics on arena memory).
//!
//! `cargo run --release --example net_protocols -- [PACKETS]`: PACKETS
//! pings, PACKETS UDP datagrams and PACKETS KiB over TCP (default 100).

#[path = "common/netns.rs"]
mod netns;

use bpf_arena::loader::ObjectLoader;
use bpf_arena::{AttachTarget, link::Iface};

/// The buckets of `struct net_counts`, in order.
const PROTOCOLS: [&str; 5] = ["ICMP", "TCP", "UDP", "other IPv4", "not IPv4"];
const ICMP: usize = 0;
const TCP: usize = 1;
const UDP: usize = 2;

const UDP_PAYLOAD: usize = 512;
const PING_PAYLOAD: usize = 56;

/// Runs the demo; any error is printed as one line (`net_protocols: …`).
fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("net_protocols: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let packets = match std::env::args().nth(1) {
        None => 100,
        Some(a) => a
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=100_000).contains(n))
            .ok_or_else(|| format!("PACKETS must be a number from 1 to 100000, not {a:?}"))?,
    };

    // Load first: on a kernel without arenas this is where it stops.
    let obj = ObjectLoader::from_file(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/bpf-asm/net_count.bpf.o"
    ))?
    .load()?;

    let pair = netns::VethPair::new()?;
    // `xdp_count` is in section "xdp": it needs an interface. An interface
    // name is looked up in the calling thread's namespace, so attach from
    // inside the right one.
    let target: AttachTarget = obj
        .attach_target("xdp_count")?
        .with_iface(Iface::Name(netns::RIGHT_IF.into()));
    let link = pair.in_right(|| obj.attach_to("xdp_count", &target))?;
    println!(
        "attached xdp_count: {target} (link {}, in the right namespace)",
        link.info()?.id
    );

    pair.ping_left_to_right(packets, PING_PAYLOAD)?;
    pair.udp_left_to_right(packets, UDP_PAYLOAD)?;
    pair.tcp_left_to_right(packets * 1024)?;
    println!(
        "sent from {} to {}: {packets} pings, {packets} UDP datagrams of {UDP_PAYLOAD} bytes, \
         {packets} KiB over one TCP connection",
        netns::LEFT_ADDR,
        netns::RIGHT_ADDR
    );

    // struct net_counts { u64 packets[5]; u64 bytes[5]; }, in the arena.
    let arena = obj.arena().ok_or("net_count.bpf.o has no arena")?;
    let [counted, bytes] = arena.read(obj.arena_global::<[[u64; 5]; 2]>("xdp_counts")?)?;
    println!("{:<12} {:>10} {:>12}", "protocol", "packets", "bytes");
    for (i, name) in PROTOCOLS.iter().enumerate() {
        println!("{name:<12} {:>10} {:>12}", counted[i], bytes[i]);
    }

    // Every ping and datagram went through the program exactly once.
    let sent = packets as u64;
    if counted[ICMP] != sent || counted[UDP] != sent || counted[TCP] == 0 {
        return Err(format!(
            "expected {sent} ICMP and {sent} UDP packets and some TCP, counted {} / {} / {}",
            counted[ICMP], counted[UDP], counted[TCP]
        )
        .into());
    }
    println!("ok: every ping and UDP datagram was counted once");
    Ok(())
}

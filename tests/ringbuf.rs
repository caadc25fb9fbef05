//! Ring buffers against the live kernel, with real BPF on the other side:
//! `bpf-asm/ringbuf.bpf.c` produces into a `BPF_MAP_TYPE_RINGBUF` that
//! [`RingBuf`] consumes, and `bpf-asm/ringbuf_user.bpf.c` drains a
//! `BPF_MAP_TYPE_USER_RINGBUF` that [`UserRingBuf`] produces into. Both
//! sides are `SEC("syscall")` programs run with `BPF_PROG_TEST_RUN`.

mod common;

use bpf_arena::Error;
use bpf_arena::loader::{LoadedObject, ObjectLoader};
use bpf_arena::map::Map;
use bpf_arena::obj::MapSpec;
use bpf_arena::ringbuf::{BPF_MAP_TYPE_RINGBUF, BPF_MAP_TYPE_USER_RINGBUF, RingBuf, UserRingBuf};
use bpf_arena::sys::{self, Errno};
use common::*;
use std::ops::ControlFlow;
use std::os::fd::{AsFd, AsRawFd};
use std::time::{Duration, Instant};

/// The ring size the tests use: 4 pages (16 KiB on 4 KiB pages).
fn ring_size() -> usize {
    4 * sys::page_size()
}

/// Whether this kernel runs the test: ring maps of `map_type` driven by
/// SYSCALL programs, which need Linux `since`. Older kernels skip with one
/// line (allowed in strict mode); a kernel at or past `since` that cannot
/// create the map fails, except for missing privileges, which skip only
/// outside strict mode.
fn ring_gate(map_type: u32, since: &str) -> bool {
    if !kernel_at_least(since) {
        report(
            "SKIP",
            &test_name(),
            &format!(
                "ring buffers driven by SYSCALL programs need Linux {since} (this kernel: {})",
                kernel_release()
            ),
        );
        return false;
    }
    let spec = MapSpec {
        name: "ringbuf_probe".into(),
        map_type,
        max_entries: ring_size() as u32,
        ..Default::default()
    };
    match Map::create(&spec, None, None) {
        Ok(_) => true,
        Err(e) if e.errno() == Some(Errno::EPERM) && !strict() => {
            report("SKIP", &test_name(), &format!("no privileges: {e}"));
            false
        }
        Err(e) => panic!(
            "this kernel ({}) should create ring maps of type {map_type}: {e}",
            kernel_release()
        ),
    }
}

macro_rules! require_ringbuf {
    () => {
        if !ring_gate(BPF_MAP_TYPE_RINGBUF, "5.14") {
            return;
        }
    };
}

macro_rules! require_user_ringbuf {
    () => {
        if !ring_gate(BPF_MAP_TYPE_USER_RINGBUF, "6.1") {
            return;
        }
    };
}

fn load(file: &str, map: &str) -> LoadedObject {
    let mut l =
        ObjectLoader::from_file(format!("{}/bpf-asm/{file}", env!("CARGO_MANIFEST_DIR"))).unwrap();
    l.set_max_entries(map, ring_size() as u32).unwrap();
    l.load().unwrap_or_else(|e| panic!("{file}: {e}"))
}

fn kernel_ring() -> LoadedObject {
    load("ringbuf.bpf.o", "ringbuf_events")
}

fn user_ring() -> LoadedObject {
    load("ringbuf_user.bpf.o", "ringbuf_user")
}

fn run(o: &LoadedObject, prog: &str) -> u32 {
    o.program(prog)
        .unwrap_or_else(|e| panic!("program {prog}: {e}"))
        .run_syscall(&mut [])
        .unwrap()
}

/// The bytes of record `i` of length `len`.
fn pattern(i: usize, len: usize) -> Vec<u8> {
    (0..len).map(|j| (i * 131 + j * 7 + 1) as u8).collect()
}

/// Outputs `data` as one record from BPF (`bpf_ringbuf_output`); the
/// program's answer: 0 written, 1 no room.
fn output(o: &LoadedObject, data: &[u8]) -> u32 {
    let mut payload = vec![0u8; 4096];
    payload[..data.len()].copy_from_slice(data);
    o.set_global_bytes("ringbuf_payload", &payload).unwrap();
    o.set_global("ringbuf_len", data.len() as u32).unwrap();
    run(o, "ringbuf_output")
}

/// Everything in the ring now, copied.
fn drain(rb: &mut RingBuf) -> Vec<Vec<u8>> {
    let mut got = Vec::new();
    rb.consume(|r| {
        got.push(r.to_vec());
        ControlFlow::Continue(())
    })
    .unwrap();
    got
}

#[test]
fn records_arrive_in_order_with_exact_bytes() {
    require_ringbuf!();
    let o = kernel_ring();
    let mut rb = RingBuf::from_map(o.map("ringbuf_events").unwrap()).unwrap();
    assert_eq!(rb.name(), "ringbuf_events");
    assert_eq!(rb.size(), ring_size());
    assert_eq!(drain(&mut rb), Vec::<Vec<u8>>::new(), "a new ring is empty");
    assert!(rb.next_record().unwrap().is_none());
    let sent: Vec<Vec<u8>> = [1, 13, 0, 100, 8, 4096]
        .iter()
        .enumerate()
        .map(|(i, &n)| pattern(i, n))
        .collect();
    for s in &sent {
        assert_eq!(output(&o, s), 0);
    }
    let expected_bytes: usize = sent.iter().map(|s| (s.len() + 8).next_multiple_of(8)).sum();
    assert_eq!(rb.pending_bytes(), expected_bytes as u64);
    // One record lent through next_record, consumed when dropped.
    {
        let first = rb.next_record().unwrap().expect("a record");
        assert_eq!(&*first, &sent[0][..]);
        assert_eq!(first.position(), 0);
    }
    let second = rb.next_record().unwrap().expect("a record");
    assert_eq!(&*second, &sent[1][..]);
    assert_eq!(second.position(), 16, "8-byte header, 1 byte padded to 8");
    // Not dropped: forgetting a record leaves it in the ring.
    std::mem::forget(second);
    assert_eq!(drain(&mut rb), sent[1..].to_vec());
    assert_eq!(rb.pending_bytes(), 0);
    assert_eq!(o.global::<u64>("ringbuf_sent").unwrap(), sent.len() as u64);
}

#[test]
fn consume_stops_at_break() {
    require_ringbuf!();
    let o = kernel_ring();
    let mut rb = RingBuf::from_map(o.map("ringbuf_events").unwrap()).unwrap();
    for i in 0..5 {
        assert_eq!(output(&o, &pattern(i, 10 + i)), 0);
    }
    let mut seen = Vec::new();
    let n = rb
        .consume(|r| {
            seen.push(r.to_vec());
            if seen.len() == 2 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })
        .unwrap();
    assert_eq!(
        n, 2,
        "the record that broke the loop is consumed and counted"
    );
    assert_eq!(seen, vec![pattern(0, 10), pattern(1, 11)]);
    assert_eq!(
        drain(&mut rb),
        (2..5).map(|i| pattern(i, 10 + i)).collect::<Vec<_>>()
    );
}

/// A callback that makes BPF produce more (each record seen triggers one
/// more) stops at what had been produced when `consume` was called: the
/// new records wait for the next call instead of feeding the loop forever.
#[test]
fn consume_takes_what_was_there_when_called() {
    require_ringbuf!();
    let o = kernel_ring();
    let mut rb = RingBuf::from_map(o.map("ringbuf_events").unwrap()).unwrap();
    for i in 0..3 {
        assert_eq!(output(&o, &pattern(i, 16)), 0);
    }
    let mut next = 3;
    let n = rb
        .consume(|_| {
            assert_eq!(output(&o, &pattern(next, 16)), 0);
            next += 1;
            ControlFlow::Continue(())
        })
        .unwrap();
    assert_eq!(n, 3);
    assert_eq!(
        drain(&mut rb),
        (3..6).map(|i| pattern(i, 16)).collect::<Vec<_>>(),
        "what the callback produced is there for the next call"
    );
}

#[test]
fn discarded_records_are_skipped() {
    require_ringbuf!();
    let o = kernel_ring();
    let mut rb = RingBuf::from_map(o.map("ringbuf_events").unwrap()).unwrap();
    o.set_global("ringbuf_tag", 0xfeed_u64).unwrap();
    for discard in [0u32, 1, 0, 1, 1, 0] {
        o.set_global("ringbuf_discard", discard).unwrap();
        assert_eq!(run(&o, "ringbuf_reserve"), 0);
    }
    let seqs: Vec<u64> = drain(&mut rb)
        .iter()
        .map(|r| {
            assert_eq!(r.len(), 16);
            assert_eq!(u64::from_ne_bytes(r[8..16].try_into().unwrap()), 0xfeed);
            u64::from_ne_bytes(r[..8].try_into().unwrap())
        })
        .collect();
    assert_eq!(seqs, [1, 3, 6]);
    assert_eq!(rb.pending_bytes(), 0, "discarded records are consumed too");
    // A ring holding only discarded records has nothing to wait for.
    o.set_global("ringbuf_discard", 1u32).unwrap();
    run(&o, "ringbuf_reserve");
    assert!(rb.pending_bytes() > 0);
    assert!(!rb.wait(Duration::ZERO).unwrap());
    assert_eq!(rb.pending_bytes(), 0);
}

#[test]
fn records_wrap_around_the_end() {
    require_ringbuf!();
    let o = kernel_ring();
    let mut rb = RingBuf::from_map(o.map("ringbuf_events").unwrap()).unwrap();
    let size = rb.size();
    let lens = [1, 7, 8, 9, 100, 333, 1000, 2047, 4000, 4096, 3, 517];
    let (mut produced, mut consumed, mut straddling) = (0usize, 0usize, 0usize);
    let mut bytes = 0usize;
    let mut check = |r: &[u8], pos: u64, consumed: &mut usize| {
        assert_eq!(r, &pattern(*consumed, r.len())[..], "record {consumed}");
        assert_eq!(r.len(), lens[*consumed % lens.len()], "record {consumed}");
        if (pos as usize % size) + 8 + r.len() > size {
            straddling += 1;
        }
        *consumed += 1;
    };
    while bytes < 8 * size {
        let len = lens[produced % lens.len()];
        match output(&o, &pattern(produced, len)) {
            0 => {
                produced += 1;
                bytes += len;
            }
            1 => {
                // Full: take about half, so records keep landing anywhere.
                let mut taken = 0;
                while taken < 3 {
                    let Some(r) = rb.next_record().unwrap() else {
                        break;
                    };
                    check(&r, r.position(), &mut consumed);
                    taken += 1;
                }
                assert!(taken > 0, "a full ring has records");
            }
            other => panic!("ringbuf_output answered {other}"),
        }
    }
    while let Some(r) = rb.next_record().unwrap() {
        check(&r, r.position(), &mut consumed);
    }
    assert_eq!(consumed, produced);
    assert!(
        straddling > 0,
        "some record ran past the end of the ring ({produced} records)"
    );
    assert!(o.global::<u64>("ringbuf_failed").unwrap() > 0);
}

#[test]
fn a_full_ring_refuses_output_until_consumed() {
    require_ringbuf!();
    let o = kernel_ring();
    let mut rb = RingBuf::from_map(o.map("ringbuf_events").unwrap()).unwrap();
    let rec = pattern(0, 1016); // 1024 bytes in the ring with the header
    let fit = ring_size() / 1024 - 1; // a ring never fills its last byte
    for _ in 0..fit {
        assert_eq!(output(&o, &rec), 0);
    }
    assert_eq!(output(&o, &rec), 1, "no room");
    assert_eq!(o.global::<u64>("ringbuf_failed").unwrap(), 1);
    assert_eq!(
        o.global::<i64>("ringbuf_last_err").unwrap(),
        -i64::from(Errno::EAGAIN.raw()),
        "bpf_ringbuf_output answers -EAGAIN on a full ring"
    );
    assert_eq!(o.global::<u64>("ringbuf_sent").unwrap(), fit as u64);
    // Consuming one record makes room for one.
    assert_eq!(rb.consume(|_| ControlFlow::Break(())).unwrap(), 1);
    assert_eq!(output(&o, &rec), 0);
    assert_eq!(output(&o, &rec), 1);
    assert_eq!(drain(&mut rb).len(), fit);
    assert_eq!(output(&o, &rec), 0);
    assert_eq!(drain(&mut rb), vec![rec]);
}

#[test]
fn poll_times_out_without_data() {
    require_ringbuf!();
    let o = kernel_ring();
    let mut rb = RingBuf::from_map(o.map("ringbuf_events").unwrap()).unwrap();
    let timeout = Duration::from_millis(200);
    let start = Instant::now();
    let n = rb
        .poll(timeout, |_| panic!("no record was produced"))
        .unwrap();
    let took = start.elapsed();
    assert_eq!(n, 0);
    assert!(took >= timeout, "returned after {took:?}");
    assert!(!rb.wait(Duration::ZERO).unwrap());
    // A record already there: no waiting.
    assert_eq!(output(&o, b"ready"), 0);
    assert!(rb.wait(Duration::ZERO).unwrap());
    assert_eq!(drain(&mut rb), vec![b"ready".to_vec()]);
}

#[test]
fn poll_wakes_when_another_thread_produces() {
    require_ringbuf!();
    let o = kernel_ring();
    let mut rb = RingBuf::from_map(o.map("ringbuf_events").unwrap()).unwrap();
    // Long enough that a missed wake-up shows as a failure, not a pass.
    let timeout = Duration::from_secs(60);
    for round in 0..3 {
        let start = Instant::now();
        let mut got = Vec::new();
        let n = std::thread::scope(|s| {
            s.spawn(|| {
                std::thread::sleep(Duration::from_millis(100));
                assert_eq!(output(&o, &pattern(round, 24)), 0);
            });
            rb.poll(timeout, |r| {
                got.push(r.to_vec());
                ControlFlow::Continue(())
            })
            .unwrap()
        });
        assert_eq!(n, 1, "round {round}");
        assert_eq!(got, vec![pattern(round, 24)]);
        assert!(
            start.elapsed() < timeout / 2,
            "round {round}: woke only after {:?}",
            start.elapsed()
        );
    }
}

#[test]
fn the_map_fd_polls_readable_with_data() {
    require_ringbuf!();
    let o = kernel_ring();
    let mut rb = RingBuf::from_map(o.map("ringbuf_events").unwrap()).unwrap();
    let readable = |rb: &RingBuf| {
        let ep = sys::Epoll::watch(rb.as_fd(), sys::EPOLLIN).unwrap();
        ep.wait(0).unwrap()
    };
    assert!(!readable(&rb));
    assert_eq!(output(&o, b"x"), 0);
    assert!(readable(&rb));
    drain(&mut rb);
    assert!(!readable(&rb));
}

/// A user-ring record: `{ u64 value; u32 len; u32 pad; }`, then bytes up
/// to `len`, the last one the low byte of `value`.
fn user_record(value: u64, len: usize) -> Vec<u8> {
    assert!(len >= 16);
    let mut r = pattern(value as usize, len);
    r[..8].copy_from_slice(&value.to_ne_bytes());
    r[8..12].copy_from_slice(&(len as u32).to_ne_bytes());
    r[len - 1] = value as u8;
    r
}

/// What `ringbuf_drain` saw so far: (records, sum of values, bytes, bad).
fn drained(o: &LoadedObject) -> (u64, u64, u64, u64) {
    (
        o.global("ringbuf_user_records").unwrap(),
        o.global("ringbuf_user_sum").unwrap(),
        o.global("ringbuf_user_bytes").unwrap(),
        o.global("ringbuf_user_bad").unwrap(),
    )
}

/// Runs `ringbuf_drain`; the drain's answer.
fn bpf_drain(o: &LoadedObject) -> i64 {
    assert_eq!(run(o, "ringbuf_drain"), 0);
    o.global("ringbuf_user_drained").unwrap()
}

#[test]
fn user_records_reach_bpf() {
    require_user_ringbuf!();
    let o = user_ring();
    let mut urb = UserRingBuf::from_map(o.map("ringbuf_user").unwrap()).unwrap();
    assert_eq!(urb.name(), "ringbuf_user");
    assert_eq!(urb.size(), ring_size());
    assert_eq!(urb.free_bytes().unwrap(), ring_size());
    assert_eq!(bpf_drain(&o), 0, "nothing to drain");
    let (mut n, mut sum, mut bytes) = (0u64, 0u64, 0u64);
    let mut value = 1000u64;
    // Several rounds, so the records wrap around the end of the ring.
    for round in 0..12 {
        let mut in_round = 0;
        for k in 0..9 {
            let len = 16 + (round * 37 + k * 101) % 700;
            value += 7;
            let rec = user_record(value, len);
            if k % 3 == 0 {
                urb.write(&rec).unwrap();
            } else {
                let mut r = urb.reserve(len).unwrap();
                assert_eq!(r.len(), len);
                r.copy_from_slice(&rec);
                if k == 4 {
                    r.discard();
                    continue;
                }
                r.submit();
            }
            n += 1;
            in_round += 1;
            sum += value;
            bytes += len as u64;
        }
        assert_eq!(bpf_drain(&o), in_round, "round {round}");
        assert_eq!(urb.free_bytes().unwrap(), ring_size());
    }
    assert_eq!(drained(&o), (n, sum, bytes, 0));
}

#[test]
fn busy_and_dropped_reservations() {
    require_user_ringbuf!();
    let o = user_ring();
    let mut urb = UserRingBuf::from_map(o.map("ringbuf_user").unwrap()).unwrap();
    urb.write(&user_record(1, 16)).unwrap();
    {
        let mut r = urb.reserve(16).unwrap();
        r.copy_from_slice(&user_record(2, 16));
        // Draining stops at the busy record.
        assert_eq!(bpf_drain(&o), 1);
        r.submit();
    }
    assert_eq!(bpf_drain(&o), 1);
    {
        let mut r = urb.reserve(24).unwrap();
        r.copy_from_slice(&user_record(3, 24));
        // Dropped without submit: discarded.
    }
    urb.write(&user_record(4, 32)).unwrap();
    assert_eq!(bpf_drain(&o), 1, "the dropped reservation is skipped");
    assert_eq!(drained(&o), (3, 1 + 2 + 4, 16 + 16 + 32, 0));
    assert_eq!(urb.free_bytes().unwrap(), ring_size());
}

#[test]
fn a_full_user_ring_is_a_typed_error() {
    require_user_ringbuf!();
    let o = user_ring();
    let mut urb = UserRingBuf::from_map(o.map("ringbuf_user").unwrap()).unwrap();
    let fit = ring_size() / 1024; // user space may fill every byte
    for i in 0..fit {
        urb.write(&user_record(i as u64, 1016)).unwrap();
    }
    assert_eq!(urb.free_bytes().unwrap(), 0);
    match urb.reserve(0) {
        Err(Error::RingBufFull { map, needed, free }) => {
            assert_eq!((map.as_str(), needed, free), ("ringbuf_user", 8, 0));
        }
        other => panic!("expected RingBufFull, got {other:?}"),
    }
    // Too large for any ring of this size: Invalid, not Full.
    let max = urb.max_record_len();
    assert_eq!(max, ring_size() - 8);
    let err = urb.write(&vec![0; max + 1]).unwrap_err();
    assert!(matches!(err, Error::Invalid { .. }), "{err:?}");
    assert!(err.to_string().contains("ringbuf_user"), "{err}");
    // Waiting gives up after the timeout with the same typed error.
    let start = Instant::now();
    let err = urb.reserve_wait(8, Duration::from_millis(100)).unwrap_err();
    assert!(matches!(err, Error::RingBufFull { .. }), "{err:?}");
    assert!(start.elapsed() >= Duration::from_millis(100));
    // BPF drains; there is room again, for a record filling the ring.
    assert_eq!(bpf_drain(&o), fit as i64);
    let sum: u64 = (0..fit as u64).sum();
    assert_eq!(drained(&o), (fit as u64, sum, 1016 * fit as u64, 0));
    urb.write(&user_record(99, max)).unwrap();
    assert_eq!(bpf_drain(&o), 1);
    assert_eq!(drained(&o).3, 0);
}

#[test]
fn reserve_wait_wakes_after_a_drain() {
    require_user_ringbuf!();
    let o = user_ring();
    let mut urb = UserRingBuf::from_map(o.map("ringbuf_user").unwrap()).unwrap();
    while urb.free_bytes().unwrap() >= 1024 {
        urb.write(&user_record(5, 1016)).unwrap();
    }
    let timeout = Duration::from_secs(60);
    let start = Instant::now();
    std::thread::scope(|s| {
        s.spawn(|| {
            std::thread::sleep(Duration::from_millis(100));
            assert!(bpf_drain(&o) > 0);
        });
        let mut r = urb.reserve_wait(1016, timeout).unwrap();
        r.copy_from_slice(&user_record(6, 1016));
        r.submit();
    });
    assert!(
        start.elapsed() < timeout / 2,
        "woke only after {:?}",
        start.elapsed()
    );
    assert_eq!(bpf_drain(&o), 1);
    assert_eq!(drained(&o).3, 0);
}

#[test]
fn wrong_map_types_are_refused_by_name() {
    require_user_ringbuf!();
    let k = kernel_ring();
    let u = user_ring();
    let wrong = |e: Error, name: &str, says: &str| match &e {
        Error::WrongObject { what, reason } => {
            assert!(what.contains(name), "{e}");
            assert!(reason.contains(says), "{e}");
        }
        _ => panic!("expected WrongObject for {name}, got {e:?}"),
    };
    wrong(
        RingBuf::from_map(k.map("ringbuf_array").unwrap()).unwrap_err(),
        "ringbuf_array",
        "BPF_MAP_TYPE_ARRAY map, not a ring buffer",
    );
    wrong(
        RingBuf::from_map(u.map("ringbuf_user").unwrap()).unwrap_err(),
        "ringbuf_user",
        "use UserRingBuf",
    );
    wrong(
        UserRingBuf::from_map(k.map("ringbuf_events").unwrap()).unwrap_err(),
        "ringbuf_events",
        "use RingBuf",
    );
    wrong(
        UserRingBuf::from_map(k.map("ringbuf_array").unwrap()).unwrap_err(),
        "ringbuf_array",
        "not a user ring buffer",
    );
    // From an fd, the name is the kernel's.
    let fd = k
        .map("ringbuf_array")
        .unwrap()
        .fd()
        .try_clone_to_owned()
        .unwrap();
    wrong(
        RingBuf::from_fd(fd).unwrap_err(),
        "ringbuf_array",
        "not a ring buffer",
    );
}

#[test]
fn one_consumer_and_one_producer_per_ring() {
    require_user_ringbuf!();
    let k = kernel_ring();
    let u = user_ring();
    let events = k.map("ringbuf_events").unwrap();
    let first = RingBuf::from_map(events).unwrap();
    let err = RingBuf::from_map(events).unwrap_err();
    assert!(
        matches!(&err, Error::WrongObject { what, reason } if what.contains("ringbuf_events") && reason.contains("already has a consumer")),
        "{err:?}"
    );
    // Through another fd of the same map too.
    let fd = events.fd().try_clone_to_owned().unwrap();
    assert!(RingBuf::from_fd(fd).is_err());
    drop(first);
    let fd = events.fd().try_clone_to_owned().unwrap();
    let mut again = RingBuf::from_fd(fd).unwrap();
    assert_eq!(again.name(), "ringbuf_events");
    assert_eq!(output(&k, b"still works"), 0);
    assert_eq!(drain(&mut again), vec![b"still works".to_vec()]);

    let user = u.map("ringbuf_user").unwrap();
    let p = UserRingBuf::from_map(user).unwrap();
    let err = UserRingBuf::from_map(user).unwrap_err();
    assert!(err.to_string().contains("already has a producer"), "{err}");
    drop(p);
    UserRingBuf::from_map(user).unwrap();
}

#[test]
fn rings_are_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<RingBuf>();
    check::<UserRingBuf>();
}

/// A ring map made here, outside any object: `name` may be empty.
fn bare_ring(map_type: u32, name: &str) -> Map {
    let spec = MapSpec {
        name: name.into(),
        map_type,
        max_entries: ring_size() as u32,
        ..Default::default()
    };
    Map::create(&spec, None, None).unwrap()
}

#[test]
fn huge_record_lengths_are_typed_errors() {
    require_user_ringbuf!();
    // Lengths whose size in the ring overflows a usize: no panic.
    let top = usize::MAX & !7;
    for len in [usize::MAX, usize::MAX - 7, usize::MAX - 14, usize::MAX - 15] {
        assert_eq!(UserRingBuf::record_bytes(len), top, "{len}");
    }
    let o = user_ring();
    let mut urb = UserRingBuf::from_map(o.map("ringbuf_user").unwrap()).unwrap();
    for len in [usize::MAX, usize::MAX - 14, urb.max_record_len() + 1] {
        let start = Instant::now();
        let err = urb.reserve_wait(len, Duration::from_secs(60)).unwrap_err();
        assert!(
            matches!(
                &err,
                Error::Invalid {
                    what: "record length",
                    ..
                }
            ),
            "{len}: {err:?}"
        );
        assert!(err.to_string().contains("ringbuf_user"), "{err}");
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "a length no record may have is refused without waiting"
        );
        let err = urb.reserve(len).unwrap_err();
        assert!(matches!(&err, Error::Invalid { .. }), "{len}: {err:?}");
    }
    // Nothing was reserved on the way.
    assert_eq!(urb.free_bytes().unwrap(), ring_size());
    assert_eq!(bpf_drain(&o), 0);
}

#[test]
fn fds_of_other_bpf_objects_are_not_maps() {
    require_user_ringbuf!();
    let k = kernel_ring();
    let not_a_map = |e: Error, is: &str| match &e {
        Error::WrongObject { what, reason } => {
            assert!(what.starts_with("map fd "), "{e}");
            assert!(
                reason.contains(is) && reason.ends_with("not a BPF map"),
                "{e}"
            );
        }
        _ => panic!("expected WrongObject ({is}), got {e:?}"),
    };
    let prog = || {
        k.program("ringbuf_output")
            .unwrap()
            .fd()
            .try_clone_to_owned()
            .unwrap()
    };
    not_a_map(RingBuf::from_fd(prog()).unwrap_err(), "a BPF program (id ");
    not_a_map(UserRingBuf::from_fd(prog()).unwrap_err(), "a BPF program");
    not_a_map(Map::from_fd(prog()).unwrap_err(), "a BPF program");
    let btf = || {
        k.btf_fd()
            .expect("ringbuf.bpf.o has BTF")
            .try_clone_to_owned()
            .unwrap()
    };
    not_a_map(RingBuf::from_fd(btf()).unwrap_err(), "a BTF object (id ");
    not_a_map(UserRingBuf::from_fd(btf()).unwrap_err(), "a BTF object");
    not_a_map(Map::from_fd(btf()).unwrap_err(), "a BTF object");
    // Not a BPF object at all: the kernel's EINVAL, naming the fd.
    let file: std::os::fd::OwnedFd = std::fs::File::open("/proc/self/exe").unwrap().into();
    let err = RingBuf::from_fd(file).unwrap_err();
    assert!(
        matches!(&err, Error::Bpf { errno: Errno::EINVAL, what, .. } if what.starts_with("map fd ")),
        "{err:?}"
    );
    // The kernel's answer for each kind, as the check reads it.
    assert!(matches!(
        sys::fd_kind(k.map("ringbuf_events").unwrap().fd()).unwrap(),
        sys::FdKind::Map { map_type: BPF_MAP_TYPE_RINGBUF, id: Some(id) }
            if id == k.map("ringbuf_events").unwrap().info().id
    ));
    assert!(matches!(
        sys::fd_kind(k.program("ringbuf_output").unwrap().fd()).unwrap(),
        sys::FdKind::Program { id: Some(_) }
    ));
    assert!(matches!(
        sys::fd_kind(k.btf_fd().unwrap()).unwrap(),
        sys::FdKind::Btf { id: Some(_) }
    ));
}

#[test]
fn maps_from_fds_are_named_by_the_kernel_or_the_fd() {
    require_user_ringbuf!();
    let named = bare_ring(BPF_MAP_TYPE_RINGBUF, "ringbuf_named");
    let rb = RingBuf::from_fd(named.fd().try_clone_to_owned().unwrap()).unwrap();
    assert_eq!(rb.name(), "ringbuf_named");
    let unnamed = bare_ring(BPF_MAP_TYPE_USER_RINGBUF, "");
    let fd = unnamed.fd().try_clone_to_owned().unwrap();
    let urb = UserRingBuf::from_fd(fd).unwrap();
    assert_eq!(urb.name(), format!("fd {}", urb.as_fd().as_raw_fd()));
    // A wrong map from an unnamed fd: the error names the fd.
    let fd = unnamed.fd().try_clone_to_owned().unwrap();
    let err = RingBuf::from_fd(fd).unwrap_err();
    assert!(
        matches!(&err, Error::WrongObject { what, .. } if what.starts_with("map 'fd ")),
        "{err:?}"
    );
}

#[test]
fn frozen_rings_cannot_be_mapped() {
    require_user_ringbuf!();
    for (map_type, name) in [
        (BPF_MAP_TYPE_RINGBUF, "ringbuf_frozen"),
        (BPF_MAP_TYPE_USER_RINGBUF, "ringbuf_ufrozen"),
    ] {
        let map = bare_ring(map_type, name);
        map.freeze().unwrap();
        let err = if map_type == BPF_MAP_TYPE_RINGBUF {
            RingBuf::from_map(&map).map(drop).unwrap_err()
        } else {
            UserRingBuf::from_map(&map).map(drop).unwrap_err()
        };
        assert!(
            matches!(&err, Error::Syscall { call: "mmap", errno: Errno::EPERM, what } if what.contains(name)),
            "{name}: {err:?}"
        );
    }
}

#[test]
fn a_panic_in_consume_still_consumes_the_record() {
    require_ringbuf!();
    let o = kernel_ring();
    let mut rb = RingBuf::from_map(o.map("ringbuf_events").unwrap()).unwrap();
    for i in 0..3 {
        assert_eq!(output(&o, &pattern(i, 20)), 0);
    }
    let mut seen = 0;
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        rb.consume(|r| {
            seen += 1;
            assert_eq!(r, &pattern(0, 20)[..]);
            panic!("the callback panics on purpose");
        })
    }));
    assert!(panicked.is_err());
    assert_eq!(seen, 1);
    assert_eq!(
        drain(&mut rb),
        vec![pattern(1, 20), pattern(2, 20)],
        "the record the callback panicked on is consumed, the rest are not"
    );
}

#[test]
fn the_ring_size_is_confirmed_by_the_kernel() {
    require_user_ringbuf!();
    for map_type in [BPF_MAP_TYPE_RINGBUF, BPF_MAP_TYPE_USER_RINGBUF] {
        let map = bare_ring(map_type, "ringbuf_probe");
        let owned = sys::OwnedMap::new(map.fd().try_clone_to_owned().unwrap()).unwrap();
        let size = ring_size();
        // The kernel refuses a page past the ring: the size is right.
        assert_eq!(sys::confirm_ring_size(&owned, size), Ok(()), "{map_type}");
        // Believing it smaller, the probe's page is inside the ring and
        // maps: the check would refuse the ring.
        for smaller in [size / 2, sys::page_size()] {
            assert_eq!(
                sys::confirm_ring_size(&owned, smaller),
                Err(sys::RING_LARGER_THAN_INFO),
                "{map_type}, {smaller}"
            );
        }
        // Frozen (no writable mapping allowed): the read-only probe still
        // answers.
        map.freeze().unwrap();
        assert_eq!(sys::confirm_ring_size(&owned, size), Ok(()), "{map_type}");
        assert_eq!(
            sys::confirm_ring_size(&owned, size / 2),
            Err(sys::RING_LARGER_THAN_INFO)
        );
    }
    // Not a ring: refused before any mapping.
    let k = kernel_ring();
    let array = k.map("ringbuf_array").unwrap();
    let owned = sys::OwnedMap::new(array.fd().try_clone_to_owned().unwrap()).unwrap();
    assert_eq!(
        sys::confirm_ring_size(&owned, ring_size()),
        Err(Errno::EINVAL)
    );
}

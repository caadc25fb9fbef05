//! The `build.rs` recipe of `bpf_arena::codegen`, built and run: this
//! package's build script compiled `bpf/list.bpf.c` (or took the committed
//! object) and generated the module `list` from the object's BTF, the
//! object embedded. This program loads it, sets a global, runs the program
//! that builds a list in the arena, and walks that list through the
//! generated types.
//!
//! `cargo run --release --manifest-path examples/gen-build/Cargo.toml`
//! (root, or `CAP_BPF`; Linux 6.9 for arenas).

include!(concat!(env!("OUT_DIR"), "/list.rs"));

/// How many items BPF appends (the global `count`).
const COUNT: u32 = 5;

/// Runs the demo; any error is one line (`gen-build: …`), so a kernel
/// without arenas reads "needs Linux 6.9".
fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gen-build: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    println!(
        "gen-build: embedded object: {} ({} bytes)",
        env!("GEN_BUILD_OBJECT"),
        list::OBJECT.len()
    );
    let mut loader = list::Loader::embedded()?;
    println!(
        "gen-build: count {} in the object, set to {COUNT}",
        loader.count()?
    );
    loader.set_count(COUNT)?;
    let obj = loader.load()?;
    let ret = obj.build_list()?.run_syscall(&mut [])?;
    if ret != 0 {
        return Err(format!("build_list returned {ret}").into());
    }

    // The list BPF built: `items` is an __arena global, each `next` an
    // arena pointer to the next `list::item`.
    let arena = obj.arena()?;
    let head = obj.items()?;
    let (mut p, mut tail) = (head.first, head.first);
    let (mut seen, mut squares) = (0u32, 0u64);
    while !p.is_null() {
        if seen == COUNT {
            return Err(format!("the list is longer than {COUNT} items").into());
        }
        let it: list::item = arena.read(p)?;
        println!(
            "gen-build: item {} at {:#x}: square {}, at ({}, {})",
            it.id,
            p.addr(),
            it.square,
            it.at.x,
            it.at.y
        );
        seen += 1;
        squares += u64::from(it.square);
        (tail, p) = (p, it.next);
    }
    let sum = obj.sum()?;
    let expected = (1..=u64::from(COUNT)).map(|k| k * k).sum::<u64>();
    println!(
        "gen-build: {seen} items (items.len {}), squares summed from user space {squares}, by BPF {sum} (expected {expected})",
        head.len
    );
    if seen != COUNT || head.len != COUNT || squares != expected || sum != expected {
        return Err("mismatch".into());
    }
    if obj.last()? != tail {
        return Err("the global `last` is not the list's last item".into());
    }
    println!("gen-build: ok");
    Ok(())
}

//! One arena page shared by two objects' programs.
//!
//! `counter.bpf.o` allocates a counter page from BPF on its first run (the
//! "mogu" pattern); `counter_reader.bpf.o` declares no arena at all and only
//! receives the counter's arena pointer (the "aloe" pattern). The loader
//! binds the first object's arena to the second program through `fd_array`
//! (Linux 6.14+), so no dummy kfunc call is needed to associate it.
//!
//! `cargo run --release --example shared_counter`

use bpf_arena::arena::ArenaPtr;
use bpf_arena::loader::ObjectLoader;

/// Runs the demo; any error is printed as one line (`shared_counter: …`), never as a
/// `Debug` dump, so a kernel without arenas reads "needs Linux 6.9".
fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("shared_counter: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/bpf-asm");
    let owner = ObjectLoader::from_file(format!("{dir}/counter.bpf.o"))?.load()?;
    let count = owner.program("count")?;
    for _ in 0..3 {
        println!("counter.bpf.o count -> {}", count.run_syscall(&mut [])?);
    }
    let ptr: u64 = owner.global("counter")?;
    let arena = owner.arena().ok_or("no arena")?;
    println!(
        "the counter page is at {ptr:#x} (arena offset {:#x}); user space reads {}",
        ptr - arena.base(),
        arena.read(ArenaPtr::<u64>::from_addr(ptr))?
    );

    let mut loader = ObjectLoader::from_file(format!("{dir}/counter_reader.bpf.o"))?;
    loader.reuse_arena(owner.arena_handle().ok_or("no arena")?);
    let reader = loader.load()?;
    let bump = reader.program("bump")?;
    let mut ctx = [0u8; 16];
    ctx[..8].copy_from_slice(&ptr.to_le_bytes());
    ctx[8..].copy_from_slice(&100u64.to_le_bytes());
    let bumped = bump.run_syscall(&mut ctx)?;
    println!(
        "counter_reader.bpf.o bump(+100) -> {bumped} (it names no arena: bound through fd_array)"
    );
    let again = count.run_syscall(&mut [])?;
    println!("counter.bpf.o count -> {again}");
    if (bumped, again) != (103, 104) {
        return Err(format!("expected 103 and 104, got {bumped} and {again}").into());
    }
    println!("ok");
    Ok(())
}

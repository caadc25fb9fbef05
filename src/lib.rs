//! `bpf-arena`: BPF arenas (`BPF_MAP_TYPE_ARENA`, Linux 6.9+) from Rust,
//! written directly against the kernel ABI — hand-written `bpf(2)` wrappers,
//! no libbpf, no C at run time.
//!
//! Layers, bottom to top (each only uses the ones below it):
//!
//! - [`sys`]: the only code that calls `bpf(2)` (and the arena's `mmap`):
//!   one `#[repr(C)]` attr struct per command, [`sys::Errno`], `OwnedFd`.
//! - [`insn`], [`btf`]: pure data — BPF instructions (encode, decode,
//!   LLVM-style text) and BTF reading. No system calls.
//! - [`kfunc`], [`features`]: kernel facts — kfunc BTF ids from
//!   `/sys/kernel/btf/vmlinux`, cached feature probes.
//! - [`arena`], [`prog`]: live kernel objects that own fds and mappings —
//!   arenas (create, place, map, typed access, page management) and programs
//!   (load, test-run).
//!
//! No safe function of the crate can cause undefined behaviour or a fatal
//! signal, and no input (object bytes, arguments) can make it panic: see
//! the soundness notes of [`sys`] and [`arena`], the only modules with
//! `unsafe` code, and the README's "Security" section.
//!
//! ```no_run
//! use bpf_arena::arena::ArenaBuilder;
//! # fn main() -> bpf_arena::Result<()> {
//! let arena = ArenaBuilder::new(16).name("demo").create()?; // 16 pages, crate-chosen 4 GiB-aligned address
//! let page = arena.alloc_pages::<u8>(None, 1)?.expect("a free page");
//! arena.write(page.cast::<u64>(), 42)?;
//! assert_eq!(arena.read(page.cast::<u64>())?, 42);
//! arena.free_pages(page, 1)?;
//! # Ok(()) }
//! ```
#![deny(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]

pub mod abi;
pub mod arena;
pub mod btf;
mod error;

#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
pub mod features;
pub mod guide;
pub mod insn;
pub mod kconfig;
pub mod kfunc;
pub mod loader;
pub mod map;
pub mod obj;
pub mod prog;
pub mod sys;

pub use error::{Error, Result, VerifierError};

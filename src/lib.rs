//! `bpf-arena`: BPF arenas (`BPF_MAP_TYPE_ARENA`, Linux 6.9+) from Rust,
//! written directly against the kernel ABI — hand-written `bpf(2)` wrappers,
//! no libbpf, no C at run time.
//!
//! Layers, bottom to top; arrows point at what a module uses
//! (`tests/layering.rs` checks the sources against this, kept there as a
//! table, and that `unsafe` stays in `sys` and `arena` and `libc` out of the
//! pure layer):
//!
//! ```text
//!   live layer (kernel objects, system calls)      pure layer (data, parsing)
//!
//!   loader
//!     v
//!   features    link
//!     v
//!   arena   ringbuf
//!     v
//!   map   prog
//!     v
//!   kfunc   kconfig                                codegen
//!     v                                              v
//!   error  ------------------------------------->  obj
//!     v                                            v   v
//!   sys                                         insn   btf
//!     |                                            v   v
//!     +------------------------------------------>  abi
//! ```
//!
//! Each row uses only rows below it in its own column, and every live
//! module may use every pure one. Of the live modules, [`sys`] uses only
//! [`abi`], `arena` uses [`prog`] only in its page management (the
//! page kfuncs run in SYSCALL programs it loads), and [`ringbuf`] uses
//! [`map`] but not [`prog`] or `kfunc`.
//!
//! - Pure layer — plain data and parsing, its own error types, usable
//!   without a kernel:
//!   - [`abi`]: the kernel ABI's numbers both layers speak — program
//!     types and flags, map types and flags, attach types.
//!   - [`insn`], [`btf`]: BPF instructions (encode, decode, LLVM-style
//!     text) and BTF (read, edit).
//!   - [`obj`]: ELF objects — parse, then relocate against
//!     [`obj::relocate::KernelFacts`] handed in as plain data.
//!   - [`codegen`]: Rust source from an object's BTF — `#[repr(C)]`
//!     types with compile-time layout checks, arena pointers as
//!     [`ArenaPtr`], and a typed handle per object (`bpf-arena gen`).
//! - Live layer — talks to the running kernel:
//!   - [`sys`]: the only code that calls `bpf(2)` (and `mmap` for
//!     arenas, global data and ring buffers): one `#[repr(C)]` attr
//!     struct per command, [`sys::Errno`], `OwnedFd`. Uses only [`abi`].
//!   - [`Error`]: the crate's error, and the conversions from the pure
//!     layer's error types ([`obj::ObjError`], [`btf::BtfError`],
//!     [`codegen::GenError`]).
//!   - [`kfunc`], [`kconfig`]: kernel facts read from files — kfunc BTF
//!     ids from `/sys/kernel/btf/vmlinux`, the kernel configuration.
//!   - [`map`], [`prog`], [`arena`]: live kernel objects that own fds and
//!     mappings — maps, programs (load, test-run) and arenas (create,
//!     place, map, typed access, page management).
//!   - [`ringbuf`]: BPF ring buffers mapped in place — the consumer of a
//!     `BPF_MAP_TYPE_RINGBUF` (Linux 5.8) and the producer of a
//!     `BPF_MAP_TYPE_USER_RINGBUF` (Linux 6.1), records lent without
//!     copies, waits through `epoll`.
//!   - [`features`]: cached feature probes, which create arenas and maps
//!     and load programs to ask the kernel.
//!   - [`loader`]: loads a parsed object, using everything below, as one
//!     pipeline in which each decision is taken in one function: stage the
//!     kernel objects (kconfig values, BTF, maps, the arena — created or
//!     reused, placed by [`obj::place_arena_globals`], mapped), resolve
//!     every extern (kfunc and ksym ids, the `fd_array` slots of module
//!     BTFs), then relocate ([`obj::relocate`]) and load each program.
//!     [`loader::ObjectLoader::plan`] runs the same resolve step and
//!     placement without creating anything (the CLI's `inspect --disasm`
//!     uses it).
//!   - [`link`]: attachments — [`link::Link`] owns the `bpf_link` a
//!     program (or a struct_ops map) is attached through, from raw
//!     tracepoints to XDP and cgroups; the loader attaches by section name
//!     ([`LoadedObject::attach`]).
//! - [`guide`]: documentation only.
//!
//! No safe function of the crate can cause undefined behaviour or a fatal
//! signal, and no input (object bytes, arguments) can make it panic: see
//! the soundness notes of [`sys`] and [`arena`], the only modules with
//! `unsafe` code, and the README's "Security" section.
//!
//! The entry point of each job is re-exported here: create an arena
//! ([`ArenaBuilder`]), walk it ([`Arena`], [`ArenaPtr`], [`Plain`]), load
//! an object ([`ObjectLoader`] → [`LoadedObject`], whose globals, maps and
//! programs it gives by name), attach a program to a kernel event
//! ([`LoadedObject::attach`] → [`Link`]), consume or produce a ring buffer
//! ([`RingBuf`], [`UserRingBuf`]), build and run a program by hand
//! ([`ProgramBuilder`] → [`Program`]), and [`Error`].
//!
//! ```no_run
//! use bpf_arena::ArenaBuilder;
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
pub mod codegen;
pub mod features;
pub mod guide;
pub mod insn;
pub mod kconfig;
pub mod kfunc;
pub mod link;
pub mod loader;
pub mod map;
pub mod obj;
pub mod prog;
pub mod ringbuf;
pub mod sys;

pub use abi::ProgramType;
pub use arena::{Arena, ArenaBuilder, ArenaFlags, ArenaPtr, Plain};
pub use error::{Error, Result, VerifierError};
pub use link::{AttachTarget, Link};
pub use loader::{LoadedObject, ObjectLoader};
pub use prog::{Program, ProgramBuilder};
pub use ringbuf::{RingBuf, UserRingBuf};
pub use sys::{Cmd, Errno};

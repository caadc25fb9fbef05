//! Background for users: why the crate works the way it does
//! ([`design`]) and the kernel's arena rules it is built on
//! ([`kernel`]). Nothing here is code; other docs link to these pages.

#![forbid(unsafe_code)]

pub mod design {
    //! The decisions behind the crate, each with its reason.
    //!
    //! # 1. Few dependencies
    //!
    //! At run time the crate needs `libc` 0.2, `object` (read-only ELF
    //! parsing), `bitflags` and `thiserror`, nothing else; the command-line
    //! tool parses its own arguments. Embedded and minimal systems can audit
    //! all of it, and a static build of the tool stays under 800 KB.
    //!
    //! # 2. Address first, programs after
    //!
    //! A loaded program carries the arena's user address (the kernel writes
    //! it into every `ld_imm64` that names the arena), so the kernel refuses
    //! to load a program whose arena has no address yet. The loader therefore
    //! creates the arena map, fixes its address, maps it, copies the `__arena`
    //! globals and only then loads programs.
    //!
    //! # 3. A 4 GiB-aligned address that both sides agree on
    //!
    //! BPF code keeps 32-bit arena pointers; the kernel rebuilds a user
    //! pointer from the upper half of the arena's user address and the lower
    //! 32 bits of the pointer. When the caller gives an address
    //! ([`ArenaBuilder::address`](crate::arena::ArenaBuilder::address)), it
    //! is checked in user space first (page-aligned, in the user half, not
    //! crossing a 4 GiB boundary: the kernel accepts a kernel-half address
    //! and only fails — with a warning in its log — at `mmap`) and mapped
    //! with `MAP_FIXED_NOREPLACE`, so an occupied range is
    //! [`Error::AddressInUse`](crate::Error::AddressInUse) and never silently
    //! replaced. Without one, the crate finds a free 4 GiB-aligned slot,
    //! creates the map with that slot as `map_extra` and maps the arena
    //! there: the low 32 bits of every user pointer are then the arena
    //! offset and equal BPF's 32-bit pointer, and any other process learns
    //! the address from the map's info.
    //!
    //! # 4. The NULL page is never handed out
    //!
    //! At a 4 GiB-aligned base, offset 0 has low 32 bits 0, which the
    //! kernel's cast to a user pointer turns into NULL: a structure placed
    //! there could not be pointed to. The crate's page allocation refuses
    //! that page, and the loader reserves it before any program runs so that
    //! BPF's own first-fit allocation skips it too.
    //!
    //! # 5. `__arena` globals at the end of the arena
    //!
    //! Variables of the `.addr_space.1` section are placed in the last pages
    //! of the arena (offset `pages × page size − their size, rounded up to
    //! pages`), where they cannot collide with the NULL page or with pages
    //! allocated first-fit from the start. Before Linux 7.0 the kernel caps
    //! direct-value offsets below 512 MiB; when the end is out of that reach
    //! the globals go to offset 0, on the NULL page (an arena exactly as
    //! large as its globals lands there too). The offset used is
    //! [`LoadedObject::arena_globals_offset`](crate::loader::LoadedObject::arena_globals_offset).
    //!
    //! # 6. Pages from user space
    //!
    //! User space allocates, frees and reserves arena pages through three
    //! tiny built-in SYSCALL programs (assembled with [`crate::insn`], loaded
    //! on first use) that call the arena kfuncs, so a structure can be built
    //! from user space even in a `SEGV_ON_FAULT` arena.
    //!
    //! # 7. Kfuncs by name, from vmlinux BTF, once
    //!
    //! Kfunc ids are found by name in `/sys/kernel/btf/vmlinux`, which is
    //! mapped read-only once per process (read where mapping is refused) and
    //! scanned string section first, without building a type graph; ids are
    //! cached. Kfuncs of modules are called through `fd_array`.
    //!
    //! # 8. One arena, several objects or processes
    //!
    //! An object can use an existing arena instead of creating its own: in
    //! the same process, the [`Arena`](crate::Arena) handle another object
    //! or an [`ArenaBuilder`](crate::ArenaBuilder) made
    //! ([`ObjectLoader::reuse_arena`](crate::loader::ObjectLoader::reuse_arena)
    //! with [`LoadedObject::arena_handle`](crate::loader::LoadedObject::arena_handle));
    //! from another process, its fd or pin path
    //! ([`ObjectLoader::reuse_map`](crate::loader::ObjectLoader::reuse_map),
    //! [`ObjectLoader::reuse_pinned`](crate::loader::ObjectLoader::reuse_pinned)).
    //! An arena has one mapping per process, so within one process only the
    //! handle can be shared. A program that uses arena pointers but never
    //! names the arena map gets the arena bound through `fd_array` (Linux
    //! 6.14), so no dummy reference is needed.
    //!
    //! # 9. CO-RE by the kernel
    //!
    //! CO-RE relocations are handed to the kernel with the object's BTF
    //! (`core_relos` in `BPF_PROG_LOAD`): there is no user-space CO-RE engine.
    //!
    //! # 10. Sound access from safe code
    //!
    //! Arena memory and mapped global data are written concurrently by the
    //! kernel, BPF and other threads, so safe code never gets a reference
    //! into them: typed reads and writes copy with relaxed atomic accesses,
    //! atomics have their own handle, and raw pointers are behind `unsafe`.
    //! On a `SEGV_ON_FAULT` arena a safe access to an unallocated page is an
    //! error, not a signal. See the soundness notes of [`crate::sys`] and
    //! [`crate::arena`].
    //!
    //! # 11. Errors that say what to do
    //!
    //! Every error names the command, the errno and the section, symbol,
    //! instruction or map involved; a verifier rejection keeps the whole log
    //! and shows the error and source lines; `EPERM` names the capabilities;
    //! a kernel that lacks a feature is
    //! [`Error::NotSupported`](crate::Error::NotSupported) naming the release
    //! that brought it.
    //!
    //! # 12. One pipeline, each decision in one place
    //!
    //! Loading is a fixed sequence — parse (sections, symbols, maps,
    //! programs, relocations, externs, data maps), stage the kernel objects
    //! (BTF, maps, the arena), resolve the externs, relocate and load each
    //! program — and every decision on the way is taken by one function: an
    //! extern's kind by the parser's externs phase; where the `__arena`
    //! globals go by
    //! [`obj::place_arena_globals`](crate::obj::place_arena_globals), with
    //! the real page size; `BPF_F_MMAPABLE` by
    //! [`ArenaFlags::map_flags`](crate::arena::ArenaFlags::map_flags) and
    //! [`ArenaFlags::from_map_flags`](crate::arena::ArenaFlags::from_map_flags);
    //! what each extern resolves to, and which `fd_array` slot a module BTF
    //! gets, by the loader's resolve step, which
    //! [`ObjectLoader::plan`](crate::loader::ObjectLoader::plan) runs without
    //! creating anything (the CLI's `inspect --disasm` shows a program that
    //! way). The relocation edits typed instructions
    //! ([`insn::Imm64`](crate::insn::Imm64), [`insn::Call`](crate::insn::Call)),
    //! never raw opcodes.
}

pub mod kernel {
    //! The kernel's arena rules, as the crate's conformance tests assert
    //! them against a live kernel (Linux 6.18 unless a release is named).
    //!
    //! # Creation (`BPF_MAP_CREATE`)
    //!
    //! Map type 33, key and value size 0, 1 to 2²⁰ pages (and at most
    //! 4 GiB: `E2BIG`), `BPF_F_MMAPABLE` required, and only
    //! `BPF_F_SEGV_ON_FAULT` and `BPF_F_NO_USER_CONV` besides (`EINVAL`).
    //! `map_extra` is 0 (the first `mmap` fixes the address) or the
    //! page-aligned user address every mapping must use; a range crossing a
    //! 4 GiB boundary is `ERANGE`. Creating an arena needs `CAP_BPF` (or
    //! `CAP_SYS_ADMIN`): `EPERM` otherwise. Kernels before 6.9 have no such
    //! map type (`EINVAL`). Lookups answer `EINVAL`, updates and deletes
    //! `EOPNOTSUPP`; freezing works and then forbids writable mappings.
    //!
    //! # Mapping
    //!
    //! Only `MAP_SHARED` (`MAP_PRIVATE` is `EINVAL`); executable mappings
    //! are refused (`EPERM`) as for any BPF map on 6.18 and 7.3, allowed on
    //! 6.12 (anon-inode files became `noexec` in 6.16). The offset must
    //! be 0 and, once the address is known, the length must be the arena's
    //! size and the address its address (`EINVAL`). The first mapping fixes
    //! the address for good, even after every mapping is gone. The mapping
    //! keeps the map alive after its fd is closed. It cannot be split,
    //! grown or moved (a partial `munmap`, `mprotect` or `mremap` is
    //! `EINVAL`), and a `fork()` child does not inherit it: it maps the
    //! inherited fd itself, at the same address. (Kernels before 6.12.88,
    //! 6.18.30 and 7.0.7 let the mapping be split and inherited, a
    //! use-after-free fixed by commit 4fddde2a732d.)
    //!
    //! # Pages
    //!
    //! A user access to a page nobody allocated allocates a zeroed page —
    //! reads too — unless the arena has `SEGV_ON_FAULT`, which raises
    //! `SIGSEGV` instead. `bpf_arena_alloc_pages` (6.9) returns full user
    //! addresses, first fit, or NULL for a bad count, a misaligned or
    //! occupied address, or a range past the end; `bpf_arena_free_pages`
    //! unmaps the pages from every process (later reads see zeros or fault);
    //! `bpf_arena_reserve_pages` (6.17) keeps BPF's allocator off a range
    //! (0, `-EBUSY` for an allocated page, `-EINVAL`), but a user fault still
    //! allocates a reserved page. Before Linux 7.0 the kfuncs can be called
    //! only from sleepable programs. An invalid NUMA node id oopses kernels
    //! before 6.12.91, 6.18.33 and 7.0.10 (commit 2845989f2eba).
    //!
    //! # Programs
    //!
    //! A program uses one arena at most. It names it through an `ld_imm64`
    //! of the arena map (a map-value load gives the user address plus the
    //! offset, as a plain number) or, from 6.14, through `fd_array` with
    //! `fd_array_cnt`. `addr_space_cast` converts between the user form
    //! (64-bit) and the kernel form (32-bit) of an arena pointer; the cast
    //! to the user form turns a pointer whose low 32 bits are 0 into NULL,
    //! and with `NO_USER_CONV` it is a plain 32-bit move, so such arenas
    //! store kernel-form pointers. Arena programs need the JIT, `CAP_BPF`
    //! and `CAP_PERFMON`. Direct-value offsets of 512 MiB or more are
    //! refused before 7.0 (`EINVAL`); past the end of the arena they are
    //! `ERANGE`.
    //!
    //! # Instructions in arena memory
    //!
    //! The x86-64 JIT supports atomic add, and, or, xor, xchg and cmpxchg on
    //! arena memory from 6.10, but not the fetching and/or/xor forms;
    //! load-acquire and store-release exist from 6.15 (before, 8- and 16-bit
    //! `BPF_ATOMIC` is an unknown opcode); sign-extending loads from 6.18.
    //! From 7.3 the verifier follows its error line with a report
    //! (`Verification failed: …`), which
    //! [`VerifierError`](crate::VerifierError) separates from the trace.
}

//! Page management from user space: `bpf_arena_alloc_pages`,
//! `bpf_arena_free_pages` and `bpf_arena_reserve_pages` called by tiny
//! built-in SYSCALL programs, assembled with [`crate::insn`] and loaded on
//! first use (one per operation and arena).
//!
//! Each program reads its arguments from a 24-byte context
//! `{ u64 addr; u32 count; u32 pad; u64 result }` and calls the kfunc on the
//! arena it was loaded for. The kfuncs are sleepable before Linux 7.0, which
//! SYSCALL programs (always loaded `BPF_F_SLEEPABLE`) satisfy.
//!
//! This is the one place the arena module uses [`crate::prog`]: the
//! programs are loaded here, cached in the [`PageProgs`] each [`Arena`]
//! owns, run here, and unloaded when that arena is dropped. Nothing else in
//! the crate sees them.

use super::{Arena, ArenaPtr};
use crate::error::{Error, Result};
use crate::insn::{Insn, Reg, Size, asm, encode};
use crate::kfunc;
use crate::prog::{Program, ProgramBuilder, ProgramFlags, ProgramType};
use crate::sys::{Cmd, Errno};
use std::os::fd::AsRawFd;
use std::sync::atomic::Ordering;
use std::sync::{MutexGuard, PoisonError};

/// Loads a built-in SYSCALL program that uses `arena`, naming it in errors.
fn arena_program(arena: &Arena, name: &str, insns: &[Insn]) -> Result<Program> {
    ProgramBuilder::new(ProgramType::SYSCALL, insns)
        .name(name)
        .flags(ProgramFlags::SLEEPABLE)
        .load()
        .map_err(|e| match e {
            Error::Verifier(v)
                if v.log_contains("unknown opcode") || v.log_contains("kernel function") =>
            {
                Error::NotSupported {
                    what: "arena kfuncs in SYSCALL programs",
                    since: "6.9",
                    detail: Some(v.to_string()),
                }
            }
            Error::Bpf {
                errno: Errno::EPERM,
                ..
            } => Error::Bpf {
                cmd: Cmd::ProgLoad,
                what: format!("built-in page program '{name}' for {}", arena.label()),
                errno: Errno::EPERM,
            },
            e => e,
        })
}

/// One arena's cache of built-in page programs: at most one per operation,
/// each loaded the first time that operation is asked for and kept until
/// the arena is dropped.
///
/// Owned by exactly one [`Arena`] (its `progs` field) and never handed out:
/// each program has that arena's map fd baked into its instructions (the
/// kernel keeps a reference to the map for as long as the program exists),
/// so it is only good for that arena. Another handle on the same map
/// ([`Arena::from_fd`]) loads programs of its own. The mutex around the
/// cache is held while an operation runs, so page operations through one
/// handle run one at a time; `Arena`'s `Drop` unloads the programs before
/// it unmaps the arena.
#[derive(Debug, Default)]
pub(super) struct PageProgs {
    alloc: Option<Program>,
    free: Option<Program>,
    reserve: Option<Program>,
}

impl PageProgs {
    /// The cache slot for `op`.
    fn slot(&mut self, op: Op) -> &mut Option<Program> {
        match op {
            Op::Alloc => &mut self.alloc,
            Op::Free => &mut self.free,
            Op::Reserve => &mut self.reserve,
        }
    }
}

/// A page operation: which kfunc a built-in program calls.

#[derive(Clone, Copy)]
enum Op {
    Alloc,
    Free,
    Reserve,
}

impl Op {
    fn kfunc(self) -> &'static str {
        match self {
            Op::Alloc => kfunc::ARENA_ALLOC_PAGES,
            Op::Free => kfunc::ARENA_FREE_PAGES,
            Op::Reserve => kfunc::ARENA_RESERVE_PAGES,
        }
    }

    fn since(self) -> &'static str {
        kfunc::arena_kfunc_since(self.kfunc()).unwrap_or("6.9")
    }

    fn prog_name(self) -> &'static str {
        match self {
            Op::Alloc => "arena_alloc",
            Op::Free => "arena_free",
            Op::Reserve => "arena_reserve",
        }
    }
}

/// The instructions of the built-in program for `op` on map fd `map_fd`
/// calling kfunc `btf_id`.
fn program(op: Op, map_fd: i32, btf_id: u32) -> Vec<Insn> {
    let (r0, r1, r2, r3, r4, r5, r6) = (
        Reg::R0,
        Reg::R1,
        Reg::R2,
        Reg::R3,
        Reg::R4,
        Reg::R5,
        Reg::R6,
    );
    let mut v = vec![
        asm::mov64(r6, r1),
        asm::ld_map_fd(r1, map_fd),
        asm::load(Size::DW, r2, r6, 0),
        asm::load(Size::W, r3, r6, 8),
    ];
    match op {
        Op::Alloc => {
            v.push(asm::mov64_imm(r4, -1)); // node_id = NUMA_NO_NODE
            v.push(asm::mov64_imm(r5, 0)); // flags
            v.push(asm::call_kfunc(btf_id));
            v.push(asm::store(Size::DW, r6, 16, r0));
            v.push(asm::mov64_imm(r0, 0));
        }
        Op::Free => {
            v.push(asm::call_kfunc(btf_id));
            v.push(asm::mov64_imm(r0, 0));
        }
        // The int result is the program's return value.
        Op::Reserve => v.push(asm::call_kfunc(btf_id)),
    }
    v.push(asm::exit());
    encode(&v)
}

impl Arena {
    /// The cache of page programs, locked (a poisoned lock is taken over:
    /// the cache holds no invariant a panic could break).
    fn page_progs(&self) -> MutexGuard<'_, PageProgs> {
        self.progs.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Unloads the cached page programs (for `Drop`, before the mapping
    /// goes).
    pub(super) fn unload_page_progs(&mut self) {
        let progs = self.progs.get_mut().unwrap_or_else(PoisonError::into_inner);
        *progs = PageProgs::default();
    }

    /// Loads the built-in program for `op` on this arena (`BPF_PROG_LOAD`).
    fn load_page_prog(&self, op: Op) -> Result<Program> {
        let id = kfunc::kfunc_id(op.kfunc())?.ok_or(Error::NotSupported {
            what: op.kfunc(),
            since: op.since(),
            detail: Some("not in /sys/kernel/btf/vmlinux".into()),
        })?;
        let insns = program(op, self.fd.as_raw_fd(), id);
        arena_program(self, op.prog_name(), &insns)
    }

    /// Runs `op` on `count` pages at `addr` (`BPF_PROG_TEST_RUN`), loading
    /// its program first if this arena has not yet: the program's return
    /// value and the result it stored in the context.
    fn run_page_op(&self, op: Op, addr: u64, count: u32) -> Result<(u32, u64)> {
        let mut progs = self.page_progs();
        let slot = progs.slot(op);
        let prog = match slot {
            Some(prog) => prog,
            None => slot.insert(self.load_page_prog(op)?),
        };
        let mut ctx = [0u8; 24];
        ctx[0..8].copy_from_slice(&addr.to_le_bytes());
        ctx[8..12].copy_from_slice(&count.to_le_bytes());
        let ret = prog.run_syscall(&mut ctx)?;
        let mut result = [0u8; 8];
        result.copy_from_slice(&ctx[16..24]);
        Ok((ret, u64::from_le_bytes(result)))
    }

    /// Marks the NULL page guarded; whether it already was.
    fn set_null_guarded(&self) -> bool {
        self.null_guarded.swap(true, Ordering::AcqRel)
    }

    /// Allocates `count` zeroed pages with `bpf_arena_alloc_pages`.
    ///
    /// `at` = `None` takes the lowest free range (after
    /// [`Arena::guard_null_page`], so never the NULL page; `Some` of a NULL
    /// pointer means the same); `Some(ptr)` asks for exactly that
    /// page-aligned address. Returns the kernel's answer: the user address
    /// of the first page, or `None` (the kernel's NULL) when `count` is 0 or
    /// exceeds the arena, `at` is misaligned or outside, any page in the
    /// range is allocated or reserved, or memory is short. Works on
    /// [`SEGV_ON_FAULT`](super::ArenaFlags::SEGV_ON_FAULT) arenas.
    ///
    /// Needs Linux 6.9 and, for the first page operation on this arena,
    /// `CAP_BPF` + `CAP_PERFMON` (or `CAP_SYS_ADMIN`) to load the built-in
    /// SYSCALL program (`BPF_PROG_LOAD`); every call runs it once
    /// (`BPF_PROG_TEST_RUN`).
    ///
    /// Errors: [`Error::Invalid`] for an `at` the kernel would resolve to
    /// the NULL page (the kernel uses only the low 32 bits of `at`);
    /// [`Error::NotSupported`] naming 6.9 when the kernel has no
    /// `bpf_arena_alloc_pages` or its verifier refuses kfunc calls in
    /// SYSCALL programs; [`Error::Bpf`] with `EPERM` (`BPF_PROG_LOAD`)
    /// without those capabilities; errors reading the kernel's BTF
    /// (`/sys/kernel/btf/vmlinux`), where kfuncs are looked up.
    pub fn alloc_pages<T>(
        &self,
        at: Option<ArenaPtr<T>>,
        count: u32,
    ) -> Result<Option<ArenaPtr<u8>>> {
        let addr = match at.map(ArenaPtr::addr) {
            None | Some(0) => {
                self.guard_null_page()?;
                0
            }
            // The kernel finds the page from the low 32 bits alone.
            Some(addr) if self.has_null_page() && addr as u32 == 0 => {
                return Err(Error::invalid(
                    "allocation address",
                    format!(
                        "{addr:#x} is the arena's NULL page to the kernel (low 32 bits 0: BPF's cast turns pointers to it into NULL)"
                    ),
                ));
            }
            Some(addr) => addr,
        };
        let (_, got) = self.run_page_op(Op::Alloc, addr, count)?;
        Ok((got != 0).then(|| ArenaPtr::from_addr(got)))
    }

    /// Frees `count` pages at `ptr` with `bpf_arena_free_pages`.
    ///
    /// The kernel uses only the low 32 bits of `ptr` (rounded down to a
    /// page), clips the range to the arena, zaps the pages from every user
    /// mapping and returns them to the free range (un-reserving reserved
    /// ones). A later user access faults in a new zeroed page (or `SIGSEGV`
    /// with `SEGV_ON_FAULT`). The kfunc returns nothing, and ignores a NULL
    /// `ptr` or a `count` of 0: misuse is never an error, at most a free of
    /// other pages of this arena than meant.
    ///
    /// Needs Linux 6.9; system calls, capabilities and errors as for
    /// [`Arena::alloc_pages`] (`bpf_arena_free_pages` in place of the
    /// allocation kfunc).
    pub fn free_pages<T>(&self, ptr: ArenaPtr<T>, count: u32) -> Result<()> {
        self.run_page_op(Op::Free, ptr.addr(), count).map(drop)
    }

    /// Reserves `count` pages at `ptr` with `bpf_arena_reserve_pages`: BPF
    /// allocations will not return them and BPF accesses fault (reading 0)
    /// until they are freed. User-space faults still allocate reserved
    /// pages (a kernel quirk: see
    /// [the kernel's page rules](crate::guide::kernel)).
    ///
    /// Needs Linux 6.17; system calls and capabilities as for
    /// [`Arena::alloc_pages`].
    ///
    /// The kernel's answer: `Ok(())` for 0 (also for a misaligned `ptr` or a
    /// `count` of 0, where it silently does nothing), [`Error::Kfunc`] with
    /// `EINVAL` (range beyond the arena) or `EBUSY` (a page is allocated).
    /// [`Error::NotSupported`] naming 6.17 on kernels without the kfunc;
    /// the other errors of [`Arena::alloc_pages`].
    pub fn reserve_pages<T>(&self, ptr: ArenaPtr<T>, count: u32) -> Result<()> {
        let (ret, _) = self.run_page_op(Op::Reserve, ptr.addr(), count)?;
        match ret as i32 {
            0 => Ok(()),
            r => Err(Error::Kfunc {
                kfunc: kfunc::ARENA_RESERVE_PAGES,
                errno: Errno::from_negative(r as i64),
            }),
        }
    }

    /// Takes the NULL page (offset 0 of a 4 GiB-aligned arena) out of the
    /// kernel's free range so that no allocation, from BPF or user space,
    /// returns it. Reserves it where `bpf_arena_reserve_pages` exists (Linux
    /// 6.17: BPF accesses through a NULL arena pointer then fault and read
    /// 0); allocates it on older kernels (6.9). Idempotent and cheap after
    /// the first call; `Ok(true)` when this call took the page, `Ok(false)`
    /// when there is no NULL page, it was already guarded, or something
    /// already allocated it.
    ///
    /// System calls, capabilities and errors as for [`Arena::alloc_pages`]
    /// (none when there is nothing to do); after an error the next call
    /// tries again.
    pub fn guard_null_page(&self) -> Result<bool> {
        if !self.has_null_page() || self.set_null_guarded() {
            return Ok(false);
        }
        let r = self.take_null_page();
        if r.is_err() {
            self.null_guarded.store(false, Ordering::Release);
        }
        r
    }

    /// Reserves the NULL page, or allocates it where reserving is unknown:
    /// whether this call took it.
    fn take_null_page(&self) -> Result<bool> {
        if kfunc::kfunc_id(kfunc::ARENA_RESERVE_PAGES)?.is_some() {
            let (ret, _) = self.run_page_op(Op::Reserve, self.base, 1)?;
            Ok(ret == 0)
        } else {
            let (_, got) = self.run_page_op(Op::Alloc, self.base, 1)?;
            Ok(got != 0)
        }
    }
}

/// The size of an arena page: the kernel's page size
/// (`sysconf(_SC_PAGESIZE)`, read once per process), 4096 on x86-64. An
/// arena of `pages` pages spans `pages * page_size()` bytes.
pub fn page_size() -> u64 {
    crate::sys::page_size() as u64
}

/// The bytes `pages` arena pages span: `pages * page_size()`, the one
/// place that product is computed (it cannot overflow: at most 2³² pages
/// of at most 64 KiB).
pub fn pages_len(pages: u32) -> u64 {
    u64::from(pages).saturating_mul(page_size())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::insn::Listing;

    #[test]
    fn built_in_programs_read_as_intended() {
        let text = Listing(&program(Op::Alloc, 7, 63525)).to_string();
        assert_eq!(
            text,
            "     0: r6 = r1\n     1: r1 = map_fd(7) ll\n     3: r2 = *(u64 *)(r6 + 0x0)\n     4: w3 = *(u32 *)(r6 + 0x8)\n     5: r4 = -0x1\n     6: r5 = 0x0\n     7: call kfunc(0xf825)\n     8: *(u64 *)(r6 + 0x10) = r0\n     9: r0 = 0x0\n    10: exit\n"
        );
    }
}

//! `Program::info` against the running kernel: the identity fields agree
//! with `/proc/self/fdinfo`, the translated instructions are the kernel's
//! rewrite of what was loaded (map ids, inlined and re-targeted calls, an
//! arena's address as a constant, `addr_space_cast` as a 32-bit move), and
//! what the kernel withholds without capabilities or without raw-dump
//! rights is reported as such.

mod common;

use bpf_arena::features::Feature;
use bpf_arena::insn::{self, AluOp, Call, Cond, Insn, Instruction, Listing, Reg, Size, asm};
use bpf_arena::loader::ObjectLoader;
use bpf_arena::map::Map;
use bpf_arena::obj::MapSpec;
use bpf_arena::prog::{Program, ProgramBuilder, ProgramType, Withheld};
use common::*;
use std::collections::BTreeMap;
use std::os::fd::AsRawFd;
use std::time::Duration;

/// `bpf_map_lookup_elem`, `bpf_ktime_get_ns`.
const LOOKUP: i32 = 1;
const KTIME: i32 = 5;

/// `/proc/self/fdinfo/FD` as key → value.
fn fdinfo(p: &Program) -> BTreeMap<String, String> {
    std::fs::read_to_string(format!("/proc/self/fdinfo/{}", p.as_raw_fd()))
        .unwrap()
        .lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.to_string(), v.trim().to_string()))
        .collect()
}

fn sysctl(path: &str) -> i64 {
    std::fs::read_to_string(path)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// Time since boot (`CLOCK_BOOTTIME`), the clock of `load_time`.
fn since_boot() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec.
    assert_eq!(
        unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut ts) },
        0
    );
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// The instructions that decode (the kernel's own rewrites may use its
/// internal register, r11, which is not an instruction a program may
/// contain; those slots are skipped).
fn decoded(insns: &[Insn]) -> Vec<Instruction> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < insns.len() {
        match Instruction::decode_at(insns, i) {
            Ok(ins) => {
                i += ins.slots();
                out.push(ins);
            }
            Err(_) => i += 1,
        }
    }
    out
}

/// A socket filter that looks up key 0 of an array map and calls
/// `bpf_ktime_get_ns`.
fn lookup_and_time(map_fd: i32) -> Vec<Insn> {
    insn::encode(&[
        asm::store_imm(Size::W, Reg::R10, -4, 0),
        asm::mov64(Reg::R2, Reg::R10),
        asm::alu64_imm(AluOp::Add, Reg::R2, -4),
        asm::ld_map_fd(Reg::R1, map_fd),
        asm::call_helper(LOOKUP),
        asm::jump_imm(Cond::Eq, Reg::R0, 0, 1),
        asm::load(Size::DW, Reg::R6, Reg::R0, 0),
        asm::call_helper(KTIME),
        asm::mov64_imm(Reg::R0, 0),
        asm::exit(),
    ])
}

fn array_map(name: &str) -> Map {
    let spec = MapSpec {
        name: name.into(),
        map_type: 2,
        key_size: 4,
        value_size: 8,
        max_entries: 1,
        ..Default::default()
    };
    Map::create(&spec, None, None).unwrap()
}

/// Whether raw dumps are allowed for an fd opened without `CAP_SYSLOG`.
fn raw_dump_ok_without_cap_syslog() -> bool {
    sysctl("/proc/sys/kernel/kptr_restrict") == 0
        && sysctl("/proc/sys/kernel/perf_event_paranoid") <= 1
}

/// The identity fields agree with fdinfo; a program the verifier has
/// nothing to rewrite comes back as loaded; the JIT code is as long as
/// the kernel says.
#[test]
fn info_agrees_with_fdinfo() {
    require!(Feature::Jit);
    let insns = insn::encode(&[asm::mov64_imm(Reg::R0, 7), asm::exit()]);
    let before = since_boot();
    let p = ProgramBuilder::new(ProgramType::SOCKET_FILTER, &insns)
        .name("seven")
        .load()
        .unwrap();
    let i = p.info().unwrap();
    let f = fdinfo(&p);
    assert_eq!(i.tag.to_string(), f["prog_tag"]);
    assert_eq!(i.tag.to_string().len(), 16);
    assert_eq!(i.id.to_string(), f["prog_id"]);
    assert_eq!(i.program_type.0.to_string(), f["prog_type"]);
    assert_eq!(
        i.verified_insns.map(|n| n.to_string()),
        Some(f["verified_insns"].clone())
    );
    assert_eq!(i.name, "seven");
    assert!(i.gpl_compatible);
    assert_eq!((i.map_ids.as_slice(), i.btf_id), (&[][..], None));
    // SAFETY: getuid has no memory effects.
    assert_eq!(i.created_by_uid, unsafe { libc::getuid() });
    assert!(
        i.load_time >= before && i.load_time <= since_boot(),
        "load time {:?} between {before:?} and now",
        i.load_time
    );
    assert_eq!((i.xlated_len, i.xlated_insn_count()), (16, 2));
    assert_eq!(i.xlated_insns.as_deref(), Ok(&insns[..]));
    if f["prog_jited"] == "1" {
        let code = i.jited_code.as_ref().unwrap();
        assert!(i.jited_len > 0 && code.len() == i.jited_len, "{i:?}");
    } else {
        assert_eq!(i.jited_code, Err(Withheld::NotJitCompiled));
    }
    if sysctl("/proc/sys/kernel/kptr_restrict") < 2 {
        assert!(!i.addresses_hidden, "root holds CAP_SYSLOG");
    }
}

/// The kernel's rewrite: the map fd becomes the map's id, an array lookup
/// is inlined by a JIT-enabled kernel, and a helper call carries the
/// kernel's call target instead of the helper id.
#[test]
fn translated_code_is_the_kernels_rewrite() {
    require!(Feature::Jit);
    let map = array_map("info_arr");
    let id = map.info().id;
    let loaded = lookup_and_time(map.fd().as_raw_fd());
    let p = ProgramBuilder::new(ProgramType::SOCKET_FILTER, &loaded)
        .name("rewritten")
        .load()
        .unwrap();
    let i = p.info().unwrap();
    assert_eq!(i.map_ids, [id]);
    let xlated = i.xlated_insns.as_ref().unwrap();
    let text = Listing(xlated).to_string();
    assert!(text.contains(&format!("r1 = map_fd({id}) ll")), "{text}");
    let calls: Vec<i32> = decoded(xlated)
        .iter()
        .filter_map(|ins| match ins {
            Instruction::Call(Call::Helper(imm)) => Some(*imm),
            _ => None,
        })
        .collect();
    assert!(
        !calls.contains(&LOOKUP) && xlated.len() > loaded.len(),
        "the array lookup is inlined: {text}"
    );
    if !i.addresses_hidden {
        assert!(
            calls.len() == 1 && calls[0] != KTIME && calls[0] != 0,
            "the helper call is re-targeted: {text}"
        );
    }
}

/// An arena program as the kernel runs it: the arena's globals are plain
/// 64-bit user addresses, casts to the kernel's address space are 32-bit
/// moves, and the kfunc call is re-targeted.
#[test]
fn arena_code_as_the_kernel_runs_it() {
    require_arena!();
    let mut l = ObjectLoader::from_file(asm_object("arena_list.bpf.o")).unwrap();
    l.load_only(&["arena_list_add", "arena_list_sum"]).unwrap();
    let o = l.load().unwrap();
    let arena = o.arena().unwrap();
    let head = arena.base() + o.arena_globals_offset().unwrap() + 8;
    let sum = o.program("arena_list_sum").unwrap().info().unwrap();
    let text = Listing(sum.xlated_insns.as_ref().unwrap()).to_string();
    assert!(
        text.contains(&format!("r2 = {head:#x} ll\n")),
        "list head at {head:#x}: {text}"
    );
    assert!(!text.contains("addr_space_cast"), "{text}");
    assert!(
        text.contains(": w2 = w2\n"),
        "cast to the kernel's space: {text}"
    );
    let arena_id = bpf_arena::sys::map_info(arena.fd()).unwrap().id;
    assert!(sum.map_ids.contains(&arena_id), "{:?}", sum.map_ids);
    let add = o.program("arena_list_add").unwrap().info().unwrap();
    let kfuncs: Vec<i32> = decoded(add.xlated_insns.as_ref().unwrap())
        .iter()
        .filter_map(|ins| match ins {
            Instruction::Call(Call::Kfunc { btf_id, .. }) => Some(*btf_id),
            _ => None,
        })
        .collect();
    assert_eq!(kfuncs.len(), 1, "one bpf_arena_alloc_pages call");
    // x86-64 cannot reach a kfunc through its BTF id: the kernel stores the
    // call target there.
    if cfg!(target_arch = "x86_64") && !add.addresses_hidden {
        let id = bpf_arena::kfunc::kfunc_id("bpf_arena_alloc_pages")
            .unwrap()
            .unwrap();
        assert_ne!(kfuncs[0], id as i32, "re-targeted");
    }
}

/// Without any capability the kernel reports the identity but no code.
#[test]
fn without_capabilities_the_code_is_withheld() {
    require!(Feature::Jit);
    in_fresh_process("without_capabilities_the_code_is_withheld", || {
        let insns = insn::encode(&[asm::mov64_imm(Reg::R0, 7), asm::exit()]);
        let p = ProgramBuilder::new(ProgramType::SOCKET_FILTER, &insns)
            .name("nocaps")
            .load()
            .map_err(|e| e.to_string())?;
        drop_effective_capabilities()?;
        let i = p.info().map_err(|e| e.to_string())?;
        let want = (
            0,
            0,
            Err(Withheld::NoCapability),
            Err(Withheld::NoCapability),
            true,
        );
        let got = (
            i.xlated_len,
            i.jited_len,
            i.xlated_insns.clone(),
            i.jited_code.clone(),
            i.addresses_hidden,
        );
        if got != want || i.name != "nocaps" || i.verified_insns.is_none() {
            return Err(format!("without capabilities: {i:?}"));
        }
        Ok(())
    });
}

/// Clears this process's effective capability set (the permitted set
/// stays; the process ends soon after).
fn drop_effective_capabilities() -> Result<(), String> {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: i32,
    }
    #[repr(C)]
    #[derive(Clone, Copy, Default)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    let mut h = Header {
        version: 0x2008_0522,
        pid: 0,
    };
    let mut d = [Data::default(); 2];
    // SAFETY: capget with a v3 header writes two Data records.
    if unsafe { libc::syscall(libc::SYS_capget, &mut h as *mut Header, d.as_mut_ptr()) } != 0 {
        return Err("capget failed".into());
    }
    d[0].effective = 0;
    d[1].effective = 0;
    // SAFETY: capset with a v3 header reads two Data records.
    if unsafe { libc::syscall(libc::SYS_capset, &mut h as *mut Header, d.as_ptr()) } != 0 {
        return Err("capset failed".into());
    }
    Ok(())
}

/// A process with CAP_BPF but not CAP_SYSLOG: unless the sysctls let
/// anyone see kernel addresses, the kernel zeroes call targets, withholds
/// the JIT code (and, when it blinds every program, the instructions).
#[test]
fn without_cap_syslog_addresses_are_hidden() {
    require!(Feature::Jit);
    if is_child("no_syslog") {
        return;
    }
    // Only root may read bpf_jit_harden: the child says what it saw.
    let blinded = !raw_dump_ok_without_cap_syslog()
        && sysctl("/proc/sys/net/core/bpf_jit_harden") == 2
        && sysctl("/proc/sys/net/core/bpf_jit_enable") != 0;
    run_as_child(
        "no_syslog_child",
        "no_syslog",
        "-all,+bpf,+perfmon",
        if blinded {
            "no_syslog: instructions blinded"
        } else {
            "no_syslog: instructions given"
        },
    );
}

/// Runs only inside `without_cap_syslog_addresses_are_hidden`'s child.
#[test]
fn no_syslog_child() {
    if !is_child("no_syslog") {
        return;
    }
    let map = array_map("info_nosys");
    let loaded = lookup_and_time(map.fd().as_raw_fd());
    let p = ProgramBuilder::new(ProgramType::SOCKET_FILTER, &loaded)
        .name("nosyslog")
        .load()
        .unwrap();
    let i = p.info().unwrap();
    let jited = fdinfo(&p)["prog_jited"] == "1";
    if raw_dump_ok_without_cap_syslog() {
        assert!(!i.addresses_hidden, "{i:?}");
    } else {
        assert!(i.addresses_hidden, "{i:?}");
        if jited {
            assert_eq!(i.jited_code, Err(Withheld::RawDumpNotAllowed));
        }
        match &i.xlated_insns {
            Err(w) => assert_eq!(*w, Withheld::Blinded),
            Ok(xlated) => {
                let calls: Vec<Instruction> = decoded(xlated)
                    .into_iter()
                    .filter(|ins| matches!(ins, Instruction::Call(Call::Helper(_))))
                    .collect();
                assert_eq!(
                    calls,
                    [Instruction::Call(Call::Helper(0))],
                    "the ktime call's target is zeroed"
                );
            }
        }
    }
    assert_eq!(i.xlated_len, i.xlated_insn_count() * 8);
    assert!(i.xlated_len > 0 && i.map_ids == [map.info().id]);
    if i.xlated_insns.is_ok() {
        println!("no_syslog: instructions given");
    } else {
        println!("no_syslog: instructions blinded");
    }
}

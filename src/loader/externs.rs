//! The resolve step: what every extern of an object is in the running
//! kernel (kfunc and ksym BTF ids, kconfig values), and the `fd_array`
//! layout the module kfuncs need. Used by [`ObjectLoader::load`] and by
//! [`ObjectLoader::plan`] alike.

use super::Load;
use crate::btf::kind;
use crate::error::{Error, Result};
use crate::kconfig;
use crate::kfunc;
use crate::obj::relocate::{POISON_KFUNC_CALL_BASE, Resolved};
use crate::obj::{DataKind, ExternKind, ObjectSpec};
use std::collections::HashMap;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

/// The `fd_array` slot of the first module BTF. Slot 0 means vmlinux in a
/// kfunc call's `off`, so it never holds a module BTF that calls name; the
/// loader puts the bound arena there, or repeats the first module BTF.
const FIRST_MODULE_SLOT: usize = 1;

/// vmlinux BTF ids of kfuncs, by name (the kfuncs vmlinux lacks are absent).
pub(super) type VmlinuxKfuncs = HashMap<String, u32>;

/// What every extern of an object resolved to, and the module BTFs its
/// module kfuncs need, in `fd_array` order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Resolution {
    /// What each extern of [`ObjectSpec::externs`] resolved to (by index).
    pub externs: Vec<Resolved>,
    /// The kernel modules whose BTF the module kfuncs come from; module
    /// `modules[i]` has `fd_array` slot `i + 1` (slot 0 means vmlinux).
    pub modules: Vec<String>,
}

impl Resolution {
    /// Checks that every strong (not `__weak`) extern of `spec` resolved.
    ///
    /// Errors: [`Error::NotSupported`] for an arena kfunc newer than the
    /// kernel (naming the release that brought it), [`Error::Unresolved`]
    /// naming any other missing strong extern.
    pub fn require_strong(&self, spec: &ObjectSpec) -> Result<()> {
        for (e, r) in spec.externs.iter().zip(&self.externs) {
            if *r == Resolved::Missing && !e.weak {
                return Err(missing_strong_extern(&e.name));
            }
        }
        Ok(())
    }

    /// Opens the BTF of every module [`Resolution::modules`] names
    /// (`BPF_BTF_GET_FD_BY_ID`, which needs `CAP_SYS_ADMIN`).
    pub(super) fn open_modules(&self) -> Result<Vec<OwnedFd>> {
        self.modules
            .iter()
            .map(|m| kfunc::kernel_btf_fd(m))
            .collect()
    }
}

/// The `fd_array` of one program: slot 0 the arena when it must be bound
/// (`bind`), else the first module BTF (never read: slot 0 means vmlinux);
/// then the module BTFs at the slots [`Resolution::modules`] gave them.
pub(super) fn fd_array<'f>(
    bound_arena: Option<BorrowedFd<'f>>,
    modules: &'f [OwnedFd],
) -> Vec<BorrowedFd<'f>> {
    // Slots before FIRST_MODULE_SLOT: the bound arena, or a placeholder.
    let mut out: Vec<BorrowedFd<'f>> =
        Vec::with_capacity(FIRST_MODULE_SLOT.saturating_add(modules.len()));
    let placeholder = modules.first().map(|m| m.as_fd());
    out.extend(bound_arena.or(placeholder));
    if !modules.is_empty() {
        out.extend(modules.iter().map(|m| m.as_fd()));
    }
    out
}

/// The essential names of the object's kfunc externs (`bpf_foo___v2` is
/// `bpf_foo`).
fn kfunc_names(spec: &ObjectSpec) -> Vec<String> {
    spec.externs
        .iter()
        .filter(|e| e.kind == ExternKind::Kfunc)
        .map(|e| e.essential_name().to_string())
        .collect()
}

/// Looks the names up in vmlinux BTF (one scan per process; cached).
fn vmlinux_kfuncs(names: &[String]) -> Result<VmlinuxKfuncs> {
    if names.is_empty() {
        return Ok(HashMap::new());
    }
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let ids = kfunc::kfunc_ids(&refs)?;
    Ok(names
        .iter()
        .zip(ids)
        .filter_map(|(n, id)| Some((n.clone(), id?)))
        .collect())
}

/// The vmlinux BTF ids of `spec`'s kfuncs, by name.
pub(super) fn vmlinux_kfuncs_of(spec: &ObjectSpec) -> Result<VmlinuxKfuncs> {
    vmlinux_kfuncs(&kfunc_names(spec))
}

/// The resolve step: what each extern of `spec` is in the running kernel,
/// given the vmlinux kfunc ids. Kfuncs vmlinux lacks are looked up in the
/// module BTFs; ksyms in vmlinux BTF; whatever is in neither is
/// [`Resolved::Missing`] (whether that is allowed is
/// [`Resolution::require_strong`]'s question).
pub(super) fn resolve(spec: &ObjectSpec, vmlinux: &VmlinuxKfuncs) -> Result<Resolution> {
    let mut r = Resolution::default();
    for e in &spec.externs {
        let name = e.essential_name();
        let resolved = match e.kind {
            ExternKind::Kfunc => match vmlinux.get(name) {
                Some(&id) => Resolved::BtfId { id, fd_index: 0 },
                None => match kfunc::module_kfunc(name)? {
                    Some(m) => Resolved::BtfId {
                        id: m.btf_id,
                        fd_index: module_slot(&mut r.modules, &m.module, &e.name)?,
                    },
                    None => Resolved::Missing,
                },
            },
            ExternKind::Ksym => match kfunc::vmlinux_btf()?.find_by_name(kind::VAR, name) {
                Some(id) => Resolved::BtfId { id, fd_index: 0 },
                None => Resolved::Missing,
            },
            ExternKind::Kconfig { .. } => Resolved::Kconfig,
        };
        r.externs.push(resolved);
    }
    Ok(r)
}

/// The `fd_array` slot of module `module`'s BTF, added to `modules` when
/// it is new.
fn module_slot(modules: &mut Vec<String>, module: &str, ext: &str) -> Result<i16> {
    let i = match modules.iter().position(|m| m == module) {
        Some(i) => i,
        None => {
            modules.push(module.to_string());
            modules.len().saturating_sub(1)
        }
    };
    i.checked_add(FIRST_MODULE_SLOT)
        .and_then(|s| i16::try_from(s).ok())
        .ok_or_else(|| {
            Error::invalid(
                "kfunc extern",
                format!("'{ext}' needs more module BTFs than fd_array can index"),
            )
        })
}

/// The error for a strong extern the kernel lacks.
fn missing_strong_extern(name: &str) -> Error {
    if let Some(since) = kfunc::arena_kfunc_since(name) {
        return Error::NotSupported {
            what: "an arena kfunc the object calls",
            since,
            detail: Some(format!(
                "strong extern '{name}' is not in /sys/kernel/btf/vmlinux"
            )),
        };
    }
    Error::Unresolved {
        what: "strong extern",
        name: name.to_string(),
        detail: "not in /sys/kernel/btf/vmlinux".into(),
    }
}

/// A verifier rejection at a call the relocation poisoned (a `__weak` kfunc
/// extern this kernel lacks, called where no `bpf_ksym_exists` check
/// removed the call) is, for the arena kfuncs, a missing kernel feature:
/// [`Error::NotSupported`] naming the kfunc and the release that brought it.
/// Any other error passes through.
pub(super) fn missing_kfunc_called(e: Error, spec: &ObjectSpec) -> Error {
    let Error::Verifier(v) = &e else {
        return e;
    };
    let called = v
        .error_line()
        .and_then(|l| l.split("invalid func unknown#").nth(1))
        .and_then(|n| n.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse::<i64>().ok())
        .and_then(|n| n.checked_sub(i64::from(POISON_KFUNC_CALL_BASE)))
        .and_then(|x| usize::try_from(x).ok())
        .and_then(|x| spec.externs.get(x));
    match called.and_then(|ext| Some((ext, kfunc::arena_kfunc_since(&ext.name)?))) {
        Some((ext, since)) => Error::NotSupported {
            what: "an arena kfunc the object calls",
            since,
            detail: Some(format!(
                "program '{}' calls {} (a __weak extern, not in /sys/kernel/btf/vmlinux) without checking bpf_ksym_exists",
                v.program, ext.name
            )),
        },
        None => e,
    }
}

impl Load<'_> {
    /// Writes every `.kconfig` extern's value into the `.kconfig` image
    /// (before the maps are created): the kernel configuration, or 0 for a
    /// missing weak extern; a missing strong one is an error naming it.
    pub(super) fn fill_kconfig(&mut self) -> Result<()> {
        let kconfig_data = self
            .spec
            .data
            .iter()
            .position(|d| d.kind == DataKind::Kconfig);
        for e in self.spec.externs.clone() {
            let ExternKind::Kconfig { offset, size } = e.kind else {
                continue;
            };
            let bytes = match kconfig_value(&e.name)? {
                Some(v) => kconfig::encode_value(&v, size as usize, self.is_char_array(e.btf_id))
                    .ok_or_else(|| {
                    Error::invalid(
                        "kconfig value",
                        format!("{}={v} does not fit the extern's {size} bytes", e.name),
                    )
                })?,
                // The image is zero already.
                None if e.weak => continue,
                None => {
                    let source = kconfig::kernel_config()
                        .map(|c| c.source.clone())
                        .unwrap_or_default();
                    return Err(Error::Unresolved {
                        what: "strong kconfig extern",
                        name: e.name.clone(),
                        detail: format!("not set in {source}"),
                    });
                }
            };
            let d = kconfig_data
                .and_then(|i| self.spec.data.get_mut(i))
                .ok_or_else(|| super::no_such_section(&e.name, ".kconfig"))?;
            d.bytes.write(offset, &bytes).ok_or_else(|| {
                Error::invalid(
                    "kconfig extern",
                    format!(
                        "'{}' (offset {offset:#x}, {size} bytes) lies outside the .kconfig image ({} bytes)",
                        e.name,
                        d.bytes.len()
                    ),
                )
            })?;
        }
        Ok(())
    }

    /// Whether BTF variable `var_id` is a `char` array (a kconfig string).
    fn is_char_array(&self, var_id: u32) -> bool {
        let Some(btf) = self.spec.parsed_btf() else {
            return false;
        };
        let Some(h) = btf.header(var_id) else {
            return false;
        };
        let Ok(t) = btf.skip_mods(h.size_or_type) else {
            return false;
        };
        btf.array(t)
            .ok()
            .and_then(|(elem, _, _)| btf.skip_mods(elem).ok())
            .is_some_and(|e| {
                btf.header(e)
                    .is_some_and(|eh| eh.kind() == kind::INT && eh.size_or_type == 1)
                    && btf.name(e).ok() == Some("char")
            })
    }
}

/// A kconfig value: virtual externs first, then the kernel configuration.
fn kconfig_value(name: &str) -> Result<Option<String>> {
    if name == "LINUX_KERNEL_VERSION" {
        let r = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
        let mut it = r
            .trim()
            .split(|c: char| !c.is_ascii_digit())
            .filter_map(|p| p.parse::<u32>().ok());
        let (a, b, c) = (
            it.next().unwrap_or(0),
            it.next().unwrap_or(0),
            it.next().unwrap_or(0).min(255),
        );
        return Ok(Some(((a << 16) | (b << 8) | c).to_string()));
    }
    if !name.starts_with("CONFIG_") {
        return Ok(None);
    }
    Ok(kconfig::kernel_config()?.values.get(name).cloned())
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::panic,
    clippy::arithmetic_side_effects,
    clippy::indexing_slicing
)]
mod tests {
    use super::*;
    use crate::error::VerifierError;
    use crate::sys::Errno;

    /// What 6.12 (no `bpf_arena_reserve_pages`) answers for `pages.bpf.o`'s
    /// `page_rules`, which calls the kfunc unchecked.
    #[test]
    fn a_poisoned_arena_kfunc_call_names_the_release() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/bpf-asm/pages.bpf.o");
        let spec = ObjectSpec::parse("pages", &std::fs::read(path).unwrap()).unwrap();
        let x = spec
            .externs
            .iter()
            .position(|e| e.name == kfunc::ARENA_RESERVE_PAGES)
            .unwrap();
        let n = i64::from(POISON_KFUNC_CALL_BASE) + x as i64;
        let rejected = |n: i64| {
            let log = format!(
                "0: R1=ctx() R10=fp0\n31: (85) call unknown#{n}\ninvalid func unknown#{n}\nprocessed 32 insns (limit 1000000) max_states_per_insn 0 total_states 2 peak_states 2 mark_read 1\n"
            );
            Error::Verifier(Box::new(VerifierError::new(
                "page_rules".into(),
                Errno::EINVAL,
                log,
            )))
        };
        match missing_kfunc_called(rejected(n), &spec) {
            Error::NotSupported { since, detail, .. } => {
                assert_eq!(since, "6.17");
                assert!(detail.unwrap().contains("bpf_arena_reserve_pages"));
            }
            e => panic!("{e}"),
        }
        // A helper id that is no poisoned extern stays a verifier error.
        assert!(matches!(
            missing_kfunc_called(rejected(212), &spec),
            Error::Verifier(_)
        ));
        assert!(matches!(
            missing_kfunc_called(rejected(n + 1000), &spec),
            Error::Verifier(_)
        ));
    }
}

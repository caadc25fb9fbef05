//! The crate's error type.

use crate::sys::{Cmd, Errno};
use std::fmt;

/// Everything that can go wrong, each variant naming what was involved.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A `bpf(2)` command failed.
    #[error("{cmd} failed for {what}: {errno}{}", hint(*errno))]
    Bpf {
        /// The command.
        cmd: Cmd,
        /// What it was acting on (`arena map 'counters'`, `program 'alloc'`).
        what: String,
        /// The kernel's answer.
        errno: Errno,
    },
    /// Another system call failed (`mmap`, `munmap`, `open`, …).
    #[error("{call} failed for {what}: {errno}{}", hint(*errno))]
    Syscall {
        /// The call.
        call: &'static str,
        /// What it was acting on.
        what: String,
        /// The kernel's answer.
        errno: Errno,
    },
    /// The verifier rejected a program. `Display` shows the tail of the log;
    /// [`VerifierError::log`] has all of it.
    #[error(transparent)]
    Verifier(#[from] Box<VerifierError>),
    /// An argument the kernel would reject (or, worse, accept and misbehave
    /// on), caught in user space before any system call.
    #[error("invalid {what}: {reason}")]
    Invalid {
        /// The argument.
        what: &'static str,
        /// Why, with the value.
        reason: String,
    },
    /// The requested address range is already mapped in this process; it was
    /// left untouched.
    #[error("address range {addr:#x}..{:#x} is already mapped in this process (left untouched)", addr + len)]
    AddressInUse {
        /// Start.
        addr: u64,
        /// Length.
        len: u64,
    },
    /// An arena access outside the mapping or misaligned.
    #[error("arena access at {addr:#x} ({size} bytes): {reason}")]
    Access {
        /// User address.
        addr: u64,
        /// Access size.
        size: usize,
        /// Why it was refused.
        reason: &'static str,
    },
    /// The running kernel lacks something.
    #[error("{what}: not supported by this kernel, needs Linux {since} or later{}", detail.as_ref().map(|d| format!(": {d}")).unwrap_or_default())]
    NotSupported {
        /// The feature.
        what: &'static str,
        /// First kernel with it.
        since: &'static str,
        /// What the kernel said, when it said something.
        detail: Option<String>,
    },
    /// A kfunc returned an error code (`bpf_arena_reserve_pages`: `-EINVAL`, `-EBUSY`).
    #[error("{kfunc} returned -{errno}")]
    Kfunc {
        /// The kfunc.
        kfunc: &'static str,
        /// The negated return value.
        errno: Errno,
    },
    /// Malformed BTF.
    #[error("{what}: {source}")]
    Btf {
        /// Which BTF (`/sys/kernel/btf/vmlinux`).
        what: String,
        /// The parse error.
        source: crate::btf::BtfError,
    },
    /// A name the object needs that the running kernel does not provide: a
    /// strong kfunc or ksym extern, a strong kconfig value, an attach target.
    #[error("{what} '{name}' is not provided by the running kernel ({detail})")]
    Unresolved {
        /// `extern`, `kconfig extern`, `attach target`.
        what: &'static str,
        /// The name.
        name: String,
        /// Where it was looked for.
        detail: String,
    },
    /// An ELF object that cannot be parsed or relocated.
    #[error("object: {0}")]
    Object(crate::obj::ObjError),
    /// A map that is not what the caller said it is.
    #[error("{what}: {reason}")]
    WrongObject {
        /// The object.
        what: String,
        /// Why.
        reason: String,
    },
}

fn hint(e: Errno) -> &'static str {
    match e {
        Errno::EPERM => {
            " (arenas need CAP_BPF, and programs using them CAP_BPF and CAP_PERFMON, or CAP_SYS_ADMIN; check also kernel.unprivileged_bpf_disabled)"
        }
        Errno::ENOSYS => " (this kernel has no bpf(2))",
        Errno::EMFILE => {
            " (the process's open-file limit is reached: close fds or raise RLIMIT_NOFILE)"
        }
        Errno::ENFILE => " (the system-wide open-file limit is reached)",
        _ => "",
    }
}

impl Error {
    /// The errno behind this error, if the kernel produced one.
    pub fn errno(&self) -> Option<Errno> {
        match self {
            Error::Bpf { errno, .. }
            | Error::Syscall { errno, .. }
            | Error::Kfunc { errno, .. } => Some(*errno),
            Error::Verifier(v) => Some(v.errno),
            _ => None,
        }
    }

    pub(crate) fn bpf(cmd: Cmd, what: impl Into<String>, errno: Errno) -> Error {
        Error::Bpf {
            cmd,
            what: what.into(),
            errno,
        }
    }

    pub(crate) fn invalid(what: &'static str, reason: impl Into<String>) -> Error {
        Error::Invalid {
            what,
            reason: reason.into(),
        }
    }
}

/// A program the verifier rejected, with the full log.
#[derive(Clone, PartialEq, Eq)]
pub struct VerifierError {
    /// Program name.
    pub program: String,
    /// The `BPF_PROG_LOAD` errno (`EACCES`, `EINVAL`, `EBUSY`, `EPERM`, …).
    pub errno: Errno,
    log: String,
}

/// Lines of the log shown by `Display`.
const TAIL_LINES: usize = 12;

impl VerifierError {
    pub(crate) fn new(program: String, errno: Errno, log: String) -> VerifierError {
        VerifierError {
            program,
            errno,
            log,
        }
    }

    /// The whole verifier log (level 1).
    pub fn log(&self) -> &str {
        &self.log
    }

    /// The last `n` non-empty lines of the log.
    pub fn tail(&self, n: usize) -> Vec<&str> {
        let lines: Vec<&str> = self.log.lines().filter(|l| !l.trim().is_empty()).collect();
        lines[lines.len().saturating_sub(n)..].to_vec()
    }

    /// Whether any log line contains `needle`.
    pub fn log_contains(&self, needle: &str) -> bool {
        self.log.contains(needle)
    }
}

impl fmt::Debug for VerifierError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifierError")
            .field("program", &self.program)
            .field("errno", &self.errno)
            .field("log_tail", &self.tail(TAIL_LINES))
            .finish()
    }
}

impl fmt::Display for VerifierError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the verifier rejected program '{}': {}{}",
            self.program,
            self.errno,
            hint(self.errno)
        )?;
        let tail = self.tail(TAIL_LINES);
        if !tail.is_empty() {
            let total = self.log.lines().count();
            if total > tail.len() {
                write!(
                    f,
                    "\n  ... ({} earlier log lines; VerifierError::log has them all)",
                    total - tail.len()
                )?;
            }
            for l in tail {
                write!(f, "\n  {l}")?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for VerifierError {}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

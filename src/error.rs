//! The crate's error type.

#![forbid(unsafe_code)]

use crate::obj::{MAX_OBJECT_FILE, ObjError};
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
    /// An arena access that cannot be made: outside the mapping, misaligned,
    /// or (on a `SEGV_ON_FAULT` arena) to a page nobody allocated, where
    /// the access would raise `SIGSEGV`; `reason` says which.
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
    Object(ObjError),
    /// A map that is not what the caller said it is.
    #[error("{what}: {reason}")]
    WrongObject {
        /// The object.
        what: String,
        /// Why.
        reason: String,
    },
    /// A user ring buffer has no room for a record now
    /// ([`UserRingBuf::reserve`](crate::ringbuf::UserRingBuf::reserve)
    /// never blocks): BPF programs must drain it first.
    #[error(
        "ring buffer '{map}' is full: the record needs {needed} bytes (header and padding included), {free} are free"
    )]
    RingBufFull {
        /// The map's name.
        map: String,
        /// Bytes the record needs in the ring.
        needed: usize,
        /// Bytes free.
        free: usize,
    },
    /// A ring buffer's shared pages hold positions or a record header that
    /// break the ring's protocol (a kernel bug, or another process writing
    /// them); the consumer or producer stopped before it.
    #[error("ring buffer '{map}' is inconsistent: {detail}")]
    RingBufCorrupt {
        /// The map's name.
        map: String,
        /// What was read.
        detail: crate::sys::RingCorrupt,
    },
}

/// An object that cannot be used is [`Error::Object`]; an object file that
/// cannot be read is [`Error::Syscall`] with the errno (`EIO` when the I/O
/// error carries none), or [`Error::Invalid`] when it is not a regular file
/// or too large.
impl From<ObjError> for Error {
    fn from(e: ObjError) -> Self {
        match e {
            ObjError::Io {
                call,
                path,
                os_error,
                ..
            } => Error::Syscall {
                call,
                what: path.display().to_string(),
                errno: os_error.map_or(Errno::EIO, Errno::from_raw),
            },
            ObjError::NotRegular { path, kind } => Error::Invalid {
                what: "object file",
                reason: format!("{} is {kind}, not a regular file", path.display()),
            },
            ObjError::TooLarge { path, size } => Error::Invalid {
                what: "object file",
                reason: format!(
                    "{} is {size} bytes; objects larger than {MAX_OBJECT_FILE} bytes are refused",
                    path.display()
                ),
            },
            e => Error::Object(e),
        }
    }
}

/// Generation errors are [`Error::Invalid`]: `what` is "object" when an
/// object does not match the code generated for it, "arena type" for a
/// type asked for that the object does not define, "BTF" otherwise.
impl From<crate::codegen::GenError> for Error {
    fn from(e: crate::codegen::GenError) -> Self {
        let what = match e {
            crate::codegen::GenError::Mismatch { .. } => "object",
            crate::codegen::GenError::NoSuchType(_) | crate::codegen::GenError::OnlyDeclared(_) => {
                "arena type"
            }
            _ => "BTF",
        };
        Error::Invalid {
            what,
            reason: e.to_string(),
        }
    }
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

    /// A path argument with a NUL byte, which no system call can take.
    pub(crate) fn nul_in_path(path: &std::path::Path) -> Error {
        Error::invalid("path", format!("{} contains a NUL byte", path.display()))
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

    /// The whole verifier log (level 1), exactly as the kernel wrote it.
    pub fn log(&self) -> &str {
        &self.log
    }

    /// The verifier's trace of the program: the log up to and including
    /// the line that says why it stopped. Left out are what follows that
    /// line on every kernel (`processed N insns (limit …)` and other
    /// statistics) and the report Linux 7.3 and later add after it (from a
    /// line `Verification failed: CATEGORY: …` on, with its `Reason:`,
    /// `At:`, `Causal path:` and `Suggestion:` sections).
    pub fn trace(&self) -> &str {
        self.log[..self.trace_end()].trim_end()
    }

    /// Where the trace ends: the first line that starts the 7.3+ report or
    /// the statistics, else the end of the log.
    fn trace_end(&self) -> usize {
        let mut at = 0;
        for line in self.log.split_inclusive('\n') {
            if line.starts_with("Verification failed:")
                || (line.starts_with("processed ") && line.contains(" insns (limit "))
            {
                return at;
            }
            at += line.len();
        }
        self.log.len()
    }

    /// The kernel's report on the rejection (Linux 7.3 and later): the
    /// `Verification failed: …` line and its sections, without the
    /// statistics after it; `None` on older kernels.
    pub fn report(&self) -> Option<&str> {
        let rest = &self.log[self.trace_end()..];
        if !rest.starts_with("Verification failed:") {
            return None;
        }
        let end = rest.find("\nprocessed ").map_or(rest.len(), |i| i + 1);
        Some(rest[..end].trim_end())
    }

    /// The line that says why the verifier stopped (`R0 !read_ok`,
    /// `R2 unbounded memory access, …`): the last line of [`trace`](Self::trace).
    /// `None` for an empty log (the kernel wrote nothing, e.g. an `EPERM`
    /// before verification).
    pub fn error_line(&self) -> Option<&str> {
        self.trace()
            .lines()
            .rev()
            .map(str::trim_end)
            .find(|l| !l.is_empty())
    }

    /// The C source line of the instruction the verifier stopped at, as the
    /// log quotes it from the program's BTF line info
    /// (`return table[i]; @ prog.bpf.c:12`, without the log's leading
    /// `; `). `None` when the object carries no line info.
    pub fn source_line(&self) -> Option<&str> {
        self.trace()
            .lines()
            .rev()
            .find_map(|l| l.strip_prefix("; "))
            .map(str::trim_end)
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

/// Also the last lines of the trace (as `Display` shows them), so that
/// `fn main() -> bpf_arena::Result<()>`, which prints the error's `Debug`,
/// still shows where the verifier stopped.
impl fmt::Debug for VerifierError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifierError")
            .field("program", &self.program)
            .field("errno", &self.errno)
            .field("error_line", &self.error_line())
            .field("source_line", &self.source_line())
            .field("log_tail", &self.trace_tail())
            .finish()
    }
}

impl VerifierError {
    /// The last non-empty lines of the trace, as `Display` shows them.
    fn trace_tail(&self) -> Vec<&str> {
        let trace: Vec<&str> = self
            .trace()
            .lines()
            .filter(|l| !l.trim().is_empty())
            .collect();
        trace[trace.len().saturating_sub(TAIL_LINES)..].to_vec()
    }
}

impl fmt::Display for VerifierError {
    /// `the verifier rejected program 'p': ERRNO`, then the error line and
    /// the source line when the log has them, then the last lines of the
    /// trace (the same on every kernel: the 7.3+ report and the statistics
    /// are left to [`VerifierError::log`]).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the verifier rejected program '{}': {}{}",
            self.program,
            self.errno,
            hint(self.errno)
        )?;
        if let Some(e) = self.error_line() {
            write!(f, "\n  error: {e}")?;
        }
        if let Some(s) = self.source_line() {
            write!(f, "\n  source: {s}")?;
        }
        let tail = self.trace_tail();
        if !tail.is_empty() {
            let hidden = self.log.lines().count().saturating_sub(tail.len());
            if hidden > 0 {
                let lines = if hidden == 1 { "line" } else { "lines" };
                write!(
                    f,
                    "\n  last log lines ({hidden} earlier {lines} in VerifierError::log):"
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

#[cfg(test)]
mod tests {
    use super::*;

    fn err(log: &str) -> VerifierError {
        VerifierError::new("p".into(), Errno::EACCES, log.into())
    }

    /// The shape of a Linux 7.3 log: the classic trace, then the report,
    /// then the statistics.
    const LOG_7_3: &str = "func#0 @0
0: R1=ctx() R10=fp0
; return *p; @ prog.bpf.c:12
0: (61) r0 = *(u32 *)(r2 +0)
R2 !read_ok

Verification failed: Register Type Safety: Unreadable register

Reason:
  R2 has never been initialized on this path, so the verifier cannot use it as an input.

At:
  prog @ prog.bpf.c:12:9
  Source context:
  >>> 12 | return *p;
  Instruction context:
  >>> 0 | (61) r0 = *(u32 *)(r2 +0)

Suggestion:
  Initialize R2 on every path before it is read.

processed 1 insns (limit 1000000) max_states_per_insn 0 total_states 0 peak_states 0 mark_read 0
";

    #[test]
    fn error_and_source_line_on_the_7_3_format() {
        let e = err(LOG_7_3);
        assert_eq!(e.error_line(), Some("R2 !read_ok"));
        assert_eq!(e.source_line(), Some("return *p; @ prog.bpf.c:12"));
        assert!(
            e.report()
                .unwrap()
                .starts_with("Verification failed: Register")
        );
        assert!(e.report().unwrap().ends_with("before it is read."));
        let shown = e.to_string();
        assert!(shown.contains("\n  error: R2 !read_ok\n  source: return *p; @ prog.bpf.c:12"));
        assert!(!shown.contains("Suggestion"), "{shown}");
        assert_eq!(e.log(), LOG_7_3);
    }

    #[test]
    fn error_and_source_line_on_the_classic_format() {
        let e = err(
            "0: R1=ctx() R10=fp0\n; x = 1; @ a.c:3\n0: (b7) r0 = 1\n; return y; @ a.c:4\n1: (95) exit\nR0 leaks addr as return value\nprocessed 2 insns (limit 1000000) max_states_per_insn 0 total_states 0 peak_states 0 mark_read 0\n",
        );
        assert_eq!(e.error_line(), Some("R0 leaks addr as return value"));
        assert_eq!(e.source_line(), Some("return y; @ a.c:4"));
        assert_eq!(e.report(), None);
    }

    #[test]
    fn logs_without_statistics_or_anything() {
        let e = err("BPF program is too large. Processed 1000001 insn\n");
        assert_eq!(
            e.error_line(),
            Some("BPF program is too large. Processed 1000001 insn")
        );
        assert_eq!(e.source_line(), None);
        let e = err("");
        assert_eq!(
            (e.error_line(), e.source_line(), e.report()),
            (None, None, None)
        );
        assert_eq!(
            e.to_string(),
            "the verifier rejected program 'p': EACCES (Permission denied)"
        );
    }
}

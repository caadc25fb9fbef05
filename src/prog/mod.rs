//! Loading, running and describing programs: `BPF_PROG_LOAD` through
//! [`ProgramBuilder`], `BPF_PROG_TEST_RUN` through [`TestRun`], and the
//! kernel's view of a loaded program, translated code included, as
//! [`ProgramInfo`].

#![forbid(unsafe_code)]

mod info;
mod run;

pub use crate::abi::{ProgramFlags, ProgramType};
use crate::error::{Error, Result, VerifierError};
use crate::insn::{self, Insn};
use crate::sys::{self, Cmd, Errno};
pub use info::{ProgramInfo, ProgramTag, Withheld};
pub use run::{TestRun, TestRunFlags, TestRunResult};
use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

/// BTF-related load attributes: the program's BTF and its records.
#[derive(Clone, Copy, Debug)]
pub struct ProgramBtf<'a> {
    /// The object's BTF, loaded with `BPF_BTF_LOAD`.
    pub btf: BorrowedFd<'a>,
    /// `bpf_func_info` records (instruction indexes, not bytes).
    pub func_info: &'a [u8],
    /// `bpf_line_info` records.
    pub line_info: &'a [u8],
    /// `bpf_core_relo` records for the kernel's CO-RE engine.
    pub core_relos: &'a [u8],
}

/// Describes a program to load. Build with [`ProgramBuilder::new`], load with
/// [`ProgramBuilder::load`].
///
/// Setters take `&mut self` and return it, so they chain on a temporary
/// and also work one at a time on a variable; `load` takes `&self`, so one
/// description can load several programs.
///
/// ```no_run
/// use bpf_arena::insn::{asm, encode, Reg};
/// use bpf_arena::prog::{ProgramBuilder, ProgramFlags, ProgramType};
/// # fn main() -> bpf_arena::Result<()> {
/// let insns = encode(&[asm::mov64_imm(Reg::R0, 7), asm::exit()]);
/// // Chained, in one expression:
/// let p = ProgramBuilder::new(ProgramType::SYSCALL, &insns)
///     .name("seven")
///     .flags(ProgramFlags::SLEEPABLE)
///     .load()?;
/// // Step by step:
/// let mut b = ProgramBuilder::new(ProgramType::SYSCALL, &insns);
/// b.flags(ProgramFlags::SLEEPABLE);
/// if p.name() == "seven" {
///     b.name("again");
/// }
/// let q = b.load()?;
/// assert_eq!(q.run_syscall(&mut [])?, 7);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct ProgramBuilder<'a> {
    prog_type: ProgramType,
    insns: &'a [Insn],
    name: String,
    license: String,
    flags: ProgramFlags,
    expected_attach_type: u32,
    attach_btf_id: u32,
    fd_array: Vec<BorrowedFd<'a>>,
    bind_fd_array: bool,
    btf: Option<ProgramBtf<'a>>,
    log_level: u32,
    kern_version: u32,
}

impl<'a> ProgramBuilder<'a> {
    /// A program of `prog_type` made of `insns`, licensed `"GPL"` (kfuncs and
    /// GPL-only helpers need a GPL-compatible license), unnamed, no flags.
    pub fn new(prog_type: ProgramType, insns: &'a [Insn]) -> Self {
        ProgramBuilder {
            prog_type,
            insns,
            name: String::new(),
            license: "GPL".into(),
            flags: ProgramFlags::empty(),
            expected_attach_type: 0,
            attach_btf_id: 0,
            fd_array: Vec::new(),
            bind_fd_array: false,
            btf: None,
            log_level: 0,
            kern_version: 0,
        }
    }

    /// Program name. The kernel keeps 15 bytes; longer names are cut (as
    /// libbpf does). Characters other than alphanumerics, `_` and `.` make
    /// the kernel answer `EINVAL`.
    pub fn name(&mut self, name: &str) -> &mut Self {
        self.name = name.to_string();
        self
    }

    /// License string (default `"GPL"`).
    pub fn license(&mut self, license: &str) -> &mut Self {
        self.license = license.to_string();
        self
    }

    /// Load flags, e.g. [`ProgramFlags::SLEEPABLE`].
    pub fn flags(&mut self, flags: ProgramFlags) -> &mut Self {
        self.flags = flags;
        self
    }

    /// `expected_attach_type` (`enum bpf_attach_type`).
    pub fn expected_attach_type(&mut self, t: u32) -> &mut Self {
        self.expected_attach_type = t;
        self
    }

    /// `attach_btf_id` (tracing programs).
    pub fn attach_btf_id(&mut self, id: u32) -> &mut Self {
        self.attach_btf_id = id;
        self
    }

    /// `kern_version` (only very old kprobe kernels check it).
    pub fn kern_version(&mut self, v: u32) -> &mut Self {
        self.kern_version = v;
        self
    }

    /// The `fd_array` that `BPF_PSEUDO_MAP_IDX*` loads and module kfunc
    /// calls index into.
    pub fn fd_array(&mut self, fds: &[BorrowedFd<'a>]) -> &mut Self {
        self.fd_array = fds.to_vec();
        self
    }

    /// Also pass `fd_array_cnt`, binding every map in `fd_array` to the
    /// program even if no instruction names it (Linux 6.14+). This is how a
    /// program that only receives arena pointers gets its arena; older
    /// kernels answer `EINVAL`.
    pub fn bind_fd_array(&mut self, bind: bool) -> &mut Self {
        self.bind_fd_array = bind;
        self
    }

    /// The program's BTF with func_info, line_info and CO-RE records.
    pub fn btf(&mut self, btf: ProgramBtf<'a>) -> &mut Self {
        self.btf = Some(btf);
        self
    }

    /// Verifier log level for a successful load (0: none, the default; 1;
    /// 2: every instruction; `| 4`: statistics). A failed load is always
    /// retried with level 1 (if 0) so the error carries the log.
    pub fn log_level(&mut self, level: u32) -> &mut Self {
        self.log_level = level;
        self
    }

    /// `BPF_PROG_LOAD` (Linux 3.18; the program type, flags and attributes
    /// each need their own release, and an older kernel answers `EINVAL`).
    ///
    /// A verifier rejection is [`Error::Verifier`] with the whole log. Other
    /// failures (`EPERM` without `CAP_BPF`, `EINVAL` for bad attributes before
    /// verification starts) are [`Error::Bpf`]. An arena program needs the
    /// arena mapped first (`arena's user address must be set via map_extra
    /// or mmap()`, `EINVAL`).
    pub fn load(&self) -> Result<Program> {
        let bytes = insn::to_bytes(self.insns);
        let license = CString::new(self.license.as_str()).map_err(|_| {
            Error::invalid("license", format!("{:?} contains a NUL byte", self.license))
        })?;
        let name = sys::object_name_prefix(&self.name).ok_or_else(|| {
            Error::invalid(
                "program name",
                format!("{:?} contains a NUL byte", self.name),
            )
        })?;
        let mut req = sys::ProgLoadRequest {
            prog_type: self.prog_type.0,
            insns: &bytes,
            license: Some(&license),
            name,
            prog_flags: self.flags.bits(),
            expected_attach_type: self.expected_attach_type,
            kern_version: self.kern_version,
            fd_array: &self.fd_array,
            bind_fd_array: self.bind_fd_array,
            attach_btf_id: self.attach_btf_id,
            ..Default::default()
        };
        if let Some(b) = &self.btf {
            req.prog_btf_fd = Some(b.btf);
            req.func_info = b.func_info;
            req.func_info_rec_size = 8;
            req.line_info = b.line_info;
            req.line_info_rec_size = 16;
            req.core_relos = b.core_relos;
            req.core_relo_rec_size = 16;
        }
        let display_name = if self.name.is_empty() {
            "<unnamed>".to_string()
        } else {
            self.name.clone()
        };
        let mut log = Vec::new();
        let first = if self.log_level == 0 {
            sys::prog_load(&req, None)
        } else {
            log.resize(64 * 1024, 0);
            sys::prog_load(&req, Some((self.log_level, &mut log)))
        };
        let failure = match first {
            // No fd could be allocated for a program the verifier may well
            // have accepted: not a rejection, and a retry with a log would
            // only fail the same way.
            Err(f) if no_fd_left(f.errno) => {
                return Err(Error::bpf(
                    Cmd::ProgLoad,
                    format!("program '{display_name}'"),
                    f.errno,
                ));
            }
            Ok(fd) => {
                let log = (self.log_level != 0).then(|| String::from_utf8_lossy(&log).into_owned());
                return Ok(Program {
                    fd,
                    name: display_name,
                    prog_type: self.prog_type,
                    log,
                });
            }
            Err(f) => f,
        };
        if self.log_level == 0 {
            log.resize(64 * 1024, 0);
            if let Ok(fd) = sys::prog_load(&req, Some((1, &mut log))) {
                // Loaded on the second try (a transient failure): keep it.
                return Ok(Program {
                    fd,
                    name: display_name,
                    prog_type: self.prog_type,
                    log: None,
                });
            }
        }
        let text = String::from_utf8_lossy(&log).into_owned();
        if text.trim().is_empty() || no_fd_left(failure.errno) {
            return Err(Error::bpf(
                Cmd::ProgLoad,
                format!("program '{display_name}'"),
                failure.errno,
            ));
        }
        Err(Error::Verifier(Box::new(VerifierError::new(
            display_name,
            failure.errno,
            text,
        ))))
    }
}

/// A loaded program. Dropping it closes the fd (the kernel frees the program
/// when nothing else holds it).
#[derive(Debug)]
pub struct Program {
    fd: OwnedFd,
    name: String,
    prog_type: ProgramType,
    log: Option<String>,
}

impl Program {
    /// The program's fd.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// The name it was loaded with.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its type.
    pub fn program_type(&self) -> ProgramType {
        self.prog_type
    }

    /// The verifier log of a successful load with a non-zero log level.
    pub fn verifier_log(&self) -> Option<&str> {
        self.log.as_deref()
    }

    /// Pins the program at `path` (`BPF_OBJ_PIN`, Linux 4.4). The path must
    /// be inside a bpffs mount (else `EPERM`), its directory must exist
    /// (`ENOENT`) and the name be free (`EEXIST`); a path with a NUL byte is
    /// [`Error::Invalid`].
    pub fn pin(&self, path: &std::path::Path) -> Result<()> {
        let c = sys::path_cstring(path).ok_or_else(|| Error::nul_in_path(path))?;
        sys::obj_pin(self.fd.as_fd(), &c).map_err(|e| {
            Error::bpf(
                Cmd::ObjPin,
                format!("program '{}' at {}", self.name, path.display()),
                e,
            )
        })
    }

    /// Drains the program's BPF stream `stream` (1 stdout, 2 stderr) with
    /// `BPF_PROG_STREAM_READ_BY_FD` (Linux 6.17+; older kernels answer
    /// `EINVAL`, reported as [`Error::NotSupported`]). Another stream id is
    /// `ENOENT` ([`Error::Bpf`]). Arena faults are reported on stderr where
    /// the kernel does so.
    pub fn read_stream(&self, stream: u32) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        let mut buf = vec![0u8; 4096];
        loop {
            match sys::prog_stream_read(self.fd.as_fd(), stream, &mut buf) {
                Ok(0) => return Ok(out),
                Ok(n) => out.extend_from_slice(&buf[..n]),
                Err(Errno::EINVAL) if out.is_empty() => {
                    return Err(Error::NotSupported {
                        what: "BPF streams",
                        since: "6.17",
                        detail: None,
                    });
                }
                Err(e) => {
                    return Err(Error::bpf(
                        Cmd::ProgStreamReadByFd,
                        format!("program '{}'", self.name),
                        e,
                    ));
                }
            }
        }
    }
}

impl AsFd for Program {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for Program {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.fd.as_raw_fd()
    }
}

/// `EMFILE`/`ENFILE`: the program may have passed the verifier, but no fd
/// could be allocated for it.
fn no_fd_left(e: Errno) -> bool {
    matches!(e, Errno::EMFILE | Errno::ENFILE)
}

//! Running a loaded program once or many times with `BPF_PROG_TEST_RUN`.

use super::{Program, ProgramType};
use crate::error::{Error, Result};
use crate::sys::{self, Cmd, Errno};
use std::os::fd::AsFd;
use std::time::Duration;

bitflags::bitflags! {
    /// Flags of one test run (`BPF_F_TEST_*`). Unknown bits are kept and
    /// passed to the kernel, which answers `EINVAL` for a bit it does not
    /// know or a flag the program type does not take.
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
    pub struct TestRunFlags: u32 {
        /// `BPF_F_TEST_RUN_ON_CPU` (Linux 5.10, raw tracepoint programs
        /// only): run on the CPU [`TestRun::on_cpu`] names.
        const ON_CPU = 1 << 0;
        /// `BPF_F_TEST_XDP_LIVE_FRAMES` (Linux 5.18, XDP programs only):
        /// the packets are really sent or redirected.
        const XDP_LIVE_FRAMES = 1 << 1;
        const _ = !0;
    }
}

/// What one [`Program::test_run`] hands the kernel: input and output
/// buffers, a repeat count, flags. Every part is optional; an empty
/// `TestRun` runs the program once with no data and no context.
///
/// Setters take `&mut self` and return it, so a run can be described in
/// one expression and passed to [`Program::test_run`], or kept in a
/// variable and run again (the output buffers are overwritten each time).
///
/// ```no_run
/// # fn demo(prog: &bpf_arena::Program) -> bpf_arena::Result<()> {
/// use bpf_arena::prog::TestRun;
/// let packet = [0u8; 64];
/// let mut out = [0u8; 64];
/// let r = prog.test_run(TestRun::new().data_in(&packet).data_out(&mut out).repeat(100))?;
/// println!("retval {} in {:?} per run, {} bytes out", r.retval, r.duration, r.data_size_out);
/// # Ok(()) }
/// ```
#[derive(Debug, Default)]
pub struct TestRun<'a> {
    data_in: &'a [u8],
    data_out: Option<&'a mut [u8]>,
    ctx_in: Option<&'a mut [u8]>,
    ctx_out: Option<&'a mut [u8]>,
    repeat: u32,
    flags: TestRunFlags,
    cpu: u32,
}

impl<'a> TestRun<'a> {
    /// A run with no data, no context, once.
    pub fn new() -> Self {
        TestRun::default()
    }

    /// Packet data in (`data_in`). Packet program types need at least an
    /// Ethernet header's worth (14 bytes), or the kernel answers `EINVAL`.
    pub fn data_in(&mut self, data: &'a [u8]) -> &mut Self {
        self.data_in = data;
        self
    }

    /// Where the packet goes after the run (`data_out`). The kernel writes
    /// at most `buf.len()` bytes; an output packet longer than that (an
    /// empty buffer included) makes the run `ENOSPC` after filling the
    /// buffer with the packet's start.
    pub fn data_out(&mut self, buf: &'a mut [u8]) -> &mut Self {
        self.data_out = Some(buf);
        self
    }

    /// The context the program is given (`ctx_in`, Linux 5.2). A
    /// `BPF_PROG_TYPE_SYSCALL` program writes its changes back into this
    /// buffer, hence `&mut`. A context shorter than the highest byte the
    /// program reads from it is `EINVAL`; an empty one is no context.
    pub fn ctx_in(&mut self, ctx: &'a mut [u8]) -> &mut Self {
        self.ctx_in = Some(ctx);
        self
    }

    /// Where the context goes after the run (`ctx_out`, Linux 5.2); a
    /// buffer shorter than the context is `ENOSPC`. SYSCALL programs refuse
    /// it (`EINVAL`): they write their changes back into
    /// [`TestRun::ctx_in`]'s buffer instead.
    pub fn ctx_out(&mut self, buf: &'a mut [u8]) -> &mut Self {
        self.ctx_out = Some(buf);
        self
    }

    /// Runs the program `n` times (0 and 1 both mean once); the result's
    /// duration is the average. SYSCALL programs refuse a repeat count
    /// (`EINVAL`).
    pub fn repeat(&mut self, n: u32) -> &mut Self {
        self.repeat = n;
        self
    }

    /// Run flags (see [`TestRunFlags`]).
    pub fn flags(&mut self, flags: TestRunFlags) -> &mut Self {
        self.flags = flags;
        self
    }

    /// Runs on CPU `cpu` (adds [`TestRunFlags::ON_CPU`]; raw tracepoint
    /// programs only, Linux 5.10). A CPU that is not online is `ENXIO`.
    pub fn on_cpu(&mut self, cpu: u32) -> &mut Self {
        self.flags |= TestRunFlags::ON_CPU;
        self.cpu = cpu;
        self
    }
}

/// What a run was given, for the words of its `EINVAL`.
#[derive(Clone, Copy)]
struct RunShape {
    ctx_len: usize,
    /// Anything besides a context (which a SYSCALL program refuses).
    syscall_extras: bool,
}

/// What the kernel reports after [`Program::test_run`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TestRunResult {
    /// The low 32 bits of R0 when the (last) run exited.
    pub retval: u32,
    /// The average duration of one run, as the kernel measured it (0 for
    /// SYSCALL programs, which the kernel does not time).
    pub duration: Duration,
    /// Bytes of packet the kernel wrote to the `data_out` buffer.
    pub data_size_out: usize,
    /// Bytes of context the kernel wrote to the `ctx_out` buffer (0 for
    /// SYSCALL programs, which write back into the `ctx_in` buffer).
    pub ctx_size_out: usize,
}

impl Program {
    /// Runs the program with `BPF_PROG_TEST_RUN` (Linux 4.12; SYSCALL
    /// programs 5.14) as `run` describes, and reports R0, the average
    /// duration and the output sizes.
    ///
    /// The kernel answers `ENOTSUPP` (524) for a program type it cannot
    /// test-run, `EINVAL` for inputs the type does not take (SYSCALL
    /// programs take only a context of at most 65535 bytes, and write it
    /// back; packet types need packet data) or a context shorter than
    /// the program reads (the error says so), `ENOSPC` for an output
    /// buffer that is too small, `EPERM` without `CAP_BPF` (or
    /// `CAP_SYS_ADMIN`) for most types.
    pub fn test_run(&self, run: &mut TestRun<'_>) -> Result<TestRunResult> {
        let shape = RunShape {
            ctx_len: run.ctx_in.as_ref().map_or(0, |c| c.len()),
            syscall_extras: run.repeat > 1
                || !run.data_in.is_empty()
                || run.data_out.is_some()
                || run.ctx_out.is_some()
                || !run.flags.is_empty(),
        };
        let mut req = sys::TestRunRequest {
            data_in: run.data_in,
            data_out: run.data_out.as_deref_mut(),
            ctx_in: run.ctx_in.as_deref_mut(),
            ctx_out: run.ctx_out.as_deref_mut(),
            repeat: run.repeat,
            flags: run.flags.bits(),
            cpu: run.cpu,
        };
        let r =
            sys::prog_test_run(self.fd.as_fd(), &mut req).map_err(|e| self.run_error(e, shape))?;
        Ok(TestRunResult {
            retval: r.retval,
            duration: Duration::from_nanos(r.duration_ns.into()),
            data_size_out: r.data_size_out as usize,
            ctx_size_out: r.ctx_size_out as usize,
        })
    }

    /// Runs a SYSCALL program (Linux 5.14) with `ctx` as its context and
    /// returns R0's low 32 bits. The program's writes to the context land in
    /// `ctx`. A context the program reads past is `EINVAL`, more than
    /// 65535 bytes of context `EINVAL`; the other answers are those of
    /// [`Program::test_run`].
    #[inline]
    pub fn run_syscall(&self, ctx: &mut [u8]) -> Result<u32> {
        let shape = RunShape {
            ctx_len: ctx.len(),
            syscall_extras: false,
        };
        let ctx_in = if ctx.is_empty() { None } else { Some(ctx) };
        let mut req = sys::TestRunRequest {
            ctx_in,
            ..Default::default()
        };
        match sys::prog_test_run(self.fd.as_fd(), &mut req) {
            Ok(r) => Ok(r.retval),
            Err(e) => Err(self.run_error(e, shape)),
        }
    }

    #[cold]
    #[inline(never)]
    fn run_error(&self, e: Errno, shape: RunShape) -> Error {
        let name = &self.name;
        let ctx_len = shape.ctx_len;
        let what = match e {
            Errno::EINVAL if self.prog_type == ProgramType::SYSCALL && shape.syscall_extras => {
                format!(
                    "program '{name}' (EINVAL: a SYSCALL program takes only a context: no repeat count, packet data, ctx_out or flags)"
                )
            }
            Errno::EINVAL if ctx_len > 0 => format!(
                "program '{name}' with a context of {ctx_len} bytes (EINVAL here often means the context is shorter than the highest byte the program reads from it, or an input this program type does not take)"
            ),
            Errno::EINVAL => format!(
                "program '{name}' without a context (EINVAL here often means the program reads a context it was not given, or an input this program type does not take or needs: packet types need at least 14 bytes of packet data)"
            ),
            _ => format!("program '{name}'"),
        };
        Error::bpf(Cmd::ProgTestRun, what, e)
    }
}

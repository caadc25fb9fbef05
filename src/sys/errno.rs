//! [`Errno`]: the kernel's error numbers as a small `Copy` type.

use std::fmt;

/// An error number returned by a system call (`errno`).
///
/// A plain `Copy` wrapper around the positive error code, with named constants
/// for every value the arena ABI produces (see [the kernel's arena rules](crate::guide::kernel)).
/// `Display` prints the symbolic name and the C library's description, e.g.
/// `EINVAL (Invalid argument)`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Errno(i32);

macro_rules! errnos {
    ($($name:ident = $val:expr, $desc:literal;)*) => {
        impl Errno {
            $(
                #[doc = $desc]
                pub const $name: Errno = Errno($val);
            )*

            /// The symbolic name (`"EINVAL"`), if this is a value the crate knows.
            pub const fn name(self) -> Option<&'static str> {
                match self.0 {
                    $($val => Some(stringify!($name)),)*
                    _ => None,
                }
            }
        }
    };
}

errnos! {
    EPERM = 1, "Operation not permitted: a capability is missing (CAP_BPF, CAP_PERFMON or CAP_SYS_ADMIN).";
    ENOENT = 2, "No such file or directory (also: no such map element, no such stream).";
    ESRCH = 3, "No such process: a uprobe (or perf event) for a process that does not exist.";
    EINTR = 4, "Interrupted system call.";
    EIO = 5, "Input/output error.";
    E2BIG = 7, "Argument list too long: an attr larger than the kernel knows with a non-zero tail, or an arena larger than 4 GiB.";
    EBADF = 9, "Bad file descriptor.";
    EAGAIN = 11, "Try again: `BPF_PROG_LOAD` can report it transiently.";
    ENOMEM = 12, "Out of memory.";
    EACCES = 13, "Permission denied: the verifier rejected an access, or a mapping was refused.";
    EFAULT = 14, "Bad address.";
    EBUSY = 16, "Device or resource busy: a second arena in one program, a reserved range already in use.";
    EEXIST = 17, "File exists: an address range already mapped (`MAP_FIXED_NOREPLACE`), a pin path in use.";
    ENODEV = 19, "No such device: no network interface with that index (XDP, tcx).";
    EINVAL = 22, "Invalid argument.";
    ENFILE = 23, "Too many open files in the system: a new fd could not be allocated.";
    EMFILE = 24, "Too many open files: the process's fd limit (`RLIMIT_NOFILE`) is reached.";
    ENOSPC = 28, "No space left on device: the verifier log buffer was too small.";
    ERANGE = 34, "Result out of range: an arena range crossing a 4 GiB boundary, a direct value offset past the arena.";
    ENOSYS = 38, "Function not implemented: the kernel has no `bpf(2)`.";
    ELOOP = 40, "Too many levels of symbolic links (also: a symbolic link where none is followed).";
    EPROTO = 71, "Protocol error: a kfunc call with an `fd_array` index but no `fd_array`.";
    EOPNOTSUPP = 95, "Operation not supported: no JIT support for arenas, or an unsupported map operation.";
    EINPROGRESS = 115, "Operation now in progress: a `.struct_ops` map that is unregistered already.";
    ENOTSUPP = 524, "Operation not supported (the kernel-internal `ENOTSUPP`, which leaks to user space from some BPF paths).";
}

impl Errno {
    /// Wraps a raw positive error number.
    pub const fn from_raw(code: i32) -> Errno {
        Errno(code)
    }

    /// The raw positive error number.
    pub const fn raw(self) -> i32 {
        self.0
    }

    /// The calling thread's current `errno`.
    pub fn last() -> Errno {
        Errno(std::io::Error::last_os_error().raw_os_error().unwrap_or(0))
    }

    /// Builds an `Errno` from a kernel-style negative return value (`-EINVAL`).
    pub const fn from_negative(ret: i64) -> Errno {
        Errno((-ret) as i32)
    }
}

impl fmt::Debug for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => write!(f, "Errno({n})"),
            None => write!(f, "Errno({})", self.0),
        }
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let desc = if self.0 == 524 {
            "Operation not supported".to_string()
        } else {
            let s = std::io::Error::from_raw_os_error(self.0).to_string();
            // std appends " (os error N)"; keep only the description.
            match s.find(" (os error") {
                Some(i) => s[..i].to_string(),
                None => s,
            }
        };
        match self.name() {
            Some(n) => write!(f, "{n} ({desc})"),
            None => write!(f, "errno {} ({desc})", self.0),
        }
    }
}

impl std::error::Error for Errno {}

impl Errno {
    /// The errno behind an I/O error (`EIO` for one that carries none).
    pub fn from_io(e: &std::io::Error) -> Errno {
        Errno(e.raw_os_error().unwrap_or(5))
    }
}

impl From<Errno> for std::io::Error {
    fn from(e: Errno) -> Self {
        std::io::Error::from_raw_os_error(e.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_and_describes() {
        assert_eq!(Errno::EINVAL.to_string(), "EINVAL (Invalid argument)");
        assert_eq!(
            Errno::ENOTSUPP.to_string(),
            "ENOTSUPP (Operation not supported)"
        );
        assert_eq!(format!("{:?}", Errno::E2BIG), "Errno(E2BIG)");
        assert_eq!(Errno::from_raw(200).name(), None);
        assert_eq!(Errno::from_negative(-16), Errno::EBUSY);
    }
}

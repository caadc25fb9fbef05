//! The command line, parsed: pure, std-only, and total — any sequence of
//! arguments (non-UTF-8 included) gives a [`Command`] or a [`Usage`] error,
//! never a panic. The fuzz target `cli_args` includes this file as is.
#![deny(
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::ffi::{OsStr, OsString};
use std::path::PathBuf;
use std::time::Duration;

/// A usage error: the message after `bpf-arena: ` (exit status 2).
#[derive(Debug, PartialEq, Eq)]
pub struct Usage(pub String);

fn usage(msg: impl Into<String>) -> Usage {
    Usage(msg.into())
}

/// What the command line asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    /// `bpf-arena --help` (or `-h`, `help`).
    Help,
    /// `bpf-arena probe --help`.
    ProbeHelp,
    /// `bpf-arena probe`.
    Probe,
    /// `bpf-arena inspect --help`.
    InspectHelp,
    /// `bpf-arena inspect OBJECT ...`.
    Inspect(InspectArgs),
    /// `bpf-arena run --help`.
    RunHelp,
    /// `bpf-arena run OBJECT ...`.
    Run(RunArgs),
    /// `bpf-arena show --help`.
    ShowHelp,
    /// `bpf-arena show OBJECT ...`.
    Show(ShowArgs),
    /// `bpf-arena attach --help`.
    AttachHelp,
    /// `bpf-arena attach OBJECT ...`.
    Attach(AttachArgs),
    /// `bpf-arena gen --help`.
    GenHelp,
    /// `bpf-arena gen OBJECT ...`.
    Gen(GenArgs),
}

/// `gen OBJECT [--module NAME] [--embed PATH] [--arena-type NAME]... [--types-only]`.
#[derive(Debug, PartialEq, Eq)]
pub struct GenArgs {
    /// The object file.
    pub object: PathBuf,
    /// `--module NAME`.
    pub module: Option<String>,
    /// `--embed PATH`.
    pub embed: Option<String>,
    /// `--arena-type NAME`, in order.
    pub arena_types: Vec<String>,
    /// `--types-only`.
    pub types_only: bool,
}

/// `inspect OBJECT [--pages N] [--disasm PROGRAM]`.
#[derive(Debug, PartialEq, Eq)]
pub struct InspectArgs {
    /// The object file (any bytes: paths need not be UTF-8).
    pub object: PathBuf,
    /// `--pages N`.
    pub pages: Option<u32>,
    /// `--disasm PROGRAM`.
    pub disasm: Option<String>,
}

/// One `--set NAME=VALUE`.
#[derive(Debug, PartialEq, Eq)]
pub struct SetArg {
    /// The variable.
    pub name: String,
    /// The value as written (for messages).
    pub text: String,
    /// Whether it had a minus sign.
    pub negative: bool,
    /// Its magnitude.
    pub magnitude: u64,
}

/// `run OBJECT [OPTIONS] [PROGRAM...]`.
#[derive(Debug, PartialEq, Eq)]
pub struct RunArgs {
    /// The object file.
    pub object: PathBuf,
    /// `--set`, in order.
    pub sets: Vec<SetArg>,
    /// `--get`, in order.
    pub gets: Vec<String>,
    /// `--pages N`.
    pub pages: Option<u32>,
    /// `--times N` (at least 1; default 1).
    pub times: u32,
    /// `--ctx HEX` bytes.
    pub ctx: Vec<u8>,
    /// `--pin-root DIR`: the only way `run` pins or reuses pinned maps.
    pub pin_root: Option<PathBuf>,
    /// The programs to load and run, in order.
    pub programs: Vec<String>,
}

/// `show OBJECT [--set NAME=VALUE]... [--pages N] [PROGRAM...]`.
#[derive(Debug, PartialEq, Eq)]
pub struct ShowArgs {
    /// The object file.
    pub object: PathBuf,
    /// `--set`, in order.
    pub sets: Vec<SetArg>,
    /// `--pages N`.
    pub pages: Option<u32>,
    /// The programs to load and show, in order (all when empty).
    pub programs: Vec<String>,
}

/// `attach OBJECT [OPTIONS] [PROGRAM...]`.
#[derive(Debug, PartialEq, Eq)]
pub struct AttachArgs {
    /// The object file.
    pub object: PathBuf,
    /// `--set`, in order.
    pub sets: Vec<SetArg>,
    /// `--get`, in order.
    pub gets: Vec<String>,
    /// `--pages N`.
    pub pages: Option<u32>,
    /// `--for SECONDS`: how long to stay attached (until a signal when
    /// `None`).
    pub duration: Option<Duration>,
    /// `--iface NAME`: for xdp and tcx programs.
    pub iface: Option<String>,
    /// `--cgroup PATH`: for cgroup programs.
    pub cgroup: Option<PathBuf>,
    /// `--ringbuf MAP`, in order, each once.
    pub ringbufs: Vec<String>,
    /// The programs to load and attach, in order, each once (all
    /// attachable ones when empty).
    pub programs: Vec<String>,
}

/// The commands, as usage errors list them.
const COMMANDS: &str = "probe, inspect, run, show, attach, gen";

/// Parses the arguments after the program name.
pub fn parse(args: &[OsString]) -> Result<Command, Usage> {
    let Some((first, rest)) = args.split_first() else {
        return Err(usage(format!(
            "a command is required ({COMMANDS}); see bpf-arena --help"
        )));
    };
    let help = rest.iter().any(|a| a == "-h" || a == "--help");
    match first.to_str() {
        Some("-h" | "--help" | "help") => Ok(Command::Help),
        Some("probe") if help => Ok(Command::ProbeHelp),
        Some("probe") => match rest.first() {
            Some(a) => Err(usage(format!(
                "probe takes no arguments (got '{}')",
                a.to_string_lossy()
            ))),
            None => Ok(Command::Probe),
        },
        Some("inspect") if help => Ok(Command::InspectHelp),
        Some("inspect") => inspect(rest).map(Command::Inspect),
        Some("run") if help => Ok(Command::RunHelp),
        Some("run") => run(rest).map(Command::Run),
        Some("show") if help => Ok(Command::ShowHelp),
        Some("show") => show(rest).map(Command::Show),
        Some("attach") if help => Ok(Command::AttachHelp),
        Some("attach") => attach(rest).map(Command::Attach),
        Some("gen") if help => Ok(Command::GenHelp),
        Some("gen") => gen_args(rest).map(Command::Gen),
        _ => Err(usage(format!(
            "unknown command '{}' ({COMMANDS}); see bpf-arena --help",
            first.to_string_lossy()
        ))),
    }
}

/// The options' values and names must be text; only paths may be any bytes.
fn text<'a>(a: &'a OsStr, what: &str) -> Result<&'a str, Usage> {
    a.to_str().ok_or_else(|| {
        usage(format!(
            "{what} '{}' is not valid UTF-8",
            a.to_string_lossy()
        ))
    })
}

/// The value after option `opt`.
fn value<'a>(it: &mut impl Iterator<Item = &'a OsString>, opt: &str) -> Result<&'a OsStr, Usage> {
    it.next()
        .map(OsString::as_os_str)
        .ok_or_else(|| usage(format!("{opt} needs a value")))
}

fn number<T: std::str::FromStr>(s: &OsStr, opt: &str) -> Result<T, Usage> {
    s.to_str()
        .and_then(|t| t.parse().ok())
        .ok_or_else(|| usage(format!("{opt}: '{}' is not a number", s.to_string_lossy())))
}

fn is_option(a: &OsStr, allow_dash: bool) -> bool {
    let b = a.as_encoded_bytes();
    b.first() == Some(&b'-') && (allow_dash || b.len() > 1)
}

fn inspect(args: &[OsString]) -> Result<InspectArgs, Usage> {
    let (mut object, mut pages, mut disasm) = (None, None, None);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.to_str() {
            Some("--pages") => pages = Some(number::<u32>(value(&mut it, "--pages")?, "--pages")?),
            Some("--disasm") => {
                disasm = Some(text(value(&mut it, "--disasm")?, "--disasm: program")?.to_string())
            }
            _ if is_option(a, true) => {
                return Err(usage(format!(
                    "unknown option '{}' for inspect (see bpf-arena inspect --help)",
                    a.to_string_lossy()
                )));
            }
            _ if object.is_none() => object = Some(PathBuf::from(a)),
            _ => {
                return Err(usage(format!(
                    "unexpected argument '{}' (inspect takes one OBJECT)",
                    a.to_string_lossy()
                )));
            }
        }
    }
    Ok(InspectArgs {
        object: object.ok_or_else(|| usage("inspect needs an OBJECT"))?,
        pages,
        disasm,
    })
}

fn gen_args(args: &[OsString]) -> Result<GenArgs, Usage> {
    let mut g = GenArgs {
        object: PathBuf::new(),
        module: None,
        embed: None,
        arena_types: Vec::new(),
        types_only: false,
    };
    let mut object = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.to_str() {
            Some("--module") => {
                let m = text(value(&mut it, "--module")?, "--module: name")?;
                let ok = m.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
                    && m.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
                if !ok {
                    return Err(usage(format!(
                        "--module: '{m}' is not a Rust identifier (letters, digits and _)"
                    )));
                }
                g.module = Some(m.to_string());
            }
            Some("--embed") => {
                g.embed = Some(text(value(&mut it, "--embed")?, "--embed: path")?.to_string())
            }
            Some("--arena-type") => g
                .arena_types
                .push(text(value(&mut it, "--arena-type")?, "--arena-type: type")?.to_string()),
            Some("--types-only") => g.types_only = true,
            _ if is_option(a, true) => {
                return Err(usage(format!(
                    "unknown option '{}' for gen (see bpf-arena gen --help)",
                    a.to_string_lossy()
                )));
            }
            _ if object.is_none() => object = Some(PathBuf::from(a)),
            _ => {
                return Err(usage(format!(
                    "unexpected argument '{}' (gen takes one OBJECT)",
                    a.to_string_lossy()
                )));
            }
        }
    }
    if g.types_only && (g.embed.is_some()) {
        return Err(usage(
            "--embed is for the handle, which --types-only leaves out",
        ));
    }
    g.object = object.ok_or_else(|| usage("gen needs an OBJECT"))?;
    Ok(g)
}

fn run(args: &[OsString]) -> Result<RunArgs, Usage> {
    let mut object = None;
    let mut r = RunArgs {
        object: PathBuf::new(),
        sets: Vec::new(),
        gets: Vec::new(),
        pages: None,
        times: 1,
        ctx: Vec::new(),
        pin_root: None,
        programs: Vec::new(),
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.to_str() {
            Some("--set") => r.sets.push(set_arg(value(&mut it, "--set")?)?),
            Some("--get") => r
                .gets
                .push(text(value(&mut it, "--get")?, "--get: name")?.to_string()),
            Some("--pages") => {
                r.pages = Some(number::<u32>(value(&mut it, "--pages")?, "--pages")?)
            }
            Some("--times") => {
                r.times = number::<u32>(value(&mut it, "--times")?, "--times")?;
                if r.times == 0 {
                    return Err(usage("--times must be at least 1"));
                }
            }
            Some("--ctx") => {
                let v = value(&mut it, "--ctx")?;
                r.ctx = v.to_str().and_then(parse_hex).ok_or_else(|| {
                    usage(format!(
                        "--ctx: '{}' is not hex bytes (an even number of hex digits)",
                        v.to_string_lossy()
                    ))
                })?;
            }
            Some("--pin-root") => r.pin_root = Some(PathBuf::from(value(&mut it, "--pin-root")?)),
            _ if is_option(a, false) => {
                return Err(usage(format!(
                    "unknown option '{}' for run (see bpf-arena run --help)",
                    a.to_string_lossy()
                )));
            }
            _ if object.is_none() => object = Some(PathBuf::from(a)),
            _ => r.programs.push(text(a, "program")?.to_string()),
        }
    }
    r.object = object.ok_or_else(|| usage("run needs an OBJECT"))?;
    Ok(r)
}

/// The value of one `--set`: `NAME=VALUE` with an integer VALUE.
fn set_arg(v: &OsStr) -> Result<SetArg, Usage> {
    let v = text(v, "--set")?;
    let (name, val) = v
        .split_once('=')
        .ok_or_else(|| usage(format!("--set {v}: expected NAME=VALUE")))?;
    let (negative, magnitude) = parse_int(val).ok_or_else(|| {
        usage(format!(
            "--set {v}: '{val}' is not a decimal or 0x-hex number"
        ))
    })?;
    Ok(SetArg {
        name: name.to_string(),
        text: val.to_string(),
        negative,
        magnitude,
    })
}

fn show(args: &[OsString]) -> Result<ShowArgs, Usage> {
    let mut object = None;
    let mut r = ShowArgs {
        object: PathBuf::new(),
        sets: Vec::new(),
        pages: None,
        programs: Vec::new(),
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.to_str() {
            Some("--set") => r.sets.push(set_arg(value(&mut it, "--set")?)?),
            Some("--pages") => {
                r.pages = Some(number::<u32>(value(&mut it, "--pages")?, "--pages")?)
            }
            _ if is_option(a, false) => {
                return Err(usage(format!(
                    "unknown option '{}' for show (see bpf-arena show --help)",
                    a.to_string_lossy()
                )));
            }
            _ if object.is_none() => object = Some(PathBuf::from(a)),
            _ => r.programs.push(text(a, "program")?.to_string()),
        }
    }
    r.object = object.ok_or_else(|| usage("show needs an OBJECT"))?;
    Ok(r)
}

fn attach(args: &[OsString]) -> Result<AttachArgs, Usage> {
    let mut object = None;
    let mut r = AttachArgs {
        object: PathBuf::new(),
        sets: Vec::new(),
        gets: Vec::new(),
        pages: None,
        duration: None,
        iface: None,
        cgroup: None,
        ringbufs: Vec::new(),
        programs: Vec::new(),
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.to_str() {
            Some("--set") => r.sets.push(set_arg(value(&mut it, "--set")?)?),
            Some("--get") => r
                .gets
                .push(text(value(&mut it, "--get")?, "--get: name")?.to_string()),
            Some("--pages") => {
                r.pages = Some(number::<u32>(value(&mut it, "--pages")?, "--pages")?)
            }
            Some("--for") => r.duration = Some(seconds(value(&mut it, "--for")?)?),
            Some("--iface") => {
                r.iface = Some(text(value(&mut it, "--iface")?, "--iface: interface")?.to_string())
            }
            Some("--cgroup") => r.cgroup = Some(PathBuf::from(value(&mut it, "--cgroup")?)),
            Some("--ringbuf") => {
                let m = text(value(&mut it, "--ringbuf")?, "--ringbuf: map")?.to_string();
                if r.ringbufs.contains(&m) {
                    return Err(usage(format!("--ringbuf {m} is given twice")));
                }
                r.ringbufs.push(m);
            }
            _ if is_option(a, false) => {
                return Err(usage(format!(
                    "unknown option '{}' for attach (see bpf-arena attach --help)",
                    a.to_string_lossy()
                )));
            }
            _ if object.is_none() => object = Some(PathBuf::from(a)),
            _ => {
                let p = text(a, "program")?.to_string();
                if r.programs.contains(&p) {
                    return Err(usage(format!("program '{p}' is named twice")));
                }
                r.programs.push(p);
            }
        }
    }
    r.object = object.ok_or_else(|| usage("attach needs an OBJECT"))?;
    Ok(r)
}

/// `--for SECONDS`: whole seconds with an optional fraction of at most 9
/// digits (`10`, `0.5`, `2.125`); no sign, no exponent.
fn seconds(s: &OsStr) -> Result<Duration, Usage> {
    let bad = || {
        usage(format!(
            "--for: '{}' is not a number of seconds (like 10 or 0.5)",
            s.to_string_lossy()
        ))
    };
    let t = s.to_str().ok_or_else(bad)?;
    let (whole, frac) = t.split_once('.').unwrap_or((t, "0"));
    let digits = |d: &str| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit());
    if !digits(whole) || !digits(frac) || frac.len() > 9 {
        return Err(bad());
    }
    let secs: u64 = whole.parse().map_err(|_| bad())?;
    let nanos: u32 = format!("{frac:0<9}").parse().map_err(|_| bad())?;
    Ok(Duration::new(secs, nanos))
}

/// Parses `-12`, `34`, `0x1f`, `-0x10` into (negative, magnitude).
pub fn parse_int(s: &str) -> Option<(bool, u64)> {
    let (neg, digits) = match s.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, s),
    };
    let mag = match digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        Some(h) if !h.is_empty() => u64::from_str_radix(h, 16).ok()?,
        Some(_) => return None,
        None => digits.parse::<u64>().ok()?,
    };
    Some((neg, mag))
}

/// Little-endian bytes of `(neg, mag)` in `size` bytes (1, 2, 4 or 8), if
/// it fits (as an unsigned value, or as a negative signed one).
pub fn encode_int(neg: bool, mag: u64, size: usize) -> Option<Vec<u8>> {
    let bits = u32::try_from(size).ok()?.checked_mul(8)?;
    if !matches!(bits, 8 | 16 | 32 | 64) {
        return None;
    }
    let v: u64 = if neg {
        // The most negative value of `bits` bits has magnitude 2^(bits-1).
        if u128::from(mag) > 1u128.checked_shl(bits.checked_sub(1)?)? {
            return None;
        }
        0u64.wrapping_sub(mag)
    } else {
        if mag.checked_shr(bits).unwrap_or(0) != 0 {
            return None;
        }
        mag
    };
    v.to_le_bytes().get(..size).map(<[u8]>::to_vec)
}

/// `abcd` or `0xabcd` → bytes; `None` for an odd count or a non-hex digit.
pub fn parse_hex(s: &str) -> Option<Vec<u8>> {
    let s = s.strip_prefix("0x").unwrap_or(s);
    if s.len() % 2 != 0 {
        return None;
    }
    s.as_bytes()
        .chunks(2)
        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok())
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
mod tests {
    use super::*;
    use std::os::unix::ffi::OsStringExt;

    fn os(v: &[&str]) -> Vec<OsString> {
        v.iter().map(OsString::from).collect()
    }

    #[test]
    fn ints() {
        assert_eq!(parse_int("-0x10"), Some((true, 16)));
        assert_eq!(parse_int("0x"), None);
        assert_eq!(encode_int(true, 128, 1), Some(vec![0x80]));
        assert_eq!(encode_int(true, 129, 1), None);
        assert_eq!(encode_int(false, 255, 1), Some(vec![0xff]));
        assert_eq!(encode_int(false, 256, 1), None);
        assert_eq!(encode_int(false, u64::MAX, 8), Some(vec![0xff; 8]));
        assert_eq!(
            encode_int(true, 1 << 63, 8),
            Some((1u64 << 63).to_le_bytes().to_vec())
        );
        assert_eq!(encode_int(false, 1, 3), None);
        assert_eq!(parse_hex("0xa1B2"), Some(vec![0xa1, 0xb2]));
        assert_eq!(parse_hex("é1"), None);
    }

    #[test]
    fn non_utf8_is_a_usage_error_or_a_path() {
        let bad = OsString::from_vec(vec![0xff, 0xfe]);
        for args in [
            vec![bad.clone()],
            vec!["run".into(), "x.o".into(), "--set".into(), bad.clone()],
            vec!["run".into(), "x.o".into(), bad.clone()],
            vec!["probe".into(), bad.clone()],
            vec![
                "inspect".into(),
                "x.o".into(),
                "--pages".into(),
                bad.clone(),
            ],
        ] {
            assert!(parse(&args).is_err(), "{args:?}");
        }
        // A non-UTF-8 path is fine.
        let Ok(Command::Inspect(i)) = parse(&[OsString::from("inspect"), bad.clone()]) else {
            panic!("a non-UTF-8 path is accepted");
        };
        assert_eq!(i.object, PathBuf::from(bad));
    }

    #[test]
    fn run_options() {
        let Command::Run(r) = parse(&os(&[
            "run",
            "o.bpf.o",
            "--set",
            "a=-3",
            "--get",
            "b",
            "--pages",
            "9",
            "--times",
            "2",
            "--ctx",
            "0102",
            "--pin-root",
            "/tmp/p",
            "p1",
            "p2",
        ]))
        .unwrap() else {
            panic!("run");
        };
        assert_eq!(r.sets[0].name, "a");
        assert_eq!((r.sets[0].negative, r.sets[0].magnitude), (true, 3));
        assert_eq!(
            (r.pages, r.times, r.ctx.as_slice()),
            (Some(9), 2, &[1u8, 2][..])
        );
        assert_eq!(r.pin_root, Some(PathBuf::from("/tmp/p")));
        assert_eq!(r.programs, ["p1", "p2"]);
        assert_eq!(
            parse(&os(&["run"])).unwrap_err(),
            usage("run needs an OBJECT")
        );
        assert!(
            matches!(parse(&os(&["run", "-"])), Ok(Command::Run(_))),
            "'-' is a path"
        );
    }

    #[test]
    fn attach_options() {
        let Command::Attach(a) = parse(&os(&[
            "attach",
            "o.bpf.o",
            "--set",
            "target_pid=7",
            "--get",
            "count",
            "--pages",
            "4",
            "--for",
            "0.25",
            "--iface",
            "veth0",
            "--cgroup",
            "/sys/fs/cgroup/x",
            "--ringbuf",
            "events",
            "p1",
            "p2",
        ]))
        .unwrap() else {
            panic!("attach");
        };
        assert_eq!(a.object, PathBuf::from("o.bpf.o"));
        assert_eq!(
            (a.sets[0].name.as_str(), a.sets[0].magnitude),
            ("target_pid", 7)
        );
        assert_eq!(a.gets, ["count"]);
        assert_eq!(a.pages, Some(4));
        assert_eq!(a.duration, Some(Duration::from_millis(250)));
        assert_eq!(a.iface.as_deref(), Some("veth0"));
        assert_eq!(a.cgroup, Some(PathBuf::from("/sys/fs/cgroup/x")));
        assert_eq!(a.ringbufs, ["events"]);
        assert_eq!(a.programs, ["p1", "p2"]);
        let Command::Attach(a) = parse(&os(&["attach", "o"])).unwrap() else {
            panic!("attach");
        };
        assert_eq!((a.duration, a.programs.len()), (None, 0));
        assert_eq!(
            parse(&os(&["attach", "o", "-h"])).unwrap(),
            Command::AttachHelp
        );
        for (t, d) in [
            ("0", Duration::ZERO),
            ("10", Duration::from_secs(10)),
            ("1.5", Duration::from_millis(1500)),
            ("0.000000001", Duration::from_nanos(1)),
            (
                "18446744073709551615.999999999",
                Duration::new(u64::MAX, 999_999_999),
            ),
        ] {
            assert_eq!(seconds(OsStr::new(t)), Ok(d), "{t}");
        }
        for t in [
            "",
            ".5",
            "5.",
            "-1",
            "+1",
            "1e3",
            "inf",
            "0x10",
            "1.0000000001",
            "1.2.3",
            " 1",
            "18446744073709551616",
        ] {
            assert_eq!(
                seconds(OsStr::new(t)),
                Err(usage(format!(
                    "--for: '{t}' is not a number of seconds (like 10 or 0.5)"
                ))),
                "{t:?}"
            );
        }
        for (args, err) in [
            (&["attach"][..], "attach needs an OBJECT"),
            (&["attach", "o", "--for"][..], "--for needs a value"),
            (
                &["attach", "o", "--times", "2"][..],
                "unknown option '--times' for attach (see bpf-arena attach --help)",
            ),
            (
                &["attach", "o", "p", "q", "p"][..],
                "program 'p' is named twice",
            ),
            (
                &["attach", "o", "--ringbuf", "e", "--ringbuf", "e"][..],
                "--ringbuf e is given twice",
            ),
        ] {
            assert_eq!(parse(&os(args)).unwrap_err(), usage(err), "{args:?}");
        }
    }

    #[test]
    fn show_options() {
        let Command::Show(s) = parse(&os(&[
            "show", "o.bpf.o", "p1", "--set", "a=0x10", "--pages", "4", "p2",
        ]))
        .unwrap() else {
            panic!("show");
        };
        assert_eq!(s.object, PathBuf::from("o.bpf.o"));
        assert_eq!((s.sets[0].name.as_str(), s.sets[0].magnitude), ("a", 16));
        assert_eq!(s.pages, Some(4));
        assert_eq!(s.programs, ["p1", "p2"]);
        assert_eq!(
            parse(&os(&["show", "o", "--help"])).unwrap(),
            Command::ShowHelp
        );
        for (args, err) in [
            (&["show"][..], "show needs an OBJECT"),
            (
                &["show", "o", "--times", "2"][..],
                "unknown option '--times' for show (see bpf-arena show --help)",
            ),
            (&["show", "o", "--pages"][..], "--pages needs a value"),
        ] {
            assert_eq!(parse(&os(args)).unwrap_err(), usage(err), "{args:?}");
        }
    }
}

//! The CLI's argument parser on arbitrary arguments: the input split on NUL
//! into `OsString`s (non-UTF-8 included). Parsing is pure (no I/O), so any
//! input must give `Ok` or a usage error, never a panic; the values of every
//! `--set` are then encoded at every size, as `run` does.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;

#[path = "../../src/bin/bpf-arena/args.rs"]
#[allow(dead_code)]
mod args;

fuzz_target!(|data: &[u8]| {
    let argv: Vec<OsString> = if data.is_empty() {
        Vec::new()
    } else {
        data.split(|&b| b == 0)
            .map(|a| OsString::from_vec(a.to_vec()))
            .collect()
    };
    if let Ok(args::Command::Run(r)) = args::parse(&argv) {
        for s in &r.sets {
            for size in 0..=9 {
                let _ = args::encode_int(s.negative, s.magnitude, size);
            }
        }
    }
});

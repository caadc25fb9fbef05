//! The CLI's argument parser on arbitrary arguments: the input split on NUL
//! into `OsString`s (non-UTF-8 included). Parsing is pure (no I/O), so any
//! input must give `Ok` or a usage error, never a panic.
//!
//! Written against `src/bin/bpf-arena/args.rs`
//! (`pub fn parse(args: &[OsString]) -> Result<Command, Usage>`); enable its
//! `[[bin]]` entry in `fuzz/Cargo.toml` once that file exists.
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
    let _ = args::parse(&argv);
});

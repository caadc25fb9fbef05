//! The kernel-config reader (`/proc/config.gz` and friends): `gunzip` /
//! `inflate` of arbitrary bytes, `parse` of the text, and `encode_value` of
//! every value for every extern size, as integer and as char array.
#![no_main]

use bpf_arena::kconfig;
use bpf_arena::kconfig::fuzzing::{gunzip, inflate};
use libfuzzer_sys::fuzz_target;

fn values(text: &str) {
    let cfg = kconfig::parse("fuzz", text);
    for v in cfg.values.values() {
        for size in 0..=17 {
            if let Some(b) = kconfig::encode_value(v, size, false) {
                assert_eq!(b.len(), size);
            }
            if let Some(b) = kconfig::encode_value(v, size, true) {
                assert_eq!(b.len(), size);
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = gunzip(data) {
        values(&String::from_utf8_lossy(&text));
    }
    let _ = inflate(data);
    values(&String::from_utf8_lossy(data));
});

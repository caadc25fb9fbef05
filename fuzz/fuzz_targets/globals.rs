//! The loader's pre-load pure path: `ObjectLoader::new`, then
//! `set_global_bytes` / `set_global` on every variable (right size, wrong
//! sizes, every `Plain` width), names and lengths drawn from the input,
//! `set_max_entries`, `load_only`, and the arena placement
//! (`obj::place_arena_globals`, any page size). Never `load()`.
//!
//! Input: `data[0]` is `n`, `data[1..1 + n]` drives the calls, the rest is
//! the object. The seeds are the `bpf-asm` objects behind a 0 byte.
#![no_main]

use bpf_arena::loader::ObjectLoader;
use bpf_arena::obj::{ObjectSpec, place_arena_globals};
use bpf_arena_fuzz::Bytes;
use libfuzzer_sys::fuzz_target;

/// Larger variables are skipped: their size is not backed by input bytes.
const MAX_VAR: u64 = 1 << 20;

fuzz_target!(|data: &[u8]| {
    let mut d = Bytes(data);
    let n = d.u8() as usize;
    let mut drive = Bytes(d.take(n));
    let Ok(spec) = ObjectSpec::parse("fuzz", d.0) else {
        return;
    };
    let vars: Vec<(String, u64)> = spec.variables().map(|v| (v.name.clone(), v.size)).collect();
    let maps: Vec<String> = spec.maps.iter().map(|m| m.name.clone()).collect();
    let progs: Vec<String> = spec.programs.iter().map(|p| p.name.clone()).collect();
    let arena_len = spec.arena_data.as_ref().map_or(0, |a| a.bytes.len() as u64);
    let mut loader = ObjectLoader::new(spec);

    for (name, size) in &vars {
        if *size <= MAX_VAR {
            let fill = drive.u8();
            let _ = loader.set_global_bytes(name, &vec![fill; *size as usize]);
            let _ = loader.set_global_bytes(name, &vec![fill; *size as usize + 1]);
            if *size > 0 {
                let _ = loader.set_global_bytes(name, &vec![fill; *size as usize - 1]);
            }
        }
        let _ = loader.set_global(name, drive.u8());
        let _ = loader.set_global(name, drive.u16());
        let _ = loader.set_global(name, drive.u32());
        let _ =
            loader.set_global(name, u64::from(drive.u32()) << 32 | u64::from(drive.u32()));
        let _ = loader.set_global(name, [drive.u8(); 3]);
    }
    let _ = loader.set_global_bytes("no such global", &[0; 4]);

    // Calls the drive bytes choose: [op, pick, len, fill].
    while !drive.is_empty() {
        let (op, pick, len, fill) = (drive.u8(), drive.u8(), drive.u8(), drive.u8());
        let var = (!vars.is_empty()).then(|| &vars[pick as usize % vars.len()].0);
        match op % 5 {
            0 => {
                if let Some(name) = var {
                    let _ = loader.set_global_bytes(name, &vec![fill; len as usize]);
                }
            }
            1 => {
                let name = String::from_utf8_lossy(drive.take(len as usize % 16)).into_owned();
                let _ = loader.set_global_bytes(&name, &vec![fill; pick as usize]);
            }
            2 => {
                if !maps.is_empty() {
                    let m = &maps[pick as usize % maps.len()];
                    let _ = loader.set_max_entries(m, u32::from_le_bytes([len, fill, 0, 0]));
                }
            }
            3 => {
                let chosen: Vec<&str> = progs
                    .iter()
                    .take(len as usize)
                    .map(String::as_str)
                    .collect();
                let _ = loader.load_only(&chosen);
                let _ = loader.load_only(&["no such program"]);
            }
            _ => {
                let pages = u32::from_le_bytes([pick, len, fill, op]);
                let page = 1u64 << (len % 64);
                if let Ok(at) = place_arena_globals("a", pages, page, arena_len, || fill & 1 == 1) {
                    // Placed globals lie inside the arena.
                    let end = arena_len
                        .checked_next_multiple_of(page)
                        .and_then(|g| at.checked_add(g));
                    let size = u64::from(pages).checked_mul(page);
                    assert!(end.zip(size).is_some_and(|(e, s)| e <= s));
                }
                let _ = place_arena_globals("a", pages, 0, arena_len, || true);
                let _ = place_arena_globals("a", pages, page, u64::MAX - u64::from(fill), || true);
            }
        }
    }
    // The spec as changed still describes every variable.
    assert_eq!(loader.spec().variables().count(), vars.len());
});

//! Builds `bpf/list.bpf.c` into a BPF object, then generates the Rust
//! module for it with `bpf_arena::codegen` into `OUT_DIR/list.rs`, the
//! object embedded.
//!
//! The compiler is `$BPF_CLANG` when set, else the first of `clang-19` and
//! `clang` that runs. With none (or `BPF_CLANG=none`) the committed
//! `bpf/list.bpf.o` is used: a machine without clang still builds. The
//! flags are those of the repository's `bpf-asm/build.sh`, so clang-19
//! makes the committed object byte for byte (a warning says when not).

use std::path::{Path, PathBuf};
use std::process::Command;

/// The BPF source, relative to this package.
const SRC: &str = "bpf/list.bpf.c";
/// The object built from it, committed for machines without clang.
const COMMITTED: &str = "bpf/list.bpf.o";
/// Where `arena.h` is: the repository's `bpf-asm/`.
const HEADERS: &str = "../../bpf-asm";

fn main() {
    if let Err(e) = run() {
        // Cargo shows a failed build script's stderr.
        eprintln!("gen-build: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), String> {
    for f in [SRC, COMMITTED] {
        println!("cargo:rerun-if-changed={f}");
    }
    println!("cargo:rerun-if-changed={HEADERS}/arena.h");
    // Which clang runs depends on these.
    println!("cargo:rerun-if-env-changed=BPF_CLANG");
    println!("cargo:rerun-if-env-changed=PATH");
    let dir = canonical(&PathBuf::from(env("CARGO_MANIFEST_DIR")?))?;
    let out = PathBuf::from(env("OUT_DIR")?);

    let (object, how) = match clang()? {
        Some(clang) => {
            let built = out.join("list.bpf.o");
            compile(&clang, &dir, &built)?;
            stale_check(&clang, &built, &dir.join(COMMITTED));
            (built, format!("built by {clang} from {SRC}"))
        }
        None => (dir.join(COMMITTED), format!("the committed {COMMITTED}")),
    };
    // Absolute: the generated code `include_bytes!`s it from OUT_DIR.
    let object = canonical(&object)?;
    let spec = bpf_arena::obj::ObjectSpec::from_file(&object)
        .map_err(|e| format!("{}: {e}", object.display()))?;
    let path = object
        .to_str()
        .ok_or_else(|| format!("{}: not a UTF-8 path", object.display()))?;
    let mut opts = bpf_arena::codegen::Options::default();
    opts.embed(path);
    let code = bpf_arena::codegen::generate(&spec, &opts)
        .map_err(|e| format!("generating Rust for {}: {e}", object.display()))?;
    let rs = out.join("list.rs");
    std::fs::write(&rs, code).map_err(|e| format!("writing {}: {e}", rs.display()))?;
    // For the program to say which object it embeds.
    println!("cargo:rustc-env=GEN_BUILD_OBJECT={how}");
    Ok(())
}

/// The compiler to use: `None` for the committed object.
fn clang() -> Result<Option<String>, String> {
    match std::env::var("BPF_CLANG") {
        Ok(v) if v == "none" => return Ok(None),
        // Named by the user: it must work (compile() says if it does not).
        Ok(v) if !v.is_empty() => return Ok(Some(v)),
        Ok(_) | Err(std::env::VarError::NotPresent) => {}
        Err(e) => return Err(format!("BPF_CLANG: {e}")),
    }
    let runs = |c: &str| {
        Command::new(c)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    };
    Ok(["clang-19", "clang"]
        .into_iter()
        .find(|c| runs(c))
        .map(String::from))
}

/// Compiles SRC into `object` from the package's directory, with relative
/// paths and the debug paths mapped to `.`: no absolute path lands in it.
fn compile(clang: &str, dir: &Path, object: &Path) -> Result<(), String> {
    let out = Command::new(clang)
        .current_dir(dir)
        .args(["--target=bpf", "-mcpu=v4", "-O2", "-g", "-Wall", "-Werror"])
        .arg(format!("-I{HEADERS}"))
        .arg(format!("-fdebug-prefix-map={}=.", dir.display()))
        .arg("-fdebug-compilation-dir=.")
        .args(["-c", SRC, "-o"])
        .arg(object)
        .output()
        .map_err(|e| format!("running {clang} on {SRC}: {e}"))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        return Err(format!(
            "{clang} failed on {SRC} ({}); BPF_CLANG=none uses the committed {COMMITTED}\n{}",
            out.status,
            stderr.trim_end()
        ));
    }
    Ok(())
}

/// Warns when clang-19 (which built the committed object) no longer makes
/// it byte for byte: the source changed and the copy was not refreshed.
fn stale_check(clang: &str, built: &Path, committed: &Path) {
    if clang != "clang-19" {
        return;
    }
    if std::fs::read(built).ok() != std::fs::read(committed).ok() {
        println!(
            "cargo:warning={COMMITTED} is not what {clang} builds from {SRC}: copy {} over it and commit it",
            built.display()
        );
    }
}

fn env(name: &str) -> Result<String, String> {
    std::env::var(name).map_err(|e| format!("{name}: {e} (run by cargo?)"))
}

fn canonical(p: &Path) -> Result<PathBuf, String> {
    std::fs::canonicalize(p).map_err(|e| format!("{}: {e}", p.display()))
}

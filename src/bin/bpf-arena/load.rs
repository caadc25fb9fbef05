//! Loading an object for `run`, `show` and `attach`: globals set and the arena sized
//! before anything is created, the named programs chosen, and each failure
//! worded as one line (a verifier rejection also prints the whole log).

use crate::args::{self, SetArg};
use crate::{Fail, no_program, object, path_error};
use bpf_arena::loader::{LoadedObject, ObjectLoader};
use std::path::Path;

/// What to do to an object before loading it.
pub struct Options<'a> {
    /// `--set NAME=VALUE`, in order.
    pub sets: &'a [SetArg],
    /// `--get NAME`: checked to exist before anything is loaded.
    pub gets: &'a [String],
    /// `--pages N`.
    pub pages: Option<u32>,
    /// `--pin-root DIR`; without it nothing is pinned or reused.
    pub pin_root: Option<&'a Path>,
    /// The programs to load (all when empty).
    pub programs: &'a [String],
}

/// Opens `path`, applies `o`, and loads it.
pub fn load_object(path: &Path, o: &Options<'_>) -> Result<LoadedObject, Fail> {
    load(path, &prepare(path, o)?)
}

/// Opens `path` and applies `o`: everything before the kernel is asked for
/// anything.
pub fn prepare(path: &Path, o: &Options<'_>) -> Result<ObjectLoader, Fail> {
    let shown = path.display().to_string();
    let mut loader = ObjectLoader::from_file(path).map_err(|e| path_error(path, e))?;
    // Pinning is the user's choice: an object's `pinning` attributes are
    // honoured only under an explicit --pin-root, so loading an untrusted
    // object never reuses or leaves maps in the host's bpffs.
    match o.pin_root {
        Some(dir) => loader.pin_root(dir),
        None => loader.ignore_pinning(),
    };
    for s in o.sets {
        set_global(&mut loader, s)?;
    }
    for g in o.gets {
        if loader.spec().variables().all(|v| v.name != *g) {
            return Err(object(format!(
                "--get {g}: the object has no global variable '{g}'"
            )));
        }
    }
    if let Some(p) = o.pages {
        if loader.spec().arena_map().is_none() {
            return Err(object("--pages: the object has no arena map"));
        }
        loader.set_arena_pages(p).map_err(object)?;
    }
    if !o.programs.is_empty() {
        let spec = loader.spec();
        if let Some(missing) = o.programs.iter().find(|n| spec.program(n).is_none()) {
            return Err(object(format!("{shown}: {}", no_program(spec, missing))));
        }
        loader.load_only(o.programs).map_err(object)?;
    }
    Ok(loader)
}

/// Loads what [`prepare`] made of `path`; a verifier rejection prints the
/// whole log.
pub fn load(path: &Path, loader: &ObjectLoader) -> Result<LoadedObject, Fail> {
    let shown = path.display().to_string();
    loader.load().map_err(|e| match e {
        bpf_arena::Error::Verifier(v) => {
            eprintln!(
                "bpf-arena: {shown}: the verifier rejected program '{}': {}",
                v.program, v.errno
            );
            eprint!("{}", v.log());
            if !v.log().ends_with('\n') {
                eprintln!();
            }
            Fail::Reported
        }
        e => object(format!("{shown}: {e}")),
    })
}

/// Applies one `--set NAME=VALUE`: the variable must exist and be 1, 2, 4
/// or 8 bytes, and the value must fit it.
fn set_global(loader: &mut ObjectLoader, s: &SetArg) -> Result<(), Fail> {
    let (name, val) = (&s.name, &s.text);
    let size = loader
        .spec()
        .variables()
        .find(|v| v.name == *name)
        .ok_or_else(|| {
            object(format!(
                "--set {name}={val}: the object has no global variable '{name}'"
            ))
        })?
        .size;
    if !matches!(size, 1 | 2 | 4 | 8) {
        return Err(object(format!(
            "--set {name}={val}: '{name}' is {size} bytes; --set takes 1, 2, 4 or 8"
        )));
    }
    let bytes = args::encode_int(s.negative, s.magnitude, size as usize).ok_or_else(|| {
        object(format!(
            "--set {name}={val}: does not fit '{name}' ({size} bytes)"
        ))
    })?;
    loader.set_global_bytes(name, &bytes).map_err(object)?;
    Ok(())
}

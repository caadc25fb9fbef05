//! Rust source generated from an object's BTF: `#[repr(C)]` types whose
//! layout is checked when they compile, and a typed handle with one
//! method per global variable, program and map.
//!
//! Pure: an [`ObjectSpec`] in, a `String` of Rust source out; no system
//! calls. The same object gives the same text on every machine, formatted
//! as `rustfmt` leaves it. `bpf-arena gen OBJECT` prints [`generate`]'s
//! output.
//!
//! # What is generated
//!
//! One module per object (named after it: its file name up to the first
//! dot, `arena_list` for `arena_list.bpf.o`, or [`Options::module`])
//! holding a `types` module and, next to it, the handle:
//!
//! ```text
//! pub mod arena_list {
//!     pub use types::*;
//!     pub mod types { /* node, list_head, … */ }
//!     pub struct Loader(ObjectLoader);   // before the load
//!     pub struct Loaded(LoadedObject);   // after it
//! }
//! ```
//!
//! **Which types.** Every struct, union, enum and typedef reachable from
//! the object's global variables (`.bss`, `.data`, `.rodata*`, `.kconfig`,
//! and the arena's `.addr_space.1`) and from the key and value types of
//! its maps, and the types named with [`Options::arena_type`]. Types keep
//! their C names (`struct node` is `node`): a name that is a Rust keyword
//! is a raw identifier (`r#type`, or `self_` where Rust allows no raw
//! form), a primitive's name gets a `_` (`typedef … u32` is `u32_`), and a
//! name taken twice, or one the module uses itself (`Arena`, `ArenaPtr`,
//! `Iface`, `KernelArenaPtr`, `Link`, `Loaded`, `LoadedObject`, `Loader`,
//! `Map`, `OBJECT`,
//! `ObjectLoader`, `ObjectSpec`, `Path`, `Program`, `Result`, `check`,
//! `size_of`, `types`, the prelude's `AsRef`, `Default`, `Err`, `None`,
//! `Ok`, `Option`, `Some`, and the names of the generated code's
//! parameters and locals, which an enum's constructor would clash with:
//! `bits`, `bytes`, `c`, `cgroup`, `d`, `f`, `i`, `iface`, `mask`, `name`,
//! `path`, `spec`, `target`, `this`, `v`, `value`), gets `_2`. Anonymous types are named after where they
//! are used: `node__anon_1` for the first anonymous member of `node`,
//! `node__link` for the anonymous type of member `link` (and
//! `node__link__inner` for an anonymous type inside that), `VAR_t` for a
//! global's, `MAP_key` / `MAP_value` for a map's; a typedef of an
//! anonymous type gives it its name.
//!
//! **Each BTF kind:**
//! - `STRUCT`: a `#[repr(C)]` struct (`#[repr(C, packed)]` when a member
//!   sits off its natural alignment or the size is no multiple of the
//!   largest alignment) with every member at the offset BTF gives,
//!   explicit `__pad_N: [u8; K]` fields wherever C leaves a hole or tail
//!   padding, and compile-time assertions of the size and of every field
//!   offset, so that a generated file that no longer matches its object
//!   does not build. Because every byte belongs to a field and every field
//!   is [`Plain`](crate::arena::Plain), the generated `unsafe impl Plain`
//!   holds; `Default` is all zeros. Bitfields share a storage field
//!   (`_bitfield_N`, the smallest aligned `u8`/`u16`/`u32`/`u64` around
//!   them that fits between the neighbouring members, else a byte array)
//!   with a getter and a `set_` method each, sign-extended for signed
//!   types, `bool` for `_Bool`, the enum type for an enum. An anonymous
//!   member is a field `__anon_N` of its own generated type. A flexible
//!   array member (`T items[]`) is a `[T; 0]` field plus `items_at(this,
//!   i)`, which gives a pointer to element `i` of the struct at `this`.
//! - `UNION`: a struct over the union's bytes, with a getter and `set_`
//!   method per member (a Rust `union` would need `unsafe` to read, and
//!   could be built with uninitialised bytes). `Debug` shows every member.
//! - `ENUM`, `ENUM64`: a `#[repr(transparent)]` newtype over the integer
//!   of the enum's size and sign, with one associated constant per
//!   enumerator: a C enum may hold any value, which a Rust `enum` may not.
//!   `Debug` prints the enumerator's name, or the number.
//! - `TYPEDEF`: `pub type NAME = TARGET;` for a typedef of a struct,
//!   union, enum or number; a typedef of a pointer or array is used
//!   expanded, since what it becomes depends on where it lies.
//! - `FWD` (declared, never defined): an opaque zero-sized struct, for
//!   pointers only (it is not `Plain`, so it is never read); when the
//!   object also defines the struct, the definition. clang writes a struct
//!   reached only through a pointer member this way: a global of the
//!   struct's own type (a pointer-typed global is enough) makes it write
//!   the struct in full.
//! - `INT`: `u8`…`u128`, `i8`…`i128` by size and sign; `_Bool` is `u8`
//!   (any byte is then valid); a size Rust has no integer for is a byte
//!   array. `FLOAT`: `f32`, `f64`, other sizes a byte array.
//! - `ARRAY`: `[T; N]`, nested for more dimensions.
//! - `PTR`: **a pointer into the arena is an arena pointer** of the
//!   pointee's generated type: every pointer in a type that lives in arena
//!   memory (reachable from an `.addr_space.1` global, or named with
//!   [`Options::arena_type`]), a pointer-typed arena global, a pointer to
//!   a type that lives in the arena, and a pointer tagged
//!   `address_space(1)` (clang 19 does not tag `__arena` pointers in BTF,
//!   so the rest is inferred). It is [`ArenaPtr<T>`](crate::arena::ArenaPtr)
//!   (user form), or [`KernelArenaPtr<T>`](crate::arena::KernelArenaPtr)
//!   when the object's arena has `BPF_F_NO_USER_CONV`, whose programs
//!   store the 32-bit kernel form (`to_user(&arena)` turns it into an
//!   `ArenaPtr`). A `void` pointee is `u8`. Any other pointer (and every
//!   function pointer) is a `u64` with a doc line saying what it points
//!   to.
//! - `CONST`, `VOLATILE`, `RESTRICT`, `TYPE_TAG`: see through (a
//!   `TYPE_TAG` `address_space(1)` marks an arena pointer).
//! - `VAR`, `DATASEC`: where the globals and their types come from.
//!   `FUNC`, `FUNC_PROTO`, `DECL_TAG`: not generated (functions are
//!   programs, reached through the handle).
//!
//! **The handle.** `Loader::from_bytes` (`include_bytes!` of the object)
//! or `Loader::from_file` parses the object and checks it against the
//! module: every global present in the same section with the same size,
//! every program and map present, and the same layout of every generated
//! type and the same pointer form ([`layout_fingerprints`]); an object built
//! from other sources is an error naming the difference, not a wrong read
//! later. (Code generated by another version of this crate may lay out
//! the same object differently, and is then refused too: regenerate it.) With
//! [`Options::embed`], `Loader::embedded()` uses the bytes compiled into
//! the program. Every variable of the object's sections gets accessors,
//! `static` ones included. Before the load, each global (not `.kconfig`) has a typed
//! getter and `set_` method; `Loader::load` gives a `Loaded`, where each
//! global has a typed getter (read from the mapping or the arena), a
//! `set_` method for `.bss`, `.data` and arena globals, and for arena
//! globals `NAME_ptr`, its place in the arena; each program
//! (`-> Result<&Program>`) and map (`-> Result<&Map>`, the arena
//! `-> Result<&Arena>`) has a method named after it, and each program
//! whose section says where it attaches an `attach_NAME` (taking the
//! interface or cgroup directory when the section cannot name it) that
//! gives the [`Link`](crate::Link). The `Loader` of an object with an arena
//! also has `arena_pages` and `set_arena_pages`. `inner()` gives the
//! wrapped loader or object for everything else. A name that clashes with
//! another method gets `_2` (a global's accessors have the same name in
//! both handles, so a global `load` is `load_2` in both); two globals of the same name (statics in
//! different sections) get no accessor, since globals are found by name.
//!
//! # Using it from `build.rs`
//!
//! The build script compiles the BPF source when clang is installed, else
//! takes an object committed next to it (so that a machine without clang
//! still builds), and generates the module into `OUT_DIR` with the object
//! embedded:
//!
//! ```no_run
//! // build.rs of a crate with bpf/probe.bpf.c and a committed bpf/probe.bpf.o
//! use std::path::PathBuf;
//! use std::process::Command;
//!
//! fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let (src, committed) = ("bpf/probe.bpf.c", "bpf/probe.bpf.o");
//!     // Every file the build reads (a missing one would rerun every build),
//!     // headers included.
//!     for f in [src, committed, "bpf/probe.h"] {
//!         if std::path::Path::new(f).exists() {
//!             println!("cargo:rerun-if-changed={f}");
//!         }
//!     }
//!     println!("cargo:rerun-if-env-changed=PATH"); // which clang there is
//!     let out = PathBuf::from(std::env::var("OUT_DIR")?);
//!     let runs = |c: &str| {
//!         let version = Command::new(c).arg("--version").output();
//!         version.is_ok_and(|o| o.status.success())
//!     };
//!     let object = match ["clang-19", "clang"].into_iter().find(|c| runs(c)) {
//!         Some(clang) => {
//!             let built = out.join("probe.bpf.o");
//!             // (-I for your headers; -fdebug-prefix-map to keep paths out)
//!             let status = Command::new(clang)
//!                 .args(["--target=bpf", "-mcpu=v4", "-O2", "-g", "-c", src, "-o"])
//!                 .arg(&built)
//!                 .status()?;
//!             if !status.success() {
//!                 return Err(format!("{clang} failed on {src}").into());
//!             }
//!             built
//!         }
//!         None => PathBuf::from(committed),
//!     };
//!     // Absolute: the generated code include_bytes!s it from OUT_DIR.
//!     let object = std::fs::canonicalize(&object)
//!         .map_err(|e| format!("{}: {e} (no clang, and no committed object?)", object.display()))?;
//!     let spec = bpf_arena::obj::ObjectSpec::from_file(&object)?;
//!     let mut opts = bpf_arena::codegen::Options::default();
//!     opts.embed(object.to_str().ok_or("the object's path is not UTF-8")?);
//!     let code = bpf_arena::codegen::generate(&spec, &opts)?;
//!     for t in bpf_arena::codegen::opaque_types(&spec, &opts)? {
//!         println!("cargo:warning={t} is only declared in the BTF: generated opaque");
//!     }
//!     std::fs::write(out.join("probe.rs"), code)?;
//!     Ok(())
//! }
//! ```
//!
//! with `bpf-arena` under `[build-dependencies]` as well as
//! `[dependencies]`, and in the crate:
//!
//! ```ignore
//! include!(concat!(env!("OUT_DIR"), "/probe.rs"));
//!
//! let obj = probe::Loader::embedded()?.load()?;
//! ```
//!
//! The repository's `examples/gen-build` package is this recipe, built and
//! run by CI (`cargo run --manifest-path examples/gen-build/Cargo.toml`);
//! its build script also names the file in every error and takes the
//! compiler from `BPF_CLANG` (`none` for the committed object).

#![forbid(unsafe_code)]
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

mod emit;
mod handle;
mod layout;
mod names;

use crate::btf::BtfError;
use crate::obj::{ObjectSpec, VarSpec};

/// Why code could not be generated for an object, or why an object does
/// not match the code generated for it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GenError {
    /// The object's BTF cannot be read.
    #[error("the object's BTF: {0}")]
    Btf(#[from] BtfError),
    /// A type the generator cannot lay out (malformed BTF).
    #[error("BTF type [{id}] ({name}): {reason}")]
    Type {
        /// The type id.
        id: u32,
        /// The type, as C spells it.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// [`Options::arena_type`] named a type the object's BTF does not have.
    #[error("the object's BTF has no struct, union or typedef named '{0}'")]
    NoSuchType(String),
    /// [`Options::arena_type`] named a type the object's BTF only declares
    /// (a forward declaration, without its layout).
    #[error(
        "the object's BTF only declares '{0}' (a forward declaration, without its members: clang writes a struct reached only through a pointer member so; give the struct a global of its own)"
    )]
    OnlyDeclared(String),
    /// The object differs from the one the code was generated from.
    #[error("{}", mismatch(.object, .found, .reason))]
    Mismatch {
        /// The object the code was generated from.
        object: String,
        /// The object given (its name).
        found: String,
        /// The first difference.
        reason: String,
    },
}

fn mismatch(object: &str, found: &str, reason: &str) -> String {
    if object == found {
        format!("object '{object}' is not the one this code was generated from: {reason}")
    } else {
        format!("object '{found}' is not '{object}', which this code was generated from: {reason}")
    }
}

/// What to generate besides the defaults.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Options {
    module: Option<String>,
    embed: Option<String>,
    arena_types: Vec<String>,
    types_only: bool,
}

impl Options {
    /// Names the generated module (default: the object's name).
    pub fn module(&mut self, name: &str) -> &mut Self {
        self.module = Some(name.to_string());
        self
    }

    /// Embeds the object: the handle gets `OBJECT`
    /// (`include_bytes!(path)`) and `Loader::embedded()`. `path` is
    /// written into the generated code as it is, so it should be absolute
    /// (as in `OUT_DIR`), or relative to the file that `include!`s it.
    pub fn embed(&mut self, path: &str) -> &mut Self {
        self.embed = Some(path.to_string());
        self
    }

    /// Generates only the types, without the handle ([`rust_types`], with
    /// the other options); [`Options::embed`] is then unused.
    pub fn types_only(&mut self) -> &mut Self {
        self.types_only = true;
        self
    }

    /// Generates struct, union or typedef `name` even if no global or map
    /// reaches it, as a type that lives in arena memory (its pointers are
    /// arena pointers). For structures a program builds in the arena and
    /// hands over through a `void *` or an integer.
    pub fn arena_type(&mut self, name: &str) -> &mut Self {
        self.arena_types.push(name.to_string());
        self
    }
}

/// The module of Rust types for `spec` (the `types` module of
/// [`generate`], on its own): see the [module docs](self).
/// [`generate`] with [`Options::types_only`] is the same with options.
///
/// Errors: [`GenError`] for BTF that cannot be read or laid out.
pub fn rust_types(spec: &ObjectSpec) -> Result<String, GenError> {
    let mut opts = Options::default();
    opts.types_only();
    generate(spec, &opts)
}

/// The file's header and `pub mod NAME {` with its lint exemptions, the
/// module documented by `doc`.
fn open_module(spec: &ObjectSpec, opts: &Options, doc: &str) -> String {
    format!(
        "// Generated by bpf-arena gen from the BTF of the object `{}`. Do not edit: regenerate.\n\n/// {doc}\npub mod {} {{\n{ALLOWS}",
        spec.name,
        module_name(spec, opts)
    )
}

fn types_only(spec: &ObjectSpec, m: &layout::Model, opts: &Options) -> String {
    let doc = format!("The types of the BPF object `{}`.", spec.name);
    let mut out = open_module(spec, opts, &doc);
    let body = emit::types(m, 1);
    if !body.is_empty() {
        out.push('\n');
        out.push_str(&body);
    }
    out.push_str("}\n");
    out
}

/// The whole module for `spec`: its types and the typed handle (see the
/// [module docs](self)).
///
/// Errors: [`GenError`] for BTF that cannot be read or laid out, or an
/// [`Options::arena_type`] the object does not have.
pub fn generate(spec: &ObjectSpec, opts: &Options) -> Result<String, GenError> {
    let m = layout::build(spec, &opts.arena_types)?;
    if opts.types_only {
        return Ok(types_only(spec, &m, opts));
    }
    let doc = format!(
        "The BPF object `{}`: its types, and a typed handle (`Loader`, then `Loaded`).",
        spec.name
    );
    let mut out = open_module(spec, opts, &doc);
    out.push('\n');
    out.push_str(&handle::imports(&m, 1));
    out.push_str("\n    pub use types::*;\n\n");
    out.push_str("    /// The object's types, their layout checked when they compile.\n");
    let body = emit::types(&m, 2);
    if body.is_empty() {
        out.push_str("    pub mod types {}\n");
    } else {
        out.push_str("    pub mod types {\n");
        out.push_str(&body);
        out.push_str("    }\n");
    }
    out.push('\n');
    let layout = (opts.arena_types.as_slice(), fingerprints(&m));
    out.push_str(&handle::handle(spec, &m, opts.embed.as_deref(), layout, 1));
    out.push_str("}\n");
    Ok(out)
}

/// Names the generated module uses for its own items and imports: a C
/// type of one of these names gets `_2` appended.
const RESERVED_TYPES: &[&str] = &[
    // The handle's and the types' own items and imports.
    "Arena",
    "ArenaPtr",
    "Iface",
    "KernelArenaPtr",
    "Link",
    "Loaded",
    "LoadedObject",
    "Loader",
    "Map",
    "OBJECT",
    "ObjectLoader",
    "ObjectSpec",
    "Path",
    "Program",
    "Result",
    "check",
    "size_of",
    "types",
    // Parameters and local bindings of the generated code: an enum (a
    // tuple struct) of that name in scope would make them errors ("function
    // parameters cannot shadow tuple structs", E0530).
    "bits",
    "bytes",
    "c",
    "cgroup",
    "d",
    "f",
    "i",
    "iface",
    "mask",
    "name",
    "path",
    "spec",
    "target",
    "this",
    "v",
    "value",
    // Prelude names the generated code uses: a glob-imported type (or an
    // enum's constructor) of that name would shadow them.
    "AsRef",
    "Default",
    "Err",
    "None",
    "Ok",
    "Option",
    "Some",
];

/// The lints generated code is exempt from (C names, generated docs).
const ALLOWS: &str = "    #![allow(non_camel_case_types, non_snake_case, non_upper_case_globals)]
    #![allow(dead_code, missing_docs, unused_imports)]
    #![allow(clippy::all, clippy::pedantic)]
";

fn module_name(spec: &ObjectSpec, opts: &Options) -> String {
    let n = opts.module.as_deref().unwrap_or(&spec.name);
    let n = names::ident(n);
    if n.is_empty() { "object".into() } else { n }
}

/// Bits `shift .. shift + bits` of a little-endian byte array, as an
/// unsigned number (bits past the array's end read as 0). Generated
/// bitfield accessors whose storage is a byte array use it.
pub fn bits_get<const N: usize>(bytes: &[u8; N], shift: u32, bits: u32) -> u64 {
    let mut v = 0u64;
    for i in 0..bits.min(64) {
        let b = shift.saturating_add(i);
        let byte = bytes.get((b / 8) as usize).copied().unwrap_or(0);
        if (byte >> (b % 8)) & 1 != 0 {
            v |= 1u64 << i;
        }
    }
    v
}

/// Stores the low `bits` bits of `value` at bits `shift .. shift + bits`
/// of a little-endian byte array, leaving the other bits as they are
/// (bits past the array's end are dropped).
pub fn bits_set<const N: usize>(bytes: &mut [u8; N], shift: u32, bits: u32, value: u64) {
    for i in 0..bits.min(64) {
        let b = shift.saturating_add(i);
        if let Some(byte) = bytes.get_mut((b / 8) as usize) {
            let m = 1u8 << (b % 8);
            if (value >> i) & 1 != 0 {
                *byte |= m;
            } else {
                *byte &= !m;
            }
        }
    }
}

/// The name [`layout_fingerprints`] gives the entry for the globals' names
/// and types.
pub const GLOBALS_FINGERPRINT: &str = "(globals)";

/// The name [`layout_fingerprints`] gives the entry for the pointer form
/// (user, or kernel for an arena with `BPF_F_NO_USER_CONV`).
pub const FORM_FINGERPRINT: &str = "(pointer form)";

/// The layout fingerprints of the types generated for `spec` (with
/// `arena_types` as [`Options::arena_type`] names them): one entry named
/// [`FORM_FINGERPRINT`] for the pointer form (user or kernel); for each
/// generated type, by its Rust name, a 64-bit FNV-1a hash of its size,
/// fields, offsets and field types (bitfields, union members and
/// enumerators included); and one entry named [`GLOBALS_FINGERPRINT`] for
/// the globals' names and types. Generated code
/// records them, and its `Loader` compares them with the object it is
/// given ([`Check::layout`]), so that an object whose types changed is
/// refused, naming the type, rather than read wrong.
///
/// Errors: [`GenError`] for BTF that cannot be laid out.
pub fn layout_fingerprints(
    spec: &ObjectSpec,
    arena_types: &[&str],
) -> Result<Vec<(String, u64)>, GenError> {
    let names: Vec<String> = arena_types.iter().map(|s| s.to_string()).collect();
    let m = layout::build(spec, &names)?;
    Ok(fingerprints(&m))
}

/// FNV-1a of a sequence of strings (each ended by a 0xff byte).
#[derive(Clone, Copy)]
struct Fnv(u64);

impl Fnv {
    fn new() -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }

    fn eat(&mut self, s: &str) {
        for b in s.bytes().chain([0xff]) {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
}

/// The pointer form, then each generated type, then the globals.
fn fingerprints(m: &layout::Model) -> Vec<(String, u64)> {
    let mut out = Vec::with_capacity(m.items.len().saturating_add(2));
    let mut h = Fnv::new();
    h.eat(match m.form {
        layout::PtrForm::User => "user",
        layout::PtrForm::Kernel => "kernel",
    });
    out.push((FORM_FINGERPRINT.to_string(), h.0));
    for item in &m.items {
        let mut h = Fnv::new();
        h.eat(&item.size.to_string());
        match &item.body {
            layout::Body::Struct { fields, bits, .. } => {
                h.eat("struct");
                for f in fields {
                    h.eat(&f.name);
                    h.eat(&f.offset.to_string());
                    h.eat(&emit::ty(m, &f.ty));
                }
                for b in bits {
                    h.eat(&b.name);
                    h.eat(&format!("{}:{}:{}", b.bit_offset, b.bits, b.shift));
                }
            }
            layout::Body::Union { members } => {
                h.eat("union");
                for u in members {
                    h.eat(&u.name);
                    h.eat(&u.offset.to_string());
                    h.eat(&emit::ty(m, &u.ty));
                }
            }
            layout::Body::Enum { repr, values } => {
                h.eat(repr);
                for (n, v, _) in values {
                    h.eat(n);
                    h.eat(&v.to_string());
                }
            }
            layout::Body::Typedef { target } => h.eat(&emit::ty(m, target)),
            layout::Body::Opaque => h.eat("opaque"),
        }
        out.push((item.name.clone(), h.0));
    }
    let mut h = Fnv::new();
    for g in &m.globals {
        h.eat(&g.name);
        h.eat(&emit::ty(m, &g.ty));
    }
    out.push((GLOBALS_FINGERPRINT.to_string(), h.0));
    out
}

/// The C names of the types `generate` makes opaque for `spec`: only
/// declared in its BTF (clang writes a struct reached only through a
/// pointer member so), their layout unknown. The CLI warns about each.
///
/// Errors: [`GenError`] as [`generate`].
pub fn opaque_types(spec: &ObjectSpec, opts: &Options) -> Result<Vec<String>, GenError> {
    let m = layout::build(spec, &opts.arena_types)?;
    Ok(m.items
        .iter()
        .filter(|i| matches!(i.body, layout::Body::Opaque))
        .map(|i| i.c_name.clone())
        .collect())
}

/// Checks an object against what generated code expects of it: the
/// generated `Loader` runs one of these before using an object.
#[derive(Debug)]
pub struct Check<'a> {
    spec: &'a ObjectSpec,
    object: &'a str,
    first: Option<String>,
    /// The object's variables by name (and how many share each name).
    vars: std::collections::BTreeMap<&'a str, (usize, &'a VarSpec)>,
    /// [`Check::arena_type`] names, in order.
    arena_types: Vec<&'a str>,
    /// [`Check::layout`] entries, in order.
    layouts: Vec<(&'a str, u64)>,
}

impl<'a> Check<'a> {
    /// A check of `spec` against the object generated code calls `object`.
    pub fn new(spec: &'a ObjectSpec, object: &'a str) -> Check<'a> {
        let mut vars = std::collections::BTreeMap::new();
        for v in spec.variables() {
            vars.entry(v.name.as_str())
                .and_modify(|(n, _): &mut (usize, &VarSpec)| *n = n.saturating_add(1))
                .or_insert((1, v));
        }
        Check {
            spec,
            object,
            first: None,
            vars,
            arena_types: Vec::new(),
            layouts: Vec::new(),
        }
    }

    fn fail(&mut self, reason: String) {
        self.first.get_or_insert(reason);
    }

    /// Global `name` must exist, in `section`, `size` bytes long.
    pub fn global(&mut self, name: &str, section: &str, size: u64) {
        match self.vars.get(name).copied() {
            None => self.fail(format!("it has no global variable '{name}'")),
            Some((1, v)) if v.section != section => self.fail(format!(
                "global '{name}' is in section '{}', not '{section}'",
                v.section
            )),
            Some((1, v)) if v.size != size => {
                self.fail(format!("global '{name}' is {} bytes, not {size}", v.size))
            }
            Some((1, _)) => {}
            Some(_) => self.fail(format!("it has more than one global variable '{name}'")),
        }
    }

    /// Program `name` must exist.
    pub fn program(&mut self, name: &str) {
        if self.spec.program(name).is_none() {
            self.fail(format!("it has no program '{name}'"));
        }
    }

    /// Map `name` must exist.
    pub fn map(&mut self, name: &str) {
        if self.spec.map(name).is_none() {
            self.fail(format!("it has no map '{name}'"));
        }
    }

    /// The code was generated with [`Options::arena_type`] `name`.
    pub fn arena_type(&mut self, name: &'a str) {
        self.arena_types.push(name);
    }

    /// Generated type `name` (or [`GLOBALS_FINGERPRINT`]) has layout
    /// fingerprint `fingerprint` ([`layout_fingerprints`]); checked, for
    /// every entry at once, in [`Check::finish`].
    pub fn layout(&mut self, name: &'a str, fingerprint: u64) {
        self.layouts.push((name, fingerprint));
    }

    /// The first layout that differs, if any.
    fn layout_difference(&self) -> Option<String> {
        if self.layouts.is_empty() {
            return None;
        }
        let found = match layout_fingerprints(self.spec, &self.arena_types) {
            Ok(f) => f,
            Err(e) => return Some(format!("its types cannot be laid out: {e}")),
        };
        let by_name: std::collections::BTreeMap<&str, u64> =
            found.iter().map(|(n, h)| (n.as_str(), *h)).collect();
        for (name, want) in &self.layouts {
            match by_name.get(name) {
                None => return Some(format!("it has no type '{name}'")),
                Some(h) if h != want && *name == FORM_FINGERPRINT => {
                    return Some(
                        "its arena stores pointers in the other form (BPF_F_NO_USER_CONV: kernel form, or user form without it): regenerate the code".into(),
                    );
                }
                Some(h) if h != want && *name == GLOBALS_FINGERPRINT => {
                    return Some("its globals' types differ: regenerate the code".into());
                }
                Some(h) if h != want => {
                    return Some(format!(
                        "type '{name}' differs (its size, fields, offsets or field types): regenerate the code"
                    ));
                }
                Some(_) => {}
            }
        }
        let known: std::collections::BTreeSet<&str> =
            self.layouts.iter().map(|(n, _)| *n).collect();
        found
            .iter()
            .find(|(n, _)| !known.contains(n.as_str()))
            .map(|(n, _)| format!("it has a type '{n}' the code does not: regenerate the code"))
    }

    /// The first difference found, as [`GenError::Mismatch`].
    pub fn finish(self) -> Result<(), GenError> {
        let first = self.first.clone().or_else(|| self.layout_difference());
        match first {
            None => Ok(()),
            Some(reason) => Err(GenError::Mismatch {
                object: self.object.to_string(),
                found: self.spec.name.clone(),
                reason,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_round_trip_across_bytes() {
        let mut b = [0u8; 5];
        bits_set(&mut b, 3, 29, 0x1abc_def1);
        assert_eq!(bits_get(&b, 3, 29), 0x1abc_def1);
        assert_eq!(b[0] & 0b111, 0, "bits below the field are kept");
        bits_set(&mut b, 0, 3, 0b101);
        assert_eq!(bits_get(&b, 3, 29), 0x1abc_def1);
        assert_eq!(bits_get(&b, 0, 3), 0b101);
        assert_eq!(bits_get(&b, 38, 10), 0, "past the end reads 0");
        bits_set(&mut b, 39, 8, 0xff);
        assert_eq!(bits_get(&b, 39, 1), 1);
    }
}

//! The text of the typed object handle: `Loader` (before the load) and
//! `Loaded` (after it), one method per global variable, program and map.

use std::collections::BTreeMap;

use super::emit::{NamedCall, Out, ty, use_line};
use super::layout::{Home, Model};
use super::names::{Scope, bare, ident};
use crate::obj::{AttachTarget, DataKind, MapOrigin, Needs, ObjectSpec};

/// Methods of `Loader` that globals must step around.
const LOADER_METHODS: &[&str] = &[
    "arena_pages",
    "from_bytes",
    "from_file",
    "from_spec",
    "embedded",
    "inner",
    "inner_mut",
    "into_inner",
    "load",
    "set_arena_pages",
];

/// Methods of `Loaded` that globals, programs and maps must step around.
const LOADED_METHODS: &[&str] = &["inner", "into_inner"];

/// A global with a unique name, and its accessor names.
struct Acc<'a> {
    g: &'a super::layout::Global,
    rust: String,
    get: String,
    set: String,
    ptr: String,
}

/// The handle's imports (the types module re-exports nothing but the
/// generated types).
pub(crate) fn imports(m: &Model, depth: usize) -> String {
    let mut o = Out::new(depth);
    let mut arena = vec!["ArenaPtr"];
    if m.form == super::layout::PtrForm::Kernel && super::emit::uses_arena(m) {
        arena.push("KernelArenaPtr");
    }
    o.line(&use_line("::bpf_arena::arena", &arena));
    o.line("use ::bpf_arena::map::Map;");
    o.line("use ::bpf_arena::obj::{Iface, ObjectSpec};");
    o.line("use ::bpf_arena::{Arena, Link, LoadedObject, ObjectLoader, Program, Result};");
    o.line("use ::std::path::Path;");
    o.text
}

pub(crate) fn handle(
    spec: &ObjectSpec,
    m: &Model,
    embed: Option<&str>,
    layout: (&[String], Vec<(String, u64)>),
    depth: usize,
) -> String {
    let mut o = Out::new(depth);
    let obj = spec.name.as_str();
    // Globals whose name another global also has are left out: the
    // loader finds globals by name, and would find the first.
    let mut count: BTreeMap<&str, usize> = BTreeMap::new();
    for g in &m.globals {
        *count.entry(g.name.as_str()).or_default() += 1;
    }
    let unique: Vec<_> = m
        .globals
        .iter()
        .filter(|g| count.get(g.name.as_str()) == Some(&1))
        .collect();
    let programs: Vec<&str> = spec.programs.iter().map(|p| p.name.as_str()).collect();
    let maps: Vec<(&str, bool)> = spec
        .maps
        .iter()
        .filter(|mp| matches!(mp.origin, MapOrigin::Declared | MapOrigin::StructOps(_)))
        .map(|mp| (mp.name.as_str(), mp.is_arena()))
        .collect();

    let mut before = Scope::with(LOADER_METHODS);
    let mut after = Scope::with(LOADED_METHODS);
    let mut accs = Vec::new();
    for g in &unique {
        // Both handles have the getter and setter: the names must be
        // free in both (a global `load` must not clash with Loader::load).
        let get = Scope::claim_both(&mut before, &mut after, ident(&g.name));
        let set = Scope::claim_both(&mut before, &mut after, format!("set_{}", bare(&get)));
        let ptr = if g.home == Home::Arena {
            after.claim(format!("{}_ptr", bare(&get)))
        } else {
            String::new()
        };
        accs.push(Acc {
            g,
            rust: ty(m, &g.ty),
            get,
            set,
            ptr,
        });
    }
    let prog_names: Vec<(String, &str)> = programs
        .iter()
        .map(|p| (after.claim(ident(p)), *p))
        .collect();
    // Programs whose section says where they attach: `attach_NAME`.
    let attaches: Vec<(String, &str, AttachTarget)> = spec
        .programs
        .iter()
        .filter_map(|p| {
            let t = AttachTarget::from_section(&p.section, p.prog_type).ok()?;
            let name = after.claim(format!("attach_{}", bare(&ident(&p.name))));
            Some((name, p.name.as_str(), t))
        })
        .collect();
    let map_names: Vec<(String, &str, bool)> = maps
        .iter()
        .map(|(n, a)| (after.claim(ident(n)), *n, *a))
        .collect();

    // The check of an object against this module.
    o.doc(
        "Checks that `spec` has every global variable (in the same section, of the same size),\nprogram and map this module was generated for, and the same layout of every type.",
    );
    o.open("fn check(spec: &ObjectSpec) -> Result<()>");
    o.call(
        "let mut c = ::bpf_arena::codegen::Check::new",
        &["spec".into(), format!("{obj:?}")],
        ";",
    );
    for a in &accs {
        let args = [
            format!("{:?}", a.g.name),
            format!("{:?}", a.g.section),
            a.g.size.to_string(),
        ];
        o.call("c.global", &args, ";");
    }
    for p in &programs {
        o.call("c.program", &[format!("{p:?}")], ";");
    }
    for (n, _) in &maps {
        o.call("c.map", &[format!("{n:?}")], ";");
    }
    for t in layout.0 {
        o.call("c.arena_type", &[format!("{t:?}")], ";");
    }
    for (name, h) in &layout.1 {
        o.call(
            "c.layout",
            &[format!("{name:?}"), format!("{h:#018x}")],
            ";",
        );
    }
    o.line("Ok(c.finish()?)");
    o.close("");
    o.line("");

    if let Some(path) = embed {
        o.doc("The object's bytes, embedded in the program when it was built.");
        let args = [format!("{path:?}")];
        o.macro_call("pub const OBJECT: &[u8] = include_bytes!", &args, ";");
        o.line("");
    }

    // Loader.
    o.doc(&format!(
        "The object `{obj}`, parsed and checked against this module, before the load: its\nglobals' initial values, then [`Loader::load`]. Wraps [`ObjectLoader`]."
    ));
    o.line("pub struct Loader(ObjectLoader);");
    o.line("");
    o.open("impl Loader");
    o.doc(
        "Parses the object from its bytes and checks it against this module (an object\nbuilt from other sources is an error naming what differs).",
    );
    o.open("pub fn from_bytes(bytes: &[u8]) -> Result<Loader>");
    o.call(
        "let spec = ObjectSpec::parse",
        &[format!("{obj:?}"), "bytes".into()],
        "?;",
    );
    o.line("Loader::from_spec(spec)");
    o.close("");
    o.line("");
    o.doc("Reads the object file at `path`, then as [`Loader::from_bytes`].");
    o.open("pub fn from_file(path: impl AsRef<Path>) -> Result<Loader>");
    o.line("Loader::from_spec(ObjectSpec::from_file(path.as_ref())?)");
    o.close("");
    o.line("");
    o.doc("Checks a parsed object against this module.");
    o.open("pub fn from_spec(spec: ObjectSpec) -> Result<Loader>");
    o.line("check(&spec)?;");
    o.line("Ok(Loader(ObjectLoader::new(spec)))");
    o.close("");
    if embed.is_some() {
        o.line("");
        o.doc("The embedded object ([`OBJECT`]), as [`Loader::from_bytes`].");
        o.open("pub fn embedded() -> Result<Loader>");
        o.line("Loader::from_bytes(OBJECT)");
        o.close("");
    }
    o.line("");
    o.doc("The wrapped loader, for what this module has no method for.");
    o.open("pub fn inner(&self) -> &ObjectLoader");
    o.line("&self.0");
    o.close("");
    o.line("");
    o.doc("The wrapped loader, mutable (page count, pinning, map reuse, …).");
    o.open("pub fn inner_mut(&mut self) -> &mut ObjectLoader");
    o.line("&mut self.0");
    o.close("");
    o.line("");
    o.doc("The wrapped loader.");
    o.open("pub fn into_inner(self) -> ObjectLoader");
    o.line("self.0");
    o.close("");
    o.line("");
    o.doc("Loads the object ([`ObjectLoader::load`]).");
    o.open("pub fn load(&self) -> Result<Loaded>");
    o.line("self.0.load().map(Loaded)");
    o.close("");
    if let Some(arena) = spec.arena_map().and_then(|i| spec.maps.get(i)) {
        let name = &arena.name;
        o.line("");
        o.doc(&format!(
            "The arena's size in pages (`max_entries` of map `{name}`, as declared or set)."
        ));
        o.open("pub fn arena_pages(&self) -> u32");
        o.line("self.0.arena_pages().unwrap_or(0)");
        o.close("");
        o.line("");
        o.doc("Sets the arena's size in pages ([`ObjectLoader::set_arena_pages`]).");
        o.open("pub fn set_arena_pages(&mut self, pages: u32) -> Result<&mut Self>");
        o.line("self.0.set_arena_pages(pages)?;");
        o.line("Ok(self)");
        o.close("");
    }
    for a in &accs {
        let where_ = describe_home(a.g);
        if matches!(a.g.home, Home::Data(DataKind::Kconfig)) {
            continue;
        }
        o.line("");
        o.doc(&format!(
            "The initial value of `{}` ({where_}) as the object has it now.{}",
            a.g.name,
            raw_note(a.g)
        ));
        let ret = format!(" -> Result<{}>", a.rust);
        o.sig(&format!("pub fn {}", a.get), &["&self"], &ret);
        o.named_call("", global_call("global", &a.g.name, ""), "");
        o.close("");
        o.line("");
        o.doc(&format!(
            "Sets the initial value of `{}` ({where_}).",
            a.g.name
        ));
        let value = format!("value: {}", a.rust);
        let params = ["&mut self", value.as_str()];
        o.sig(
            &format!("pub fn {}", a.set),
            &params,
            " -> Result<&mut Self>",
        );
        o.named_call("", global_call("set_global", &a.g.name, ", value"), "?;");
        o.line("Ok(self)");
        o.close("");
    }
    o.close("");
    o.line("");

    // Loaded.
    o.doc(&format!(
        "The object `{obj}`, loaded: its globals through their mappings, its programs and maps\nby name. Wraps [`LoadedObject`]."
    ));
    o.line("pub struct Loaded(LoadedObject);");
    o.line("");
    o.open("impl Loaded");
    o.doc("The wrapped object, for what this module has no method for.");
    o.open("pub fn inner(&self) -> &LoadedObject");
    o.line("&self.0");
    o.close("");
    o.line("");
    o.doc("The wrapped object.");
    o.open("pub fn into_inner(self) -> LoadedObject");
    o.line("self.0");
    o.close("");
    for a in &accs {
        let where_ = describe_home(a.g);
        o.line("");
        let how = match a.g.home {
            Home::Arena => "read from the arena",
            Home::Data(DataKind::Kconfig) => "as the loader filled it in from the kernel",
            Home::Data(_) => "read from its map's mapping",
        };
        o.doc(&format!(
            "`{}` ({where_}), {how}.{}",
            a.g.name,
            raw_note(a.g)
        ));
        let ret = format!(" -> Result<{}>", a.rust);
        o.sig(&format!("pub fn {}", a.get), &["&self"], &ret);
        o.named_call("", global_call("global", &a.g.name, ""), "");
        o.close("");
        if matches!(
            a.g.home,
            Home::Data(DataKind::Bss) | Home::Data(DataKind::Data) | Home::Arena
        ) {
            o.line("");
            o.doc(&format!("Sets `{}` ({where_}).", a.g.name));
            let value = format!("value: {}", a.rust);
            let params = ["&self", value.as_str()];
            o.sig(&format!("pub fn {}", a.set), &params, " -> Result<()>");
            o.named_call("", global_call("set_global", &a.g.name, ", value"), "");
            o.close("");
        }
        if a.g.home == Home::Arena {
            o.line("");
            o.doc(&format!(
                "Where `{}` lies in the arena (user form), to read parts of it or pass it on.",
                a.g.name
            ));
            let ret = format!(" -> Result<ArenaPtr<{}>>", a.rust);
            o.sig(&format!("pub fn {}", a.ptr), &["&self"], &ret);
            o.named_call("", global_call("arena_global", &a.g.name, ""), "");
            o.close("");
        }
    }
    for (rust, name) in &prog_names {
        o.line("");
        o.doc(&format!("Program `{name}`."));
        o.sig(
            &format!("pub fn {rust}"),
            &["&self"],
            " -> Result<&Program>",
        );
        o.named_call("", global_call("program", name, ""), "");
        o.close("");
    }
    for (rust, name, target) in &attaches {
        o.line("");
        match target.needs() {
            Needs::Nothing => {
                o.doc(&format!(
                    "Attaches program `{name}` where its section says (`{target}`); detached when the\n`Link` is dropped."
                ));
                o.sig(&format!("pub fn {rust}"), &["&self"], " -> Result<Link>");
                o.named_call("", global_call("attach", name, ""), "");
            }
            Needs::Iface => attach_with(
                &mut o,
                (rust, name),
                &format!("(`{}`) to network interface `iface`", target.kind()),
                "iface: &str",
                "target.with_iface(Iface::Name(iface.to_string()))",
            ),
            Needs::Cgroup => attach_with(
                &mut o,
                (rust, name),
                &format!("(`{}`) to the cgroup v2 directory `cgroup`", target.kind()),
                "cgroup: impl AsRef<Path>",
                "target.with_cgroup(cgroup.as_ref())",
            ),
        }
        o.close("");
    }
    for (rust, name, is_arena) in &map_names {
        o.line("");
        if *is_arena {
            o.doc(&format!("The arena (map `{name}`)."));
            o.sig(&format!("pub fn {rust}"), &["&self"], " -> Result<&Arena>");
            o.line("self.0.require_arena()");
        } else {
            o.doc(&format!("Map `{name}`."));
            o.sig(&format!("pub fn {rust}"), &["&self"], " -> Result<&Map>");
            o.named_call("", global_call("require_map", name, ""), "");
        }
        o.close("");
    }
    o.close("");
    o.text
}

/// For a global that is a pointer outside the arena (a `u64`): what it
/// points to.
fn raw_note(g: &super::layout::Global) -> String {
    match &g.ty {
        super::layout::Ty::Raw(what) => format!(
            "\nA pointer to {what} (a `u64`: BTF does not say it points into the arena; if it\ndoes, `ArenaPtr::from_addr` of it reads through the arena)."
        ),
        _ => String::new(),
    }
}

/// `attach_NAME(&self, PARAM)`: the section's target completed with what
/// the section cannot name (`complete`, an expression of `target`).
fn attach_with(o: &mut Out, (rust, name): (&str, &str), to: &str, param: &str, complete: &str) {
    o.doc(&format!(
        "Attaches program `{name}` {to};\ndetached when the `Link` is dropped."
    ));
    o.sig(
        &format!("pub fn {rust}"),
        &["&self", param],
        " -> Result<Link>",
    );
    o.line(&format!("let name = {name:?};"));
    o.line("let target = self.0.attach_target(name)?;");
    o.line(&format!("let target = {complete};"));
    o.line("self.0.attach_to(name, &target)");
}

/// `self.0.METHOD("NAME"REST)`.
fn global_call<'a>(method: &'a str, name: &'a str, rest: &'a str) -> NamedCall<'a> {
    NamedCall {
        recv: "self.0",
        method,
        name,
        rest,
    }
}

fn describe_home(g: &super::layout::Global) -> String {
    match g.home {
        Home::Arena => "an arena global".into(),
        Home::Data(_) => format!("in `{}`", g.section),
    }
}

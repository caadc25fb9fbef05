//! The text of the generated types: one item per struct, union, enum,
//! typedef and opaque declaration, laid out as `rustfmt` leaves it.

use super::layout::{BitMember, BitRet, Body, Field, Flex, Item, Model, PtrForm, Ty, UnionMember};
use super::names::bare;

/// `rustfmt`'s default line width.
const WIDTH: usize = 100;

/// `rustfmt`'s default `fn_call_width`: the arguments of a call on one line.
const CALL_WIDTH: usize = 60;

/// `rustfmt`'s default `chain_width`: a method chain on one line.
const CHAIN_WIDTH: usize = 60;

/// A method call whose first argument is a C name (see [`Out::named_call`]).
pub(crate) struct NamedCall<'a> {
    /// The receiver (`self.0`).
    pub recv: &'a str,
    pub method: &'a str,
    /// The C name, written as a string literal.
    pub name: &'a str,
    /// The arguments after the name, with their leading `, `.
    pub rest: &'a str,
}

/// Text with an indentation level.
pub(crate) struct Out {
    pub text: String,
    pub depth: usize,
}

impl Out {
    pub(crate) fn new(depth: usize) -> Out {
        Out {
            text: String::new(),
            depth,
        }
    }

    /// One line at the current depth (an empty `s` is an empty line).
    pub(crate) fn line(&mut self, s: &str) {
        if !s.is_empty() {
            for _ in 0..self.depth {
                self.text.push_str("    ");
            }
            self.text.push_str(s);
        }
        self.text.push('\n');
    }

    /// `s {` (`{` alone for an empty `s`), then one level deeper.
    pub(crate) fn open(&mut self, s: &str) {
        if s.is_empty() {
            self.line("{");
        } else {
            self.line(&format!("{s} {{"));
        }
        self.depth = self.depth.saturating_add(1);
    }

    /// One level back, then `}` followed by `tail`.
    pub(crate) fn close(&mut self, tail: &str) {
        self.depth = self.depth.saturating_sub(1);
        self.line(&format!("}}{tail}"));
    }

    /// A doc comment, one `///` line per line of `s`.
    pub(crate) fn doc(&mut self, s: &str) {
        for l in s.lines() {
            if l.is_empty() {
                self.line("///");
            } else {
                self.line(&format!("/// {l}"));
            }
        }
    }

    /// The width a line would have at the current depth.
    fn width(&self, s: &str) -> usize {
        self.depth.saturating_mul(4).saturating_add(s.len())
    }

    /// `assert!(offset_of!(T, FIELD) == N);` (or `size_of`), laid out as
    /// rustfmt lays out a call-like macro: one line while its argument is
    /// within rustfmt's 60-column call width (and the line within 100),
    /// else the argument on its own line, and `offset_of!`'s own arguments
    /// one per line when they exceed 60 columns too.
    fn assert(&mut self, ty: &str, field: Option<&str>, value: u64) {
        let (cond, inner) = match field {
            Some(f) => (
                format!("offset_of!({ty}, {f}) == {value}"),
                Some(format!("{ty}, {f}")),
            ),
            None => (format!("size_of::<{ty}>() == {value}"), None),
        };
        let one = format!("assert!({cond});");
        if cond.len() <= CALL_WIDTH && self.width(&one) <= WIDTH {
            self.line(&one);
            return;
        }
        self.open_paren("assert!(");
        match (field, inner) {
            (Some(f), Some(inner)) if inner.len() > CALL_WIDTH || self.width(&cond) > WIDTH => {
                self.open_paren("offset_of!(");
                self.line(&format!("{ty},"));
                self.line(f);
                self.close_paren(&format!(") == {value}"));
            }
            _ => self.line(&cond),
        }
        self.close_paren(");");
    }

    /// `CALLEE(ARGS)TAIL` laid out as rustfmt lays out a function call: on
    /// one line while the arguments are within 60 columns and the line
    /// within 100, else one argument per line with a trailing comma.
    pub(crate) fn call(&mut self, callee: &str, args: &[String], tail: &str) {
        let joined = args.join(", ");
        let one = format!("{callee}({joined}){tail}");
        if joined.len() <= CALL_WIDTH && self.width(&one) <= WIDTH {
            self.line(&one);
            return;
        }
        self.open_paren(&format!("{callee}("));
        for a in args {
            self.line(&format!("{a},"));
        }
        self.close_paren(&format!("){tail}"));
    }

    /// `LEAD RECV.METHOD("NAME"REST)TAIL`, a method call whose first
    /// argument is a C name: on one line while the chain is within
    /// rustfmt's 60-column chain width, else with the name bound first
    /// (`let name = "NAME";`), which rustfmt has no reason to rewrap.
    pub(crate) fn named_call(&mut self, lead: &str, call: NamedCall<'_>, tail: &str) {
        let NamedCall {
            recv,
            method,
            name,
            rest,
        } = call;
        let q = tail.starts_with('?');
        let chain = format!(
            "{recv}.{method}({name:?}{rest}){}",
            if q { "?" } else { "" }
        );
        let one = format!("{lead}{recv}.{method}({name:?}{rest}){tail}");
        if chain.len() <= CHAIN_WIDTH && self.width(&one) <= WIDTH {
            self.line(&one);
        } else {
            self.assign("let name", &format!("{name:?}"));
            self.line(&format!("{lead}{recv}.{method}(name{rest}){tail}"));
        }
    }

    /// Opens `impl TRAIT for TY {` (`body` false: writes the empty impl
    /// `{}`), with `for TY` and the braces on lines of their own when the
    /// line would pass 100 columns, as rustfmt does.
    pub(crate) fn impl_for(&mut self, head: &str, ty: &str, body: bool) {
        let one = format!("{head} for {ty} {{{}", if body { "" } else { "}" });
        // rustfmt measures an impl header without its indentation.
        if format!("{head} for {ty} {{").len() <= WIDTH {
            if body {
                self.open(&format!("{head} for {ty}"));
            } else {
                self.line(&one);
            }
            return;
        }
        self.line(head);
        self.depth = self.depth.saturating_add(1);
        self.line(&format!("for {ty}"));
        self.depth = self.depth.saturating_sub(1);
        self.line("{");
        if body {
            self.depth = self.depth.saturating_add(1);
        } else {
            self.line("}");
        }
    }

    /// `LEFT = RIGHT;` (a `type` alias, a `const`), with `RIGHT;` on the
    /// next line when the line would pass 100 columns.
    pub(crate) fn assign(&mut self, left: &str, right: &str) {
        self.hang(&format!("{left} ="), &format!("{right};"));
    }

    /// A struct field `NAME: TY,`, with the type on the next line when the
    /// line would pass 100 columns.
    pub(crate) fn field(&mut self, name: &str, ty: &str) {
        self.hang(&format!("{name}:"), &format!("{ty},"));
    }

    /// `HEAD BODY` on one line, or `BODY` on the next line, one level
    /// deeper, when the line would pass 100 columns and that makes it fit
    /// (rustfmt leaves a line that breaking cannot fix as it is).
    fn hang(&mut self, head: &str, body: &str) {
        let one = format!("{head} {body}");
        let below = self.depth.saturating_add(1).saturating_mul(4) + body.len();
        if self.width(&one) <= WIDTH || below > WIDTH {
            self.line(&one);
        } else {
            self.line(head);
            self.depth = self.depth.saturating_add(1);
            self.line(body);
            self.depth = self.depth.saturating_sub(1);
        }
    }

    /// `LEFT: TY = VALUE;` (an associated constant): one line, or the
    /// value on the next line, or the type and the value each on a line of
    /// their own, whichever rustfmt would pick for the width.
    pub(crate) fn constant(&mut self, left: &str, ty: &str, value: &str) {
        let head = format!("{left}: {ty}");
        if self.width(&format!("{head} =")) <= WIDTH {
            self.assign(&head, value);
            return;
        }
        self.line(&format!("{left}:"));
        self.depth = self.depth.saturating_add(1);
        self.line(&format!("{ty} ="));
        self.line(&format!("{value};"));
        self.depth = self.depth.saturating_sub(1);
    }

    /// `MACRO!(ARGS)TAIL`: as [`Out::call`], without the trailing comma a
    /// macro's arguments do not get.
    pub(crate) fn macro_call(&mut self, callee: &str, args: &[String], tail: &str) {
        let joined = args.join(", ");
        let one = format!("{callee}({joined}){tail}");
        if joined.len() <= CALL_WIDTH && self.width(&one) <= WIDTH {
            self.line(&one);
            return;
        }
        self.open_paren(&format!("{callee}("));
        let n = args.len();
        for (i, a) in args.iter().enumerate() {
            let comma = if i.saturating_add(1) < n { "," } else { "" };
            self.line(&format!("{a}{comma}"));
        }
        self.close_paren(&format!("){tail}"));
    }

    /// Opens `HEAD(PARAMS)RET {`: one line within 100 columns, else one
    /// parameter per line with a trailing comma, as rustfmt does.
    pub(crate) fn sig(&mut self, head: &str, params: &[&str], ret: &str) {
        let one = format!("{head}({}){ret}", params.join(", "));
        if self.width(&format!("{one} {{")) <= WIDTH {
            self.open(&one);
            return;
        }
        self.open_paren(&format!("{head}("));
        for p in params {
            self.line(&format!("{p},"));
        }
        self.depth = self.depth.saturating_sub(1);
        let close = format!("){ret}");
        match ret
            .strip_prefix(" -> Result<")
            .and_then(|r| r.strip_suffix('>'))
        {
            // `) -> Result<LONG>` past 100 columns: the generic argument on
            // a line of its own.
            Some(inner) if self.width(&close) > WIDTH => {
                self.line(") -> Result<");
                self.depth = self.depth.saturating_add(1);
                self.line(&format!("{inner},"));
                self.depth = self.depth.saturating_sub(1);
                self.open(">");
            }
            // rustfmt puts the brace on a line of its own when the last
            // line and ` {` pass the width left after the indentation.
            _ if self.width(&close).saturating_add(2) > WIDTH.saturating_sub(self.depth * 4) => {
                self.line(&close);
                self.open("");
            }
            _ => self.open(&close),
        }
    }

    fn open_paren(&mut self, s: &str) {
        self.line(s);
        self.depth = self.depth.saturating_add(1);
    }

    fn close_paren(&mut self, s: &str) {
        self.depth = self.depth.saturating_sub(1);
        self.line(s);
    }
}

/// The Rust spelling of a type.
pub(crate) fn ty(m: &Model, t: &Ty) -> String {
    match t {
        Ty::Prim(p) => (*p).to_string(),
        Ty::Bytes(n) => format!("[u8; {n}]"),
        Ty::Named(id) => m.names.get(id).cloned().unwrap_or_else(|| "u8".into()),
        Ty::Array(e, n) => format!("[{}; {n}]", ty(m, e)),
        Ty::Arena(e) => match m.form {
            PtrForm::User => format!("ArenaPtr<{}>", ty(m, e)),
            PtrForm::Kernel => format!("KernelArenaPtr<{}>", ty(m, e)),
        },
        Ty::Raw(_) => "u64".into(),
    }
}

/// Whether `t` mentions an arena pointer.
fn has_arena(t: &Ty) -> bool {
    match t {
        Ty::Arena(_) => true,
        Ty::Array(e, _) => has_arena(e),
        _ => false,
    }
}

/// Whether any of the model's types or globals uses an arena pointer
/// (then the module imports the pointer type).
pub(crate) fn uses_arena(m: &Model) -> bool {
    m.globals.iter().any(|g| has_arena(&g.ty))
        || m.items.iter().any(|i| match &i.body {
            Body::Struct { fields, flex, .. } => {
                !flex.is_empty() || fields.iter().any(|f| has_arena(&f.ty))
            }
            Body::Union { members } => members.iter().any(|u| has_arena(&u.ty)),
            Body::Typedef { target } => has_arena(target),
            _ => false,
        })
}

/// Whether any struct or flexible array needs `ArenaPtr` itself (flexible
/// array accessors take and give user-form pointers in every form).
fn uses_user_ptr(m: &Model) -> bool {
    let flex = m.items.iter().any(|i| match &i.body {
        Body::Struct { flex, .. } => !flex.is_empty(),
        _ => false,
    });
    flex || (m.form == PtrForm::User && uses_arena(m))
}

/// `use PATH::NAME;`, or `use PATH::{A, B};` for several names.
pub(crate) fn use_line(path: &str, names: &[&str]) -> String {
    match names {
        [one] => format!("use {path}::{one};"),
        many => format!("use {path}::{{{}}};", many.join(", ")),
    }
}

/// Opens `impl Debug for NAME` and its `fmt`, whose body the caller
/// writes; [`Out::close`] twice ends them.
fn open_debug(o: &mut Out, name: &str) {
    o.impl_for("impl ::core::fmt::Debug", name, true);
    o.open("fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result");
}

/// The `types` module's contents at `depth`.
pub(crate) fn types(m: &Model, depth: usize) -> String {
    let mut o = Out::new(depth);
    let mut imports = Vec::new();
    if uses_user_ptr(m) {
        imports.push("ArenaPtr");
    }
    if m.form == PtrForm::Kernel && uses_arena(m) {
        imports.push("KernelArenaPtr");
    }
    if !imports.is_empty() {
        o.line(&use_line("::bpf_arena::arena", &imports));
    }
    let layouts = m
        .items
        .iter()
        .any(|i| !matches!(i.body, Body::Typedef { .. }));
    if layouts {
        let structs = m
            .items
            .iter()
            .any(|i| matches!(&i.body, Body::Struct { fields, .. } if !fields.is_empty()));
        o.line(if structs {
            "use ::core::mem::{offset_of, size_of};"
        } else {
            "use ::core::mem::size_of;"
        });
    }
    for item in &m.items {
        if !o.text.is_empty() {
            o.line("");
        }
        emit_item(&mut o, m, item);
    }
    o.text
}

fn emit_item(o: &mut Out, m: &Model, item: &Item) {
    let mut where_ = String::new();
    if item.in_arena {
        where_.push_str(", in arena memory");
    }
    if item.anon {
        where_.push_str("; anonymous in C, named by the generator");
    }
    match &item.body {
        Body::Struct {
            packed,
            fields,
            bits,
            flex,
        } => {
            let packed_note = if *packed { ", packed" } else { "" };
            o.doc(&format!(
                "`{}` ({} bytes{packed_note}{where_}).",
                item.c_name, item.size
            ));
            o.line(if *packed {
                "#[repr(C, packed)]"
            } else {
                "#[repr(C)]"
            });
            o.line("#[derive(Clone, Copy, Debug, PartialEq)]");
            if fields.is_empty() {
                o.line(&format!("pub struct {} {{}}", item.name));
            } else {
                o.open(&format!("pub struct {}", item.name));
                for f in fields {
                    emit_field(o, m, f);
                }
                o.close("");
            }
            o.line("");
            assertions(o, item, fields);
            plain_and_default(o, item);
            if !bits.is_empty() || !flex.is_empty() {
                o.line("");
                o.open(&format!("impl {}", item.name));
                let mut first = true;
                for b in bits {
                    bit_accessors(o, m, b, &mut first);
                }
                for f in flex {
                    flex_accessor(o, m, f, &mut first);
                }
                o.close("");
            }
        }
        Body::Union { members } => {
            o.doc(&format!(
                "`{}` ({} bytes{where_}): its members through the methods below.",
                item.c_name, item.size
            ));
            o.line("#[repr(C)]");
            o.line("#[derive(Clone, Copy, PartialEq)]");
            o.open(&format!("pub struct {}", item.name));
            o.line(&format!("bytes: [u8; {}],", item.size));
            o.close("");
            o.line("");
            assertions(o, item, &[]);
            plain_and_default(o, item);
            if !members.is_empty() {
                o.line("");
                o.open(&format!("impl {}", item.name));
                let mut first = true;
                for u in members {
                    union_accessors(o, m, item, u, &mut first);
                }
                o.close("");
            }
            o.line("");
            open_debug(o, &item.name);
            let call = NamedCall {
                recv: "f",
                method: "debug_struct",
                name: bare(&item.name),
                rest: "",
            };
            o.named_call("let mut d = ", call, ";");
            for u in members {
                let args = [
                    format!("{:?}", bare(&u.name)),
                    format!("&self.{}()", u.name),
                ];
                o.call("d.field", &args, ";");
            }
            o.line("d.finish()");
            o.close("");
            o.close("");
        }
        Body::Enum { repr, values } => {
            o.doc(&format!(
                "`{}` ({} bytes): a value BPF stores is kept whether or not it is named.",
                item.c_name, item.size
            ));
            o.line("#[repr(transparent)]");
            o.line("#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]");
            o.line(&format!("pub struct {}(pub {repr});", item.name));
            o.line("");
            if !values.is_empty() {
                o.open(&format!("impl {}", item.name));
                for (n, v, _) in values {
                    o.constant(
                        &format!("pub const {n}"),
                        &item.name,
                        &format!("{}({v})", item.name),
                    );
                }
                o.close("");
                o.line("");
            }
            open_debug(o, &item.name);
            let firsts: Vec<_> = values.iter().filter(|(_, _, first)| *first).collect();
            if firsts.is_empty() {
                let fmt = format!("{:?}", format!("{}({{}})", c_word(item)));
                o.macro_call("write!", &["f".into(), fmt, "self.0".into()], "");
            } else {
                o.open("match self.0");
                for (n, v, _) in firsts {
                    o.call(
                        &format!("{v} => f.write_str"),
                        &[format!("{:?}", bare(n))],
                        ",",
                    );
                }
                let fmt = format!("{:?}", format!("{}({{v}})", c_word(item)));
                o.macro_call("v => write!", &["f".into(), fmt], ",");
                o.close("");
            }
            o.close("");
            o.close("");
            o.line("");
            assertions(o, item, &[]);
            o.line(
                "// SAFETY: repr(transparent) over an integer: every bit pattern is a valid value.",
            );
            o.impl_for("unsafe impl ::bpf_arena::arena::Plain", &item.name, false);
        }
        Body::Typedef { target } => {
            o.doc(&format!("`{}`.", item.c_name));
            o.assign(&format!("pub type {}", item.name), &ty(m, target));
        }
        Body::Opaque => {
            o.doc(&format!(
                "`{}`: only declared in the object's BTF, so opaque: its size is unknown (not\n`Plain`, so never read; `ArenaPtr::add` on it steps 0 bytes: cast the pointer to a\ntype you know). clang describes a struct reached only through a pointer member\nthis way: a global (or a pointer-typed global) of the struct's own type makes it\ndescribe the struct in full.",
                item.c_name
            ));
            o.line("#[repr(C)]");
            o.line("#[derive(Clone, Copy, Debug, PartialEq)]");
            o.open(&format!("pub struct {}", item.name));
            o.line("_opaque: [u8; 0],");
            o.close("");
        }
    }
}

fn emit_field(o: &mut Out, m: &Model, f: &Field) {
    if let Some(d) = &f.doc {
        o.doc(d);
    }
    o.field(&format!("pub {}", f.name), &ty(m, &f.ty));
}

/// The compile-time checks of an item's size and field offsets, on a
/// short alias of the item's name (`T`, or `U` for a type named `T`).
fn assertions(o: &mut Out, item: &Item, fields: &[Field]) {
    let alias = if item.name == "T" { "U" } else { "T" };
    o.open("const _: () =");
    o.assign(&format!("type {alias}"), &item.name);
    o.assert(alias, None, item.size);
    for f in fields {
        o.assert(alias, Some(&f.name), f.offset);
    }
    o.close(";");
    o.line("");
}

fn plain_and_default(o: &mut Out, item: &Item) {
    o.line(
        "// SAFETY: every byte is in a field (offsets and size asserted above), every field Plain.",
    );
    o.impl_for("unsafe impl ::bpf_arena::arena::Plain", &item.name, false);
    o.line("");
    o.impl_for("impl Default", &item.name, true);
    o.open("fn default() -> Self");
    o.line("::bpf_arena::arena::zeroed()");
    o.close("");
    o.close("");
}

fn separate(o: &mut Out, first: &mut bool) {
    if !*first {
        o.line("");
    }
    *first = false;
}

/// The Rust type a bitfield accessor returns.
fn bit_ret_ty(m: &Model, r: &BitRet) -> String {
    match r {
        BitRet::Int { prim, .. } => (*prim).to_string(),
        BitRet::Bool => "bool".into(),
        BitRet::Enum { id, .. } => m.names.get(id).cloned().unwrap_or_else(|| "u32".into()),
    }
}

/// The getter's expression: the bits of the storage (an integer, shifted
/// and masked, or a byte array through `bits_get`), sign-extended for a
/// signed type, converted to what the getter returns.
fn bit_get_expr(m: &Model, b: &BitMember, storage: &str) -> String {
    let mask = format!("{:#x}", low_bits(b.bits));
    let signed = match &b.ret {
        BitRet::Int { signed, .. } => *signed,
        BitRet::Enum { signed, .. } => *signed,
        BitRet::Bool => false,
    };
    let raw = match b.storage_int {
        Some(_) if signed => format!(
            "((self.{storage} as u64) << {}) as i64 >> {}",
            64u32.saturating_sub(b.shift).saturating_sub(b.bits),
            64u32.saturating_sub(b.bits)
        ),
        Some(_) => format!("(self.{storage} >> {}) & {mask}", b.shift),
        None if signed => format!(
            "(::bpf_arena::codegen::bits_get(&self.{storage}, {}, {}) << {}) as i64 >> {}",
            b.shift,
            b.bits,
            64u32.saturating_sub(b.bits),
            64u32.saturating_sub(b.bits)
        ),
        None => format!(
            "::bpf_arena::codegen::bits_get(&self.{storage}, {}, {})",
            b.shift, b.bits
        ),
    };
    let call = b.storage_int.is_none() && !signed;
    match &b.ret {
        BitRet::Int { prim, .. } if call => format!("{raw} as {prim}"),
        BitRet::Int { prim, .. } => format!("({raw}) as {prim}"),
        BitRet::Bool => format!("({raw}) != 0"),
        BitRet::Enum { id, repr, .. } => format!(
            "{}(({raw}) as {repr})",
            m.names.get(id).map_or("u32", String::as_str)
        ),
    }
}

/// The low `bits` bits set (all 64 from 64 on).
fn low_bits(bits: u32) -> u64 {
    if bits >= 64 {
        u64::MAX
    } else {
        (1u64 << bits).saturating_sub(1)
    }
}

/// The name Debug prints for an item: its C name (the last word of `enum
/// foo`), the generated name for an anonymous one; braces doubled, since it
/// goes into a format string.
fn c_word(item: &Item) -> String {
    let word = if item.anon {
        bare(&item.name)
    } else {
        item.c_name.rsplit(' ').next().unwrap_or(&item.name)
    };
    word.replace('{', "{{").replace('}', "}}")
}

/// `N bits`, `1 bit`.
fn bits_word(n: u32) -> String {
    if n == 1 {
        "1 bit".into()
    } else {
        format!("{n} bits")
    }
}

fn bit_accessors(o: &mut Out, m: &Model, b: &BitMember, first: &mut bool) {
    if b.bits > 64 {
        // Wider than any accessor type (an __int128 bitfield): its bytes
        // are in the storage field, whose doc says so.
        return;
    }
    let rt = bit_ret_ty(m, &b.ret);
    let storage = &b.storage;
    separate(o, first);
    o.doc(&format!(
        "Bitfield `{}`: {} at bit {} of the struct (bit {} of `{storage}`).",
        bare(&b.name),
        bits_word(b.bits),
        b.bit_offset,
        b.shift
    ));
    o.sig(
        &format!("pub fn {}", b.name),
        &["&self"],
        &format!(" -> {rt}"),
    );
    o.line(&bit_get_expr(m, b, storage));
    o.close("");
    o.line("");
    o.doc(&format!(
        "Sets bitfield `{}` to the low {} of `value`.",
        bare(&b.name),
        bits_word(b.bits)
    ));
    let value_param = format!("value: {rt}");
    o.sig(
        &format!("pub fn set_{}", bare(&b.name)),
        &["&mut self", &value_param],
        "",
    );
    let value = match &b.ret {
        BitRet::Enum { .. } => "value.0",
        _ => "value",
    };
    match b.storage_int {
        Some(int) => {
            let mask = if b.bits >= 64 {
                u64::MAX
            } else {
                low_bits(b.bits) << b.shift
            };
            o.line(&format!("let mask: {int} = {mask:#x};"));
            o.line(&format!("let bits = ({value} as {int}) << {};", b.shift));
            o.line(&format!(
                "self.{storage} = (self.{storage} & !mask) | (bits & mask);"
            ));
        }
        None => {
            o.line(&format!(
                "::bpf_arena::codegen::bits_set(&mut self.{storage}, {}, {}, {value} as u64);",
                b.shift, b.bits
            ));
        }
    }
    o.close("");
}

fn flex_accessor(o: &mut Out, m: &Model, f: &Flex, first: &mut bool) {
    separate(o, first);
    let elem = ty(m, &f.elem);
    o.doc(&format!(
        "A pointer to element `i` of the flexible array `{}` of the struct at\n`this` (a user-form pointer: read it with `Arena::read`).",
        bare(&f.field)
    ));
    o.sig(
        &format!("pub fn {}", f.method),
        &["this: ArenaPtr<Self>", "i: u64"],
        &format!(" -> ArenaPtr<{elem}>"),
    );
    o.line(&format!("this.byte_add({}).cast().add(i)", f.offset));
    o.close("");
}

fn union_accessors(o: &mut Out, m: &Model, item: &Item, u: &UnionMember, first: &mut bool) {
    if let Some(b) = &u.bits {
        bit_accessors(o, m, b, first);
        return;
    }
    separate(o, first);
    let n = item.size;
    let t = ty(m, &u.ty);
    o.doc(&format!(
        "Member `{}` (`{t}` at byte {}).",
        bare(&u.name),
        u.offset
    ));
    o.sig(
        &format!("pub fn {}", u.name),
        &["&self"],
        &format!(" -> {t}"),
    );
    o.line(&format!(
        "::bpf_arena::arena::read_at::<_, {n}, {}>(&self.bytes)",
        u.offset
    ));
    o.close("");
    o.line("");
    o.doc(&format!(
        "Sets member `{}`; the bytes it does not cover keep their value.",
        bare(&u.name)
    ));
    let value_param = format!("value: {t}");
    o.sig(
        &format!("pub fn set_{}", bare(&u.name)),
        &["&mut self", &value_param],
        "",
    );
    o.line(&format!(
        "::bpf_arena::arena::write_at::<_, {n}, {}>(&mut self.bytes, value);",
        u.offset
    ));
    o.close("");
}

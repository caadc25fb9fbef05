//! The text of the generated types: one item per struct, union, enum,
//! typedef and opaque declaration, laid out as `rustfmt` leaves it.

use super::layout::{BitMember, BitRet, Body, Field, Flex, Item, Model, PtrForm, Ty, UnionMember};
use super::names::bare;

/// `rustfmt`'s default line width.
const WIDTH: usize = 100;

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

    /// `s {`, then one level deeper.
    pub(crate) fn open(&mut self, s: &str) {
        self.line(&format!("{s} {{"));
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

    /// `assert!(COND);`, broken the way rustfmt breaks a call that does
    /// not fit on one line.
    fn assert(&mut self, cond: &str) {
        let one = format!("assert!({cond});");
        if self.width(&one) <= WIDTH {
            self.line(&one);
        } else {
            self.open_paren("assert!(");
            self.line(cond);
            self.close_paren(");");
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
    match imports.as_slice() {
        [] => {}
        [one] => o.line(&format!("use ::bpf_arena::arena::{one};")),
        many => o.line(&format!("use ::bpf_arena::arena::{{{}}};", many.join(", "))),
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
            o.open(&format!("impl ::core::fmt::Debug for {}", item.name));
            o.open("fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result");
            o.line(&format!(
                "let mut d = f.debug_struct({:?});",
                bare(&item.name)
            ));
            for u in members {
                o.line(&format!(
                    "d.field({:?}, &self.{}());",
                    bare(&u.name),
                    u.name
                ));
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
                    o.line(&format!(
                        "pub const {n}: {} = {}({v});",
                        item.name, item.name
                    ));
                }
                o.close("");
                o.line("");
            }
            o.open(&format!("impl ::core::fmt::Debug for {}", item.name));
            o.open("fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result");
            let firsts: Vec<_> = values.iter().filter(|(_, _, first)| *first).collect();
            if firsts.is_empty() {
                o.line(&format!(
                    "write!(f, \"{}({{}})\", self.0)",
                    bare(&item.name)
                ));
            } else {
                o.open("match self.0");
                for (n, v, _) in firsts {
                    o.line(&format!("{v} => f.write_str({:?}),", bare(n)));
                }
                o.line(&format!("v => write!(f, \"{}({{v}})\"),", bare(&item.name)));
                o.close("");
            }
            o.close("");
            o.close("");
            o.line("");
            assertions(o, item, &[]);
            o.line(
                "// SAFETY: repr(transparent) over an integer: every bit pattern is a valid value.",
            );
            o.line(&format!(
                "unsafe impl ::bpf_arena::arena::Plain for {} {{}}",
                item.name
            ));
        }
        Body::Typedef { target } => {
            o.doc(&format!("`{}`.", item.c_name));
            o.line(&format!("pub type {} = {};", item.name, ty(m, target)));
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
    o.line(&format!("pub {}: {},", f.name, ty(m, &f.ty)));
}

/// The compile-time checks of an item's size and field offsets.
fn assertions(o: &mut Out, item: &Item, fields: &[Field]) {
    o.open("const _: () =");
    o.assert(&format!("size_of::<{}>() == {}", item.name, item.size));
    for f in fields {
        o.assert(&format!(
            "offset_of!({}, {}) == {}",
            item.name, f.name, f.offset
        ));
    }
    o.close(";");
    o.line("");
}

fn plain_and_default(o: &mut Out, item: &Item) {
    o.line(
        "// SAFETY: every byte is in a field (offsets and size asserted above), every field Plain.",
    );
    o.line(&format!(
        "unsafe impl ::bpf_arena::arena::Plain for {} {{}}",
        item.name
    ));
    o.line("");
    o.open(&format!("impl Default for {}", item.name));
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

/// Getter and setter expressions of a `bits`-wide field at `shift` of a
/// storage read as `raw` (a `u64` expression when `wide`, else the
/// storage integer itself).
fn bit_get_expr(m: &Model, b: &BitMember, storage: &str) -> String {
    let mask = low_mask(b.bits);
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

fn low_mask(bits: u32) -> String {
    let v = if bits >= 64 {
        u64::MAX
    } else {
        (1u64 << bits).saturating_sub(1)
    };
    format!("{v:#x}")
}

fn bit_accessors(o: &mut Out, m: &Model, b: &BitMember, first: &mut bool) {
    let rt = bit_ret_ty(m, &b.ret);
    let storage = &b.storage;
    separate(o, first);
    o.doc(&format!(
        "Bitfield `{}`: {} bits at bit {} of the struct (bit {} of `{storage}`).",
        bare(&b.name),
        b.bits,
        b.bit_offset,
        b.shift
    ));
    o.open(&format!("pub fn {}(&self) -> {rt}", b.name));
    o.line(&bit_get_expr(m, b, storage));
    o.close("");
    o.line("");
    o.doc(&format!(
        "Sets bitfield `{}` to the low {} bits of `value`.",
        bare(&b.name),
        b.bits
    ));
    o.open(&format!(
        "pub fn set_{}(&mut self, value: {rt})",
        bare(&b.name)
    ));
    let value = match &b.ret {
        BitRet::Enum { .. } => "value.0",
        _ => "value",
    };
    match b.storage_int {
        Some(int) => {
            let mask = if b.bits >= 64 {
                u64::MAX
            } else {
                ((1u64 << b.bits).saturating_sub(1)) << b.shift
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
    o.open(&format!(
        "pub fn {}(this: ArenaPtr<Self>, i: u64) -> ArenaPtr<{elem}>",
        f.method
    ));
    o.line(&format!(
        "this.byte_add({}).cast::<{elem}>().add(i)",
        f.offset
    ));
    o.close("");
}

fn union_accessors(o: &mut Out, m: &Model, item: &Item, u: &UnionMember, first: &mut bool) {
    separate(o, first);
    let n = item.size;
    if let Some((shift, bits, ret)) = &u.bits {
        let b = BitMember {
            name: u.name.clone(),
            storage: "bytes".into(),
            storage_int: None,
            shift: *shift,
            bits: *bits,
            ret: ret.clone(),
            bit_offset: u64::from(*shift),
        };
        bit_accessors(o, m, &b, &mut true);
        return;
    }
    let t = ty(m, &u.ty);
    o.doc(&format!(
        "Member `{}` (`{t}` at byte {}).",
        bare(&u.name),
        u.offset
    ));
    o.open(&format!("pub fn {}(&self) -> {t}", u.name));
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
    o.open(&format!(
        "pub fn set_{}(&mut self, value: {t})",
        bare(&u.name)
    ));
    o.line(&format!(
        "::bpf_arena::arena::write_at::<_, {n}, {}>(&mut self.bytes, value);",
        u.offset
    ));
    o.close("");
}

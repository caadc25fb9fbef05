//! From an object's BTF to the layout of the Rust types generated for it:
//! which types are reached, which of them live in the arena, what each
//! field, padding run, bitfield and union member becomes.

use std::collections::{BTreeMap, BTreeSet};

use super::GenError;
use super::names::{Scope, bare, ident, type_ident};
use crate::btf::{Btf, kind};
use crate::obj::{DataKind, MapOrigin, ObjectSpec};

/// How pointers into the arena are stored in arena memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PtrForm {
    /// User form, 64-bit user addresses: [`ArenaPtr`](crate::arena::ArenaPtr).
    User,
    /// An arena with `BPF_F_NO_USER_CONV`: the kernel form,
    /// [`KernelArenaPtr`](crate::arena::KernelArenaPtr).
    Kernel,
}

/// The Rust type of a field, global or element.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Ty {
    /// A primitive (`u32`, `i8`, `f64`, …).
    Prim(&'static str),
    /// `[u8; n]`: an integer or float of a size Rust has no type for.
    Bytes(u64),
    /// A generated item, by BTF id.
    Named(u32),
    /// `[T; n]`.
    Array(Box<Ty>, u32),
    /// A pointer into the arena, to the given type.
    Arena(Box<Ty>),
    /// A pointer elsewhere: `u64`; the string describes the pointee.
    Raw(String),
}

/// One field of a generated struct.
#[derive(Clone, Debug)]
pub(crate) struct Field {
    /// Rust name.
    pub name: String,
    pub ty: Ty,
    pub offset: u64,
    /// A doc line, if the field needs one (padding, bitfields, pointers).
    pub doc: Option<String>,
}

/// What a bitfield accessor returns.
#[derive(Clone, Debug)]
pub(crate) enum BitRet {
    /// An unsigned or signed primitive.
    Int { prim: &'static str, signed: bool },
    /// `bool` (a `_Bool` bitfield).
    Bool,
    /// A generated enum (by BTF id), stored as `repr`.
    Enum {
        id: u32,
        repr: &'static str,
        signed: bool,
    },
}

/// A bitfield member: accessors over its storage field.
#[derive(Clone, Debug)]
pub(crate) struct BitMember {
    /// Rust name of the getter (the setter is `set_` + the bare name).
    pub name: String,
    /// The storage field.
    pub storage: String,
    /// `Some(uN)` for integer storage, `None` for a byte array.
    pub storage_int: Option<&'static str>,
    /// Bit position inside the storage (from its least significant bit).
    pub shift: u32,
    pub bits: u32,
    pub ret: BitRet,
    /// The member's bit offset in its struct, for the doc line.
    pub bit_offset: u64,
}

/// A flexible array member (`T items[]` at the end).
#[derive(Clone, Debug)]
pub(crate) struct Flex {
    /// The field's Rust name.
    pub field: String,
    /// The accessor's name (`FIELD_at`, unless a bitfield took it).
    pub method: String,
    /// The element type.
    pub elem: Ty,
    pub offset: u64,
}

/// One member of a union: an accessor pair over the union's bytes.
#[derive(Clone, Debug)]
pub(crate) struct UnionMember {
    /// Getter name.
    pub name: String,
    pub ty: Ty,
    pub offset: u64,
    /// For a bitfield member: its accessors, over the union's bytes.
    pub bits: Option<BitMember>,
}

/// The body of a generated item.
#[derive(Clone, Debug)]
pub(crate) enum Body {
    Struct {
        packed: bool,
        fields: Vec<Field>,
        bits: Vec<BitMember>,
        flex: Vec<Flex>,
    },
    Union {
        members: Vec<UnionMember>,
    },
    Enum {
        repr: &'static str,
        /// `(constant name, value, first of its value)`.
        values: Vec<(String, i128, bool)>,
    },
    Typedef {
        target: Ty,
    },
    Opaque,
}

/// A generated item.
#[derive(Clone, Debug)]
pub(crate) struct Item {
    /// Rust name.
    pub name: String,
    /// The C spelling (`struct node`, `typedef __u64`), for the doc line.
    pub c_name: String,
    /// Anonymous in C: the name is the generator's.
    pub anon: bool,
    pub size: u64,
    /// Whether it lives in arena memory (its pointers are arena pointers).
    pub in_arena: bool,
    pub body: Body,
}

/// Where a global lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Home {
    Data(DataKind),
    Arena,
}

/// A global variable and its Rust type.
#[derive(Clone, Debug)]
pub(crate) struct Global {
    /// C name.
    pub name: String,
    pub section: String,
    pub home: Home,
    pub ty: Ty,
    pub size: u64,
}

/// Everything the emitters need.
pub(crate) struct Model {
    pub items: Vec<Item>,
    pub form: PtrForm,
    pub globals: Vec<Global>,
    /// Rust names of the items, by BTF id.
    pub names: BTreeMap<u32, String>,
}

/// How deep type chains may nest before the BTF is called malformed
/// (modifiers, arrays, pointers to pointers).
const MAX_DEPTH: u32 = 256;

/// The most reachable types one object may bring (vmlinux has about
/// 150,000 types; an object's BTF is far smaller).
const MAX_ITEMS: usize = 100_000;

/// `BPF_F_NO_USER_CONV`.
const NO_USER_CONV: u32 = 1 << 18;

/// The pointee name of a type tag that marks an arena pointer.
fn is_arena_tag(name: &str) -> bool {
    matches!(name, "arena" | "address_space(1)")
}

fn add(a: u64, b: u64) -> u64 {
    a.saturating_add(b)
}

fn sub(a: u64, b: u64) -> u64 {
    a.saturating_sub(b)
}

pub(crate) fn build(spec: &ObjectSpec, arena_types: &[String]) -> Result<Model, GenError> {
    let form = match spec.arena_map().and_then(|i| spec.maps.get(i)) {
        Some(m) if m.map_flags & NO_USER_CONV != 0 => PtrForm::Kernel,
        _ => PtrForm::User,
    };
    let Some(raw) = spec.btf.as_deref() else {
        // Without BTF every global is its bytes.
        let globals = root_vars(spec)
            .into_iter()
            .map(|v| {
                let ty = Ty::Bytes(v.size);
                v.into_global(ty)
            })
            .collect();
        return Ok(Model {
            items: Vec::new(),
            form,
            globals,
            names: BTreeMap::new(),
        });
    };
    let btf = Btf::parse(raw)?;
    // Structs and unions by name, the first of each: forward declarations
    // resolve through it (a scan of the BTF per pointer was quadratic).
    let mut composites = BTreeMap::new();
    for id in 1..=btf.type_count() {
        let Some(h) = btf.header(id) else { continue };
        let union = match h.kind() {
            kind::STRUCT => false,
            kind::UNION => true,
            _ => continue,
        };
        if let Ok(name) = btf.name(id) {
            if !name.is_empty() {
                composites.entry((union, name)).or_insert(id);
            }
        }
    }
    let mut b = Builder {
        btf,
        composites,
        emit: BTreeSet::new(),
        arena: BTreeSet::new(),
        visited: BTreeSet::new(),
        c_names: BTreeMap::new(),
        naming_typedefs: BTreeSet::new(),
        align: BTreeMap::new(),
    };
    // Roots: global variables (arena ones first so anonymous types found
    // there are named after them), then map keys and values, then the
    // types the caller says live in the arena.
    let vars = b.var_types(spec)?;
    for (v, ty) in &vars {
        if let Some(ty) = ty {
            b.name_anon(*ty, &format!("{}_t", v.name))?;
            b.reach(*ty, v.home == Home::Arena)?;
        }
    }
    for m in &spec.maps {
        if m.origin != MapOrigin::Declared {
            continue;
        }
        for (id, what) in [(m.key_type_id, "key"), (m.value_type_id, "value")] {
            if id != 0 {
                b.name_anon(id, &format!("{}_{what}", m.name))?;
                b.reach(id, false)?;
            }
        }
    }
    for name in arena_types {
        let found = [kind::STRUCT, kind::UNION, kind::TYPEDEF]
            .into_iter()
            .find_map(|k| b.btf.find_by_name(k, name));
        let Some(id) = found else {
            if b.btf.find_by_name(kind::FWD, name).is_some() {
                return Err(GenError::OnlyDeclared(name.clone()));
            }
            return Err(GenError::NoSuchType(name.clone()));
        };
        b.reach(id, true)?;
    }
    b.finish(form, vars)
}

/// Every global variable, with its section and home, section by section
/// (the data sections, then `.addr_space.1`).
fn root_vars(spec: &ObjectSpec) -> Vec<RootVar> {
    let data = spec
        .data
        .iter()
        .flat_map(|d| d.variables.iter().map(move |v| (v, Home::Data(d.kind))));
    let arena = spec
        .arena_data
        .iter()
        .flat_map(|a| a.variables.iter().map(|v| (v, Home::Arena)));
    data.chain(arena)
        .map(|(v, home)| RootVar {
            name: v.name.clone(),
            section: v.section.clone(),
            home,
            size: v.size,
        })
        .collect()
}

/// A variable with its home, for the roots.
struct RootVar {
    name: String,
    section: String,
    home: Home,
    size: u64,
}

impl RootVar {
    fn into_global(self, ty: Ty) -> Global {
        Global {
            name: self.name,
            section: self.section,
            home: self.home,
            ty,
            size: self.size,
        }
    }
}

struct Builder<'a> {
    btf: Btf<'a>,
    /// The first struct (`false`) or union (`true`) of each name.
    composites: BTreeMap<(bool, &'a str), u32>,
    /// Ids of the items to generate (structs, unions, enums, typedefs,
    /// forward declarations).
    emit: BTreeSet<u32>,
    /// Struct and union ids that live in arena memory.
    arena: BTreeSet<u32>,
    /// `(id, in arena)` pairs already walked.
    visited: BTreeSet<(u32, bool)>,
    /// C names given to anonymous types (and the names of named ones).
    c_names: BTreeMap<u32, String>,
    /// Typedefs that name an anonymous struct, union or enum: that type
    /// takes the typedef's name and the typedef is not generated.
    naming_typedefs: BTreeSet<u32>,
    /// Natural alignment of composite types, once computed.
    align: BTreeMap<u32, u64>,
}

impl<'a> Builder<'a> {
    fn err(&self, id: u32, reason: impl Into<String>) -> GenError {
        GenError::Type {
            id,
            name: self.describe(id),
            reason: reason.into(),
        }
    }

    fn kind_of(&self, id: u32) -> Result<(u32, crate::btf::TypeHeader), GenError> {
        let h = self
            .btf
            .header(id)
            .ok_or_else(|| self.err(id, "no such type"))?;
        Ok((h.kind(), h))
    }

    /// The kind of `id`, 0 for `void`.
    fn kind_or_void(&self, id: u32) -> Result<u32, GenError> {
        if id == 0 {
            Ok(0)
        } else {
            Ok(self.kind_of(id)?.0)
        }
    }

    /// `struct node`, `union u`, `enum e`, `typedef t`, `int`; anonymous
    /// ones as `(anonymous, type [ID])`.
    fn describe(&self, id: u32) -> String {
        self.describe_as(id, &format!("(anonymous, type [{id}])"))
    }

    /// [`Builder::describe`], an anonymous type's name being `anon`.
    fn describe_as(&self, id: u32, anon: &str) -> String {
        let Some(h) = self.btf.header(id) else {
            return if id == 0 {
                "void".into()
            } else {
                format!("type [{id}]")
            };
        };
        let name = self.btf.name(id).unwrap_or("");
        let prefix = match h.kind() {
            kind::STRUCT => "struct ",
            kind::UNION => "union ",
            kind::ENUM | kind::ENUM64 => "enum ",
            kind::TYPEDEF => "typedef ",
            kind::FWD if h.kind_flag() => "union ",
            kind::FWD => "struct ",
            kind::PTR => return "a pointer".into(),
            kind::ARRAY => return "an array".into(),
            kind::FUNC_PROTO => return "a function".into(),
            _ => "",
        };
        if name.is_empty() {
            format!("{prefix}{anon}")
        } else {
            format!("{prefix}{name}")
        }
    }

    /// Every global variable ([`root_vars`]) with its BTF type, when the
    /// DATASEC of its section names it.
    fn var_types(&self, spec: &ObjectSpec) -> Result<Vec<(RootVar, Option<u32>)>, GenError> {
        // VAR types by name, per section.
        let mut sections: BTreeMap<String, BTreeMap<&str, u32>> = BTreeMap::new();
        let mut out = Vec::new();
        for v in root_vars(spec) {
            if !sections.contains_key(&v.section) {
                let mut by_name = BTreeMap::new();
                if let Some(ds) = self.btf.find_datasec(&v.section) {
                    for si in self.btf.datasec(ds)? {
                        let (k, h) = self.kind_of(si.type_id)?;
                        if k == kind::VAR {
                            by_name
                                .entry(self.btf.name(si.type_id)?)
                                .or_insert(h.size_or_type);
                        }
                    }
                }
                sections.insert(v.section.clone(), by_name);
            }
            let ty = sections
                .get(&v.section)
                .and_then(|m| m.get(v.name.as_str()))
                .copied();
            out.push((v, ty));
        }
        Ok(out)
    }

    /// Follows modifiers (and typedefs when `typedefs`), up to
    /// [`MAX_DEPTH`] links.
    fn strip(&self, mut id: u32, typedefs: bool) -> Result<u32, GenError> {
        for _ in 0..MAX_DEPTH {
            if id == 0 {
                return Ok(0);
            }
            let (k, h) = self.kind_of(id)?;
            match k {
                kind::CONST | kind::VOLATILE | kind::RESTRICT | kind::TYPE_TAG => {
                    id = h.size_or_type
                }
                kind::TYPEDEF if typedefs => id = h.size_or_type,
                _ => return Ok(id),
            }
        }
        Err(self.err(id, "modifier chain too long"))
    }

    /// A forward declaration resolved to the struct or union of that name
    /// the object defines, if any.
    fn resolve_fwd(&self, id: u32) -> Result<u32, GenError> {
        if id == 0 {
            return Ok(0);
        }
        let (k, h) = self.kind_of(id)?;
        if k != kind::FWD {
            return Ok(id);
        }
        let name = self.btf.name(id)?;
        Ok(self
            .composites
            .get(&(h.kind_flag(), name))
            .copied()
            .unwrap_or(id))
    }

    /// Names `id` (through modifiers) `name` if it is an anonymous struct,
    /// union or enum not named yet; a typedef naming one gives it its own
    /// name instead.
    fn name_anon(&mut self, id: u32, name: &str) -> Result<(), GenError> {
        let mut cur = id;
        for _ in 0..MAX_DEPTH {
            if cur == 0 {
                return Ok(());
            }
            let (k, h) = self.kind_of(cur)?;
            match k {
                kind::CONST | kind::VOLATILE | kind::RESTRICT | kind::TYPE_TAG => {
                    cur = h.size_or_type
                }
                kind::ARRAY => cur = self.btf.array(cur)?.0,
                kind::TYPEDEF => {
                    let target = self.strip(h.size_or_type, false)?;
                    if self.is_anon_composite(target)? && !self.c_names.contains_key(&target) {
                        let own = self.btf.name(cur)?.to_string();
                        self.c_names.insert(target, own);
                        self.naming_typedefs.insert(cur);
                    }
                    return Ok(());
                }
                kind::STRUCT | kind::UNION | kind::ENUM | kind::ENUM64 => {
                    if self.btf.name(cur)?.is_empty() && !self.c_names.contains_key(&cur) {
                        self.c_names.insert(cur, name.to_string());
                    }
                    return Ok(());
                }
                _ => return Ok(()),
            }
        }
        Err(self.err(id, "type chain too long"))
    }

    fn is_anon_composite(&self, id: u32) -> Result<bool, GenError> {
        if id == 0 {
            return Ok(false);
        }
        let (k, _) = self.kind_of(id)?;
        Ok(
            matches!(k, kind::STRUCT | kind::UNION | kind::ENUM | kind::ENUM64)
                && self.btf.name(id)?.is_empty(),
        )
    }

    /// Marks what `root` reaches for generation; `in_arena` when it lies
    /// in arena memory (then so does every struct it contains or points
    /// to).
    fn reach(&mut self, root: u32, in_arena: bool) -> Result<(), GenError> {
        let mut stack = vec![(root, in_arena)];
        while let Some((id, arena)) = stack.pop() {
            if id == 0 || !self.visited.insert((id, arena)) {
                continue;
            }
            if self.emit.len() > MAX_ITEMS {
                return Err(self.err(root, "reaches too many types"));
            }
            let (k, h) = self.kind_of(id)?;
            match k {
                kind::CONST | kind::VOLATILE | kind::RESTRICT | kind::TYPE_TAG => {
                    stack.push((h.size_or_type, arena))
                }
                kind::TYPEDEF => {
                    let target = self.strip(h.size_or_type, true)?;
                    let tk = self.kind_or_void(target)?;
                    if matches!(
                        tk,
                        kind::STRUCT
                            | kind::UNION
                            | kind::ENUM
                            | kind::ENUM64
                            | kind::FWD
                            | kind::INT
                            | kind::FLOAT
                    ) {
                        self.name_anon(id, "")?;
                        // `typedef struct foo foo;` says nothing new: the
                        // struct's own name stands for both.
                        let same = matches!(
                            tk,
                            kind::STRUCT | kind::UNION | kind::ENUM | kind::ENUM64 | kind::FWD
                        ) && self.btf.name(target)? == self.btf.name(id)?;
                        if same {
                            self.naming_typedefs.insert(id);
                        }
                        if !self.naming_typedefs.contains(&id) {
                            self.emit.insert(id);
                        }
                    }
                    stack.push((h.size_or_type, arena));
                }
                kind::STRUCT | kind::UNION => {
                    self.emit.insert(id);
                    if arena {
                        self.arena.insert(id);
                    }
                    let parent = self.c_name(id);
                    let mut anon = 0u32;
                    let members = self.btf.members(id)?;
                    // Pushed in reverse so that members are walked (and
                    // anonymous types named) in declaration order.
                    for (name, ty, _) in members.iter() {
                        let given = if name.is_empty() {
                            anon = anon.saturating_add(1);
                            format!("{parent}__anon_{anon}")
                        } else {
                            format!("{parent}__{name}")
                        };
                        self.name_anon(*ty, &given)?;
                    }
                    for (_, ty, _) in members.iter().rev() {
                        stack.push((*ty, arena));
                    }
                }
                kind::ENUM | kind::ENUM64 => {
                    self.emit.insert(id);
                }
                kind::FWD => {
                    let r = self.resolve_fwd(id)?;
                    if r == id {
                        self.emit.insert(id);
                    } else {
                        stack.push((r, arena));
                    }
                }
                kind::ARRAY => stack.push((self.btf.array(id)?.0, arena)),
                kind::PTR => {
                    let pointee = h.size_or_type;
                    if arena || self.tagged(pointee)? {
                        let target = self.strip(pointee, false)?;
                        if target != 0 && self.kind_of(target)?.0 != kind::FUNC_PROTO {
                            stack.push((pointee, true));
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Whether a pointee's modifier chain carries an arena type tag.
    fn tagged(&self, mut id: u32) -> Result<bool, GenError> {
        for _ in 0..MAX_DEPTH {
            if id == 0 {
                return Ok(false);
            }
            let (k, h) = self.kind_of(id)?;
            match k {
                kind::TYPE_TAG if is_arena_tag(self.btf.name(id)?) => return Ok(true),
                kind::CONST | kind::VOLATILE | kind::RESTRICT | kind::TYPE_TAG => {
                    id = h.size_or_type
                }
                _ => return Ok(false),
            }
        }
        Err(self.err(id, "modifier chain too long"))
    }

    /// The C name of `id`: its own, or the one given to an anonymous type.
    fn c_name(&self, id: u32) -> String {
        match self.c_names.get(&id) {
            Some(n) => n.clone(),
            None => match self.btf.name(id) {
                Ok(n) if !n.is_empty() => n.to_string(),
                _ => format!("anon_{id}"),
            },
        }
    }

    /// The natural alignment of a type (as a C compiler for BPF lays it
    /// out), 1 for a packed struct.
    fn natural_align(&mut self, id: u32, depth: u32) -> Result<u64, GenError> {
        if depth > MAX_DEPTH {
            return Err(self.err(
                id,
                format!(
                    "types nest more than {MAX_DEPTH} levels deep (or a struct contains itself)"
                ),
            ));
        }
        let id = self.resolve_fwd(self.strip(id, true)?)?;
        if id == 0 {
            return Ok(1);
        }
        let (k, h) = self.kind_of(id)?;
        Ok(match k {
            kind::INT | kind::ENUM | kind::ENUM64 | kind::FLOAT => {
                let s = u64::from(h.size_or_type);
                if s.is_power_of_two() && s <= 16 { s } else { 1 }
            }
            kind::PTR => 8,
            kind::ARRAY => {
                let elem = self.btf.array(id)?.0;
                self.natural_align(elem, depth.saturating_add(1))?
            }
            kind::STRUCT | kind::UNION => {
                if let Some(a) = self.align.get(&id) {
                    return Ok(*a);
                }
                let (packed, a) = self.packing(id, depth)?;
                let a = if packed { 1 } else { a };
                self.align.insert(id, a);
                a
            }
            _ => 1,
        })
    }

    /// `(packed, largest member alignment)` of a struct or union: packed
    /// when a member sits off its alignment or the size is not a multiple
    /// of the largest one.
    fn packing(&mut self, id: u32, depth: u32) -> Result<(bool, u64), GenError> {
        let (_, h) = self.kind_of(id)?;
        let size = u64::from(h.size_or_type);
        let members = self.btf.members(id)?;
        let bits = self.btf.member_bitfield_sizes(id)?;
        let mut max = 1u64;
        let mut packed = false;
        for (i, (_, ty, off)) in members.iter().enumerate() {
            let a = self.natural_align(*ty, depth.saturating_add(1))?;
            max = max.max(a);
            let is_bits = bits.get(i).copied().unwrap_or(0) != 0;
            if !is_bits && (u64::from(*off) / 8) % a != 0 {
                packed = true;
            }
        }
        if size % max != 0 {
            packed = true;
        }
        Ok((packed, max))
    }

    /// The Rust type of a value of BTF type `id`; `arena` when the value
    /// lies in arena memory.
    fn ty_of(&self, id: u32, arena: bool) -> Result<Ty, GenError> {
        self.ty_at(id, arena, 0)
    }

    fn ty_at(&self, id: u32, arena: bool, depth: u32) -> Result<Ty, GenError> {
        if depth > MAX_DEPTH {
            return Err(self.err(id, "type chain too long"));
        }
        let next = depth.saturating_add(1);
        if id == 0 {
            return Err(self.err(id, "a value of type void"));
        }
        let (k, h) = self.kind_of(id)?;
        match k {
            kind::CONST | kind::VOLATILE | kind::RESTRICT | kind::TYPE_TAG => {
                self.ty_at(h.size_or_type, arena, next)
            }
            kind::TYPEDEF => {
                if self.emit.contains(&id) {
                    let target = self.strip(id, true)?;
                    let tk = self.kind_or_void(target)?;
                    if !matches!(tk, kind::INT | kind::FLOAT) {
                        return Ok(Ty::Named(id));
                    }
                }
                self.ty_at(h.size_or_type, arena, next)
            }
            kind::INT => self.int_ty(id, h.size_or_type),
            kind::FLOAT => Ok(match h.size_or_type {
                4 => Ty::Prim("f32"),
                8 => Ty::Prim("f64"),
                n => Ty::Bytes(u64::from(n)),
            }),
            kind::STRUCT | kind::UNION | kind::ENUM | kind::ENUM64 => Ok(Ty::Named(id)),
            kind::FWD => Ok(Ty::Named(self.resolve_fwd(id)?)),
            kind::ARRAY => {
                let (elem, _, n) = self.btf.array(id)?;
                Ok(Ty::Array(Box::new(self.ty_at(elem, arena, next)?), n))
            }
            kind::PTR => {
                let pointee = h.size_or_type;
                let target = self.resolve_fwd(self.strip(pointee, true)?)?;
                let tk = self.kind_or_void(target)?;
                if tk == kind::FUNC_PROTO {
                    return Ok(Ty::Raw("a function".into()));
                }
                let to_arena = arena || self.tagged(pointee)? || self.arena.contains(&target);
                if !to_arena {
                    return Ok(Ty::Raw(self.describe_pointee(pointee)?));
                }
                let inner = if target == 0 {
                    Ty::Prim("u8")
                } else {
                    match self.ty_at(pointee, true, next)? {
                        Ty::Named(n) if !self.emit.contains(&n) => Ty::Prim("u8"),
                        t => t,
                    }
                };
                Ok(Ty::Arena(Box::new(inner)))
            }
            _ => Err(self.err(id, format!("kind {k} cannot be the type of a value"))),
        }
    }

    fn describe_pointee(&self, id: u32) -> Result<String, GenError> {
        let t = self.resolve_fwd(self.strip(id, false)?)?;
        if t == 0 {
            return Ok("void".into());
        }
        let (k, _) = self.kind_of(t)?;
        Ok(match k {
            kind::STRUCT | kind::UNION | kind::ENUM | kind::ENUM64 | kind::FWD => {
                match self.c_names.get(&t) {
                    Some(n) => self.describe_as(t, n),
                    None => self.describe(t),
                }
            }
            _ => self.describe(t),
        })
    }

    /// The encoding word of an INT (signedness, `_Bool`, width).
    fn int_encoding(&self, id: u32) -> Result<u32, GenError> {
        self.btf
            .extra(id)
            .and_then(|e| crate::btf::u32_at(e, 0))
            .ok_or_else(|| self.err(id, "INT record truncated"))
    }

    fn int_ty(&self, id: u32, size: u32) -> Result<Ty, GenError> {
        let enc = self.int_encoding(id)?;
        let signed = (enc >> 24) & 1 != 0 && !self.is_bool(id);
        let size = u64::from(size);
        Ok(prim(size, signed).map_or(Ty::Bytes(size), Ty::Prim))
    }

    /// Whether an INT is `_Bool`.
    fn is_bool(&self, id: u32) -> bool {
        self.int_encoding(id).is_ok_and(|enc| (enc >> 24) & 4 != 0)
    }

    fn size_of(&self, id: u32) -> Result<u64, GenError> {
        self.btf
            .resolve_size(id)
            .map_err(|e| self.err(id, e.to_string()))
    }

    /// What a bitfield of BTF type `id` returns.
    fn bit_ret(&self, id: u32) -> Result<BitRet, GenError> {
        let t = self.strip(id, true)?;
        let (k, h) = self.kind_of(t)?;
        match k {
            kind::INT if self.is_bool(t) => Ok(BitRet::Bool),
            kind::INT => match self.int_ty(t, h.size_or_type)? {
                Ty::Prim(p) => Ok(BitRet::Int {
                    prim: p,
                    signed: p.starts_with('i'),
                }),
                _ => Err(self.err(t, "a bitfield of an integer type Rust does not have")),
            },
            kind::ENUM | kind::ENUM64 => {
                let (repr, _) = enum_repr(h.size_or_type, h.kind_flag());
                let repr = repr.ok_or_else(|| self.err(t, "an enum of an unusual size"))?;
                Ok(BitRet::Enum {
                    id: t,
                    repr,
                    signed: h.kind_flag(),
                })
            }
            _ => Err(self.err(t, "a bitfield whose type is not an integer or enum")),
        }
    }

    fn finish(
        mut self,
        form: PtrForm,
        vars: Vec<(RootVar, Option<u32>)>,
    ) -> Result<Model, GenError> {
        // Rust names, in id order.
        let mut scope = Scope::with(super::RESERVED_TYPES);
        let mut names = BTreeMap::new();
        for &id in &self.emit {
            names.insert(id, scope.claim(type_ident(&self.c_name(id))));
        }
        let ids: Vec<u32> = self.emit.iter().copied().collect();
        let mut items = Vec::with_capacity(ids.len());
        for id in ids {
            let item = self.item(id, &names)?;
            items.push(item);
        }
        let mut globals = Vec::with_capacity(vars.len());
        for (v, ty) in vars {
            let rust = match ty {
                Some(t) => self.ty_of(t, v.home == Home::Arena)?,
                None => Ty::Bytes(v.size),
            };
            globals.push(v.into_global(rust));
        }
        Ok(Model {
            items,
            form,
            globals,
            names,
        })
    }

    fn item(&mut self, id: u32, names: &BTreeMap<u32, String>) -> Result<Item, GenError> {
        let (k, h) = self.kind_of(id)?;
        let name = names.get(&id).cloned().unwrap_or_default();
        let in_arena = self.arena.contains(&id);
        let c_name = self.describe_as(id, "{ … }");
        let anon = self.btf.name(id)?.is_empty();
        let (size, body) = match k {
            kind::STRUCT => (u64::from(h.size_or_type), self.struct_body(id, in_arena)?),
            kind::UNION => (u64::from(h.size_or_type), self.union_body(id, in_arena)?),
            kind::ENUM | kind::ENUM64 => (u64::from(h.size_or_type), self.enum_body(id)?),
            kind::TYPEDEF => {
                let target = self.ty_of(h.size_or_type, false)?;
                (0, Body::Typedef { target })
            }
            _ => (0, Body::Opaque),
        };
        Ok(Item {
            name,
            c_name,
            anon,
            size,
            in_arena,
            body,
        })
    }

    fn enum_body(&self, id: u32) -> Result<Body, GenError> {
        let (k, h) = self.kind_of(id)?;
        let (repr, bits) = enum_repr(h.size_or_type, h.kind_flag());
        let repr = repr.ok_or_else(|| self.err(id, "an enum of an unusual size"))?;
        let extra = self.btf.extra(id).unwrap_or(&[]);
        let per = if k == kind::ENUM64 { 12 } else { 8 };
        let mut scope = Scope::default();
        let mut seen = BTreeSet::new();
        let mut values = Vec::new();
        for e in extra.chunks_exact(per) {
            let word = |o: usize| crate::btf::u32_at(e, o).unwrap_or(0);
            let raw: u64 = if k == kind::ENUM64 {
                (u64::from(word(8)) << 32) | u64::from(word(4))
            } else if h.kind_flag() {
                i64::from(word(4) as i32) as u64
            } else {
                u64::from(word(4))
            };
            let v = fit(raw, bits, h.kind_flag());
            // An alias of an earlier enumerator is still a constant, but
            // only the first name of a value is printed by Debug.
            let first = seen.insert(v);
            let n = self.btf.string(word(0))?;
            values.push((scope.claim(ident(n)), v, first));
        }
        Ok(Body::Enum { repr, values })
    }

    fn union_body(&mut self, id: u32, arena: bool) -> Result<Body, GenError> {
        let (_, h) = self.kind_of(id)?;
        let size = u64::from(h.size_or_type);
        let members = self.btf.members(id)?;
        let bits = self.btf.member_bitfield_sizes(id)?;
        let mut scope =
            Scope::with(&["bytes", "clone", "clone_from", "default", "eq", "fmt", "ne"]);
        let mut out = Vec::new();
        let mut anon = 0u32;
        for (i, (mname, ty, off)) in members.iter().enumerate() {
            let nbits = bits.get(i).copied().unwrap_or(0);
            let name = if mname.is_empty() {
                anon = anon.saturating_add(1);
                format!("__anon_{anon}")
            } else {
                ident(mname)
            };
            let name = scope.claim(name);
            scope.claim(format!("set_{}", bare(&name)));
            let off = u64::from(*off);
            if nbits != 0 {
                if add(off, u64::from(nbits)) > size.saturating_mul(8) {
                    return Err(self.err(id, format!("member '{mname}' lies past the union")));
                }
                let bits = BitMember {
                    name: name.clone(),
                    storage: "bytes".into(),
                    storage_int: None,
                    shift: u32::try_from(off).unwrap_or(u32::MAX),
                    bits: nbits,
                    ret: self.bit_ret(*ty)?,
                    bit_offset: off,
                };
                out.push(UnionMember {
                    name,
                    ty: Ty::Prim("u8"),
                    offset: 0,
                    bits: Some(bits),
                });
                continue;
            }
            if off % 8 != 0 {
                return Err(self.err(id, format!("member '{mname}' is not byte aligned")));
            }
            let msize = self.size_of(*ty)?;
            if add(off / 8, msize) > size {
                return Err(self.err(
                    id,
                    format!(
                        "member '{mname}' ({msize} bytes at {}) lies past the union ({size} bytes)",
                        off / 8
                    ),
                ));
            }
            out.push(UnionMember {
                name,
                ty: self.ty_of(*ty, arena)?,
                offset: off / 8,
                bits: None,
            });
        }
        Ok(Body::Union { members: out })
    }

    fn struct_body(&mut self, id: u32, arena: bool) -> Result<Body, GenError> {
        let (_, h) = self.kind_of(id)?;
        let size = u64::from(h.size_or_type);
        let members = self.btf.members(id)?;
        let bitsizes = self.btf.member_bitfield_sizes(id)?;
        let (packed, c_align) = self.packing(id, 0)?;

        // Byte spans, in member order: a regular member, or a run of
        // bitfields sharing bytes.
        enum Span {
            Reg(usize),
            Bits(Vec<usize>),
        }
        let mut spans: Vec<(u64, u64, Span)> = Vec::new();
        for (i, (mname, ty, off)) in members.iter().enumerate() {
            let off = u64::from(*off);
            let nbits = u64::from(bitsizes.get(i).copied().unwrap_or(0));
            let (lo, hi) = if nbits == 0 {
                if off % 8 != 0 {
                    return Err(self.err(id, format!("member '{mname}' is not byte aligned")));
                }
                (off / 8, add(off / 8, self.size_of(*ty)?))
            } else {
                (off / 8, add(off, nbits).div_ceil(8))
            };
            if hi > size {
                return Err(self.err(
                    id,
                    format!("member '{mname}' ends at byte {hi}, past the struct's {size} bytes"),
                ));
            }
            if nbits != 0 {
                if let Some((_, last_hi, Span::Bits(v))) = spans.last_mut() {
                    if lo < *last_hi {
                        *last_hi = (*last_hi).max(hi);
                        v.push(i);
                        continue;
                    }
                }
            }
            if let Some((_, last_hi, _)) = spans.last() {
                if lo < *last_hi {
                    return Err(self.err(
                        id,
                        format!("member '{mname}' at byte {lo} overlaps the member before it"),
                    ));
                }
            }
            let span = if nbits == 0 {
                Span::Reg(i)
            } else {
                Span::Bits(vec![i])
            };
            spans.push((lo, hi, span));
        }

        let mut scope = Scope::default();
        // Member names first, so that generated names step around them;
        // two C names that give one Rust name (`a$b`, `a_b`) get `_2`.
        let member_names: Vec<String> = members
            .iter()
            .map(|(mname, _, _)| {
                if mname.is_empty() {
                    String::new()
                } else {
                    scope.claim(ident(mname))
                }
            })
            .collect();
        let mut fields = Vec::new();
        let mut bits = Vec::new();
        let mut flex = Vec::new();
        // Trait methods the generated types have: an accessor of one of
        // these names would shadow it.
        let mut methods = Scope::with(&["clone", "clone_from", "default", "eq", "fmt", "ne"]);
        let (mut pad, mut anon, mut nbit) = (0u32, 0u32, 0u32);
        let mut at = 0u64;
        let mut pad_to = |fields: &mut Vec<Field>, at: u64, to: u64, scope: &mut Scope| {
            if to > at {
                let name = scope.claim(format!("__pad_{pad}"));
                pad = pad.saturating_add(1);
                fields.push(Field {
                    name,
                    ty: Ty::Array(
                        Box::new(Ty::Prim("u8")),
                        u32::try_from(sub(to, at)).unwrap_or(u32::MAX),
                    ),
                    offset: at,
                    doc: None,
                });
            }
        };
        let n = spans.len();
        for si in 0..n {
            let Some((lo, hi, span)) = spans.get(si) else {
                continue;
            };
            let (lo, hi) = (*lo, *hi);
            let next = spans.get(si.saturating_add(1)).map_or(size, |s| s.0);
            match span {
                Span::Reg(i) => {
                    let Some((mname, ty, _)) = members.get(*i) else {
                        continue;
                    };
                    pad_to(&mut fields, at, lo, &mut scope);
                    let name = if mname.is_empty() {
                        anon = anon.saturating_add(1);
                        scope.claim(format!("__anon_{anon}"))
                    } else {
                        member_names
                            .get(*i)
                            .cloned()
                            .unwrap_or_else(|| ident(mname))
                    };
                    let rust = self.ty_of(*ty, arena)?;
                    let t = self.strip(*ty, true)?;
                    if t != 0 && self.kind_of(t)?.0 == kind::ARRAY {
                        let (elem, _, count) = self.btf.array(t)?;
                        if count == 0 {
                            let method = methods.claim(format!("{}_at", bare(&name)));
                            flex.push(Flex {
                                field: name.clone(),
                                method,
                                elem: self.ty_of(elem, arena)?,
                                offset: lo,
                            });
                        }
                    }
                    let doc = self.field_doc(*ty, &rust)?;
                    fields.push(Field {
                        name,
                        ty: rust,
                        offset: lo,
                        doc,
                    });
                    at = hi;
                }
                Span::Bits(idx) => {
                    // The storage: the smallest aligned integer around the
                    // bits that fits between the neighbours (and within
                    // the struct's alignment), else the bytes themselves.
                    let want = sub(hi, lo);
                    let mut chosen = None;
                    for p in [1u64, 2, 4, 8] {
                        if p < want {
                            continue;
                        }
                        let s = if packed { lo } else { lo - lo % p };
                        if s >= at
                            && add(s, p) <= next
                            && add(s, p) >= hi
                            && (packed || p <= c_align)
                        {
                            chosen = Some((s, p));
                            break;
                        }
                    }
                    let (s, e, int) = match chosen {
                        Some((s, p)) => (s, add(s, p), prim(p, false)),
                        None => (lo, hi, None),
                    };
                    pad_to(&mut fields, at, s, &mut scope);
                    nbit = nbit.saturating_add(1);
                    let storage = scope.claim(format!("_bitfield_{nbit}"));
                    let mut doc_names = Vec::new();
                    for i in idx {
                        let Some((mname, ty, off)) = members.get(*i) else {
                            continue;
                        };
                        let nb = bitsizes.get(*i).copied().unwrap_or(0);
                        let getter = methods.claim(if mname.is_empty() {
                            format!("__bits_{i}")
                        } else {
                            ident(mname)
                        });
                        methods.claim(format!("set_{}", bare(&getter)));
                        let shift = sub(u64::from(*off), s.saturating_mul(8));
                        doc_names.push(format!(
                            "`{}` (bits {}..{}{})",
                            bare(&getter),
                            shift,
                            add(shift, u64::from(nb)),
                            if nb > 64 {
                                "; wider than 64 bits, so without accessors"
                            } else {
                                ""
                            }
                        ));
                        bits.push(BitMember {
                            name: getter,
                            storage: storage.clone(),
                            storage_int: int,
                            shift: u32::try_from(shift).unwrap_or(u32::MAX),
                            bits: nb,
                            ret: self.bit_ret(*ty)?,
                            bit_offset: u64::from(*off),
                        });
                    }
                    let ty = match int {
                        Some(p) => Ty::Prim(p),
                        None => Ty::Array(
                            Box::new(Ty::Prim("u8")),
                            u32::try_from(sub(e, s)).unwrap_or(u32::MAX),
                        ),
                    };
                    fields.push(Field {
                        name: storage,
                        ty,
                        offset: s,
                        doc: Some(format!("Bitfields {}.", doc_names.join(", "))),
                    });
                    at = e;
                }
            }
        }
        pad_to(&mut fields, at, size, &mut scope);
        Ok(Body::Struct {
            packed,
            fields,
            bits,
            flex,
        })
    }

    /// A doc line for a field whose Rust type does not say it all.
    fn field_doc(&self, ty: u32, rust: &Ty) -> Result<Option<String>, GenError> {
        let t = self.strip(ty, true)?;
        if t != 0 && self.kind_of(t)?.0 == kind::INT && self.is_bool(t) {
            return Ok(Some("A C `_Bool`: 0 or 1.".into()));
        }
        Ok(match rust {
            Ty::Raw(what) => Some(format!(
                "A pointer to {what}, not into the arena: the address as BPF stored it."
            )),
            _ => None,
        })
    }
}

/// The Rust integer of `bytes` bytes (1, 2, 4, 8 or 16) and sign.
fn prim(bytes: u64, signed: bool) -> Option<&'static str> {
    Some(match (bytes, signed) {
        (1, false) => "u8",
        (1, true) => "i8",
        (2, false) => "u16",
        (2, true) => "i16",
        (4, false) => "u32",
        (4, true) => "i32",
        (8, false) => "u64",
        (8, true) => "i64",
        (16, false) => "u128",
        (16, true) => "i128",
        _ => return None,
    })
}

/// The Rust representation of an enum of `size` bytes (1 to 8) and its
/// width in bits.
fn enum_repr(size: u32, signed: bool) -> (Option<&'static str>, u32) {
    match prim(u64::from(size), signed) {
        Some(r) if size <= 8 => (Some(r), size.saturating_mul(8)),
        _ => (None, 0),
    }
}

/// `raw` cut to `bits` bits, sign-extended when `signed`: the value the
/// enum's representation holds.
fn fit(raw: u64, bits: u32, signed: bool) -> i128 {
    if bits == 0 || bits >= 64 {
        return if signed {
            i128::from(raw as i64)
        } else {
            i128::from(raw)
        };
    }
    let masked = raw & ((1u64 << bits) - 1);
    if signed && masked >> (bits - 1) & 1 == 1 {
        i128::from(masked) - (1i128 << bits)
    } else {
        i128::from(masked)
    }
}

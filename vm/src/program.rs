//! `Program`: the immutable, verified result of compiling a pack. Shared as `Arc` by every
//! evaluation; nothing in it changes after `verify`.

use cranelift_entity::{entity_impl, PrimaryMap};
use serde::{Deserialize, Serialize};

use crate::bytecode::{Instr, IterOp, Reg};

#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PolicyId(u32);
entity_impl!(PolicyId, "policy");

#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RuleId(u32);
entity_impl!(RuleId, "rule");

#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct LetId(u32);
entity_impl!(LetId, "let");

#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct FuncId(u32);
entity_impl!(FuncId, "func");

#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TypeId(u32);
entity_impl!(TypeId, "type");

/// Version of the bytecode encoding inside compiled packs; bump on any incompatible change.
pub const IR_VERSION: u32 = 12;

/// A constant in the pool. Deserialization is depth-limited (see `ConstRepr`), so a hostile
/// compiled pack cannot exhaust the stack with nested lists.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum Const {
    Num(f64),
    Str(String),
    List(Vec<Const>),
    /// Entries sorted by key, keys unique.
    Map(Vec<(String, Const)>),
    Bool(bool),
    Unknown,
    Null,
}

/// Maximum nesting of constant lists and maps accepted when decoding a compiled pack.
const MAX_CONST_DEPTH: u32 = 300;

thread_local! {
    static CONST_DEPTH: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// The wire form of [`Const`]: same variants in the same order, so the encodings agree.
#[derive(Deserialize)]
#[serde(rename = "Const")]
enum ConstRepr {
    Num(f64),
    Str(String),
    List(Vec<Const>),
    Map(Vec<(String, Const)>),
    Bool(bool),
    Unknown,
    Null,
}

impl<'de> Deserialize<'de> for Const {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Const, D::Error> {
        let depth = CONST_DEPTH.with(|c| {
            c.set(c.get() + 1);
            c.get()
        });
        let res = if depth > MAX_CONST_DEPTH {
            Err(serde::de::Error::custom("constant nested too deeply"))
        } else {
            ConstRepr::deserialize(d)
        };
        CONST_DEPTH.with(|c| c.set(c.get().saturating_sub(1)));
        Ok(match res? {
            ConstRepr::Num(n) => Const::Num(n),
            ConstRepr::Str(s) => Const::Str(s),
            ConstRepr::List(v) => Const::List(v),
            ConstRepr::Map(v) => Const::Map(v),
            ConstRepr::Bool(b) => Const::Bool(b),
            ConstRepr::Unknown => Const::Unknown,
            ConstRepr::Null => Const::Null,
        })
    }
}

/// A source position resolved at compile time: file index, line, column.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SrcLoc {
    pub file: u32,
    pub line: u32,
    pub col: u32,
}

/// One unit of code: a rule, a policy-level let, an attachment or a fact default.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Func {
    pub name: String,
    /// The policy whose evaluation context the function runs in.
    pub policy: PolicyId,
    #[serde(with = "crate::bytecode::codec::serde_code")]
    pub code: Vec<Instr>,
    pub n_regs: u16,
    pub n_builders: u16,
    /// `(first pc, location)` pairs sorted by pc: the location of instructions from that pc on.
    pub locs: Vec<(u32, SrcLoc)>,
    /// Where the rule, let or attachment was declared (its name).
    pub decl: Option<SrcLoc>,
    /// Points an explaining evaluation records (sorted by pc); ignored otherwise.
    pub probes: Vec<Probe>,
}

/// A point of a function where an explaining evaluation (`--explain`) records what happened,
/// read before the instruction at `pc` runs. Plain evaluation never looks at probes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Probe {
    pub pc: u32,
    pub loc: SrcLoc,
    pub kind: ProbeKind,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ProbeKind {
    /// A rule's `when` guard: its value is in `reg`.
    When { reg: Reg },
    /// The rule's default branch starts here.
    Default,
    /// The condition of `c ? a : b`, in `reg`.
    Cond { reg: Reg },
    /// A collection form ended early on element `idx` of `list` (`any`, `all`, `first`).
    FormDecided { form: IterOp, list: Reg, idx: Reg },
    /// A collection form went through every element of `list`.
    FormDone { form: IterOp, list: Reg },
    /// A collection form's collection was undefined.
    FormUndefined { form: IterOp },
    /// A block `let` was computed into `slot`.
    BlockLet { slot: Reg, name: String },
}

impl Func {
    pub fn loc_at(&self, pc: u32) -> Option<SrcLoc> {
        let i = self.locs.partition_point(|(p, _)| *p <= pc);
        if i == 0 {
            None
        } else {
            Some(self.locs[i - 1].1)
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FactInfo {
    /// Name looked up in the supplied facts (the alias when there is one).
    pub exposed: String,
    pub required: bool,
    pub default: Option<FuncId>,
    /// The default's value when it is a constant (not null): bound without running
    /// `default`'s function (which explained evaluations still run, to trace it).
    pub default_const: Option<u32>,
    pub ty: TypeId,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PolicyInfo {
    pub namespace: String,
    pub name: String,
    pub facts: Vec<FactInfo>,
    /// Policy-level lets and rules, in declaration order; their position is their cache slot.
    pub lets: Vec<LetId>,
    pub rules: Vec<RuleId>,
    /// Exported rules in export order.
    pub exports: Vec<RuleId>,
    /// A policy error (LANGUAGE.md §17.1): every evaluation of this policy fails with it.
    pub error: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RuleInfo {
    pub policy: PolicyId,
    pub name: String,
    pub func: FuncId,
    /// Cache slot within its policy.
    pub slot: u32,
    pub exported: bool,
    /// Attachment names and the functions computing them (policy scope).
    pub attachments: Vec<(String, FuncId)>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LetInfo {
    pub policy: PolicyId,
    pub name: String,
    pub func: FuncId,
    pub slot: u32,
}

/// `with` values of an import are in registers `args .. args + names.len()`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ImportSite {
    pub rule: RuleId,
    pub names: Vec<String>,
    pub args: Reg,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Builtin {
    Count,
    Merge,
    Error,
    AsList,
    Flatten,
    FlattenDeep,
    NormaliseList,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CallSite {
    pub builtin: Builtin,
    pub args: Reg,
    pub argc: u16,
    /// Memoization TTL in seconds (`f(x)!N`); `None` or 0: not memoized.
    pub memo: Option<u32>,
}

/// A call of an `@sentrie/*` module function; arguments in `args .. args + argc`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NativeSite {
    pub module: String,
    pub export: String,
    pub args: Reg,
    pub argc: u16,
    pub memo: Option<u32>,
}

/// A call of (or read from) a user module: `key` is the canonical module key.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModuleSite {
    pub key: String,
    pub export: String,
    /// False for `alias.NAME` reads of exported values.
    pub call: bool,
    pub args: Reg,
    pub argc: u16,
    pub memo: Option<u32>,
}

/// An index over the constant list `consts[list]`, asked for by the compiler where a collection
/// form, an `or` of rules or a membership test would otherwise scan it. Only this description
/// travels in a compiled pack; [`crate::verify()`] builds the lookup tables from the constant.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IndexSpec {
    pub list: u32,
    /// One level per leading conjunct of the predicate, probed in order.
    pub levels: Vec<IndexLevel>,
    /// For an `or` of rules: operand `i` is `rules[i]` (element `i` of the list holds its keys).
    pub rules: Vec<RuleId>,
    /// Where in the source the index is used, for `disasm`.
    pub what: String,
    /// When the list is the value of a typed `let`: that let and its declared type. The let's
    /// check still decides: if the constant does not conform, [`crate::Instr::IndexGuard`]
    /// evaluates the let (which fails as it would in a scan).
    pub typed_let: Option<(u32, TypeId)>,
    /// For a `matches` level: the constant map (a constant id) the pattern is looked up in by
    /// the element (`s matches M[elem]`), before the level's path.
    pub via: Option<u32>,
}

/// How one conjunct compares an element's field (reached by `path` from the element) with a
/// value that does not depend on the element.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IndexLevel {
    pub op: LevelOp,
    pub path: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LevelOp {
    /// `elem.path == v` (or `v == elem.path`, `elem.path is v`).
    Eq,
    /// `v in elem.path` (or `elem.path contains v`).
    ElemIn,
    /// `elem.path in v` (or `v contains elem.path`); only as the last level.
    FieldIn,
    /// `v matches elem.path`: the elements' patterns as one regex set; only as the only level.
    Matches,
}

impl LevelOp {
    pub fn text(self) -> &'static str {
        match self {
            LevelOp::Eq => "==",
            LevelOp::ElemIn => "contains",
            LevelOp::FieldIn => "in",
            LevelOp::Matches => "matched by",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LetCheck {
    pub name: String,
    pub ty: TypeId,
}

/// Base of a type.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum TypeKind {
    /// Anything (undeclared type, e.g. a failed lookup already reported).
    Any,
    Number,
    String,
    Boolean,
    Trinary,
    Document,
    List(TypeId),
    Map(TypeId),
    Record(Vec<TypeId>),
    Shape(Vec<FieldDef>),
    /// An alias shape: the aliased type (constraints of the alias are on the target).
    Alias(TypeId),
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FieldDef {
    pub name: String,
    pub required: bool,
    pub nullable: bool,
    pub ty: TypeId,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConstraintDef {
    pub name: String,
    pub args: Vec<Const>,
    /// Index into `Program::regexes` for `@regexp`.
    pub regex: Option<u16>,
    /// `name` resolved once, so that checking a value never compares constraint names.
    /// Not stored in compiled packs: [`crate::verify()`] resolves it again.
    #[serde(skip)]
    pub op: ConstraintOp,
}

impl ConstraintDef {
    pub fn new(name: &str, args: Vec<Const>, regex: Option<u16>) -> ConstraintDef {
        ConstraintDef {
            name: name.to_string(),
            args,
            regex,
            op: ConstraintOp::from_name(name),
        }
    }
}

/// The check a constraint makes; the same name can mean different checks for different
/// kinds of value (`@length` of a string and of a list), which the checker tells apart.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ConstraintOp {
    NotUnknown,
    Eq,
    Neq,
    IsTrue,
    IsFalse,
    NotEmpty,
    Length,
    MinLength,
    MaxLength,
    /// `@min` and `@gte`.
    Min,
    /// `@max` and `@lte`.
    Max,
    Gt,
    Lt,
    In,
    NotIn,
    Range,
    MultipleOf,
    Even,
    Odd,
    Positive,
    Negative,
    NonNegative,
    NonPositive,
    Finite,
    Infinite,
    Nan,
    Regexp,
    StartsWith,
    EndsWith,
    HasSubstring,
    NotHasSubstring,
    Email,
    Url,
    Uuid,
    Alphanumeric,
    Alpha,
    Numeric,
    Lowercase,
    Uppercase,
    Trimmed,
    OneOf,
    NotOneOf,
    /// A name no check knows (never holds).
    #[default]
    Unknown,
}

impl ConstraintOp {
    pub fn from_name(name: &str) -> ConstraintOp {
        use ConstraintOp::*;
        match name {
            "not_unknown" => NotUnknown,
            "eq" => Eq,
            "neq" => Neq,
            "is_true" => IsTrue,
            "is_false" => IsFalse,
            "not_empty" => NotEmpty,
            "length" => Length,
            "minlength" => MinLength,
            "maxlength" => MaxLength,
            "min" | "gte" => Min,
            "max" | "lte" => Max,
            "gt" => Gt,
            "lt" => Lt,
            "in" => In,
            "not_in" => NotIn,
            "range" => Range,
            "multiple_of" => MultipleOf,
            "even" => Even,
            "odd" => Odd,
            "positive" => Positive,
            "negative" => Negative,
            "non_negative" => NonNegative,
            "non_positive" => NonPositive,
            "finite" => Finite,
            "infinite" => Infinite,
            "nan" => Nan,
            "regexp" => Regexp,
            "starts_with" => StartsWith,
            "ends_with" => EndsWith,
            "has_substring" => HasSubstring,
            "not_has_substring" => NotHasSubstring,
            "email" => Email,
            "url" => Url,
            "uuid" => Uuid,
            "alphanumeric" => Alphanumeric,
            "alpha" => Alpha,
            "numeric" => Numeric,
            "lowercase" => Lowercase,
            "uppercase" => Uppercase,
            "trimmed" => Trimmed,
            "one_of" => OneOf,
            "not_one_of" => NotOneOf,
            _ => Unknown,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TypeDef {
    pub kind: TypeKind,
    pub constraints: Vec<ConstraintDef>,
    /// Display name (shape name or type text).
    pub name: String,
    /// Where a shape is declared (`file:line:col`), for conformance errors.
    pub declared: Option<String>,
}

/// The whole compiled pack.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Program {
    pub consts: Vec<Const>,
    pub names: Vec<String>,
    pub funcs: PrimaryMap<FuncId, Func>,
    pub policies: PrimaryMap<PolicyId, PolicyInfo>,
    pub rules: PrimaryMap<RuleId, RuleInfo>,
    pub lets: PrimaryMap<LetId, LetInfo>,
    pub types: PrimaryMap<TypeId, TypeDef>,
    pub imports: Vec<ImportSite>,
    pub calls: Vec<CallSite>,
    pub natives: Vec<NativeSite>,
    pub module_sites: Vec<ModuleSite>,
    /// Transpiled user modules `(canonical key, JavaScript)`, sorted by key.
    pub js_modules: Vec<(String, String)>,
    /// Environment variables modules may read (`permissions.env`).
    pub env_names: Vec<String>,
    /// Builtin `(module, export)` pairs imported by user modules (served by the runtime).
    pub js_builtin_imports: Vec<(String, String)>,
    pub let_checks: Vec<LetCheck>,
    pub regexes: Vec<String>,
    pub files: Vec<String>,
    /// Every declared namespace (target resolution needs namespaces without policies too).
    pub namespaces: Vec<String>,
    /// Indexes over constant lists (the compiler's choice; built when the program is verified).
    pub indexes: Vec<IndexSpec>,
}

impl Program {
    /// Finds a policy by namespace and name.
    pub fn policy(&self, namespace: &str, name: &str) -> Option<PolicyId> {
        self.policies
            .iter()
            .find(|(_, p)| p.namespace == namespace && p.name == name)
            .map(|(id, _)| id)
    }

    pub fn rule_in(&self, policy: PolicyId, name: &str) -> Option<RuleId> {
        self.policies[policy]
            .rules
            .iter()
            .copied()
            .find(|r| self.rules[*r].name == name)
    }
}

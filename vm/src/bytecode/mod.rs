//! The instruction set.
//!
//! Guidelines: every instruction is `Copy` and at most 8 bytes (a test locks the size).
//! Operands use one vocabulary: `dst` (written register), `src`/`lhs`/`rhs` (read registers),
//! `k` (constant), `target` (jump destination), and typed side-table ids for anything larger
//! (call sites, import sites, types). Registers are frame-relative `Reg(u16)`.

use serde::{Deserialize, Serialize};

pub mod codec;

/// A frame-relative register.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Reg(pub u16);

/// Collection forms, named in "expects a list" errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum IterOp {
    Any,
    All,
    Filter,
    First,
    Map,
    Distinct,
    Reduce,
}

impl IterOp {
    pub fn name(self) -> &'static str {
        match self {
            IterOp::Any => "any",
            IterOp::All => "all",
            IterOp::Filter => "filter",
            IterOp::First => "first",
            IterOp::Map => "map",
            IterOp::Distinct => "distinct",
            IterOp::Reduce => "reduce",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum Instr {
    /// `dst = consts[k]`.
    LoadConst {
        dst: Reg,
        k: u32,
    },
    LoadUndef {
        dst: Reg,
    },
    LoadNull {
        dst: Reg,
    },
    /// `dst = true | false`.
    LoadBool {
        dst: Reg,
        value: bool,
    },
    LoadUnknown {
        dst: Reg,
    },
    Move {
        dst: Reg,
        src: Reg,
    },
    /// Declared fact number `idx` of the current policy evaluation.
    LoadFact {
        dst: Reg,
        idx: u16,
    },
    /// The supplied fact named `names[name]` (ad-hoc fact), or undefined.
    LoadAdhoc {
        dst: Reg,
        name: u32,
    },
    /// Policy-level let (evaluated once per evaluation, then cached).
    LoadLet {
        dst: Reg,
        let_id: u32,
    },
    /// A policy-level let whose code follows inline (a small body reading only facts and
    /// constants), always followed by a `Jump` past that code. If the let is cached, `dst`
    /// takes the value and the `Jump` skips the code; an explaining evaluation loads it as
    /// `LoadLet` does (the let's own function, then the `Jump`); otherwise the inline code
    /// runs, ending with `StoreLet`.
    InlineLet {
        dst: Reg,
        let_id: u32,
    },
    /// Caches `src` as the value of policy-level let `let_id` (the end of inline let code).
    StoreLet {
        src: Reg,
        let_id: u32,
    },
    /// Decision of a rule of the same policy (evaluated once, then cached).
    LoadRule {
        dst: Reg,
        rule: u32,
    },
    /// The start of a rule's body lowered where it is read, followed by a forward `Jump` past
    /// it: a decision already cached is taken and the `Jump` skips the code; an explaining
    /// evaluation loads it as `LoadRule` does (the rule's own function, then the `Jump`);
    /// otherwise the inline code runs, ending with `StoreRule`.
    InlineRule {
        dst: Reg,
        rule: u32,
    },
    /// Completes rule `rule` from the value in `src` (the end of inline rule code): wraps it
    /// as a decision, caches it, and leaves the decision in `src` (after the attachments, if
    /// the rule has any).
    StoreRule {
        src: Reg,
        rule: u32,
    },
    /// Imported decision: `imports[site]`, its `with` values in consecutive registers.
    Import {
        dst: Reg,
        site: u32,
    },
    /// If block-local let in `slot` is not evaluated yet, run the subroutine at `target`.
    EnsureLocal {
        slot: Reg,
        target: u32,
    },
    /// Marks block-local let `slot` as not evaluated (block entry).
    ClearLocal {
        slot: Reg,
    },
    /// Return from an `EnsureLocal` subroutine.
    RetSub,
    /// Typed-let check: `lets_checks[site]` names the let and its type.
    CheckLet {
        src: Reg,
        site: u32,
    },
    GetField {
        dst: Reg,
        src: Reg,
        name: u16,
    },
    GetIndex {
        dst: Reg,
        src: Reg,
        key: Reg,
    },
    /// `dst = facts[idx].names[name]`: a field of a bound fact in one step (`GetField` over
    /// a `LoadFact`), `lenient` as `GetFieldLenient` is.
    GetFactField {
        dst: Reg,
        idx: u16,
        name: u16,
        lenient: bool,
    },
    /// Field access that yields undefined on an undefined/null receiver (lenient operand).
    GetFieldLenient {
        dst: Reg,
        src: Reg,
        name: u16,
    },
    GetIndexLenient {
        dst: Reg,
        src: Reg,
        key: Reg,
    },
    Add {
        dst: Reg,
        lhs: Reg,
        rhs: Reg,
    },
    Sub {
        dst: Reg,
        lhs: Reg,
        rhs: Reg,
    },
    Mul {
        dst: Reg,
        lhs: Reg,
        rhs: Reg,
    },
    Div {
        dst: Reg,
        lhs: Reg,
        rhs: Reg,
    },
    Mod {
        dst: Reg,
        lhs: Reg,
        rhs: Reg,
    },
    Lt {
        dst: Reg,
        lhs: Reg,
        rhs: Reg,
    },
    Le {
        dst: Reg,
        lhs: Reg,
        rhs: Reg,
    },
    Gt {
        dst: Reg,
        lhs: Reg,
        rhs: Reg,
    },
    Ge {
        dst: Reg,
        lhs: Reg,
        rhs: Reg,
    },
    Eq {
        dst: Reg,
        lhs: Reg,
        rhs: Reg,
    },
    Ne {
        dst: Reg,
        lhs: Reg,
        rhs: Reg,
    },
    /// `dst = lhs contains rhs` (haystack first).
    Contains {
        dst: Reg,
        lhs: Reg,
        rhs: Reg,
    },
    Matches {
        dst: Reg,
        lhs: Reg,
        rhs: Reg,
    },
    /// `src matches regexes[regex]` (pattern compiled at pack build).
    MatchesConst {
        dst: Reg,
        src: Reg,
        regex: u16,
    },
    /// Logical not: undefined stays undefined, otherwise `not T(src)`.
    Not {
        dst: Reg,
        src: Reg,
    },
    Neg {
        dst: Reg,
        src: Reg,
    },
    Plus {
        dst: Reg,
        src: Reg,
    },
    /// `dst = T(src)` as a trinary.
    Truthy {
        dst: Reg,
        src: Reg,
    },
    /// Kleene and/or/xor over trinaries (operands already converted by `Truthy`).
    AndTri {
        dst: Reg,
        lhs: Reg,
        rhs: Reg,
    },
    OrTri {
        dst: Reg,
        lhs: Reg,
        rhs: Reg,
    },
    XorTri {
        dst: Reg,
        lhs: Reg,
        rhs: Reg,
    },
    IsDefined {
        dst: Reg,
        src: Reg,
    },
    IsEmpty {
        dst: Reg,
        src: Reg,
    },
    /// Shape test: does `src` conform to `types[ty]`?
    IsType {
        dst: Reg,
        src: Reg,
        ty: u16,
    },
    /// `cast src as types[ty]`.
    Cast {
        dst: Reg,
        src: Reg,
        ty: u16,
    },
    Count {
        dst: Reg,
        src: Reg,
    },
    Jump {
        target: u32,
    },
    /// Jump when `T(src)` is TRUE.
    JumpIfTrue {
        src: Reg,
        target: u32,
    },
    /// Jump when `T(src)` is not TRUE (FALSE or UNKNOWN).
    JumpIfNotTrue {
        src: Reg,
        target: u32,
    },
    /// Jump when `T(src)` is FALSE.
    JumpIfFalse {
        src: Reg,
        target: u32,
    },
    /// The left operand of `or`: `reg = T(reg)`, then jump when it is TRUE (`Truthy` and
    /// `JumpIfTrue` in one step).
    OrJump {
        reg: Reg,
        target: u32,
    },
    /// The left operand of `and`: `reg = T(reg)`, then jump when it is FALSE.
    AndJump {
        reg: Reg,
        target: u32,
    },
    JumpIfUndef {
        src: Reg,
        target: u32,
    },
    /// `dst = [src, src+1, ... src+n-1]`.
    MakeList {
        dst: Reg,
        src: Reg,
        n: u16,
    },
    /// `dst = {r[src]: r[src+1], ...}` over `n` key/value pairs.
    MakeMap {
        dst: Reg,
        src: Reg,
        n: u16,
    },
    /// Fails with "<op> expects a list" unless `src` is a list.
    IterCheck {
        src: Reg,
        op: IterOp,
    },
    /// With `idx` holding i: if i < len(list) set `elem = list[i]` and skip the next
    /// instruction; otherwise fall through to it (a `Jump` out of the loop).
    IterNext {
        list: Reg,
        idx: Reg,
        elem: Reg,
    },
    /// `reg += 1` on a number register.
    Incr {
        reg: Reg,
    },
    /// Start an empty list builder in builder slot `b`.
    BuilderNew {
        b: u16,
    },
    BuilderPush {
        b: u16,
        src: Reg,
    },
    BuilderFinish {
        dst: Reg,
        b: u16,
    },
    BuilderLen {
        dst: Reg,
        b: u16,
    },
    /// `dst = builder[b][idx]`.
    BuilderGet {
        dst: Reg,
        b: u16,
        idx: Reg,
    },
    /// Builtin call `calls[site]`.
    CallBuiltin {
        dst: Reg,
        site: u32,
    },
    /// Native module function call `natives[site]` (`@sentrie/*`).
    CallNative {
        dst: Reg,
        site: u32,
    },
    /// User module call (or export read) `module_sites[site]`, run in QuickJS.
    CallModule {
        dst: Reg,
        site: u32,
    },
    /// One level of `indexes[index]`: `node` holds the node reached so far (a number; 0 is the
    /// root) and becomes the child for the value in `key`, or, once the candidates are known,
    /// the list of candidate positions (ascending). A value the index cannot look up (a list
    /// or map where a scalar is compared) gives every position, so the loop that follows
    /// scans as if there were no index.
    IndexProbe {
        node: Reg,
        key: Reg,
        index: u16,
    },
    /// Jump forward when `node` already holds the candidate list (later probes are skipped,
    /// so their keys are evaluated only where a scan would evaluate them).
    IndexDone {
        node: Reg,
        target: u32,
    },
    /// `dst = consts[indexes[index].list][pos]`: one element of the indexed constant list.
    IndexElem {
        dst: Reg,
        pos: Reg,
        index: u16,
    },
    /// The decision of rule `indexes[index].rules[pos]` (as `LoadRule`).
    IndexRule {
        dst: Reg,
        pos: Reg,
        index: u16,
    },
    /// Where a scan would read the typed `let` holding `indexes[index]`'s list: nothing when
    /// its constant conforms to the let's type (checked once, at verify), else the let is
    /// loaded into `dst` as `LoadLet` would, so its type error is raised here.
    IndexGuard {
        dst: Reg,
        index: u16,
    },
    /// `dst = consts[indexes[index].list] contains src`, by hash lookup for scalars.
    ContainsConst {
        dst: Reg,
        src: Reg,
        index: u16,
    },
    /// Raise the runtime error `consts[k]` (a string): policy errors, unknown functions.
    Fail {
        k: u32,
    },
    /// Return `src` from the function.
    Ret {
        src: Reg,
    },
}

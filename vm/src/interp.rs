//! The interpreter: one dispatch loop over an explicit frame stack (no Rust recursion for
//! rule, let or import calls), registers in the per-decision arena, fuel charged only at
//! backward jumps and calls.

use std::cell::Cell;

use bumpalo::collections::Vec as BumpVec;
use bumpalo::Bump;

use crate::bytecode::{Instr, Reg};
use crate::ops::{
    add, arith, compare, contains, equals, get_field, get_index, is_empty, matches_dyn, unary_num,
};
use crate::program::{FuncId, PolicyId, Program, RuleId, TypeId};
use crate::value::{map_get, DecisionVal, MapRef, Tri, Value};
use crate::{builtins, conform, json};

/// Bounds on one evaluation.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Units charged at backward jumps and calls.
    pub fuel: u64,
    /// Maximum nesting of rule, let, import and attachment evaluations.
    pub max_depth: usize,
    /// Wall-clock limit, checked every few hundred fuel units.
    pub deadline: Option<std::time::Instant>,
    /// Node visits of deep walks over values (see [`crate::work`]).
    pub work: u64,
    /// Bytes the decision's arena may hold, checked with the deadline.
    pub max_arena_bytes: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            fuel: 10_000_000,
            max_depth: 1000,
            deadline: None,
            work: crate::work::DEFAULT_BUDGET,
            max_arena_bytes: 512 << 20,
        }
    }
}

/// A runtime error with the source position of the failing instruction when known.
#[derive(Clone, Debug, PartialEq)]
pub struct EvalError {
    pub message: String,
    /// `file:line:col`.
    pub location: Option<String>,
}

impl std::fmt::Display for EvalError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.location {
            Some(loc) => write!(f, "{} (at {loc})", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// One requested rule's outcome.
pub struct Outcome<'a> {
    pub rule: RuleId,
    pub result: Result<&'a DecisionVal<'a>, EvalError>,
}

struct Ctx<'a> {
    supplied: MapRef<'a>,
    facts: &'a [Cell<Value<'a>>],
    lets: &'a [Cell<Value<'a>>],
    rules: &'a [Cell<Option<&'a DecisionVal<'a>>>],
}

#[derive(Clone, Copy)]
enum Ret<'a> {
    /// Hand the value back to the caller of `run`.
    Top,
    /// A policy-level let: cache it, then store.
    Let { slot: u32, dst: u32 },
    /// A rule body: wrap as a decision, cache, run attachments, then store.
    Rule { rule: RuleId, dst: u32 },
    /// Attachment `idx` of a decision being completed; the values of earlier attachments
    /// are on `att_stack` from `start`.
    Attach {
        dec: &'a DecisionVal<'a>,
        idx: u32,
        dst: u32,
        start: u32,
    },
}

enum Flow<'a> {
    /// The frame stack changed: pick up the new top frame.
    Continue,
    /// The stack returned to the entry depth with this value.
    Return(Value<'a>),
}

#[derive(Clone, Copy)]
struct Frame<'a> {
    func: FuncId,
    pc: u32,
    base: u32,
    bbase: u32,
    ctx: u32,
    ret: Ret<'a>,
}

/// Raw error before its location is resolved.
struct Fault {
    message: String,
    func: FuncId,
    pc: u32,
}

pub struct Vm<'a> {
    p: &'a Program,
    bump: &'a Bump,
    regs: BumpVec<'a, Value<'a>>,
    frames: BumpVec<'a, Frame<'a>>,
    subs: BumpVec<'a, u32>,
    builders: BumpVec<'a, BumpVec<'a, Value<'a>>>,
    ctxs: BumpVec<'a, Ctx<'a>>,
    att_stack: BumpVec<'a, Value<'a>>,
    /// Composite values (by address and length) already found to conform to a type in this
    /// decision: facts passed on to imported rules are not checked again in every sandbox.
    conformed: BumpVec<'a, (usize, usize, TypeId)>,
    /// List and map constants already built in this decision's arena, by constant index (the
    /// first few only: a decision touches few of them, and values are immutable, so every
    /// load and every sandbox can share one copy).
    const_cache: BumpVec<'a, (u32, Value<'a>)>,
    /// Evaluation start time for clock functions, read at first use.
    now_ms: Option<i64>,
    fuel: u64,
    limits: Limits,
}

type Step<T> = Result<T, String>;

/// Evaluates `rules` of `policy` against the supplied facts (a map value).
pub fn evaluate<'a>(
    p: &'a Program,
    policy: PolicyId,
    rules: &[RuleId],
    facts: Value<'a>,
    bump: &'a Bump,
    limits: Limits,
) -> Vec<Outcome<'a>> {
    crate::work::reset(limits.work);
    crate::work::set_deadline(limits.deadline);
    let mut vm = Vm::new(p, bump, limits);
    let supplied = match facts.plain() {
        Value::Map(m) => m,
        _ => &[],
    };
    let root = vm.new_ctx(policy, supplied);
    let outcomes = rules
        .iter()
        .map(|&rule| {
            let result = match &root {
                Ok(ctx) => vm.eval_rule_top(*ctx, rule),
                Err(e) => Err(e.clone()),
            };
            Outcome { rule, result }
        })
        .collect();
    // Outcomes were measured within their budgets; writing them out is bounded by that.
    crate::work::reset(crate::work::UNLIMITED);
    crate::work::set_deadline(None);
    outcomes
}

/// Binds and checks the facts of `policy` without evaluating any rule (`sentrie validate
/// --facts`).
pub fn check_facts<'a>(
    p: &'a Program,
    policy: PolicyId,
    facts: Value<'a>,
    bump: &'a Bump,
) -> Result<(), EvalError> {
    crate::work::reset(crate::work::DEFAULT_BUDGET);
    let mut vm = Vm::new(p, bump, Limits::default());
    let supplied = match facts.plain() {
        Value::Map(m) => m,
        _ => &[],
    };
    let res = vm.new_ctx(policy, supplied).map(|_| ());
    crate::work::reset(crate::work::UNLIMITED);
    res
}

impl<'a> Vm<'a> {
    fn new(p: &'a Program, bump: &'a Bump, limits: Limits) -> Vm<'a> {
        Vm {
            p,
            bump,
            regs: BumpVec::with_capacity_in(256, bump),
            frames: BumpVec::with_capacity_in(16, bump),
            subs: BumpVec::new_in(bump),
            builders: BumpVec::new_in(bump),
            ctxs: BumpVec::with_capacity_in(2, bump),
            att_stack: BumpVec::new_in(bump),
            conformed: BumpVec::new_in(bump),
            const_cache: BumpVec::new_in(bump),
            now_ms: None,
            fuel: limits.fuel,
            limits,
        }
    }

    fn fault_to_error(&self, f: Fault) -> EvalError {
        let location = self
            .p
            .funcs
            .get(f.func)
            .and_then(|func| func.loc_at(f.pc))
            .map(|l| {
                let file = self
                    .p
                    .files
                    .get(l.file as usize)
                    .map_or("<unknown>", String::as_str);
                format!("{file}:{}:{}", l.line, l.col)
            });
        EvalError {
            message: f.message,
            location,
        }
    }

    /// Creates an evaluation context for `policy` and binds its facts (LANGUAGE.md §9.2).
    fn new_ctx(&mut self, policy: PolicyId, supplied: MapRef<'a>) -> Result<u32, EvalError> {
        let info = &self.p.policies[policy];
        if let Some(err) = &info.error {
            return Err(EvalError {
                message: err.clone(),
                location: None,
            });
        }
        let bump = self.bump;
        let facts = bump.alloc_slice_fill_with(info.facts.len(), |_| Cell::new(Value::Undefined));
        let lets = bump.alloc_slice_fill_with(info.lets.len(), |_| Cell::new(Value::Pending));
        let rules = bump.alloc_slice_fill_with(info.rules.len(), |_| Cell::new(None));
        let idx = self.ctxs.len() as u32;
        self.ctxs.push(Ctx {
            supplied,
            facts,
            lets,
            rules,
        });
        let p = self.p;
        for (i, fact) in p.policies[policy].facts.iter().enumerate() {
            let name = &fact.exposed;
            let value = match map_get(supplied, name) {
                Some(Value::Null) => {
                    return Err(plain_error(format!("fact '{name}' cannot be null")))
                }
                Some(v) => v,
                None if fact.required => {
                    return Err(plain_error(format!("required fact not found: {name}")))
                }
                None => match fact.default {
                    Some(func) => {
                        let v = self.call_top(idx, func)?;
                        if matches!(v.plain(), Value::Null) {
                            return Err(plain_error(format!("fact '{name}' cannot be null")));
                        }
                        v.plain()
                    }
                    None => Value::Undefined,
                },
            };
            if !value.is_undefined() {
                self.conform_fact(name, fact.ty, value)?;
            }
            facts[i].set(value);
        }
        Ok(idx)
    }

    /// The arena copy of list or map constant `k`.
    fn composite_const(&mut self, k: u32, c: &'a crate::program::Const) -> Value<'a> {
        if let Some((_, v)) = self.const_cache.iter().find(|(i, _)| *i == k) {
            return *v;
        }
        let v = json::const_value(c, self.bump);
        if self.const_cache.len() < CONST_CACHE_LEN {
            self.const_cache.push((k, v));
        }
        v
    }

    /// Checks a fact value against its declared type, once per (value, type) in a decision.
    fn conform_fact(&mut self, name: &str, ty: TypeId, value: Value<'a>) -> Result<(), EvalError> {
        let identity = match value {
            Value::Map(m) => Some((m.as_ptr() as usize, m.len(), ty)),
            Value::List(l) => Some((l.as_ptr() as usize, l.len(), ty)),
            Value::Str(s) => Some((s.as_ptr() as usize, s.len(), ty)),
            _ => None,
        };
        if identity.is_some_and(|id| self.conformed.contains(&id)) {
            return Ok(());
        }
        if let Err(reason) = conform::check(self.p, ty, value, 0) {
            return Err(plain_error(format!(
                "invalid value for fact '{name}': {reason}"
            )));
        }
        if let Some(id) = identity {
            self.conformed.push(id);
        }
        Ok(())
    }

    /// Evaluates one requested rule with a fresh work budget. A rule that exhausted it may have
    /// left lets and rules cached from walks that were cut short, so every cache is dropped:
    /// later rules recompute what they need (and fail too only if they need the same value).
    fn eval_rule_top(&mut self, ctx: u32, rule: RuleId) -> Result<&'a DecisionVal<'a>, EvalError> {
        crate::work::reset(self.limits.work);
        let out = self.eval_rule_cached(ctx, rule);
        if crate::work::exhausted() {
            for c in self.ctxs.iter() {
                c.lets.iter().for_each(|l| l.set(Value::Pending));
                c.rules.iter().for_each(|r| r.set(None));
            }
        }
        out
    }

    fn eval_rule_cached(
        &mut self,
        ctx: u32,
        rule: RuleId,
    ) -> Result<&'a DecisionVal<'a>, EvalError> {
        let slot = self.p.rules[rule].slot as usize;
        if let Some(d) = self.ctxs[ctx as usize].rules[slot].get() {
            return checked_output(d);
        }
        let dst = self.regs.len() as u32;
        self.regs.push(Value::Undefined);
        let depth = self.frames.len();
        self.push_frame(self.p.rules[rule].func, ctx, Ret::Rule { rule, dst })
            .map_err(plain_error)?;
        let res = self.run(depth);
        let out = match res {
            Ok(_) => match self.regs[dst as usize] {
                Value::Decision(d) => checked_output(d),
                _ => Err(plain_error(
                    "internal error: rule did not produce a decision".to_string(),
                )),
            },
            Err(f) => Err(self.fault_to_error(f)),
        };
        self.regs.truncate(dst as usize);
        out
    }

    /// Runs a function to completion in `ctx` and returns its value (fact defaults).
    fn call_top(&mut self, ctx: u32, func: FuncId) -> Result<Value<'a>, EvalError> {
        let depth = self.frames.len();
        let mark = self.regs.len();
        self.push_frame(func, ctx, Ret::Top).map_err(plain_error)?;
        let res = self.run(depth);
        self.regs.truncate(mark);
        res.map_err(|f| self.fault_to_error(f))
    }

    fn push_frame(&mut self, func: FuncId, ctx: u32, ret: Ret<'a>) -> Step<()> {
        if self.frames.len() >= self.limits.max_depth {
            return Err("infinite recursion: evaluation nested too deeply".to_string());
        }
        self.charge()?;
        let f = &self.p.funcs[func];
        let base = self.regs.len() as u32;
        self.regs
            .resize(base as usize + f.n_regs as usize, Value::Undefined);
        let bbase = self.builders.len() as u32;
        for _ in 0..f.n_builders {
            self.builders.push(BumpVec::new_in(self.bump));
        }
        self.frames.push(Frame {
            func,
            pc: 0,
            base,
            bbase,
            ctx,
            ret,
        });
        Ok(())
    }

    fn charge(&mut self) -> Step<()> {
        if self.fuel == 0 {
            return Err("evaluation budget exceeded: too much work for one decision".to_string());
        }
        self.fuel -= 1;
        if self.fuel.is_multiple_of(256) {
            if let Some(deadline) = self.limits.deadline {
                if std::time::Instant::now() > deadline {
                    return Err("evaluation deadline exceeded".to_string());
                }
            }
            if crate::work::exhausted() {
                return Err(crate::work::exhausted_message().to_string());
            }
            if self.bump.allocated_bytes() > self.limits.max_arena_bytes {
                return Err(format!(
                    "evaluation budget exceeded: the decision used more than {} MiB of memory",
                    self.limits.max_arena_bytes >> 20
                ));
            }
        }
        Ok(())
    }

    /// Runs until the frame stack is back to `depth`. On error every frame above `depth` is
    /// discarded and half-built decisions are removed from their caches.
    fn run(&mut self, depth: usize) -> Result<Value<'a>, Fault> {
        match self.run_inner(depth) {
            Ok(v) => Ok(v),
            Err(message) => {
                let (func, pc) = self.frames.last().map_or((FuncId::from_u32(0), 0), |f| {
                    (f.func, f.pc.saturating_sub(1))
                });
                while self.frames.len() > depth {
                    if let Some(fr) = self.frames.pop() {
                        if let Ret::Attach { dec, .. } = fr.ret {
                            let ctx = &self.ctxs[fr.ctx as usize];
                            let slot = self.p.rules[dec.rule].slot as usize;
                            ctx.rules[slot].set(None);
                        }
                        self.regs.truncate(fr.base as usize);
                        self.builders.truncate(fr.bbase as usize);
                    }
                }
                self.subs.clear();
                self.att_stack.clear();
                Err(Fault { message, func, pc })
            }
        }
    }

    fn run_inner(&mut self, depth: usize) -> Step<Value<'a>> {
        loop {
            let Some(&frame) = self.frames.last() else {
                return Ok(Value::Undefined);
            };
            let mut pc = frame.pc as usize;
            match self.exec(frame, &mut pc, depth) {
                Ok(Flow::Continue) => {}
                Ok(Flow::Return(v)) => return Ok(v),
                Err(message) => {
                    if let Some(f) = self.frames.last_mut() {
                        f.pc = pc as u32;
                    }
                    return Err(message);
                }
            }
        }
    }

    /// Executes instructions of the top frame until a call, a return or an error.
    fn exec(&mut self, frame: Frame<'a>, pc_out: &mut usize, depth: usize) -> Step<Flow<'a>> {
        let p = self.p;
        let code = &p.funcs[frame.func].code;
        let base = frame.base as usize;
        let mut pc = *pc_out;
        {
            macro_rules! r {
                ($reg:expr) => {
                    self.regs[base + $reg.0 as usize]
                };
            }
            macro_rules! set {
                ($reg:expr, $v:expr) => {{
                    let v = $v;
                    self.regs[base + $reg.0 as usize] = v;
                }};
            }
            macro_rules! save_pc {
                () => {
                    if let Some(f) = self.frames.last_mut() {
                        f.pc = pc as u32;
                    }
                };
            }
            macro_rules! bail {
                ($e:expr) => {{
                    *pc_out = pc;
                    return Err($e);
                }};
            }
            macro_rules! tri {
                ($e:expr) => {
                    match $e {
                        Ok(v) => v,
                        Err(m) => {
                            *pc_out = pc;
                            return Err(m);
                        }
                    }
                };
            }
            loop {
                let Some(&instr) = code.get(pc) else {
                    bail!("internal error: execution ran past the end of the code".to_string());
                };
                pc += 1;
                match instr {
                    Instr::LoadConst { dst, k } => {
                        // Scalars inline; lists and maps are built in the arena once.
                        let v = match &p.consts[k as usize] {
                            crate::program::Const::Num(n) => Value::Num(*n),
                            crate::program::Const::Str(s) => Value::Str(s),
                            other => self.composite_const(k, other),
                        };
                        set!(dst, v)
                    }
                    Instr::LoadUndef { dst } => set!(dst, Value::Undefined),
                    Instr::LoadNull { dst } => set!(dst, Value::Null),
                    Instr::LoadBool { dst, value } => set!(dst, Value::Bool(value)),
                    Instr::LoadUnknown { dst } => set!(dst, Value::Unknown),
                    Instr::Move { dst, src } => set!(dst, r!(src)),
                    Instr::LoadFact { dst, idx } => {
                        set!(dst, self.ctxs[frame.ctx as usize].facts[idx as usize].get())
                    }
                    Instr::LoadAdhoc { dst, name } => {
                        let ctx = &self.ctxs[frame.ctx as usize];
                        set!(
                            dst,
                            map_get(ctx.supplied, &p.names[name as usize])
                                .unwrap_or(Value::Undefined)
                        );
                    }
                    Instr::LoadLet { dst, let_id } => {
                        let info = &p.lets[crate::program::LetId::from_u32(let_id)];
                        let cached = self.ctxs[frame.ctx as usize].lets[info.slot as usize].get();
                        if !matches!(cached, Value::Pending) {
                            set!(dst, cached);
                        } else {
                            save_pc!();
                            let abs = (base + dst.0 as usize) as u32;
                            tri!(self.push_frame(
                                info.func,
                                frame.ctx,
                                Ret::Let {
                                    slot: info.slot,
                                    dst: abs
                                }
                            ));
                            return Ok(Flow::Continue);
                        }
                    }
                    Instr::LoadRule { dst, rule } => {
                        let rule = RuleId::from_u32(rule);
                        let info = &p.rules[rule];
                        if let Some(d) =
                            self.ctxs[frame.ctx as usize].rules[info.slot as usize].get()
                        {
                            set!(dst, Value::Decision(d));
                        } else {
                            save_pc!();
                            let abs = (base + dst.0 as usize) as u32;
                            tri!(self.push_frame(
                                info.func,
                                frame.ctx,
                                Ret::Rule { rule, dst: abs }
                            ));
                            return Ok(Flow::Continue);
                        }
                    }
                    Instr::Import { dst, site } => {
                        let site = &p.imports[site as usize];
                        let mut entries = BumpVec::with_capacity_in(site.names.len(), self.bump);
                        for (i, name) in site.names.iter().enumerate() {
                            let v = self.regs[base + site.args.0 as usize + i].plain();
                            if !v.is_undefined() {
                                entries.push((name.as_str(), v));
                            }
                        }
                        let supplied = json::sort_entries(self.bump, entries);
                        let target = &p.rules[site.rule];
                        save_pc!();
                        let ctx =
                            tri!(self.new_ctx(target.policy, supplied).map_err(|e| e.message));
                        let abs = (base + dst.0 as usize) as u32;
                        tri!(self.push_frame(
                            target.func,
                            ctx,
                            Ret::Rule {
                                rule: site.rule,
                                dst: abs
                            }
                        ));
                        return Ok(Flow::Continue);
                    }
                    Instr::EnsureLocal { slot, target } => {
                        if matches!(r!(slot), Value::Pending) {
                            self.subs.push(pc as u32);
                            pc = target as usize;
                        }
                    }
                    Instr::ClearLocal { slot } => set!(slot, Value::Pending),
                    Instr::RetSub => {
                        pc = tri!(self.subs.pop().ok_or_else(|| {
                            "internal error: unbalanced subroutine return".to_string()
                        })) as usize;
                    }
                    Instr::CheckLet { src, site } => {
                        let check = &p.let_checks[site as usize];
                        let v = r!(src);
                        if let Err(reason) = conform::check(p, check.ty, v, 0) {
                            bail!(format!("invalid value for let '{}': {reason}", check.name));
                        }
                    }
                    Instr::GetField { dst, src, name } => set!(
                        dst,
                        tri!(get_field(p, r!(src), &p.names[name as usize], false))
                    ),
                    Instr::GetFieldLenient { dst, src, name } => {
                        set!(
                            dst,
                            tri!(get_field(p, r!(src), &p.names[name as usize], true))
                        )
                    }
                    Instr::GetIndex { dst, src, key } => {
                        set!(dst, tri!(get_index(p, r!(src), r!(key), false)))
                    }
                    Instr::GetIndexLenient { dst, src, key } => {
                        set!(dst, tri!(get_index(p, r!(src), r!(key), true)))
                    }
                    Instr::Add { dst, lhs, rhs } => {
                        let v = tri!(add(r!(lhs), r!(rhs), self.bump));
                        set!(dst, v)
                    }
                    Instr::Sub { dst, lhs, rhs } => set!(dst, tri!(arith(r!(lhs), r!(rhs), '-'))),
                    Instr::Mul { dst, lhs, rhs } => set!(dst, tri!(arith(r!(lhs), r!(rhs), '*'))),
                    Instr::Div { dst, lhs, rhs } => set!(dst, tri!(arith(r!(lhs), r!(rhs), '/'))),
                    Instr::Mod { dst, lhs, rhs } => set!(dst, tri!(arith(r!(lhs), r!(rhs), '%'))),
                    Instr::Lt { dst, lhs, rhs } => set!(dst, tri!(compare(r!(lhs), r!(rhs), "<"))),
                    Instr::Le { dst, lhs, rhs } => set!(dst, tri!(compare(r!(lhs), r!(rhs), "<="))),
                    Instr::Gt { dst, lhs, rhs } => set!(dst, tri!(compare(r!(lhs), r!(rhs), ">"))),
                    Instr::Ge { dst, lhs, rhs } => set!(dst, tri!(compare(r!(lhs), r!(rhs), ">="))),
                    Instr::Eq { dst, lhs, rhs } => set!(dst, equals(r!(lhs), r!(rhs), false)),
                    Instr::Ne { dst, lhs, rhs } => set!(dst, equals(r!(lhs), r!(rhs), true)),
                    Instr::Contains { dst, lhs, rhs } => set!(dst, contains(r!(lhs), r!(rhs))),
                    Instr::Matches { dst, lhs, rhs } => {
                        set!(dst, tri!(matches_dyn(r!(lhs), r!(rhs))))
                    }
                    Instr::MatchesConst { dst, src, regex } => {
                        let v = match r!(src).plain() {
                            Value::Undefined => Value::Undefined,
                            Value::Str(s) => {
                                Value::Bool(p.compiled_regexes[regex as usize].is_match(s))
                            }
                            other => {
                                return Err(format!(
                                    "type error: matches expects strings, found {}",
                                    other.kind_name()
                                ))
                            }
                        };
                        set!(dst, v)
                    }
                    Instr::Not { dst, src } => {
                        let v = r!(src);
                        set!(
                            dst,
                            if v.is_undefined() {
                                Value::Undefined
                            } else {
                                v.truthy().negate().value()
                            }
                        )
                    }
                    Instr::Neg { dst, src } => set!(dst, tri!(unary_num(r!(src), true))),
                    Instr::Plus { dst, src } => set!(dst, tri!(unary_num(r!(src), false))),
                    Instr::Truthy { dst, src } => set!(dst, r!(src).truthy().value()),
                    Instr::AndTri { dst, lhs, rhs } => {
                        set!(dst, r!(lhs).truthy().and(r!(rhs).truthy()).value())
                    }
                    Instr::OrTri { dst, lhs, rhs } => {
                        set!(dst, r!(lhs).truthy().or(r!(rhs).truthy()).value())
                    }
                    Instr::XorTri { dst, lhs, rhs } => {
                        set!(dst, r!(lhs).truthy().xor(r!(rhs).truthy()).value())
                    }
                    Instr::IsDefined { dst, src } => {
                        set!(dst, Value::Bool(!r!(src).is_undefined()))
                    }
                    Instr::IsEmpty { dst, src } => set!(dst, Value::Bool(is_empty(r!(src)))),
                    Instr::IsType { dst, src, ty } => {
                        let ok = conform::check(
                            p,
                            crate::program::TypeId::from_u32(ty.into()),
                            r!(src),
                            0,
                        )
                        .is_ok();
                        set!(dst, Value::Bool(ok))
                    }
                    Instr::Cast { dst, src, ty } => {
                        let v = tri!(crate::cast::cast(
                            p,
                            crate::program::TypeId::from_u32(ty.into()),
                            r!(src),
                            self.bump
                        ));
                        set!(dst, v)
                    }
                    Instr::Count { dst, src } => set!(dst, Value::Num(builtins::count(r!(src)))),
                    Instr::Jump { target } => {
                        if (target as usize) < pc {
                            tri!(self.charge());
                        }
                        pc = target as usize;
                    }
                    Instr::JumpIfTrue { src, target } => {
                        if r!(src).truthy() == Tri::True {
                            pc = target as usize;
                        }
                    }
                    Instr::JumpIfNotTrue { src, target } => {
                        if r!(src).truthy() != Tri::True {
                            pc = target as usize;
                        }
                    }
                    Instr::JumpIfFalse { src, target } => {
                        if r!(src).truthy() == Tri::False {
                            pc = target as usize;
                        }
                    }
                    Instr::JumpIfUndef { src, target } => {
                        if r!(src).is_undefined() {
                            pc = target as usize;
                        }
                    }
                    Instr::MakeList { dst, src, n } => {
                        let start = base + src.0 as usize;
                        let items = self
                            .bump
                            .alloc_slice_copy(&self.regs[start..start + n as usize]);
                        set!(dst, Value::List(items))
                    }
                    Instr::MakeMap { dst, src, n } => {
                        let start = base + src.0 as usize;
                        let mut entries = BumpVec::with_capacity_in(n as usize, self.bump);
                        for i in 0..n as usize {
                            let key = match self.regs[start + 2 * i].plain() {
                                Value::Str(s) => s,
                                other => {
                                    return Err(format!(
                                        "map key is not a string: found {}",
                                        other.kind_name()
                                    ))
                                }
                            };
                            entries.push((key, self.regs[start + 2 * i + 1]));
                        }
                        set!(dst, Value::Map(json::sort_entries(self.bump, entries)))
                    }
                    Instr::IterCheck { src, op } => {
                        if !matches!(r!(src).plain(), Value::List(_)) {
                            bail!(format!(
                                "{} expects a list, found {}",
                                op.name(),
                                r!(src).kind_name()
                            ));
                        }
                    }
                    Instr::IterNext { list, idx, elem } => {
                        let i = match r!(idx) {
                            Value::Num(n) => n as usize,
                            _ => usize::MAX,
                        };
                        if let Value::List(items) = r!(list).plain() {
                            if i < items.len() {
                                set!(elem, items[i]);
                                pc += 1;
                            }
                        }
                    }
                    Instr::Incr { reg } => {
                        if let Value::Num(n) = r!(reg) {
                            set!(reg, Value::Num(n + 1.0));
                        }
                    }
                    Instr::BuilderNew { b } => {
                        self.builders[frame.bbase as usize + b as usize] =
                            BumpVec::new_in(self.bump)
                    }
                    Instr::BuilderPush { b, src } => {
                        let v = r!(src);
                        self.builders[frame.bbase as usize + b as usize].push(v);
                    }
                    Instr::BuilderFinish { dst, b } => {
                        let built = std::mem::replace(
                            &mut self.builders[frame.bbase as usize + b as usize],
                            BumpVec::new_in(self.bump),
                        );
                        set!(dst, Value::List(built.into_bump_slice()))
                    }
                    Instr::BuilderLen { dst, b } => {
                        set!(
                            dst,
                            Value::Num(
                                self.builders[frame.bbase as usize + b as usize].len() as f64
                            )
                        )
                    }
                    Instr::BuilderGet { dst, b, idx } => {
                        let i = match r!(idx) {
                            Value::Num(n) => n as usize,
                            _ => usize::MAX,
                        };
                        let v = self.builders[frame.bbase as usize + b as usize]
                            .get(i)
                            .copied()
                            .unwrap_or(Value::Undefined);
                        set!(dst, v)
                    }
                    Instr::CallBuiltin { dst, site } => {
                        let call = &p.calls[site as usize];
                        let start = base + call.args.0 as usize;
                        let args = &self.regs[start..start + call.argc as usize];
                        let key = memo_key(p, call.memo, 'b', site, args);
                        let bump = self.bump;
                        let v = tri!(crate::memo::memoized(key, bump, || builtins::call(
                            call.builtin,
                            args,
                            bump
                        )));
                        set!(dst, v)
                    }
                    Instr::CallNative { dst, site } => {
                        let now_ms = *self.now_ms.get_or_insert_with(unix_ms);
                        let site_info = &p.natives[site as usize];
                        let start = base + site_info.args.0 as usize;
                        let args = &self.regs[start..start + site_info.argc as usize];
                        let key = memo_key(p, site_info.memo, 'n', site, args);
                        let env = crate::modules::Env {
                            bump: self.bump,
                            now_ms,
                        };
                        let native = p.compiled_natives[site as usize];
                        let v = tri!(crate::memo::memoized(key, self.bump, || native(args, &env)));
                        set!(dst, v)
                    }
                    Instr::CallModule { dst, site } => {
                        let m = &p.module_sites[site as usize];
                        let start = base + m.args.0 as usize;
                        let args = &self.regs[start..start + m.argc as usize];
                        let key = memo_key(p, m.memo, 'm', site, args);
                        let bump = self.bump;
                        let pack = crate::jsrt::JsPack::of(p);
                        let v = tri!(crate::memo::memoized(key, bump, || {
                            crate::jsrt::invoke(pack, &m.key, &m.export, m.call, args, bump)
                        }));
                        set!(dst, v)
                    }
                    Instr::Fail { k } => {
                        bail!(match &p.consts[k as usize] {
                            crate::program::Const::Str(s) => s.clone(),
                            _ => "evaluation failed".to_string(),
                        });
                    }
                    Instr::Ret { src } => {
                        let v = r!(src);
                        let Some(fr) = self.frames.pop() else {
                            return Ok(Flow::Return(v));
                        };
                        self.regs.truncate(fr.base as usize);
                        self.builders.truncate(fr.bbase as usize);
                        match fr.ret {
                            Ret::Top => {
                                if self.frames.len() <= depth {
                                    return Ok(Flow::Return(v));
                                }
                            }
                            Ret::Let { slot, dst } => {
                                self.ctxs[fr.ctx as usize].lets[slot as usize].set(v);
                                self.regs[dst as usize] = v;
                            }
                            Ret::Rule { rule, dst } => {
                                if tri!(self.finish_rule(fr.ctx, rule, v, dst)) {
                                    return Ok(Flow::Continue);
                                }
                            }
                            Ret::Attach {
                                dec,
                                idx,
                                dst,
                                start,
                            } => {
                                self.att_stack.push(v.plain());
                                let info = &p.rules[dec.rule];
                                if (idx as usize) + 1 < info.attachments.len() {
                                    let next = idx + 1;
                                    let ret = Ret::Attach {
                                        dec,
                                        idx: next,
                                        dst,
                                        start,
                                    };
                                    let func = info.attachments[next as usize].1;
                                    tri!(self.push_frame(func, fr.ctx, ret));
                                    return Ok(Flow::Continue);
                                }
                                let attachments = self
                                    .bump
                                    .alloc_slice_copy(&self.att_stack[start as usize..]);
                                self.att_stack.truncate(start as usize);
                                let done: &'a DecisionVal<'a> = self.bump.alloc(DecisionVal {
                                    attachments,
                                    ..*dec
                                });
                                self.ctxs[fr.ctx as usize].rules[info.slot as usize]
                                    .set(Some(done));
                                self.regs[dst as usize] = Value::Decision(done);
                            }
                        }
                        if self.frames.len() <= depth {
                            return Ok(Flow::Return(v));
                        }
                        return Ok(Flow::Continue);
                    }
                }
            }
        }
    }

    /// Wraps a rule's value as a decision, caches it, and starts its attachments if any
    /// (returning the frame to run next).
    fn finish_rule(&mut self, ctx: u32, rule: RuleId, v: Value<'a>, dst: u32) -> Step<bool> {
        let info = &self.p.rules[rule];
        let imported = match v {
            Value::Decision(d) => Some(d),
            _ => None,
        };
        // Cached at once so attachments can read the rule itself; replaced by the complete
        // decision once its attachments are computed.
        let dec: &'a DecisionVal<'a> = self.bump.alloc(DecisionVal {
            rule,
            state: v.truthy(),
            value: v.plain(),
            attachments: &[],
            imported,
        });
        self.ctxs[ctx as usize].rules[info.slot as usize].set(Some(dec));
        if info.attachments.is_empty() {
            self.regs[dst as usize] = Value::Decision(dec);
            return Ok(false);
        }
        let func = info.attachments[0].1;
        let start = self.att_stack.len() as u32;
        self.push_frame(
            func,
            ctx,
            Ret::Attach {
                dec,
                idx: 0,
                dst,
                start,
            },
        )?;
        Ok(true)
    }
}

/// A requested rule's decision, which is written out later: its value and attachments must
/// fit the work budget, and no walk may have been cut short while computing them.
fn checked_output<'a>(d: &'a DecisionVal<'a>) -> Result<&'a DecisionVal<'a>, EvalError> {
    if crate::work::measure(d.value) && d.attachments.iter().all(|a| crate::work::measure(*a)) {
        Ok(d)
    } else {
        Err(plain_error(crate::work::exhausted_message().to_string()))
    }
}

/// The memo key and TTL of a call site written with `!`, if caching applies.
fn memo_key(
    p: &Program,
    memo: Option<u32>,
    kind: char,
    site: u32,
    args: &[Value<'_>],
) -> Option<(String, u32)> {
    let ttl = memo.filter(|t| *t > 0)?;
    Some((
        crate::memo::key(p.instance, &format!("{kind}{site}"), args),
        ttl,
    ))
}

fn unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn plain_error(message: String) -> EvalError {
    EvalError {
        message,
        location: None,
    }
}

/// How many list and map constants a decision keeps built (see `Vm::const_cache`).
const CONST_CACHE_LEN: usize = 32;

/// Helper for callers that keep registers by number.
pub fn reg(n: u16) -> Reg {
    Reg(n)
}

//! The interpreter: one dispatch loop over an explicit frame stack (no Rust recursion for
//! rule, let or import calls), registers in the per-decision arena, fuel charged only at
//! backward jumps and calls.
//!
//! `mod.rs` holds the machine (frames, contexts, limits, running to completion); `bind.rs`
//! creates evaluation contexts and binds facts; `dispatch.rs` is the instruction loop, with
//! the heavier instruction families in `calls.rs` (rule, let and import calls, returns,
//! builtin, native and module calls).

mod bind;
mod calls;
mod dispatch;

use std::cell::Cell;

use bumpalo::collections::Vec as BumpVec;
use bumpalo::Bump;

use crate::bytecode::Reg;
use crate::error::{ErrorKind, EvalError, Fault};
use crate::program::{FuncId, PolicyId, Program, RuleId, TypeId};
use crate::trace::{CallKind, NoTrace, Trace};
use crate::value::{DecisionVal, MapRef, Value};
use crate::verified::VerifiedProgram;

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

/// One requested rule's outcome.
pub struct Outcome<'a> {
    pub rule: RuleId,
    pub result: Result<&'a DecisionVal<'a>, EvalError>,
}

struct Ctx<'a> {
    supplied: MapRef<'a>,
    facts: &'a [Cell<Value<'a>>],
    lets: &'a [Cell<Value<'a>>],
    rules: RuleCache<'a>,
}

/// Rules cached per page: a page holds this many slots.
const RULE_PAGE: usize = 64;

/// One page of the rule cache.
type RulePage<'a> = &'a [Cell<Option<&'a DecisionVal<'a>>>];

/// A context's rule cache, by slot, in pages allocated in the arena when a rule of the page
/// is first cached: a policy with 10,000 rules costs a decision that reads three of them 157
/// page pointers and one page, not 10,000 cleared cells.
struct RuleCache<'a> {
    pages: &'a [Cell<Option<RulePage<'a>>>],
    /// Slots in all (the last page, or a policy's only one, is cut to what it needs).
    slots: usize,
}

impl<'a> RuleCache<'a> {
    fn new(slots: usize, bump: &'a bumpalo::Bump) -> RuleCache<'a> {
        RuleCache {
            pages: bump.alloc_slice_fill_with(slots.div_ceil(RULE_PAGE), |_| Cell::new(None)),
            slots,
        }
    }

    fn get(&self, slot: usize) -> Option<&'a DecisionVal<'a>> {
        self.pages
            .get(slot / RULE_PAGE)?
            .get()?
            .get(slot % RULE_PAGE)?
            .get()
    }

    /// Forgets every cached rule (the pages are dropped; the arena reclaims them later).
    fn clear(&self) {
        self.pages.iter().for_each(|p| p.set(None));
    }

    fn set(&self, slot: usize, v: Option<&'a DecisionVal<'a>>, bump: &'a bumpalo::Bump) {
        let Some(page) = self.pages.get(slot / RULE_PAGE) else {
            return;
        };
        let cells = match page.get() {
            Some(cells) => cells,
            // Clearing a slot of a page never written needs nothing.
            None if v.is_none() => return,
            None => {
                let len = RULE_PAGE.min(self.slots - slot / RULE_PAGE * RULE_PAGE);
                let cells: RulePage<'a> = bump.alloc_slice_fill_with(len, |_| Cell::new(None));
                page.set(Some(cells));
                cells
            }
        };
        if let Some(cell) = cells.get(slot % RULE_PAGE) {
            cell.set(v);
        }
    }
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

pub struct Vm<'a, T: Trace = NoTrace> {
    /// Hooks of explaining evaluations; [`NoTrace`] compiles them away.
    tracer: T,
    /// The program as linked (regexes, natives, host) and its tables.
    vp: &'a VerifiedProgram,
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
    /// Instructions left before the dispatch loop next looks at the clock, whatever fuel
    /// was charged meanwhile.
    ticks: u32,
    limits: Limits,
}

/// Instructions between two looks at the clock in the dispatch loop.
pub(super) const TICKS: u32 = 4096;

type Step<T> = Result<T, ErrorKind>;

/// Evaluates `rules` of `policy` against the supplied facts (a map value).
pub fn evaluate<'a>(
    p: &'a VerifiedProgram,
    policy: PolicyId,
    rules: &[RuleId],
    facts: Value<'a>,
    bump: &'a Bump,
    limits: Limits,
) -> Outcomes<'a> {
    evaluate_with(p, policy, rules, facts, bump, limits, NoTrace).0
}

/// The outcomes of one evaluation, in the order the rules were asked for (in the arena, like
/// everything else a decision allocates).
pub type Outcomes<'a> = BumpVec<'a, Outcome<'a>>;

/// [`evaluate`] with the hooks of `tracer` (coverage, for instance), which is handed back.
pub fn evaluate_with<'a, T: Trace>(
    p: &'a VerifiedProgram,
    policy: PolicyId,
    rules: &[RuleId],
    facts: Value<'a>,
    bump: &'a Bump,
    limits: Limits,
    tracer: T,
) -> (Outcomes<'a>, T) {
    crate::work::reset(limits.work);
    crate::work::set_deadline(limits.deadline);
    let mut vm = Vm::new(p, bump, limits, tracer);
    let supplied = match facts.plain() {
        Value::Map(m) => m,
        _ => &[],
    };
    let root = vm.new_ctx(policy, supplied);
    let mut outcomes = BumpVec::with_capacity_in(rules.len(), bump);
    outcomes.extend(rules.iter().map(|&rule| {
        let result = match &root {
            Ok(ctx) => vm.eval_rule_top(*ctx, rule),
            Err(e) => Err(e.clone()),
        };
        Outcome { rule, result }
    }));
    // Outcomes were measured within their budgets; writing them out is bounded by that.
    crate::work::reset(crate::work::UNLIMITED);
    crate::work::set_deadline(None);
    (outcomes, vm.into_tracer())
}

/// [`evaluate`], also recording for each requested rule a trace of what was evaluated on the
/// way (see [`crate::trace`]). Outcomes are the same as [`evaluate`]'s.
pub fn evaluate_explained<'a>(
    p: &'a VerifiedProgram,
    policy: PolicyId,
    rules: &[RuleId],
    facts: Value<'a>,
    bump: &'a Bump,
    limits: Limits,
) -> (Outcomes<'a>, Vec<serde_json::Value>) {
    crate::work::reset(limits.work);
    crate::work::set_deadline(limits.deadline);
    let mut vm = Vm::new(p, bump, limits, crate::trace::Recorder::new());
    let supplied = match facts.plain() {
        Value::Map(m) => m,
        _ => &[],
    };
    let root = vm.new_ctx(policy, supplied);
    // Binding the facts may run fact defaults: that belongs to no rule.
    let _ = vm.tracer.take();
    let mut traces = Vec::with_capacity(rules.len());
    let mut outcomes = BumpVec::with_capacity_in(rules.len(), bump);
    outcomes.extend(rules.iter().map(|&rule| {
        let result = match &root {
            Ok(ctx) => vm.eval_rule_top(*ctx, rule),
            Err(e) => Err(e.clone()),
        };
        let mut trace = top_node(vm.tracer.take());
        if let (Some(m), Err(e)) = (trace.as_object_mut(), &result) {
            m.insert(
                "error".into(),
                serde_json::json!({"message": e.message(), "location": e.location}),
            );
        }
        traces.push(trace);
        Outcome { rule, result }
    }));
    crate::work::reset(crate::work::UNLIMITED);
    crate::work::set_deadline(None);
    (outcomes, traces)
}

/// The requested rule's own node out of a recorded trace; a rule decided earlier in the same
/// decision (as another rule's dependency) was not evaluated again and says so.
fn top_node(mut recorded: serde_json::Value) -> serde_json::Value {
    let omitted = recorded.get("omitted_steps").cloned();
    let steps = recorded
        .get_mut("steps")
        .and_then(|s| s.as_array_mut())
        .map(std::mem::take)
        .unwrap_or_default();
    // The rule's own frame comes first; its attachments run after it returned.
    let mut steps = steps.into_iter();
    let mut node = steps
        .next()
        .unwrap_or_else(|| serde_json::json!({"cached": true}));
    let attachments: Vec<serde_json::Value> = steps.collect();
    if let (false, Some(m)) = (attachments.is_empty(), node.as_object_mut()) {
        let own = m
            .entry("steps")
            .or_insert_with(|| serde_json::Value::Array(Vec::new()));
        if let Some(own) = own.as_array_mut() {
            own.extend(attachments);
        }
    }
    if let (Some(n), Some(m)) = (omitted, node.as_object_mut()) {
        m.insert("omitted_steps".into(), n);
    }
    node
}

/// Binds and checks the facts of `policy` without evaluating any rule (`sentrie validate
/// --facts`).
pub fn check_facts<'a>(
    p: &'a VerifiedProgram,
    policy: PolicyId,
    facts: Value<'a>,
    bump: &'a Bump,
) -> Result<(), EvalError> {
    crate::work::reset(crate::work::DEFAULT_BUDGET);
    let mut vm = Vm::new(p, bump, Limits::default(), NoTrace);
    let supplied = match facts.plain() {
        Value::Map(m) => m,
        _ => &[],
    };
    let res = vm.new_ctx(policy, supplied).map(|_| ());
    crate::work::reset(crate::work::UNLIMITED);
    res
}

impl<'a, T: Trace> Vm<'a, T> {
    fn new(vp: &'a VerifiedProgram, bump: &'a Bump, limits: Limits, tracer: T) -> Vm<'a, T> {
        Vm {
            tracer,
            vp,
            p: &vp.program,
            bump,
            regs: BumpVec::with_capacity_in(256, bump),
            frames: BumpVec::with_capacity_in(16, bump),
            // Sized for a typical decision, so that it grows none of them (a growth copies
            // within the arena).
            subs: BumpVec::with_capacity_in(4, bump),
            builders: BumpVec::with_capacity_in(4, bump),
            ctxs: BumpVec::with_capacity_in(2, bump),
            att_stack: BumpVec::with_capacity_in(8, bump),
            conformed: BumpVec::with_capacity_in(8, bump),
            const_cache: BumpVec::with_capacity_in(4, bump),
            now_ms: None,
            fuel: limits.fuel,
            ticks: TICKS,
            limits,
        }
    }

    /// The tracer, the machine given up. Its vectors live in the arena, which the caller
    /// resets: dropping them one by one would only hand the arena its tail back, so the
    /// machine is forgotten instead (what it holds outside the arena is the tracer, taken
    /// out first; an empty one is left in its place).
    fn into_tracer(mut self) -> T {
        let tracer = std::mem::take(&mut self.tracer);
        std::mem::forget(self);
        tracer
    }

    /// The dispatch loop's periodic look at the deadline (see [`TICKS`]).
    #[cold]
    fn past_deadline(&self) -> Step<()> {
        match self.limits.deadline {
            Some(deadline) if std::time::Instant::now() > deadline => Err(ErrorKind::Deadline),
            _ => Ok(()),
        }
    }

    fn fault_to_error(&self, f: Fault) -> EvalError {
        EvalError {
            location: self.vp.location(f.func, f.pc),
            kind: f.kind,
        }
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
                c.rules.clear();
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
        if let Some(d) = self.ctxs[ctx as usize].rules.get(slot) {
            return checked_output(d);
        }
        let dst = self.regs.len() as u32;
        self.regs.push(Value::Undefined);
        let depth = self.frames.len();
        self.push_frame(self.p.rules[rule].func, ctx, Ret::Rule { rule, dst })
            .map_err(EvalError::plain)?;
        let res = self.run(depth);
        let out = match res {
            Ok(_) => match self.regs[dst as usize] {
                Value::Decision(d) => checked_output(d),
                _ => Err(EvalError::plain(ErrorKind::Internal(
                    "rule did not produce a decision",
                ))),
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
        self.push_frame(func, ctx, Ret::Top)
            .map_err(EvalError::plain)?;
        let res = self.run(depth);
        self.regs.truncate(mark);
        res.map_err(|f| self.fault_to_error(f))
    }

    fn push_frame(&mut self, func: FuncId, ctx: u32, ret: Ret<'a>) -> Step<()> {
        if self.frames.len() >= self.limits.max_depth {
            return Err(ErrorKind::Recursion);
        }
        self.charge()?;
        if T::ON {
            let kind = match ret {
                Ret::Top => CallKind::FactDefault,
                Ret::Let { .. } => CallKind::Let,
                Ret::Attach { .. } => CallKind::Attachment,
                Ret::Rule { .. } if self.frames.last().is_some_and(|f| f.ctx != ctx) => {
                    CallKind::Import
                }
                Ret::Rule { .. } => CallKind::Rule,
            };
            self.tracer.enter(self.vp, func, kind);
        }
        let f = &self.p.funcs[func];
        let base = self.regs.len() as u32;
        self.regs
            .resize(base as usize + usize::from(f.n_regs), Value::Undefined);
        let bbase = self.builders.len() as u32;
        if f.n_builders > 0 {
            self.push_builders(f.n_builders);
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

    fn push_builders(&mut self, n: u16) {
        for _ in 0..n {
            self.builders.push(BumpVec::new_in(self.bump));
        }
    }

    fn charge(&mut self) -> Step<()> {
        if self.fuel == 0 {
            return Err(ErrorKind::Fuel);
        }
        self.fuel -= 1;
        if self.fuel.is_multiple_of(256) {
            if let Some(deadline) = self.limits.deadline {
                if std::time::Instant::now() > deadline {
                    return Err(ErrorKind::Deadline);
                }
            }
            if crate::work::exhausted() {
                return Err(ErrorKind::walk_exhausted());
            }
            if self.bump.allocated_bytes() > self.limits.max_arena_bytes {
                return Err(ErrorKind::Memory(self.limits.max_arena_bytes >> 20));
            }
        }
        Ok(())
    }

    /// Runs until the frame stack is back to `depth`. On error every frame above `depth` is
    /// discarded and half-built decisions are removed from their caches.
    fn run(&mut self, depth: usize) -> Result<Value<'a>, Fault> {
        match self.run_inner(depth) {
            Ok(v) => Ok(v),
            Err(kind) => {
                let (func, pc) = self.frames.last().map_or((FuncId::from_u32(0), 0), |f| {
                    (f.func, f.pc.saturating_sub(1))
                });
                if T::ON {
                    self.tracer.fault(self.vp, func, pc, &kind);
                }
                while self.frames.len() > depth {
                    if T::ON {
                        self.tracer.abandon();
                    }
                    if let Some(fr) = self.frames.pop() {
                        if let Ret::Attach { dec, .. } = fr.ret {
                            let ctx = &self.ctxs[fr.ctx as usize];
                            let slot = self.p.rules[dec.rule].slot as usize;
                            ctx.rules.set(slot, None, self.bump);
                        }
                        self.regs.truncate(fr.base as usize);
                        self.builders.truncate(fr.bbase as usize);
                    }
                }
                self.subs.clear();
                self.att_stack.clear();
                Err(Fault { kind, func, pc })
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
}

/// A requested rule's decision, which is written out later: its value and attachments must
/// fit the work budget, and no walk may have been cut short while computing them.
fn checked_output<'a>(d: &'a DecisionVal<'a>) -> Result<&'a DecisionVal<'a>, EvalError> {
    if crate::work::measure(d.value) && d.attachments.iter().all(|a| crate::work::measure(*a)) {
        Ok(d)
    } else {
        Err(EvalError::plain(ErrorKind::walk_exhausted()))
    }
}

/// How many list and map constants a decision keeps built (see `Vm::const_cache`).
const CONST_CACHE_LEN: usize = 32;

/// Helper for callers that keep registers by number.
pub fn reg(n: u16) -> Reg {
    Reg(n)
}

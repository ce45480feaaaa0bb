//! The instruction loop. Loads, moves, operators and jumps run inline; instructions that
//! call or return (rules, lets, imports, builtins, natives, modules) and the collection
//! builders are methods of their own, grouped by family.
//!
//! Every exit of the loop goes through one place that records the pc, so an error is always
//! reported at the instruction that failed (the frame's `pc` points one past it).

use bumpalo::collections::Vec as BumpVec;

use super::{Flow, Frame, Step, Vm, TICKS};
use crate::builtins;
use crate::bytecode::Instr;
use crate::conform;
use crate::error::ErrorKind;
use crate::json;
use crate::ops::{
    add, arith, compare, contains, contains_in, equals, field, get_index, is_empty, matches_dyn,
    unary_num,
};
use crate::program::{Const, RuleId, TypeId};
use crate::trace::Trace;
use crate::value::{map_get, Tri, Value};

impl<'a, T: Trace> Vm<'a, T> {
    /// Executes instructions from the top frame on, following calls and returns, until the
    /// stack is back to `depth` or an error. On return `*pc_out` is the pc after the last
    /// instruction executed (of the frame on top at that point).
    pub(super) fn exec(
        &mut self,
        frame: Frame<'a>,
        pc_out: &mut usize,
        depth: usize,
    ) -> Step<Flow<'a>> {
        let p = self.p;
        let mut frame = frame;
        let mut code = &p.funcs[frame.func].code;
        let mut base = frame.base as usize;
        // The frame's context: its fact and let cells live in the arena, so they are held
        // here while the frame runs (contexts pushed meanwhile do not move them).
        let Some(ctx) = self.ctxs.get(frame.ctx as usize) else {
            return Err(ErrorKind::Internal("frame without a context"));
        };
        let (mut facts, mut lets) = (ctx.facts, ctx.lets);
        let mut pc = *pc_out;
        // A call pushed a frame, or a return popped one: carry on with the new top frame
        // (its pc was saved when it made the call, or is 0 for a new one).
        macro_rules! switch {
            () => {{
                let Some(&top) = self.frames.last() else {
                    break Err(ErrorKind::Internal("no frame left to run"));
                };
                let Some(ctx) = self.ctxs.get(top.ctx as usize) else {
                    break Err(ErrorKind::Internal("frame without a context"));
                };
                (facts, lets) = (ctx.facts, ctx.lets);
                frame = top;
                code = &p.funcs[frame.func].code;
                base = frame.base as usize;
                pc = frame.pc as usize;
            }};
        }
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
        // Leaves the loop with the error; the pc is recorded below.
        macro_rules! tri {
            ($e:expr) => {
                match $e {
                    Ok(v) => v,
                    Err(kind) => break Err(kind),
                }
            };
        }
        // A call either has its value at once (cached) or pushed a frame to run next.
        macro_rules! call {
            ($e:expr) => {{
                match $e {
                    Ok(Some(v)) => v,
                    Ok(None) => {
                        switch!();
                        continue;
                    }
                    Err(kind) => break Err(kind),
                }
            }};
        }
        // Every jump counts towards the next look at the clock; between two jumps the code
        // runs straight, so the clock is seen at least every `TICKS` jumps' worth of code.
        let mut ticks = self.ticks;
        macro_rules! tick {
            () => {
                ticks -= 1;
                if ticks == 0 {
                    ticks = TICKS;
                    tri!(self.past_deadline());
                }
            };
        }
        let result = loop {
            let Some(&instr) = code.get(pc) else {
                break Err(ErrorKind::Internal(
                    "execution ran past the end of the code",
                ));
            };
            if T::ON {
                self.tracer
                    .step(self.vp, frame.func, pc as u32, &self.regs[base..]);
            }
            pc += 1;
            match instr {
                Instr::LoadConst { dst, k } => {
                    // Scalars here; lists and maps are built in the arena once.
                    let v = match &p.consts[k as usize] {
                        Const::Num(n) => Value::Num(*n),
                        Const::Str(s) => Value::Str(s),
                        Const::Bool(b) => Value::Bool(*b),
                        composite => self.load_const(k, composite),
                    };
                    set!(dst, v)
                }
                Instr::LoadUndef { dst } => set!(dst, Value::Undefined),
                Instr::LoadNull { dst } => set!(dst, Value::Null),
                Instr::LoadBool { dst, value } => set!(dst, Value::Bool(value)),
                Instr::LoadUnknown { dst } => set!(dst, Value::Unknown),
                Instr::Move { dst, src } => set!(dst, r!(src)),
                Instr::LoadFact { dst, idx } => {
                    set!(dst, facts[idx as usize].get())
                }
                Instr::LoadAdhoc { dst, name } => {
                    let ctx = &self.ctxs[frame.ctx as usize];
                    let v = map_get(ctx.supplied, &p.names[name as usize]);
                    set!(dst, v.unwrap_or(Value::Undefined));
                }
                Instr::LoadLet { dst, let_id } => {
                    set!(dst, call!(self.load_let(frame, pc, dst, let_id)))
                }
                Instr::InlineLet { dst, let_id } => {
                    let info = &p.lets[crate::program::LetId::from_u32(let_id)];
                    let cached = lets[info.slot as usize].get();
                    if !matches!(cached, Value::Pending) {
                        // The `Jump` that follows skips the inline code.
                        set!(dst, cached)
                    } else if T::ON {
                        // Explained evaluations see the let's own frame, as with `LoadLet`.
                        set!(dst, call!(self.load_let(frame, pc, dst, let_id)))
                    } else {
                        // Charged as the let's call would be, so fuel runs out where it would.
                        tri!(self.charge());
                        pc += 1;
                    }
                }
                Instr::StoreLet { src, let_id } => {
                    let info = &p.lets[crate::program::LetId::from_u32(let_id)];
                    lets[info.slot as usize].set(r!(src));
                }
                Instr::LoadRule { dst, rule } => {
                    set!(dst, call!(self.load_rule(frame, pc, dst, rule)))
                }
                Instr::InlineRule { dst, rule } => {
                    let slot = p.rules[RuleId::from_u32(rule)].slot as usize;
                    match self.ctxs[frame.ctx as usize].rules.get(slot) {
                        // The `Jump` that follows skips the inline code.
                        Some(d) => set!(dst, Value::Decision(d)),
                        // Explained evaluations see the rule's own frame, as with `LoadRule`.
                        None if T::ON => set!(dst, call!(self.load_rule(frame, pc, dst, rule))),
                        None => {
                            // Charged as the rule's call would be.
                            tri!(self.charge());
                            pc += 1;
                        }
                    }
                }
                Instr::StoreRule { src, rule } => {
                    let v = r!(src);
                    let at = (base + src.0 as usize) as u32;
                    // Attachments, if any, run in frames of their own; this one resumes after.
                    self.save_pc(pc);
                    if tri!(self.finish_rule(frame.ctx, RuleId::from_u32(rule), v, at)) {
                        switch!();
                        continue;
                    }
                }
                Instr::Import { dst, site } => {
                    call!(self.import(frame, pc, dst, site));
                }
                Instr::EnsureLocal { slot, target } => {
                    if matches!(r!(slot), Value::Pending) {
                        // A subroutine call: charged like any call, so no loop is free.
                        tri!(self.charge());
                        self.subs.push(pc as u32);
                        pc = target as usize;
                    }
                }
                Instr::ClearLocal { slot } => set!(slot, Value::Pending),
                Instr::RetSub => match self.subs.pop() {
                    Some(back) => pc = back as usize,
                    None => break Err(ErrorKind::Internal("unbalanced subroutine return")),
                },
                Instr::CheckLet { src, site } => {
                    let check = &p.let_checks[site as usize];
                    if let Err(reason) = conform::check(self.vp, check.ty, r!(src), 0) {
                        break Err(ErrorKind::InvalidLet {
                            name: check.name.clone(),
                            reason,
                        });
                    }
                }
                Instr::GetField { dst, src, name } => set!(
                    dst,
                    tri!(field(self.vp, r!(src), &p.names[name as usize], false))
                ),
                Instr::GetFieldLenient { dst, src, name } => set!(
                    dst,
                    tri!(field(self.vp, r!(src), &p.names[name as usize], true))
                ),
                Instr::GetFactField {
                    dst,
                    idx,
                    name,
                    lenient,
                } => {
                    let fact = facts[idx as usize].get();
                    set!(
                        dst,
                        tri!(field(self.vp, fact, &p.names[name as usize], lenient))
                    )
                }
                Instr::GetIndex { dst, src, key } => {
                    set!(dst, tri!(get_index(self.vp, r!(src), r!(key), false)))
                }
                Instr::GetIndexLenient { dst, src, key } => {
                    set!(dst, tri!(get_index(self.vp, r!(src), r!(key), true)))
                }
                Instr::Add { dst, lhs, rhs } => set!(dst, tri!(add(r!(lhs), r!(rhs), self.bump))),
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
                Instr::Contains { dst, lhs, rhs } => set!(dst, contains_in(r!(lhs), r!(rhs))),
                Instr::Matches { dst, lhs, rhs } => set!(dst, tri!(matches_dyn(r!(lhs), r!(rhs)))),
                Instr::MatchesConst { dst, src, regex } => {
                    let v = match r!(src).plain() {
                        Value::Undefined => Value::Undefined,
                        Value::Str(s) => Value::Bool(self.vp.regexes[regex as usize].is_match(s)),
                        other => break Err(ErrorKind::MatchSubject(other.kind_name())),
                    };
                    set!(dst, v)
                }
                Instr::Not { dst, src } => {
                    // A rule reference acts as its state here, whatever its value (§11.4).
                    let out = match r!(src) {
                        Value::Decision(d) => d.state.negate().value(),
                        v if v.is_undefined() => Value::Undefined,
                        v => v.truthy().negate().value(),
                    };
                    set!(dst, out)
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
                Instr::IsDefined { dst, src } => set!(dst, Value::Bool(!r!(src).is_undefined())),
                Instr::IsEmpty { dst, src } => set!(dst, Value::Bool(is_empty(r!(src)))),
                Instr::IsType { dst, src, ty } => {
                    let ty = TypeId::from_u32(ty.into());
                    let ok = conform::conforms(self.vp, ty, r!(src), 0);
                    set!(dst, Value::Bool(ok))
                }
                Instr::Cast { dst, src, ty } => {
                    let ty = TypeId::from_u32(ty.into());
                    set!(
                        dst,
                        tri!(crate::cast::cast(self.vp, ty, r!(src), self.bump))
                    )
                }
                Instr::Count { dst, src } => set!(dst, Value::Num(builtins::count(r!(src)))),
                Instr::IndexProbe { node, key, index } => {
                    let ix = &self.vp.indexes[index as usize];
                    set!(node, ix.probe(r!(node), r!(key), self.bump))
                }
                Instr::IndexGuard { dst, index } => {
                    if let Some(let_id) = self.vp.indexes[index as usize].failing_let {
                        set!(dst, call!(self.load_let(frame, pc, dst, let_id)))
                    }
                }
                Instr::IndexDone { node, target } => {
                    if matches!(r!(node), Value::List(_)) {
                        pc = target as usize;
                    }
                }
                Instr::IndexElem { dst, pos, index } => {
                    let list = p.indexes[index as usize].list as usize;
                    let v = match (&p.consts[list], r!(pos)) {
                        (Const::List(items), Value::Num(n)) if n >= 0.0 => items
                            .get(n as usize)
                            .map_or(Value::Undefined, |c| json::const_value(c, self.bump)),
                        _ => Value::Undefined,
                    };
                    set!(dst, v)
                }
                Instr::IndexRule { dst, pos, index } => {
                    let rules = &p.indexes[index as usize].rules;
                    let rule = match r!(pos) {
                        Value::Num(n) if n >= 0.0 => rules.get(n as usize).copied(),
                        _ => None,
                    };
                    match rule {
                        Some(rule) => {
                            set!(dst, call!(self.load_rule(frame, pc, dst, rule.as_u32())))
                        }
                        None => set!(dst, Value::Undefined),
                    }
                }
                Instr::ContainsConst { dst, src, index } => {
                    let needle = r!(src);
                    let v = if needle.is_undefined() {
                        Value::Undefined
                    } else {
                        match self.vp.indexes[index as usize].contains_scalar(needle) {
                            Some(found) => Value::Bool(found),
                            None => {
                                let k = p.indexes[index as usize].list;
                                let list = self.composite_const(k, &p.consts[k as usize]);
                                contains(list, needle)
                            }
                        }
                    };
                    set!(dst, v)
                }
                Instr::Jump { target } => {
                    tick!();
                    if (target as usize) < pc {
                        tri!(self.charge());
                    }
                    pc = target as usize;
                }
                Instr::JumpIfTrue { src, target } => {
                    tick!();
                    if r!(src).truthy() == Tri::True {
                        pc = target as usize;
                    }
                }
                Instr::JumpIfNotTrue { src, target } => {
                    tick!();
                    if r!(src).truthy() != Tri::True {
                        pc = target as usize;
                    }
                }
                Instr::JumpIfFalse { src, target } => {
                    tick!();
                    if r!(src).truthy() == Tri::False {
                        pc = target as usize;
                    }
                }
                Instr::OrJump { reg, target } => {
                    tick!();
                    let t = r!(reg).truthy();
                    set!(reg, t.value());
                    if t == Tri::True {
                        pc = target as usize;
                    }
                }
                Instr::AndJump { reg, target } => {
                    tick!();
                    let t = r!(reg).truthy();
                    set!(reg, t.value());
                    if t == Tri::False {
                        pc = target as usize;
                    }
                }
                Instr::JumpIfUndef { src, target } => {
                    tick!();
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
                    set!(dst, tri!(self.make_map(base + src.0 as usize, n as usize)))
                }
                Instr::IterCheck { src, op } => {
                    if !matches!(r!(src).plain(), Value::List(_)) {
                        break Err(ErrorKind::NotAList {
                            form: op.name(),
                            found: r!(src).kind_name(),
                        });
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
                    self.builders[frame.bbase as usize + b as usize] = BumpVec::new_in(self.bump)
                }
                Instr::BuilderPush { b, src } => {
                    let v = r!(src);
                    self.builders[frame.bbase as usize + b as usize].push(v);
                }
                Instr::BuilderFinish { dst, b } => {
                    let slot = &mut self.builders[frame.bbase as usize + b as usize];
                    let built = std::mem::replace(slot, BumpVec::new_in(self.bump));
                    set!(dst, Value::List(built.into_bump_slice()))
                }
                Instr::BuilderLen { dst, b } => {
                    let len = self.builders[frame.bbase as usize + b as usize].len();
                    set!(dst, Value::Num(len as f64))
                }
                Instr::BuilderGet { dst, b, idx } => {
                    let i = match r!(idx) {
                        Value::Num(n) => n as usize,
                        _ => usize::MAX,
                    };
                    let built = &self.builders[frame.bbase as usize + b as usize];
                    set!(dst, built.get(i).copied().unwrap_or(Value::Undefined))
                }
                Instr::CallBuiltin { dst, site } => set!(dst, tri!(self.call_builtin(base, site))),
                Instr::CallNative { dst, site } => set!(dst, tri!(self.call_native(base, site))),
                Instr::CallModule { dst, site } => set!(dst, tri!(self.call_module(base, site))),
                Instr::Fail { k } => {
                    break Err(match &p.consts[k as usize] {
                        Const::Str(s) => ErrorKind::Raised(s.clone()),
                        _ => ErrorKind::Raised("evaluation failed".to_string()),
                    });
                }
                Instr::Ret { src } => {
                    // Errors after the frame is popped belong to the caller's call site.
                    match self.ret(r!(src), depth, &mut pc) {
                        Ok(Flow::Continue) => switch!(),
                        done => break done,
                    }
                }
            }
        };
        *pc_out = pc;
        self.ticks = ticks;
        result
    }

    /// Constant `k` (that is `c`): scalars as they are, lists and maps built in the arena
    /// once per decision.
    pub(super) fn load_const(&mut self, k: u32, c: &'a Const) -> Value<'a> {
        match c {
            Const::Num(n) => Value::Num(*n),
            Const::Str(s) => Value::Str(s),
            Const::Bool(b) => Value::Bool(*b),
            Const::Null => Value::Null,
            Const::Unknown => Value::Unknown,
            composite => self.composite_const(k, composite),
        }
    }

    /// Records `pc` in the top frame (before a call pushes another frame on top of it).
    #[inline]
    pub(super) fn save_pc(&mut self, pc: usize) {
        if let Some(f) = self.frames.last_mut() {
            f.pc = pc as u32;
        }
    }

    /// `{k: v, ...}` from `n` key/value register pairs starting at absolute register `start`.
    #[inline(never)]
    fn make_map(&mut self, start: usize, n: usize) -> Step<Value<'a>> {
        let mut entries = BumpVec::with_capacity_in(n, self.bump);
        for i in 0..n {
            let key = match self.regs[start + 2 * i].plain() {
                Value::Str(s) => s,
                other => return Err(ErrorKind::MapKey(other.kind_name())),
            };
            entries.push((key, self.regs[start + 2 * i + 1]));
        }
        Ok(Value::Map(json::sort_entries(self.bump, entries)))
    }
}

//! Instructions that call and return: rule, let and import calls push frames on the explicit
//! stack (never Rust recursion); `Ret` completes them (caching lets, wrapping rule values as
//! decisions, running attachments); builtin, native and module calls run to completion, with
//! memoization through the program's host.

use bumpalo::collections::Vec as BumpVec;

use super::{Flow, Frame, Ret, Step, Vm};
use crate::builtins;
use crate::bytecode::{Instr, Reg};
use crate::error::ErrorKind;
use crate::host::NativeEnv;
use crate::json;
use crate::program::{FuncId, LetId, RuleId};
use crate::trace::Trace;
use crate::value::{DecisionVal, Value};

impl<'a, T: Trace> Vm<'a, T> {
    /// A policy-level let: its cached value, or `None` after pushing its function.
    #[inline]
    pub(super) fn load_let(
        &mut self,
        frame: Frame<'a>,
        pc: usize,
        dst: Reg,
        let_id: u32,
    ) -> Step<Option<Value<'a>>> {
        let info = &self.p.lets[LetId::from_u32(let_id)];
        let cached = self.ctxs[frame.ctx as usize].lets[info.slot as usize].get();
        if !matches!(cached, Value::Pending) {
            return Ok(Some(cached));
        }
        self.save_pc(pc);
        let ret = Ret::Let {
            slot: info.slot,
            dst: frame.base + u32::from(dst.0),
        };
        self.push_frame(info.func, frame.ctx, ret)?;
        Ok(None)
    }

    /// A rule of the same policy: its cached decision, or `None` after pushing its function.
    #[inline]
    pub(super) fn load_rule(
        &mut self,
        frame: Frame<'a>,
        pc: usize,
        dst: Reg,
        rule: u32,
    ) -> Step<Option<Value<'a>>> {
        let rule = RuleId::from_u32(rule);
        let info = &self.p.rules[rule];
        if let Some(d) = self.ctxs[frame.ctx as usize].rules.get(info.slot as usize) {
            return Ok(Some(Value::Decision(d)));
        }
        self.save_pc(pc);
        let ret = Ret::Rule {
            rule,
            dst: frame.base + u32::from(dst.0),
        };
        self.push_frame(info.func, frame.ctx, ret)?;
        Ok(None)
    }

    /// A rule import (`import decision of ... with ...`): a sandbox context with the `with`
    /// values as its facts, and the imported rule's function pushed on it.
    #[inline(never)]
    pub(super) fn import(
        &mut self,
        frame: Frame<'a>,
        pc: usize,
        dst: Reg,
        site: u32,
    ) -> Step<Option<Value<'a>>> {
        let p = self.p;
        let site = &p.imports[site as usize];
        let base = frame.base as usize;
        let mut entries = BumpVec::with_capacity_in(site.names.len(), self.bump);
        for (i, name) in site.names.iter().enumerate() {
            let v = self.regs[base + site.args.0 as usize + i].plain();
            if !v.is_undefined() {
                entries.push((name.as_str(), v));
            }
        }
        let supplied = json::sort_entries(self.bump, entries);
        let target = &p.rules[site.rule];
        self.save_pc(pc);
        let ctx = self.new_ctx(target.policy, supplied).map_err(|e| e.kind)?;
        let ret = Ret::Rule {
            rule: site.rule,
            dst: frame.base + u32::from(dst.0),
        };
        self.push_frame(target.func, ctx, ret)?;
        Ok(None)
    }

    /// `Ret`: pops the frame and completes what called it. `pc` becomes the caller's, so an
    /// error while completing (an attachment that cannot start) is reported at the call.
    #[inline(never)]
    pub(super) fn ret(&mut self, v: Value<'a>, depth: usize, pc: &mut usize) -> Step<Flow<'a>> {
        let Some(fr) = self.frames.pop() else {
            return Ok(Flow::Return(v));
        };
        if T::ON {
            self.tracer.leave(v);
        }
        self.regs.truncate(fr.base as usize);
        self.builders.truncate(fr.bbase as usize);
        if let Some(caller) = self.frames.last() {
            *pc = caller.pc as usize;
        }
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
                if self.finish_rule(fr.ctx, rule, v, dst)? {
                    return Ok(Flow::Continue);
                }
            }
            Ret::Attach {
                dec,
                idx,
                dst,
                start,
            } => {
                if self.next_attachment(fr.ctx, v, dec, idx, dst, start)? {
                    return Ok(Flow::Continue);
                }
            }
        }
        if self.frames.len() <= depth {
            return Ok(Flow::Return(v));
        }
        Ok(Flow::Continue)
    }

    /// Records attachment `idx` of `dec` and runs the ones after it (see
    /// [`Vm::run_attachments`]).
    fn next_attachment(
        &mut self,
        ctx: u32,
        v: Value<'a>,
        dec: &'a DecisionVal<'a>,
        idx: u32,
        dst: u32,
        start: u32,
    ) -> Step<bool> {
        self.att_stack.push(v.plain());
        self.run_attachments(ctx, dec, idx + 1, dst, start)
    }

    /// Computes the attachments of `dec` from `idx` on: those that only load a fact or a
    /// constant at once, the first other one by pushing its frame (true: it runs next). When
    /// none is left the decision is completed and cached (false).
    fn run_attachments(
        &mut self,
        ctx: u32,
        dec: &'a DecisionVal<'a>,
        mut idx: u32,
        dst: u32,
        start: u32,
    ) -> Step<bool> {
        let info = &self.p.rules[dec.rule];
        while let Some(&(_, func)) = info.attachments.get(idx as usize) {
            let started = match self.trivial_call(func, ctx) {
                Some(Ok(v)) => {
                    self.att_stack.push(v.plain());
                    idx += 1;
                    continue;
                }
                Some(Err(e)) => Err(e),
                None => {
                    let ret = Ret::Attach {
                        dec,
                        idx,
                        dst,
                        start,
                    };
                    self.push_frame(func, ctx, ret)
                }
            };
            return match started {
                Ok(()) => Ok(true),
                Err(e) => {
                    // No attachment frame is left to unwind: the half-built decision must
                    // not stay cached.
                    self.att_stack.truncate(start as usize);
                    let slot = info.slot as usize;
                    self.ctxs[ctx as usize].rules.set(slot, None, self.bump);
                    Err(e)
                }
            };
        }
        let attachments = self
            .bump
            .alloc_slice_copy(&self.att_stack[start as usize..]);
        self.att_stack.truncate(start as usize);
        let done: &'a DecisionVal<'a> = self.bump.alloc(DecisionVal {
            attachments,
            ..*dec
        });
        self.ctxs[ctx as usize]
            .rules
            .set(info.slot as usize, Some(done), self.bump);
        self.regs[dst as usize] = Value::Decision(done);
        Ok(false)
    }

    /// The value of `func` when all it does is load a fact, a constant, or a rule or let
    /// already computed in `ctx`, and return it: computed without a frame but charged and
    /// depth-checked as a call is. `None` for any other function (and for a rule or let not
    /// computed yet), and in explained evaluations (their traces show every call).
    fn trivial_call(&mut self, func: FuncId, ctx: u32) -> Option<Step<Value<'a>>> {
        if T::ON {
            return None;
        }
        let p = self.p;
        let v = match p.funcs[func].code.as_slice() {
            [Instr::LoadFact { dst, idx }, Instr::Ret { src }] if dst == src => {
                self.ctxs[ctx as usize].facts[*idx as usize].get()
            }
            [Instr::LoadRule { dst, rule }, Instr::Ret { src }] if dst == src => {
                let slot = p.rules[RuleId::from_u32(*rule)].slot as usize;
                Value::Decision(self.ctxs[ctx as usize].rules.get(slot)?)
            }
            [Instr::LoadLet { dst, let_id }, Instr::Ret { src }] if dst == src => {
                let slot = p.lets[LetId::from_u32(*let_id)].slot as usize;
                match self.ctxs[ctx as usize].lets[slot].get() {
                    Value::Pending => return None,
                    v => v,
                }
            }
            [Instr::LoadConst { dst, k }, Instr::Ret { src }] if dst == src => {
                self.load_const(*k, &p.consts[*k as usize])
            }
            _ => return None,
        };
        if self.frames.len() >= self.limits.max_depth {
            return Some(Err(ErrorKind::Recursion));
        }
        Some(self.charge().map(|()| v))
    }

    /// Wraps a rule's value as a decision, caches it, and starts its attachments if any
    /// (true: a frame was pushed to run next).
    pub(super) fn finish_rule(
        &mut self,
        ctx: u32,
        rule: RuleId,
        v: Value<'a>,
        dst: u32,
    ) -> Step<bool> {
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
        self.ctxs[ctx as usize]
            .rules
            .set(info.slot as usize, Some(dec), self.bump);
        if info.attachments.is_empty() {
            self.regs[dst as usize] = Value::Decision(dec);
            return Ok(false);
        }
        let start = self.att_stack.len() as u32;
        self.run_attachments(ctx, dec, 0, dst, start)
    }

    #[inline(never)]
    pub(super) fn call_builtin(&mut self, base: usize, site: u32) -> Step<Value<'a>> {
        let call = &self.p.calls[site as usize];
        let start = base + call.args.0 as usize;
        let args = &self.regs[start..start + call.argc as usize];
        let bump = self.bump;
        self.memoized(call.memo, 'b', site, args, || {
            builtins::call(call.builtin, args, bump)
        })
    }

    #[inline(never)]
    pub(super) fn call_native(&mut self, base: usize, site: u32) -> Step<Value<'a>> {
        let now_ms = *self.now_ms.get_or_insert_with(unix_ms);
        let info = &self.p.natives[site as usize];
        let start = base + info.args.0 as usize;
        let args = &self.regs[start..start + info.argc as usize];
        let env = NativeEnv {
            bump: self.bump,
            now_ms,
        };
        let native = self.vp.natives[site as usize];
        self.memoized(info.memo, 'n', site, args, || {
            native(args, &env).map_err(ErrorKind::Native)
        })
    }

    #[inline(never)]
    pub(super) fn call_module(&mut self, base: usize, site: u32) -> Step<Value<'a>> {
        let vp = self.vp;
        let m = &self.p.module_sites[site as usize];
        let start = base + m.args.0 as usize;
        let args = &self.regs[start..start + m.argc as usize];
        let bump = self.bump;
        let deadline = self.limits.deadline;
        let result = self.memoized(m.memo, 'm', site, args, || {
            vp.host
                .call_module(vp, m, args, bump, deadline)
                .map_err(ErrorKind::Module)
        });
        if T::ON {
            let shown = result.as_ref().map(|v| *v).map_err(ToString::to_string);
            self.tracer.module_call(&m.key, &m.export, args, &shown);
        }
        result
    }

    /// Runs `call` unless a live cached result exists for this site and these arguments
    /// (only for sites written with `!`); caches a successful result. A hit keeps its
    /// original expiry.
    fn memoized(
        &self,
        memo: Option<u32>,
        kind: char,
        site: u32,
        args: &[Value<'_>],
        call: impl FnOnce() -> Step<Value<'a>>,
    ) -> Step<Value<'a>> {
        let Some(ttl) = memo.filter(|t| *t > 0) else {
            return call();
        };
        let key = memo_key(kind, site, args);
        let host = &self.vp.host;
        if let Some(hit) = host.memo_get(&key, self.bump) {
            return Ok(hit);
        }
        let v = call()?;
        host.memo_put(key, v, ttl);
        Ok(v)
    }
}

/// The cache key of a call: site kind and index, and the arguments as JSON.
fn memo_key(kind: char, site: u32, args: &[Value<'_>]) -> String {
    let mut k = format!("{kind}{site}:");
    for a in args {
        if a.is_undefined() {
            k.push_str("~,");
        } else {
            json::write_compact(&mut k, a.plain());
            k.push(',');
        }
    }
    k
}

fn unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

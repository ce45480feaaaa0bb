//! Evaluation contexts: one per policy evaluation (the requested policy, and one sandbox per
//! rule import), holding the bound facts and the let and rule caches (LANGUAGE.md §9.2).

use std::cell::Cell;

use super::{Ctx, Vm, CONST_CACHE_LEN};
use crate::conform;
use crate::error::{ErrorKind, EvalError};
use crate::json;
use crate::program::{PolicyId, TypeId};
use crate::trace::Trace;
use crate::value::{map_get, MapRef, Value};

impl<'a, T: Trace> Vm<'a, T> {
    /// Creates an evaluation context for `policy` and binds its facts (LANGUAGE.md §9.2).
    pub(super) fn new_ctx(
        &mut self,
        policy: PolicyId,
        supplied: MapRef<'a>,
    ) -> Result<u32, EvalError> {
        let info = &self.p.policies[policy];
        if let Some(err) = &info.error {
            return Err(EvalError::plain(ErrorKind::Policy(err.clone())));
        }
        let bump = self.bump;
        let facts = bump.alloc_slice_fill_with(info.facts.len(), |_| Cell::new(Value::Undefined));
        let lets = bump.alloc_slice_fill_with(info.lets.len(), |_| Cell::new(Value::Pending));
        let rules = super::RuleCache::new(info.rules.len(), bump);
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
                    return Err(EvalError::plain(ErrorKind::NullFact(name.clone())))
                }
                Some(v) => v,
                None if fact.required => {
                    return Err(EvalError::plain(ErrorKind::MissingFact(name.clone())))
                }
                None => match (fact.default, fact.default_const) {
                    // A constant default: its value, without a frame (explained evaluations
                    // run the function, so that the trace shows it).
                    (Some(_), Some(k)) if !T::ON => self.composite_const(k, &p.consts[k as usize]),
                    (Some(func), _) => {
                        let v = self.call_top(idx, func)?;
                        if matches!(v.plain(), Value::Null) {
                            return Err(EvalError::plain(ErrorKind::NullFact(name.clone())));
                        }
                        v.plain()
                    }
                    (None, _) => Value::Undefined,
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
    pub(super) fn composite_const(&mut self, k: u32, c: &'a crate::program::Const) -> Value<'a> {
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
    pub(super) fn conform_fact(
        &mut self,
        name: &str,
        ty: TypeId,
        value: Value<'a>,
    ) -> Result<(), EvalError> {
        // Only rule imports bind a value already checked again (in their sandboxes).
        let identity = match value {
            _ if self.p.imports.is_empty() => None,
            Value::Map(m) => Some((m.as_ptr() as usize, m.len(), ty)),
            Value::List(l) => Some((l.as_ptr() as usize, l.len(), ty)),
            Value::Str(s) => Some((s.as_ptr() as usize, s.len(), ty)),
            _ => None,
        };
        if identity.is_some_and(|id| self.conformed.contains(&id)) {
            return Ok(());
        }
        if let Err(reason) = conform::check(self.vp, ty, value, 0) {
            return Err(EvalError::plain(ErrorKind::InvalidFact {
                name: name.to_string(),
                reason,
            }));
        }
        if let Some(id) = identity {
            self.conformed.push(id);
        }
        Ok(())
    }
}

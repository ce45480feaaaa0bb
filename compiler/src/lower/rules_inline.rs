//! Small rules lowered where another rule or let reads them, as small lets are (`names.rs`):
//! no frame, no call, no return for a rule whose body is a few operators over facts, lets
//! and other rules. The copy sits behind `InlineRule` (the cached decision, or the rule's own
//! function when explaining) and ends with `StoreRule` (wrap as a decision, cache). The rule
//! keeps its own function, which reports its diagnostics and serves requests for it.

use sentrie_grammar::ast::{self, Expr, ExprKind};
use sentrie_vm::bytecode::{Instr, Reg};
use sentrie_vm::program::RuleId;

use super::{Lower, Mode};
use crate::deps::Node;

/// Largest rule (its declaration's source, in bytes) lowered where it is read.
const INLINE_RULE_BYTES: u32 = 320;

/// Most rules considered for lowering inline in one function (a function reading hundreds
/// of rules calls the rest, so code and the work of choosing stay linear in the source).
const MAX_INLINE_RULES: u32 = 8;

impl Lower<'_, '_> {
    /// Lowers rule `rid` into `dst` where it is read, if it qualifies: inlining is on, this
    /// is a rule or let body (not inline code, an attachment or a fact default), the rule is
    /// small, has a plain body (no import), no attachments and no block lets, and its body
    /// builds no index (an index is built once, for the rule's own function). False: nothing
    /// was emitted.
    pub(super) fn inline_rule(&mut self, rid: RuleId, dst: Reg) -> bool {
        if !self.b.inline
            || self.inlining
            || self.inlining_rule
            || self.mode != Mode::Normal
            || self.inlined_rules >= MAX_INLINE_RULES
            || self.root == Node::Rule(rid.as_u32())
        {
            return false;
        }
        // Counted whether or not it qualifies: the checks below read the policy's exports.
        self.inlined_rules += 1;
        let pol = &self.ix.policies[self.pid];
        // A policy's rules are listed in the order their ids were given.
        let Ok(at) = pol.rules.binary_search_by_key(&rid, |(_, id)| *id) else {
            return false;
        };
        let decl = pol.rules[at].0;
        let ast::RuleBody::Expr(body) = &decl.body else {
            return false;
        };
        let attached = pol
            .exports
            .iter()
            .any(|e| e.rule.text == decl.name.text && !e.attachments.is_empty());
        let parts = [Some(&**body), decl.when.as_deref(), decl.default.as_deref()];
        if attached
            || decl.span.end.saturating_sub(decl.span.start) > INLINE_RULE_BYTES
            || parts.into_iter().flatten().any(has_block_lets)
        {
            return false;
        }
        let rule = rid.as_u32();
        let mark = self.f.code_mark();
        let indexes = self.b.program.indexes.len();
        let regexes = self.b.program.regexes.len();
        self.f.emit(Instr::InlineRule { dst, rule });
        let skip = self.f.emit_fwd(Instr::Jump { target: 0 });
        let outer = self.enter_inline();
        self.inlining_rule = true;
        // The rule's function (`Lower::rule`), with the value left in `dst`.
        let mut to_default = None;
        if let Some(w) = &decl.when {
            let t = self.temp(w);
            to_default = Some(self.f.emit_fwd(Instr::JumpIfNotTrue { src: t, target: 0 }));
        }
        self.expr(body, dst);
        if let Some(p) = to_default {
            let to_store = self.f.emit_fwd(Instr::Jump { target: 0 });
            self.f.patch_here(p);
            match &decl.default {
                Some(d) => self.expr(d, dst),
                None => {
                    self.f.emit(Instr::LoadUnknown { dst });
                }
            }
            self.f.patch_here(to_store);
        }
        self.f.emit(Instr::StoreRule { src: dst, rule });
        self.inlining_rule = false;
        self.leave_inline(outer);
        if self.b.program.indexes.len() > indexes {
            // The body built an index: keep one, the rule's own, and call the rule instead.
            self.f.rewind(mark);
            self.b.program.indexes.truncate(indexes);
            self.b.program.regexes.truncate(regexes);
            return false;
        }
        self.f.patch_here(skip);
        true
    }
}

/// Whether `e` holds a block with `let`s (their dependency nodes belong to one function).
fn has_block_lets(e: &Expr) -> bool {
    match &e.kind {
        ExprKind::Number(_)
        | ExprKind::String(_)
        | ExprKind::Bool(_)
        | ExprKind::Unknown
        | ExprKind::Null
        | ExprKind::Ident(_)
        | ExprKind::Error => false,
        ExprKind::Block(b) => !b.lets.is_empty() || has_block_lets(&b.yield_expr),
        ExprKind::List(items) => items.iter().any(has_block_lets),
        ExprKind::Map(entries) => entries.iter().any(|(k, v)| {
            matches!(k, ast::MapKey::Expr(x) if has_block_lets(x)) || has_block_lets(v)
        }),
        ExprKind::Field(x, _)
        | ExprKind::Unary(_, x)
        | ExprKind::IsDefined { expr: x, .. }
        | ExprKind::IsEmpty { expr: x, .. }
        | ExprKind::Cast(x, _)
        | ExprKind::Count(x) => has_block_lets(x),
        ExprKind::Index(a, b) | ExprKind::Binary(_, a, b) => has_block_lets(a) || has_block_lets(b),
        ExprKind::Call { callee, args, .. } => {
            has_block_lets(callee) || args.iter().any(has_block_lets)
        }
        ExprKind::Cond { cond, then, other } => {
            has_block_lets(cond)
                || then.as_deref().is_some_and(has_block_lets)
                || has_block_lets(other)
        }
        ExprKind::Quant(q) => has_block_lets(&q.coll) || has_block_lets(&q.body),
        ExprKind::Distinct(d) => has_block_lets(&d.coll) || has_block_lets(&d.body),
        ExprKind::Reduce(r) => {
            has_block_lets(&r.coll) || has_block_lets(&r.init) || has_block_lets(&r.body)
        }
    }
}

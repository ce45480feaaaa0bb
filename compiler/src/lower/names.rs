//! Lowering of names (LANGUAGE.md §14.1): locals, block lets (lazy subroutines), facts,
//! lets, rules, imported rule names and ad-hoc facts; and `is Shape` tests.

use sentrie_grammar::ast::{self, BinOp, Expr, ExprKind};
use sentrie_grammar::Span;
use sentrie_vm::bytecode::{Instr, Reg};
use sentrie_vm::program::{Const, LetCheck, LetId, TypeId};

use super::{Binding, BlockLet, Lower, Mode};

/// Largest let body (in expression nodes) lowered inline where it is read.
const INLINE_NODES: u32 = 24;
use crate::deps::Node;
use crate::error::CompileError;
use crate::index::ValueRef;

impl<'c, 'p> Lower<'c, 'p> {
    pub(super) fn ident(&mut self, name: &str, span: Span, dst: Reg) {
        if let Some(b) = self.lookup_local(name) {
            match b {
                Binding::Reg(r) => {
                    self.f.emit(Instr::Move { dst, src: r });
                }
                Binding::BlockLet(i) => {
                    let slot = self.block_lets[i].slot;
                    let node = Node::BlockLet(self.block_lets[i].node);
                    self.depend(node);
                    match self.block_lets[i].start {
                        Some(target) => {
                            self.f.emit(Instr::EnsureLocal { slot, target });
                        }
                        None => {
                            let p = self.f.emit_fwd(Instr::EnsureLocal { slot, target: 0 });
                            self.block_lets[i].patches.push(p);
                        }
                    }
                    self.f.emit(Instr::Move { dst, src: slot });
                }
            }
            return;
        }
        if self.mode == Mode::FactDefault {
            self.b.diags.pack(
                CompileError::FactDefaultReference(name.to_string())
                    .at(span)
                    .with_help(
                        "fact defaults may only use literals, operators and builtin functions",
                    ),
            );
            self.f.emit(Instr::LoadUndef { dst });
            return;
        }
        let pol = &self.ix.policies[self.pid];
        match pol.values.get(name).copied() {
            Some(ValueRef::Fact(i)) => {
                self.f.emit(Instr::LoadFact { dst, idx: i });
            }
            Some(ValueRef::Let(l)) => {
                self.depend(Node::Let(l.as_u32()));
                if !self.inline_let(l, dst) {
                    self.f.emit(Instr::LoadLet {
                        dst,
                        let_id: l.as_u32(),
                    });
                }
            }
            Some(ValueRef::Rule(r)) => {
                self.depend(Node::Rule(r.as_u32()));
                if !self.inline_rule(r, dst) {
                    self.f.emit(Instr::LoadRule {
                        dst,
                        rule: r.as_u32(),
                    });
                }
            }
            None => match pol.import_names.get(name).copied() {
                Some(Some(r)) => {
                    self.depend(Node::Rule(r.as_u32()));
                    self.f.emit(Instr::LoadRule {
                        dst,
                        rule: r.as_u32(),
                    });
                }
                Some(None) => {
                    let e = CompileError::AmbiguousImportName(name.to_string());
                    self.policy_error(e.at(span));
                    self.f.emit(Instr::LoadUndef { dst });
                }
                None => {
                    let pol = &self.ix.policies[self.pid];
                    let declared = pol
                        .values
                        .keys()
                        .chain(pol.import_names.keys())
                        .chain(self.scope.iter().map(|(n, _)| n))
                        .map(String::as_str);
                    let suggestion = crate::error::closest(name, declared);
                    self.b.diags.warn(
                        CompileError::AdhocFact {
                            name: name.to_string(),
                            suggestion,
                        }
                        .at(span),
                    );
                    let n = self.b.name_id(name);
                    self.f.emit(Instr::LoadAdhoc { dst, name: n });
                }
            },
        }
    }

    /// A small untyped let reading only facts and constants is lowered where it is read (no
    /// frame for it), behind `InlineLet` (the cache, or the let's own function when
    /// explaining) and ending with `StoreLet` (the cache). The let keeps its own function
    /// too, which reports its diagnostics: the ones of the inline copy are dropped.
    fn inline_let(&mut self, lid: LetId, dst: Reg) -> bool {
        if !self.b.inline {
            return false;
        }
        let pol = &self.ix.policies[self.pid];
        // A policy's lets are listed in the order their ids were given.
        let Ok(at) = pol.lets.binary_search_by_key(&lid, |(_, id)| *id) else {
            return false;
        };
        let decl = pol.lets[at].0;
        let mut budget = INLINE_NODES;
        // A constant of any size is one shared `LoadConst` (also inside another inline let).
        let constant = super::expr::fold(&decl.value).is_some();
        if decl.ty.is_some()
            || (self.inlining && !constant)
            || !(constant || self.inlinable(&decl.value, &mut budget))
        {
            return false;
        }
        let let_id = lid.as_u32();
        self.f.emit(Instr::InlineLet { dst, let_id });
        let skip = self.f.emit_fwd(Instr::Jump { target: 0 });
        let outer = self.enter_inline();
        let was_inlining = std::mem::replace(&mut self.inlining, true);
        match super::expr::fold(&decl.value) {
            Some(c) => {
                let k = match self.b.let_consts.get(&let_id) {
                    Some(k) => *k,
                    None => {
                        let k = self.b.const_id(c);
                        self.b.let_consts.insert(let_id, k);
                        k
                    }
                };
                self.f.emit(Instr::LoadConst { dst, k });
            }
            None => self.expr(&decl.value, dst),
        }
        self.inlining = was_inlining;
        self.leave_inline(outer);
        self.f.emit(Instr::StoreLet { src: dst, let_id });
        self.f.patch_here(skip);
        true
    }

    /// Whether `e` lowers to straight-line code over facts and constants (no calls, frames,
    /// loops or blocks), within `budget` nodes.
    fn inlinable(&self, e: &Expr, budget: &mut u32) -> bool {
        if *budget == 0 {
            return false;
        }
        *budget -= 1;
        let mut sub = |x: &Expr| self.inlinable(x, budget);
        match &e.kind {
            ExprKind::Number(_)
            | ExprKind::String(_)
            | ExprKind::Bool(_)
            | ExprKind::Unknown
            | ExprKind::Null => true,
            ExprKind::Ident(name) => match self.ix.policies[self.pid].values.get(name) {
                Some(ValueRef::Fact(_)) => true,
                // A let bound to a constant is itself inlined as that constant.
                Some(ValueRef::Let(l)) => self.ix.policies[self.pid].lets.iter().any(|(d, id)| {
                    id == l && d.ty.is_none() && super::expr::fold(&d.value).is_some()
                }),
                _ => false,
            },
            ExprKind::List(items) => items.iter().all(sub),
            ExprKind::Map(entries) => entries.iter().all(|(k, v)| {
                (match k {
                    ast::MapKey::Name(_) => true,
                    ast::MapKey::Expr(x) => sub(x),
                }) && sub(v)
            }),
            ExprKind::Field(recv, _) => sub(recv),
            ExprKind::Index(recv, key) => sub(recv) && sub(key),
            ExprKind::Unary(_, x) => sub(x),
            // A membership test that would get an index of its own keeps the let in its frame
            // (one index, not one per place the let is read).
            ExprKind::Binary(BinOp::In | BinOp::NotIn, _, hay)
            | ExprKind::Binary(BinOp::Contains | BinOp::NotContains, hay, _)
                if self.long_constant_list(hay) =>
            {
                false
            }
            ExprKind::Binary(_, a, b) => sub(a) && sub(b),
            ExprKind::IsDefined { expr, .. } | ExprKind::IsEmpty { expr, .. } => sub(expr),
            ExprKind::Cond { cond, then, other } => {
                sub(cond) && then.as_deref().is_none_or(&mut sub) && sub(other)
            }
            _ => false,
        }
    }

    /// Whether `e` is a constant list long enough for a membership index (a literal, or a
    /// let bound to one).
    fn long_constant_list(&self, e: &Expr) -> bool {
        let folded = match &e.kind {
            ExprKind::Ident(name) => match self.ix.policies[self.pid].values.get(name) {
                Some(ValueRef::Let(l)) => self.ix.policies[self.pid]
                    .lets
                    .iter()
                    .find(|(_, id)| id == l)
                    .and_then(|(d, _)| super::expr::fold(&d.value)),
                _ => None,
            },
            _ => super::expr::fold(e),
        };
        matches!(folded, Some(Const::List(items)) if items.len() >= super::index::MIN_MEMBERSHIP_ELEMENTS)
    }

    pub(super) fn block(&mut self, b: &ast::Block, dst: Reg) {
        let scope_mark = self.scope.len();
        let first_let = self.block_lets.len();
        let mut names: Vec<&str> = Vec::new();
        for l in &b.lets {
            if names.contains(&l.name.text.as_str()) {
                self.b.diags.pack(crate::index::conflict(
                    &format!("let `{}`", l.name.text),
                    l.name.span,
                ));
            }
            names.push(&l.name.text);
            let slot = self.f.alloc();
            let node = self.b.next_block_let();
            let qualified = format!("{}.{}", self.f.name, l.name.text);
            self.b
                .graph
                .name(Node::BlockLet(node), qualified, l.name.span);
            self.block_lets.push(BlockLet {
                slot,
                node,
                start: None,
                patches: Vec::new(),
            });
            self.scope.push((
                l.name.text.clone(),
                Binding::BlockLet(self.block_lets.len() - 1),
            ));
            self.f.emit(Instr::ClearLocal { slot });
        }
        self.expr(&b.yield_expr, dst);
        if b.lets.is_empty() {
            self.scope.truncate(scope_mark);
            return;
        }
        let to_end = self.f.emit_fwd(Instr::Jump { target: 0 });
        for (i, l) in b.lets.iter().enumerate() {
            let idx = first_let + i;
            let start = self.f.pc();
            self.block_lets[idx].start = Some(start);
            for p in std::mem::take(&mut self.block_lets[idx].patches) {
                self.f.patch_to(p, start);
            }
            let saved_node = self.node;
            self.node = Node::BlockLet(self.block_lets[idx].node);
            let mark = self.f.mark();
            self.f.above_high_water();
            let slot = self.block_lets[idx].slot;
            self.expr(&l.value, slot);
            if let Some(ty) = &l.ty {
                let ty = self.resolve_type(ty);
                self.b.program.let_checks.push(LetCheck {
                    name: l.name.text.clone(),
                    ty,
                });
                let site = (self.b.program.let_checks.len() - 1) as u32;
                self.loc(l.span);
                self.f.emit(Instr::CheckLet { src: slot, site });
            }
            self.probe(
                l.name.span,
                sentrie_vm::program::ProbeKind::BlockLet {
                    slot,
                    name: l.name.text.clone(),
                },
            );
            self.f.emit(Instr::RetSub);
            self.f.free_to(mark);
            self.node = saved_node;
        }
        self.f.patch_here(to_end);
        self.scope.truncate(scope_mark);
    }

    /// `e is Shape`: the right side is a name (or `a/b/N`) not bound as a value that names a
    /// visible shape.
    pub(super) fn shape_test(&mut self, b: &Expr) -> Option<TypeId> {
        let segs = path_segments(b)?;
        if segs.len() == 1 {
            let n = &segs[0].text;
            let pol = &self.ix.policies[self.pid];
            if self.lookup_local(n).is_some()
                || pol.values.contains_key(n)
                || pol.import_names.contains_key(n)
            {
                return None;
            }
        }
        let fqn = ast::Fqn {
            segments: segs,
            span: b.span,
        };
        let ctx = self.ctx();
        match crate::types::resolve_shape(self.ix, &fqn, ctx) {
            Ok(idx) => {
                if let Some(e) = self.types.shapes[idx].error.clone() {
                    self.policy_error(e);
                }
                Some(self.ix.shapes[idx].ty)
            }
            // Not a shape: an ordinary comparison with a value of that name.
            Err(d) if matches!(d.error, CompileError::ShapeNotFound(_)) => None,
            Err(d) => {
                self.policy_error(d);
                None
            }
        }
    }
}

/// `a`, or `a/b/N` parsed as divisions of identifiers.
fn path_segments(e: &Expr) -> Option<Vec<ast::Name>> {
    match &e.kind {
        ExprKind::Ident(n) => Some(vec![ast::Name {
            text: n.clone(),
            span: e.span,
        }]),
        ExprKind::Binary(BinOp::Div, a, b) => {
            let mut left = path_segments(a)?;
            let ExprKind::Ident(n) = &b.kind else {
                return None;
            };
            left.push(ast::Name {
                text: n.clone(),
                span: b.span,
            });
            Some(left)
        }
        _ => None,
    }
}

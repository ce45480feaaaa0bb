//! Compile-time indexes (see `sentrie_vm::index` for why they are exact).
//!
//! Three shapes of code scan a constant list on every decision, and each becomes a hash lookup
//! followed by evaluation over the candidates only, in their original order:
//!
//! * `any`, `first` and `filter` over a constant list (a literal, or an untyped `let` whose
//!   value is a literal) whose predicate is a conjunction led by comparisons of an element
//!   field with a value that does not depend on the element: `g.f == v`, `v == g.f`,
//!   `g.f is v`, `v in g.f`, `g.f contains v`, `g.f in v`, `v contains g.f`. Each leading
//!   comparison is one level of the index, probed in order; a level's value is evaluated only
//!   when the levels before it left candidates, which is where a scan would first evaluate it.
//!   A predicate led by `s matches g` (or `s matches M[g]`, `M` a constant map) indexes the
//!   patterns: one alternation answers "none matches".
//! * an `or` of many rules of the policy whose bodies start with `P == constant` for the same
//!   fact path `P`: the constants become a synthetic list indexed the same way, and only the
//!   rules whose constants match are evaluated (the others are FALSE without evaluation);
//!   in `index_rules.rs`.
//! * `x in LIST` / `LIST contains x` over a constant list of any length: one hash lookup for
//!   scalars, instead of building the list in every decision.
//!
//! Whatever the analysis cannot prove falls back to the ordinary lowering.

use sentrie_grammar::ast::{self, BinOp, Expr, ExprKind, Quant};
use sentrie_vm::bytecode::{Instr, IterOp, Reg};
use sentrie_vm::program::{Const, IndexLevel, IndexSpec, LevelOp, ProbeKind};

use super::{Binding, Lower};
use crate::index::ValueRef;

/// Fewest elements worth an index for a collection form (smaller lists scan faster).
const MIN_FORM_ELEMENTS: usize = 16;
/// Patterns from which a collection form led by `s matches elem` gets an index: one regex
/// for all of them answers the usual "none matches" in one pass (with the literal and byte
/// prefilters of the whole), and only a subject that matches goes on to a set (24 patterns
/// and more) or to the scan. Measured on the AI-gateway prompt (690 bytes): three filter
/// patterns 217 ns one by one, 64 ns as one alternation.
const MIN_PATTERNS: usize = 2;
/// Fewest elements worth a hash lookup for `in`: any, since a scan first builds the list in
/// the decision's arena (measured on the AI-gateway example: 26,117 -> 25,367 instructions
/// per decision with its 2- and 3-element model lists looked up).
pub(super) const MIN_MEMBERSHIP_ELEMENTS: usize = 1;
/// Most levels an index gets.
pub(super) const MAX_LEVELS: usize = 4;

/// A constant list found for an index, and the typed let holding it (if it is one).
struct ConstList {
    items: Vec<Const>,
    typed_let: Option<(u32, sentrie_vm::program::TypeId)>,
}

/// The operands of a chain of `op` (left-associative), in evaluation order.
pub(super) fn chain<'e>(e: &'e Expr, op: BinOp, out: &mut Vec<&'e Expr>) {
    match &e.kind {
        ExprKind::Binary(o, a, b) if *o == op => {
            chain(a, op, out);
            chain(b, op, out);
        }
        _ => out.push(e),
    }
}

/// Whether any identifier in `e` is one of `names` (conservative: shadowing is ignored).
fn mentions(e: &Expr, names: &[&str]) -> bool {
    let any = |xs: &[Expr]| xs.iter().any(|x| mentions(x, names));
    match &e.kind {
        ExprKind::Ident(n) => names.contains(&n.as_str()),
        ExprKind::Number(_)
        | ExprKind::String(_)
        | ExprKind::Bool(_)
        | ExprKind::Unknown
        | ExprKind::Null
        | ExprKind::Error => false,
        ExprKind::List(items) => any(items),
        ExprKind::Map(entries) => entries.iter().any(|(k, v)| {
            matches!(k, ast::MapKey::Expr(x) if mentions(x, names)) || mentions(v, names)
        }),
        ExprKind::Block(b) => {
            b.lets.iter().any(|l| mentions(&l.value, names)) || mentions(&b.yield_expr, names)
        }
        ExprKind::Field(r, _) => mentions(r, names),
        ExprKind::Index(r, k) => mentions(r, names) || mentions(k, names),
        ExprKind::Call { callee, args, .. } => mentions(callee, names) || any(args),
        ExprKind::Unary(_, x)
        | ExprKind::Cast(x, _)
        | ExprKind::Count(x)
        | ExprKind::IsDefined { expr: x, .. }
        | ExprKind::IsEmpty { expr: x, .. } => mentions(x, names),
        ExprKind::Binary(_, a, b) => mentions(a, names) || mentions(b, names),
        ExprKind::Cond { cond, then, other } => {
            mentions(cond, names)
                || then.as_deref().is_some_and(|t| mentions(t, names))
                || mentions(other, names)
        }
        ExprKind::Quant(q) => mentions(&q.coll, names) || mentions(&q.body, names),
        ExprKind::Distinct(d) => mentions(&d.coll, names) || mentions(&d.body, names),
        ExprKind::Reduce(r) => {
            mentions(&r.coll, names) || mentions(&r.init, names) || mentions(&r.body, names)
        }
    }
}

/// `var.a.b["c"]` → `["a", "b", "c"]`.
fn elem_path(e: &Expr, var: &str) -> Option<Vec<String>> {
    match &e.kind {
        ExprKind::Ident(n) if n == var => Some(Vec::new()),
        ExprKind::Field(r, name) => {
            let mut p = elem_path(r, var)?;
            p.push(name.text.clone());
            Some(p)
        }
        ExprKind::Index(r, k) => match &k.kind {
            ExprKind::String(s) => {
                let mut p = elem_path(r, var)?;
                p.push(s.clone());
                Some(p)
            }
            _ => None,
        },
        _ => None,
    }
}

/// `is` compares only when its right side cannot name a shape.
fn is_equality(op: BinOp, other: &Expr) -> bool {
    match op {
        BinOp::Eq => true,
        BinOp::Is => !matches!(
            other.kind,
            ExprKind::Ident(_) | ExprKind::Binary(BinOp::Div, ..)
        ),
        _ => false,
    }
}

/// One leading conjunct as an index level: the level and the element-independent value.
fn level<'e>(c: &'e Expr, var: &str, bound: &[&str]) -> Option<(IndexLevel, &'e Expr)> {
    let ExprKind::Binary(op, a, b) = &c.kind else {
        return None;
    };
    let free = |x: &Expr| !mentions(x, bound);
    let lv = |op, path| IndexLevel { op, path };
    match op {
        BinOp::Eq | BinOp::Is => {
            if let Some(p) = elem_path(a, var).filter(|_| free(b) && is_equality(*op, b)) {
                return Some((lv(LevelOp::Eq, p), b));
            }
            if *op == BinOp::Eq {
                if let Some(p) = elem_path(b, var).filter(|_| free(a)) {
                    return Some((lv(LevelOp::Eq, p), a));
                }
            }
            None
        }
        // `a in b`: needle a, haystack b.
        BinOp::In => {
            if let Some(p) = elem_path(b, var).filter(|_| free(a)) {
                return Some((lv(LevelOp::ElemIn, p), a));
            }
            elem_path(a, var)
                .filter(|_| free(b))
                .map(|p| (lv(LevelOp::FieldIn, p), &**b))
        }
        // `s matches elem.path`: the elements are the patterns.
        BinOp::Matches => elem_path(b, var)
            .filter(|_| free(a))
            .map(|p| (lv(LevelOp::Matches, p), &**a)),
        // `a contains b`: haystack a, needle b.
        BinOp::Contains => {
            if let Some(p) = elem_path(a, var).filter(|_| free(b)) {
                return Some((lv(LevelOp::ElemIn, p), b));
            }
            elem_path(b, var)
                .filter(|_| free(a))
                .map(|p| (lv(LevelOp::FieldIn, p), &**a))
        }
        _ => None,
    }
}

impl<'c, 'p> Lower<'c, 'p> {
    /// What a policy-level name means here (`None` when a local shadows it).
    pub(super) fn policy_value(&self, name: &str) -> Option<ValueRef> {
        if self.lookup_local(name).is_some() {
            return None;
        }
        self.ix.policies[self.pid].values.get(name).copied()
    }

    /// The constant list `e` denotes: a literal, or a policy `let` bound to one (with, for a
    /// typed let, the let and its type: the index is guarded by the let's check).
    fn constant_list(&mut self, e: &Expr) -> Option<ConstList> {
        match self.constant_of(e)? {
            (Const::List(items), typed_let) => Some(ConstList { items, typed_let }),
            _ => None,
        }
    }

    /// The constant value of `e` (a let bound to a constant, or a literal), and the typed let
    /// holding it (if it is one).
    fn constant_of(
        &mut self,
        e: &Expr,
    ) -> Option<(Const, Option<(u32, sentrie_vm::program::TypeId)>)> {
        if !self.b.index {
            return None;
        }
        let (c, typed_let) = match &e.kind {
            ExprKind::Ident(name) => {
                let Some(ValueRef::Let(lid)) = self.policy_value(name) else {
                    return None;
                };
                let pol = &self.ix.policies[self.pid];
                let (decl, _) = pol.lets.iter().find(|(_, id)| *id == lid)?;
                let c = super::expr::fold(&decl.value)?;
                let typed_let = match &decl.ty {
                    Some(t) => Some((lid.as_u32(), self.resolve_type_quiet(t)?)),
                    None => None,
                };
                // The let is still a dependency of this function (for the cycle check).
                self.depend(crate::deps::Node::Let(lid.as_u32()));
                (c, typed_let)
            }
            _ => (super::expr::fold(e)?, None),
        };
        Some((c, typed_let))
    }

    /// `s matches M[elem]` with `M` an untyped constant map (a typed let's check could fail
    /// where the scan reads it): the level, the subject and the map's constant id.
    fn matches_via_map<'e>(
        &mut self,
        c: &'e Expr,
        var: &str,
        bound: &[&str],
    ) -> Option<(IndexLevel, &'e Expr, u32)> {
        let ExprKind::Binary(BinOp::Matches, subject, pattern) = &c.kind else {
            return None;
        };
        let ExprKind::Index(m, k) = &pattern.kind else {
            return None;
        };
        if !matches!(&k.kind, ExprKind::Ident(n) if n == var)
            || mentions(subject, bound)
            || mentions(m, bound)
        {
            return None;
        }
        let map @ Const::Map(_) = (match self.constant_of(m)? {
            (c, None) => c,
            (_, Some(_)) => return None,
        }) else {
            return None;
        };
        let level = IndexLevel {
            op: LevelOp::Matches,
            path: Vec::new(),
        };
        Some((level, subject, self.b.const_id(map)))
    }

    /// Where a scan would read a typed let's list: the let's type check (see `IndexGuard`).
    fn guard(&mut self, index: u16) {
        if self.b.program.indexes[index as usize].typed_let.is_some() {
            let dst = self.f.alloc();
            self.f.emit(Instr::IndexGuard { dst, index });
        }
    }

    pub(super) fn add_index(&mut self, spec: IndexSpec) -> u16 {
        let n = self.b.program.indexes.len();
        self.b.program.indexes.push(spec);
        n as u16
    }

    /// `x in LIST` / `LIST contains x` with a constant list: a hash lookup. Returns false
    /// (nothing emitted) when the haystack is not a constant list of enough elements.
    pub(super) fn membership(&mut self, op: BinOp, a: &Expr, b: &Expr, dst: Reg) -> bool {
        let (needle, hay) = match op {
            BinOp::In | BinOp::NotIn => (a, b),
            BinOp::Contains | BinOp::NotContains => (b, a),
            _ => return false,
        };
        if self.index_count() >= u16::MAX as usize {
            return false;
        }
        // Evaluation order is kept: the haystack is a constant, so nothing observable
        // happens when it is "evaluated" (but the type check of a typed let holding it, which
        // runs where the scan would read it: before the needle for `contains`, after for `in`).
        let Some(ConstList { items, typed_let }) = self.constant_list(hay) else {
            return false;
        };
        if items.len() < MIN_MEMBERSHIP_ELEMENTS {
            return false;
        }
        let n = items.len();
        let list = self.b.const_id(Const::List(items));
        let what = format!("{} a list of {n}", op.symbol());
        let key = (list, typed_let, what);
        // One index per distinct list (a let inlined into many rules is tested everywhere
        // through the same one). An entry left by a lowering that was rewound is stale: the
        // index it names must still be this one.
        let shared = self.b.membership.get(&key).copied().filter(|&i| {
            self.b.program.indexes.get(i as usize).is_some_and(|s| {
                s.list == key.0
                    && s.typed_let == key.1
                    && s.what == key.2
                    && s.rules.is_empty()
                    && s.via.is_none()
                    && matches!(s.levels.as_slice(), [l] if l.op == LevelOp::Eq && l.path.is_empty())
            })
        });
        let index = match shared {
            Some(i) => i,
            _ => {
                let i = self.add_index(IndexSpec {
                    list,
                    levels: vec![IndexLevel {
                        op: LevelOp::Eq,
                        path: Vec::new(),
                    }],
                    rules: Vec::new(),
                    what: key.2.clone(),
                    typed_let,
                    via: None,
                });
                self.b.membership.insert(key, i);
                i
            }
        };
        let hay_first = matches!(op, BinOp::Contains | BinOp::NotContains);
        if hay_first {
            self.guard(index);
        }
        let src = self.temp(needle);
        if !hay_first {
            self.guard(index);
        }
        self.f.emit(Instr::ContainsConst { dst, src, index });
        if matches!(op, BinOp::NotIn | BinOp::NotContains) {
            self.f.emit(Instr::Not { dst, src: dst });
        }
        true
    }

    pub(super) fn index_count(&self) -> usize {
        self.b.program.indexes.len()
    }

    /// `any`/`first`/`filter` over a constant list with an indexable predicate. Returns false
    /// (nothing emitted) when the form does not qualify.
    pub(super) fn indexed_quant(&mut self, q: &ast::QuantExpr, dst: Reg) -> bool {
        if !self.b.index {
            return false;
        }
        if self.indexed_rules_any(q, dst) {
            return true;
        }
        let op = match q.kind {
            Quant::Any => IterOp::Any,
            Quant::First => IterOp::First,
            Quant::Filter => IterOp::Filter,
            Quant::All | Quant::Map => return false,
        };
        // A block body qualifies only without lets (they could be read before the yield).
        let pred = match &q.body.kind {
            ExprKind::Block(b) if b.lets.is_empty() => &*b.yield_expr,
            ExprKind::Block(_) => return false,
            _ => &q.body,
        };
        let var = q.var.text.as_str();
        let mut bound = vec![var];
        if let Some(i) = &q.index {
            bound.push(i.text.as_str());
        }
        let mut conj = Vec::new();
        chain(pred, BinOp::And, &mut conj);
        let mut levels = Vec::new();
        let mut values = Vec::new();
        let mut via = None;
        if let Some((lv, v, m)) = conj
            .first()
            .and_then(|c| self.matches_via_map(c, var, &bound))
        {
            levels.push(lv);
            values.push(v);
            via = Some(m);
        }
        for c in conj.into_iter().skip(levels.len()) {
            if levels.len() == MAX_LEVELS || via.is_some() {
                break;
            }
            let Some((lv, v)) = level(c, var, &bound) else {
                break;
            };
            // A regex set answers for the whole list: only as the only level.
            if lv.op == LevelOp::Matches && !levels.is_empty() {
                break;
            }
            let last = matches!(lv.op, LevelOp::FieldIn | LevelOp::Matches);
            levels.push(lv);
            values.push(v);
            if last {
                break;
            }
        }
        if levels.is_empty() || self.index_count() >= u16::MAX as usize {
            return false;
        }
        let Some(ConstList { items, typed_let }) = self.constant_list(&q.coll) else {
            return false;
        };
        // One pass of a regex set beats a pass per pattern only for longer lists.
        let min = if levels[0].op == LevelOp::Matches {
            MIN_PATTERNS
        } else {
            MIN_FORM_ELEMENTS
        };
        if items.len() < min {
            return false;
        }
        let list = self.b.const_id(Const::List(items));
        let index = self.add_index(IndexSpec {
            list,
            levels,
            rules: Vec::new(),
            what: format!("{} as {var}", op.name()),
            typed_let,
            via,
        });
        // The collection is evaluated first, before any level value.
        self.guard(index);
        let cand = self.probes(index, &values);
        self.candidate_loop(q, op, cand, index, pred, dst);
        true
    }

    /// Emits the probes of `index` with the level values `values`; returns the register that
    /// ends up holding the candidate positions.
    pub(super) fn probes(&mut self, index: u16, values: &[&Expr]) -> Reg {
        let node = self.f.alloc();
        self.konst(Const::Num(0.0), node);
        let mut done = Vec::new();
        for (i, v) in values.iter().enumerate() {
            let key = self.temp(v);
            self.f.emit(Instr::IndexProbe { node, key, index });
            if i + 1 < values.len() {
                done.push(self.f.emit_fwd(Instr::IndexDone { node, target: 0 }));
            }
        }
        for p in done {
            self.f.patch_here(p);
        }
        node
    }

    /// The loop of an indexed collection form over the candidate positions in `cand`.
    pub(super) fn candidate_loop(
        &mut self,
        q: &ast::QuantExpr,
        op: IterOp,
        cand: Reg,
        index: u16,
        pred: &Expr,
        dst: Reg,
    ) {
        let scope_mark = self.scope.len();
        let j = self.f.alloc();
        self.konst(Const::Num(0.0), j);
        let pos = self.f.alloc();
        let elem = self.f.alloc();
        let builder = (op == IterOp::Filter).then(|| self.f.alloc_builder());
        match op {
            IterOp::Any => {
                self.f.emit(Instr::LoadBool { dst, value: false });
            }
            IterOp::First => {
                self.f.emit(Instr::LoadUndef { dst });
            }
            _ => {
                self.f.emit(Instr::BuilderNew {
                    b: builder.unwrap_or(0),
                });
            }
        }
        let top = self.f.pc();
        self.f.emit(Instr::IterNext {
            list: cand,
            idx: j,
            elem: pos,
        });
        let exit = self.f.emit_fwd(Instr::Jump { target: 0 });
        self.f.emit(Instr::IndexElem {
            dst: elem,
            pos,
            index,
        });
        self.scope.push((q.var.text.clone(), Binding::Reg(elem)));
        if let Some(i) = &q.index {
            self.scope.push((i.text.clone(), Binding::Reg(pos)));
        }
        let t = self.temp(pred);
        let cont = self.f.emit_fwd(Instr::JumpIfNotTrue { src: t, target: 0 });
        let mut to_end = None;
        match op {
            IterOp::Any | IterOp::First => {
                self.probe(
                    q.coll.span,
                    ProbeKind::FormDecided {
                        form: op,
                        list: cand,
                        idx: pos,
                    },
                );
                if op == IterOp::Any {
                    self.f.emit(Instr::LoadBool { dst, value: true });
                } else {
                    self.f.emit(Instr::Move { dst, src: elem });
                }
                to_end = Some(self.f.emit_fwd(Instr::Jump { target: 0 }));
            }
            _ => {
                self.f.emit(Instr::BuilderPush {
                    b: builder.unwrap_or(0),
                    src: elem,
                });
            }
        }
        self.f.patch_here(cont);
        self.f.emit(Instr::Incr { reg: j });
        self.f.emit(Instr::Jump { target: top });
        self.f.patch_here(exit);
        self.probe(
            q.coll.span,
            ProbeKind::FormDone {
                form: op,
                list: cand,
            },
        );
        if let Some(b) = builder {
            self.f.emit(Instr::BuilderFinish { dst, b });
            self.f.free_builder();
        }
        if let Some(p) = to_end {
            self.f.patch_here(p);
        }
        self.scope.truncate(scope_mark);
    }
}

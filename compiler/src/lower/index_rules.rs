//! Indexes over rules: an `or` of many rules (or `any` over a list of rules) whose bodies
//! lead with `fact == constant` conjuncts becomes one lookup on those keys, then only the
//! rules the lookup names are evaluated, in their order (see `index.rs` for collection forms).

use sentrie_grammar::ast::{self, BinOp, Expr, ExprKind, Quant};
use sentrie_vm::bytecode::{Instr, IterOp, Reg};
use sentrie_vm::program::{Const, IndexLevel, IndexSpec, LevelOp, ProbeKind};

use super::index::{chain, MAX_LEVELS};
use super::Lower;
use crate::index::ValueRef;

/// Fewest consecutive rules of an `or` worth an index.
const MIN_OR_RULES: usize = 8;

/// A fact or let path `user.role` / `req["action"]`, as text (`None` for anything else).
fn key_path(e: &Expr) -> Option<String> {
    match &e.kind {
        ExprKind::Ident(n) => Some(n.clone()),
        ExprKind::Field(r, name) => Some(format!("{}.{}", key_path(r)?, name.text)),
        ExprKind::Index(r, k) => match &k.kind {
            ExprKind::String(s) => Some(format!("{}[{s:?}]", key_path(r)?)),
            _ => None,
        },
        _ => None,
    }
}

fn scalar(c: &Const) -> bool {
    !matches!(c, Const::List(_) | Const::Map(_))
}

/// The leading `P == K` conjuncts of a rule body: `(path text, P, K)`.
fn rule_keys(body: &Expr) -> Vec<(String, &Expr, Const)> {
    let mut conj = Vec::new();
    chain(body, BinOp::And, &mut conj);
    let mut out = Vec::new();
    for c in conj.into_iter().take(MAX_LEVELS) {
        let ExprKind::Binary(BinOp::Eq, a, b) = &c.kind else {
            break;
        };
        let (p, k) = match (super::expr::fold(a), super::expr::fold(b)) {
            (None, Some(k)) => (&**a, k),
            (Some(k), None) => (&**b, k),
            _ => break,
        };
        let Some(text) = key_path(p).filter(|_| scalar(&k)) else {
            break;
        };
        out.push((text, p, k));
    }
    out
}

/// A run of consecutive `or` operands indexed together.
struct OrRun<'e> {
    start: usize,
    rules: Vec<sentrie_vm::program::RuleId>,
    /// The key expressions, one per level (from the first rule; the others agree).
    keys: Vec<&'e Expr>,
    /// Per rule, the constants of each level.
    consts: Vec<Vec<Const>>,
}

impl<'c, 'p> Lower<'c, 'p> {
    /// The rule a chain operand names, when it qualifies for an `or` index: a rule of this
    /// policy without `when`, whose body starts with `P == constant` conjuncts.
    fn or_operand(&self, e: &Expr) -> Option<(sentrie_vm::program::RuleId, &'p ast::RuleDecl)> {
        let ExprKind::Ident(name) = &e.kind else {
            return None;
        };
        let Some(ValueRef::Rule(rid)) = self.policy_value(name) else {
            return None;
        };
        let pol = &self.ix.policies[self.pid];
        let (decl, _) = pol.rules.iter().find(|(_, id)| *id == rid)?;
        if decl.when.is_some() {
            return None;
        }
        // A rule's attachments are computed whenever it is evaluated: a skipped rule must not
        // skip an attachment that could fail.
        let fixed_attachments = pol
            .exports
            .iter()
            .filter(|x| x.rule.text == *name)
            .flat_map(|x| x.attachments.iter())
            .all(|(_, v)| super::expr::fold(v).is_some());
        fixed_attachments.then_some((rid, *decl))
    }

    /// Splits an `or` chain into runs of rules sharing their leading key paths.
    fn or_runs(&self, ops: &[&Expr]) -> Vec<OrRun<'p>> {
        let mut runs: Vec<OrRun<'p>> = Vec::new();
        let mut cur: Option<(OrRun<'p>, Vec<String>)> = None;
        let close = |cur: Option<(OrRun<'p>, Vec<String>)>, runs: &mut Vec<OrRun<'p>>| {
            if let Some((run, _)) = cur {
                if run.rules.len() >= MIN_OR_RULES {
                    runs.push(run);
                }
            }
        };
        for (i, e) in ops.iter().enumerate() {
            let keys = self.or_operand(e).and_then(|(rid, decl)| match &decl.body {
                ast::RuleBody::Expr(body) => {
                    let ks = rule_keys(body);
                    // The key paths must mean the same here as in the rule: no local shadows them.
                    let shadowed = ks.iter().any(|(_, p, _)| {
                        let mut root = *p;
                        while let ExprKind::Field(r, _) | ExprKind::Index(r, _) = &root.kind {
                            root = r;
                        }
                        matches!(&root.kind, ExprKind::Ident(n) if self.lookup_local(n).is_some())
                    });
                    (!ks.is_empty() && !shadowed).then_some((rid, ks))
                }
                ast::RuleBody::Import(_) => None,
            });
            let Some((rid, ks)) = keys else {
                close(cur.take(), &mut runs);
                continue;
            };
            let texts: Vec<String> = ks.iter().map(|(t, _, _)| t.clone()).collect();
            let continues = cur
                .as_ref()
                .is_some_and(|(_, first)| first.first() == texts.first());
            if !continues {
                close(cur.take(), &mut runs);
                cur = Some((
                    OrRun {
                        start: i,
                        rules: Vec::new(),
                        keys: ks.iter().map(|(_, p, _)| *p).collect(),
                        consts: Vec::new(),
                    },
                    texts.clone(),
                ));
            }
            if let Some((run, shared)) = cur.as_mut() {
                // Levels shared by every rule of the run so far.
                let common = shared
                    .iter()
                    .zip(&texts)
                    .take_while(|(a, b)| a == b)
                    .count();
                shared.truncate(common);
                run.keys.truncate(common);
                run.rules.push(rid);
                run.consts
                    .push(ks.into_iter().map(|(_, _, k)| k).collect::<Vec<_>>());
            }
        }
        close(cur, &mut runs);
        for run in &mut runs {
            let depth = run.keys.len();
            for c in &mut run.consts {
                c.truncate(depth);
            }
        }
        runs
    }

    /// An `or` chain with runs of indexable rules. Returns false (nothing emitted) when no run
    /// qualifies.
    pub(super) fn indexed_or(&mut self, e: &Expr, dst: Reg) -> bool {
        if !self.b.index {
            return false;
        }
        let mut ops = Vec::new();
        chain(e, BinOp::Or, &mut ops);
        if ops.len() < MIN_OR_RULES {
            return false;
        }
        let mut runs = self.or_runs(&ops);
        if self.index_count() + runs.len() >= u16::MAX as usize {
            runs.clear();
        }
        // Without runs the chain is still lowered flat here (the same code the nested
        // lowering gives), so long chains are analysed once, not once per operand.
        self.f.emit(Instr::LoadBool { dst, value: false });
        let mut to_true = Vec::new();
        let mut i = 0;
        let mut runs = runs.into_iter().peekable();
        while i < ops.len() {
            if runs.peek().is_some_and(|r| r.start == i) {
                let Some(run) = runs.next() else { break };
                i += run.rules.len();
                self.or_run(run, dst, Some(&mut to_true));
                continue;
            }
            let t = self.temp(ops[i]);
            to_true.push(self.f.emit_fwd(Instr::JumpIfTrue { src: t, target: 0 }));
            self.f.emit(Instr::OrTri {
                dst,
                lhs: dst,
                rhs: t,
            });
            i += 1;
        }
        let done = self.f.emit_fwd(Instr::Jump { target: 0 });
        for p in to_true {
            self.f.patch_here(p);
        }
        self.f.emit(Instr::LoadBool { dst, value: true });
        self.f.patch_here(done);
        true
    }

    /// Evaluates the candidate rules of `run`, or-ing their states into `dst`. With `to_true`
    /// the first TRUE one jumps out (an `or`); without, every candidate is evaluated and
    /// `dst` becomes true if one was TRUE (`any` over a list, whose elements are all
    /// evaluated before the form runs).
    fn or_run(
        &mut self,
        run: OrRun<'p>,
        dst: Reg,
        to_true: Option<&mut Vec<crate::emit::Patch>>,
    ) -> Reg {
        let depth = run.keys.len();
        let items = run
            .consts
            .into_iter()
            .map(|ks| {
                Const::Map(
                    ks.into_iter()
                        .enumerate()
                        .map(|(i, k)| (format!("{i}"), k))
                        .collect(),
                )
            })
            .collect::<Vec<_>>();
        let n = items.len();
        let list = self.b.const_id(Const::List(items));
        let names: Vec<String> = run.keys.iter().filter_map(|k| key_path(k)).collect();
        for rid in &run.rules {
            self.depend(crate::deps::Node::Rule(rid.as_u32()));
        }
        let index = self.add_index(IndexSpec {
            list,
            levels: (0..depth)
                .map(|i| IndexLevel {
                    op: LevelOp::Eq,
                    path: vec![format!("{i}")],
                })
                .collect(),
            rules: run.rules,
            what: format!("or of {n} rules on {}", names.join(", ")),
            typed_let: None,
            via: None,
        });
        let cand = self.probes(index, &run.keys);
        let j = self.f.alloc();
        self.konst(Const::Num(0.0), j);
        let pos = self.f.alloc();
        let d = self.f.alloc();
        let top = self.f.pc();
        self.f.emit(Instr::IterNext {
            list: cand,
            idx: j,
            elem: pos,
        });
        let exit = self.f.emit_fwd(Instr::Jump { target: 0 });
        self.f.emit(Instr::IndexRule { dst: d, pos, index });
        match to_true {
            Some(to_true) => {
                to_true.push(self.f.emit_fwd(Instr::JumpIfTrue { src: d, target: 0 }));
                self.f.emit(Instr::OrTri {
                    dst,
                    lhs: dst,
                    rhs: d,
                });
            }
            None => {
                let skip = self.f.emit_fwd(Instr::JumpIfNotTrue { src: d, target: 0 });
                self.f.emit(Instr::LoadBool { dst, value: true });
                self.f.patch_here(skip);
            }
        }
        self.f.emit(Instr::Incr { reg: j });
        self.f.emit(Instr::Jump { target: top });
        self.f.patch_here(exit);
        cand
    }

    /// `any [r1, r2, ...] as r (r)` over a list of rules that form one run: the rules that
    /// cannot be TRUE are skipped (they are FALSE and cannot fail).
    pub(super) fn indexed_rules_any(&mut self, q: &ast::QuantExpr, dst: Reg) -> bool {
        let ExprKind::List(items) = &q.coll.kind else {
            return false;
        };
        let pred = match &q.body.kind {
            ExprKind::Block(b) if b.lets.is_empty() => &*b.yield_expr,
            _ => &q.body,
        };
        let body_is_var = matches!(&pred.kind, ExprKind::Ident(n) if *n == q.var.text);
        if q.kind != Quant::Any || !body_is_var || items.len() < MIN_OR_RULES {
            return false;
        }
        let ops: Vec<&Expr> = items.iter().collect();
        let mut runs = self.or_runs(&ops);
        if runs.len() != 1 || runs[0].rules.len() != items.len() {
            return false;
        }
        let Some(run) = runs.pop() else {
            return false;
        };
        self.f.emit(Instr::LoadBool { dst, value: false });
        let cand = self.or_run(run, dst, None);
        self.probe(
            q.coll.span,
            ProbeKind::FormDone {
                form: IterOp::Any,
                list: cand,
            },
        );
        true
    }
}

//! Lowering of expressions: literals, field and index access, operators, conditionals and
//! casts, with constant folding.

use sentrie_grammar::ast::{self, BinOp, Expr, ExprKind, MapKey, UnOp};
use sentrie_grammar::Span;
use sentrie_vm::bytecode::{Instr, Reg};
use sentrie_vm::program::{Const, TypeId};

use super::{Binding, Lower};

impl<'c, 'p> Lower<'c, 'p> {
    pub(super) fn expr(&mut self, e: &Expr, dst: Reg) {
        if let Some(c) = fold(e) {
            self.konst(c, dst);
            return;
        }
        self.loc(e.span);
        let mark = self.f.mark();
        match &e.kind {
            ExprKind::Number(_)
            | ExprKind::String(_)
            | ExprKind::Null
            | ExprKind::Bool(_)
            | ExprKind::Unknown => {
                // Folded above.
            }
            ExprKind::Error => {
                self.f.emit(Instr::LoadUndef { dst });
            }
            ExprKind::Ident(name) => self.ident(name, e.span, dst),
            ExprKind::List(items) => {
                let start = self.f.alloc_n(items.len() as u32);
                for (i, x) in items.iter().enumerate() {
                    self.expr(x, Reg(start.0 + i as u16));
                }
                self.f.emit(Instr::MakeList {
                    dst,
                    src: start,
                    n: items.len() as u16,
                });
            }
            ExprKind::Map(entries) => self.map_literal(entries, e.span, dst),
            ExprKind::Block(b) => self.block(b, dst),
            ExprKind::Field(recv, name) => self.field(recv, name, e.span, dst),
            ExprKind::Index(recv, key) => self.index(recv, key, e.span, dst),
            ExprKind::Call { callee, args, memo } => {
                let memo = self.memo_ttl(*memo, e.span);
                self.call(callee, args, e.span, dst, memo);
            }
            ExprKind::Unary(op, x) => {
                let r = self.temp(x);
                self.loc(e.span);
                self.f.emit(match op {
                    UnOp::Not => Instr::Not { dst, src: r },
                    UnOp::Neg => Instr::Neg { dst, src: r },
                    UnOp::Plus => Instr::Plus { dst, src: r },
                });
            }
            ExprKind::Binary(ast::BinOp::Or, ..) if self.indexed_or(e, dst) => {}
            ExprKind::Binary(op, a, b) => self.binary(*op, a, b, e.span, dst),
            ExprKind::IsDefined { expr, negated } | ExprKind::IsEmpty { expr, negated } => {
                self.lenient += 1;
                let r = self.temp(expr);
                self.lenient -= 1;
                if matches!(e.kind, ExprKind::IsDefined { .. }) {
                    self.f.emit(Instr::IsDefined { dst, src: r });
                } else {
                    self.f.emit(Instr::IsEmpty { dst, src: r });
                }
                if *negated {
                    self.f.emit(Instr::Not { dst, src: dst });
                }
            }
            ExprKind::Cond { cond, then, other } => self.cond(cond, then.as_deref(), other, dst),
            ExprKind::Quant(q) => {
                if !self.indexed_quant(q, dst) {
                    self.quant(q.kind, &q.coll, &q.var, q.index.as_ref(), &q.body, dst)
                }
            }
            ExprKind::Distinct(d) => self.distinct(&d.coll, &d.left, &d.right, &d.body, dst),
            ExprKind::Reduce(r) => self.reduce(
                &r.coll,
                &r.init,
                &r.acc,
                &r.var,
                r.index.as_ref(),
                &r.body,
                dst,
            ),
            ExprKind::Cast(x, ty) => {
                let r = self.temp(x);
                let ty = self.resolve_type(ty);
                let ty = self.type_operand(ty);
                self.loc(e.span);
                self.f.emit(Instr::Cast { dst, src: r, ty });
            }
            ExprKind::Count(x) => {
                let r = self.temp(x);
                self.f.emit(Instr::Count { dst, src: r });
            }
        }
        self.f.free_to(mark);
    }

    /// `{k: v, [e]: v, ...}`: keys before values, left to right.
    fn map_literal(&mut self, entries: &[(MapKey, Expr)], span: Span, dst: Reg) {
        let start = self.f.alloc_n(2 * entries.len() as u32);
        for (i, (k, v)) in entries.iter().enumerate() {
            let kr = Reg(start.0 + 2 * i as u16);
            match k {
                MapKey::Name(n) => self.konst(Const::Str(n.clone()), kr),
                MapKey::Expr(x) => self.expr(x, kr),
            }
            self.expr(v, Reg(kr.0 + 1));
        }
        // The entries moved the location on; a bad key is the literal's error.
        self.loc(span);
        self.f.emit(Instr::MakeMap {
            dst,
            src: start,
            n: entries.len() as u16,
        });
    }

    /// `recv.name`, or `alias.NAME` of a module.
    fn field(&mut self, recv: &Expr, name: &ast::Name, span: Span, dst: Reg) {
        if let ExprKind::Ident(alias) = &recv.kind {
            if let Some(m) = self.module_alias(alias) {
                self.module_value(&m, &name.text, span, dst);
                return;
            }
        }
        let before = self.f.pc();
        let r = self.temp(recv);
        let name = self.b.name_id(&name.text);
        let name = u16::try_from(name).unwrap_or_else(|_| {
            self.f.overflow = true;
            0
        });
        // A field of a fact is read in one instruction: the receiver's `LoadFact`, just
        // emitted into a temporary nothing else reads, is replaced.
        if self.f.pc() == before + 1 {
            if let Some(&Instr::LoadFact { dst: t, idx }) = self.f.code.last() {
                if t == r {
                    self.f.code.pop();
                    self.loc(span);
                    let lenient = self.lenient > 0;
                    self.f.emit(Instr::GetFactField {
                        dst,
                        idx,
                        name,
                        lenient,
                    });
                    return;
                }
            }
        }
        self.loc(span);
        if self.lenient > 0 {
            self.f.emit(Instr::GetFieldLenient { dst, src: r, name });
        } else {
            self.f.emit(Instr::GetField { dst, src: r, name });
        }
    }

    /// `recv[key]`.
    fn index(&mut self, recv: &Expr, key: &Expr, span: Span, dst: Reg) {
        let r = self.temp(recv);
        let k = self.temp(key);
        self.loc(span);
        if self.lenient > 0 {
            self.f.emit(Instr::GetIndexLenient {
                dst,
                src: r,
                key: k,
            });
        } else {
            self.f.emit(Instr::GetIndex {
                dst,
                src: r,
                key: k,
            });
        }
    }

    /// `cond ? then : other`, or `cond ?: other` (the condition's value when it is true).
    fn cond(&mut self, cond: &Expr, then: Option<&Expr>, other: &Expr, dst: Reg) {
        match then {
            Some(then) => {
                let c = self.temp(cond);
                self.probe(cond.span, sentrie_vm::program::ProbeKind::Cond { reg: c });
                let to_else = self.f.emit_fwd(Instr::JumpIfNotTrue { src: c, target: 0 });
                self.expr(then, dst);
                let to_end = self.f.emit_fwd(Instr::Jump { target: 0 });
                self.f.patch_here(to_else);
                self.expr(other, dst);
                self.f.patch_here(to_end);
            }
            None => {
                self.expr(cond, dst);
                let to_end = self.f.emit_fwd(Instr::JumpIfTrue {
                    src: dst,
                    target: 0,
                });
                self.expr(other, dst);
                self.f.patch_here(to_end);
            }
        }
    }

    pub(super) fn type_operand(&mut self, ty: TypeId) -> u16 {
        u16::try_from(ty.as_u32()).unwrap_or_else(|_| {
            self.f.overflow = true;
            0
        })
    }

    pub(super) fn lookup_local(&self, name: &str) -> Option<Binding> {
        self.scope
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, b)| *b)
    }

    fn binary(&mut self, op: BinOp, a: &Expr, b: &Expr, span: Span, dst: Reg) {
        match op {
            BinOp::And | BinOp::Or => {
                self.expr(a, dst);
                let skip = if op == BinOp::And {
                    self.f.emit_fwd(Instr::AndJump {
                        reg: dst,
                        target: 0,
                    })
                } else {
                    self.f.emit_fwd(Instr::OrJump {
                        reg: dst,
                        target: 0,
                    })
                };
                let t = self.temp(b);
                if op == BinOp::And {
                    self.f.emit(Instr::AndTri {
                        dst,
                        lhs: dst,
                        rhs: t,
                    });
                } else {
                    self.f.emit(Instr::OrTri {
                        dst,
                        lhs: dst,
                        rhs: t,
                    });
                }
                self.f.patch_here(skip);
                return;
            }
            BinOp::Is | BinOp::IsNot => {
                if let Some(ty) = self.shape_test(b) {
                    let r = self.temp(a);
                    let ty = self.type_operand(ty);
                    self.f.emit(Instr::IsType { dst, src: r, ty });
                    if op == BinOp::IsNot {
                        self.f.emit(Instr::Not { dst, src: dst });
                    }
                    return;
                }
            }
            BinOp::Matches | BinOp::NotMatches => {
                if let ExprKind::String(p) = &b.kind {
                    if sentrie_vm::regex_cache::build(p).is_ok() {
                        let regex = self.b.intern_regex(p);
                        let r = self.temp(a);
                        self.loc(span);
                        self.f.emit(Instr::MatchesConst { dst, src: r, regex });
                        if op == BinOp::NotMatches {
                            self.f.emit(Instr::Not { dst, src: dst });
                        }
                        return;
                    }
                }
            }
            BinOp::In | BinOp::NotIn | BinOp::Contains | BinOp::NotContains
                if self.membership(op, a, b, dst) =>
            {
                return;
            }
            _ => {}
        }
        let l = self.temp(a);
        let r = self.temp(b);
        self.loc(span);
        let (lhs, rhs) = (l, r);
        let negate = matches!(op, BinOp::NotIn | BinOp::NotContains | BinOp::NotMatches);
        self.f.emit(match op {
            BinOp::Add => Instr::Add { dst, lhs, rhs },
            BinOp::Sub => Instr::Sub { dst, lhs, rhs },
            BinOp::Mul => Instr::Mul { dst, lhs, rhs },
            BinOp::Div => Instr::Div { dst, lhs, rhs },
            BinOp::Mod => Instr::Mod { dst, lhs, rhs },
            BinOp::Lt => Instr::Lt { dst, lhs, rhs },
            BinOp::Le => Instr::Le { dst, lhs, rhs },
            BinOp::Gt => Instr::Gt { dst, lhs, rhs },
            BinOp::Ge => Instr::Ge { dst, lhs, rhs },
            BinOp::Eq | BinOp::Is => Instr::Eq { dst, lhs, rhs },
            BinOp::Ne | BinOp::IsNot => Instr::Ne { dst, lhs, rhs },
            BinOp::In | BinOp::NotIn => Instr::Contains {
                dst,
                lhs: rhs,
                rhs: lhs,
            },
            BinOp::Contains | BinOp::NotContains => Instr::Contains { dst, lhs, rhs },
            BinOp::Matches | BinOp::NotMatches => Instr::Matches { dst, lhs, rhs },
            BinOp::Xor => Instr::XorTri { dst, lhs, rhs },
            BinOp::And | BinOp::Or => Instr::AndTri { dst, lhs, rhs },
        });
        if negate {
            self.f.emit(Instr::Not { dst, src: dst });
        }
    }
}

/// Constant folding: literals, literal lists and maps, and arithmetic on numeric literals
/// that cannot fail.
pub fn fold(e: &Expr) -> Option<Const> {
    Some(match &e.kind {
        ExprKind::Number(n) => Const::Num(*n),
        ExprKind::String(s) => Const::Str(s.clone()),
        ExprKind::Bool(b) => Const::Bool(*b),
        ExprKind::Unknown => Const::Unknown,
        ExprKind::Null => Const::Null,
        ExprKind::List(items) => Const::List(items.iter().map(fold).collect::<Option<Vec<_>>>()?),
        ExprKind::Map(entries) => {
            let mut out: Vec<(String, Const)> = Vec::with_capacity(entries.len());
            for (k, v) in entries {
                let key = match k {
                    MapKey::Name(n) => n.clone(),
                    MapKey::Expr(x) => match fold(x)? {
                        Const::Str(s) => s,
                        _ => return None,
                    },
                };
                let v = fold(v)?;
                match out.iter_mut().find(|(k2, _)| *k2 == key) {
                    Some(slot) => slot.1 = v,
                    None => out.push((key, v)),
                }
            }
            out.sort_by(|a, b| a.0.cmp(&b.0));
            Const::Map(out)
        }
        ExprKind::Unary(UnOp::Neg, x) => match fold(x)? {
            Const::Num(n) => Const::Num(-n),
            _ => return None,
        },
        ExprKind::Unary(UnOp::Plus, x) => match fold(x)? {
            Const::Num(n) => Const::Num(n),
            _ => return None,
        },
        ExprKind::Binary(op @ (BinOp::Add | BinOp::Sub | BinOp::Mul), a, b) => {
            match (fold(a)?, fold(b)?) {
                (Const::Num(x), Const::Num(y)) => Const::Num(match op {
                    BinOp::Add => x + y,
                    BinOp::Sub => x - y,
                    _ => x * y,
                }),
                (Const::Str(x), Const::Str(y)) if *op == BinOp::Add => Const::Str(x + &y),
                _ => return None,
            }
        }
        _ => return None,
    })
}

//! Lowering of the collection forms (LANGUAGE.md §14.9): `any`, `all`, `filter`, `first`,
//! `map`, `distinct` and `reduce`, as loops over a list with an index register.

use sentrie_grammar::ast::{self, Expr, Quant};
use sentrie_vm::bytecode::{Instr, IterOp, Reg};
use sentrie_vm::program::{Const, ProbeKind};

use super::{Binding, Lower};

impl<'c, 'p> Lower<'c, 'p> {
    fn bind(&mut self, name: &ast::Name, r: Reg) {
        self.scope.push((name.text.clone(), Binding::Reg(r)));
    }

    /// Evaluates the collection and checks it; returns (list reg, index reg, patch to the
    /// undefined case).
    fn loop_head(&mut self, coll: &Expr, op: IterOp) -> (Reg, Reg, crate::emit::Patch) {
        let list = self.temp(coll);
        let undef = self.f.emit_fwd(Instr::JumpIfUndef {
            src: list,
            target: 0,
        });
        self.loc(coll.span);
        self.f.emit(Instr::IterCheck { src: list, op });
        let idx = self.f.alloc();
        self.konst(Const::Num(0.0), idx);
        (list, idx, undef)
    }

    pub(super) fn quant(
        &mut self,
        kind: Quant,
        coll: &Expr,
        var: &ast::Name,
        index: Option<&ast::Name>,
        body: &Expr,
        dst: Reg,
    ) {
        let op = match kind {
            Quant::Any => IterOp::Any,
            Quant::All => IterOp::All,
            Quant::Filter => IterOp::Filter,
            Quant::First => IterOp::First,
            Quant::Map => IterOp::Map,
        };
        let scope_mark = self.scope.len();
        let (list, idx, undef) = self.loop_head(coll, op);
        let elem = self.f.alloc();
        let builder = matches!(kind, Quant::Filter | Quant::Map).then(|| self.f.alloc_builder());
        match kind {
            Quant::Any => {
                self.f.emit(Instr::LoadBool { dst, value: false });
            }
            Quant::All => {
                self.f.emit(Instr::LoadBool { dst, value: true });
            }
            Quant::First => {
                self.f.emit(Instr::LoadUndef { dst });
            }
            Quant::Filter | Quant::Map => {
                self.f.emit(Instr::BuilderNew {
                    b: builder.unwrap_or(0),
                });
            }
        }
        let top = self.f.pc();
        self.f.emit(Instr::IterNext { list, idx, elem });
        let exit = self.f.emit_fwd(Instr::Jump { target: 0 });
        self.bind(var, elem);
        if let Some(i) = index {
            self.bind(i, idx);
        }
        let t = self.temp(body);
        let mut to_end = None;
        let decided = ProbeKind::FormDecided {
            form: op,
            list,
            idx,
        };
        match kind {
            Quant::Any | Quant::First => {
                let cont = self.f.emit_fwd(Instr::JumpIfNotTrue { src: t, target: 0 });
                self.probe(coll.span, decided);
                if kind == Quant::Any {
                    self.f.emit(Instr::LoadBool { dst, value: true });
                } else {
                    self.f.emit(Instr::Move { dst, src: elem });
                }
                to_end = Some(self.f.emit_fwd(Instr::Jump { target: 0 }));
                self.f.patch_here(cont);
            }
            Quant::All => {
                let cont = self.f.emit_fwd(Instr::JumpIfTrue { src: t, target: 0 });
                self.probe(coll.span, decided);
                self.f.emit(Instr::LoadBool { dst, value: false });
                to_end = Some(self.f.emit_fwd(Instr::Jump { target: 0 }));
                self.f.patch_here(cont);
            }
            Quant::Filter => {
                let cont = self.f.emit_fwd(Instr::JumpIfNotTrue { src: t, target: 0 });
                self.f.emit(Instr::BuilderPush {
                    b: builder.unwrap_or(0),
                    src: elem,
                });
                self.f.patch_here(cont);
            }
            Quant::Map => {
                self.f.emit(Instr::BuilderPush {
                    b: builder.unwrap_or(0),
                    src: t,
                });
            }
        }
        self.f.emit(Instr::Incr { reg: idx });
        self.f.emit(Instr::Jump { target: top });
        self.f.patch_here(exit);
        self.probe(coll.span, ProbeKind::FormDone { form: op, list });
        if let Some(b) = builder {
            self.f.emit(Instr::BuilderFinish { dst, b });
        }
        let done = self.f.emit_fwd(Instr::Jump { target: 0 });
        self.f.patch_here(undef);
        self.probe(coll.span, ProbeKind::FormUndefined { form: op });
        match kind {
            Quant::Any | Quant::All => {
                self.f.emit(Instr::LoadBool { dst, value: false });
            }
            Quant::First => {
                self.f.emit(Instr::LoadUndef { dst });
            }
            Quant::Filter | Quant::Map => self.konst(Const::List(Vec::new()), dst),
        }
        self.f.patch_here(done);
        if let Some(p) = to_end {
            self.f.patch_here(p);
        }
        if builder.is_some() {
            self.f.free_builder();
        }
        self.scope.truncate(scope_mark);
    }

    pub(super) fn distinct(
        &mut self,
        coll: &Expr,
        left: &ast::Name,
        right: &ast::Name,
        body: &Expr,
        dst: Reg,
    ) {
        let scope_mark = self.scope.len();
        let (list, idx, undef) = self.loop_head(coll, IterOp::Distinct);
        let elem = self.f.alloc();
        let j = self.f.alloc();
        let n = self.f.alloc();
        let kept = self.f.alloc();
        let cmp = self.f.alloc();
        let b = self.f.alloc_builder();
        self.f.emit(Instr::BuilderNew { b });
        let outer = self.f.pc();
        self.f.emit(Instr::IterNext { list, idx, elem });
        let finish = self.f.emit_fwd(Instr::Jump { target: 0 });
        self.konst(Const::Num(0.0), j);
        self.f.emit(Instr::BuilderLen { dst: n, b });
        let inner = self.f.pc();
        self.f.emit(Instr::Lt {
            dst: cmp,
            lhs: j,
            rhs: n,
        });
        let to_append = self.f.emit_fwd(Instr::JumpIfNotTrue {
            src: cmp,
            target: 0,
        });
        self.f.emit(Instr::BuilderGet {
            dst: kept,
            b,
            idx: j,
        });
        self.bind(left, kept);
        self.bind(right, elem);
        let t = self.temp(body);
        let to_skip = self.f.emit_fwd(Instr::JumpIfTrue { src: t, target: 0 });
        self.f.emit(Instr::Incr { reg: j });
        self.f.emit(Instr::Jump { target: inner });
        self.f.patch_here(to_append);
        self.f.emit(Instr::BuilderPush { b, src: elem });
        self.f.patch_here(to_skip);
        self.f.emit(Instr::Incr { reg: idx });
        self.f.emit(Instr::Jump { target: outer });
        self.f.patch_here(finish);
        self.probe(
            coll.span,
            ProbeKind::FormDone {
                form: IterOp::Distinct,
                list,
            },
        );
        self.f.emit(Instr::BuilderFinish { dst, b });
        let done = self.f.emit_fwd(Instr::Jump { target: 0 });
        self.f.patch_here(undef);
        self.probe(
            coll.span,
            ProbeKind::FormUndefined {
                form: IterOp::Distinct,
            },
        );
        self.konst(Const::List(Vec::new()), dst);
        self.f.patch_here(done);
        self.f.free_builder();
        self.scope.truncate(scope_mark);
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn reduce(
        &mut self,
        coll: &Expr,
        init: &Expr,
        acc: &ast::Name,
        var: &ast::Name,
        index: Option<&ast::Name>,
        body: &Expr,
        dst: Reg,
    ) {
        let scope_mark = self.scope.len();
        let (list, idx, undef) = self.loop_head(coll, IterOp::Reduce);
        let acc_reg = self.f.alloc();
        self.expr(init, acc_reg);
        let elem = self.f.alloc();
        let top = self.f.pc();
        self.f.emit(Instr::IterNext { list, idx, elem });
        let exit = self.f.emit_fwd(Instr::Jump { target: 0 });
        self.bind(acc, acc_reg);
        self.bind(var, elem);
        if let Some(i) = index {
            self.bind(i, idx);
        }
        let t = self.temp(body);
        self.f.emit(Instr::Move {
            dst: acc_reg,
            src: t,
        });
        self.f.emit(Instr::Incr { reg: idx });
        self.f.emit(Instr::Jump { target: top });
        self.f.patch_here(exit);
        self.probe(
            coll.span,
            ProbeKind::FormDone {
                form: IterOp::Reduce,
                list,
            },
        );
        self.f.emit(Instr::Move { dst, src: acc_reg });
        let done = self.f.emit_fwd(Instr::Jump { target: 0 });
        self.f.patch_here(undef);
        self.probe(
            coll.span,
            ProbeKind::FormUndefined {
                form: IterOp::Reduce,
            },
        );
        self.f.emit(Instr::LoadUndef { dst });
        self.f.patch_here(done);
        self.scope.truncate(scope_mark);
    }
}

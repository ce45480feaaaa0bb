//! Pass 3: lowering. Each rule, policy-level let, attachment and fact default becomes one
//! bytecode function. Names are resolved here (LANGUAGE.md §14.1) and every reference to a
//! rule or let is recorded in the dependency graph for the cycle check.

use sentrie_grammar::ast::{self, BinOp, Expr, ExprKind, MapKey, Quant, RuleBody, UnOp};
use sentrie_grammar::{Diagnostic, Span};
use sentrie_vm::bytecode::{Instr, IterOp, Reg};
use sentrie_vm::program::{
    CallSite, Const, FuncId, ImportSite, LetCheck, ModuleSite, NativeSite, RuleId, TypeId,
};

use crate::deps::Node;
use crate::emit::FnBuilder;
use crate::index::ValueRef;
use crate::modules::{ModuleKind, UsedModule};
use crate::types::{TypeCtx, TypeErrors};
use crate::Compiler;
use sentrie_modules::native::Export;

#[derive(Clone, Copy, PartialEq)]
pub enum Mode {
    Normal,
    /// Fact defaults may not refer to any declared or supplied name.
    FactDefault,
}

#[derive(Clone, Copy)]
enum Binding {
    Reg(Reg),
    BlockLet(usize),
}

struct BlockLet {
    slot: Reg,
    node: u32,
    /// Entry pc of the subroutine once emitted.
    start: Option<u32>,
    /// Reads emitted before the subroutine, to patch.
    patches: Vec<crate::emit::Patch>,
}

pub struct Lower<'c, 'p> {
    c: &'c mut Compiler<'p>,
    pidx: usize,
    f: FnBuilder,
    scope: Vec<(String, Binding)>,
    block_lets: Vec<BlockLet>,
    node: Node,
    lenient: u32,
    mode: Mode,
}

impl<'c, 'p> Lower<'c, 'p> {
    pub fn new(c: &'c mut Compiler<'p>, pidx: usize, name: String, node: Node, mode: Mode) -> Self {
        let policy = c.policies[pidx].id;
        Lower {
            c,
            pidx,
            f: FnBuilder::new(name, policy),
            scope: Vec::new(),
            block_lets: Vec::new(),
            node,
            lenient: 0,
            mode,
        }
    }

    pub fn finish(self) -> FuncId {
        if self.f.overflow {
            let span = self.c.policies[self.pidx].ast.name.span;
            self.c.pack_error(Diagnostic::error(
                "function too large: more than 65535 registers",
                span,
            ));
        }
        let func = self.f.finish();
        self.c.program.funcs.push(func)
    }

    fn ctx(&self) -> TypeCtx {
        TypeCtx {
            ns: self.c.policies[self.pidx].ns,
            policy: Some(self.pidx),
        }
    }

    fn policy_error(&mut self, d: Diagnostic) {
        self.c.policy_error(self.pidx, d);
    }

    fn resolve_type(&mut self, t: &ast::TypeRef) -> TypeId {
        let mut errs = TypeErrors::default();
        let ctx = self.ctx();
        let id = self.c.type_ref(t, ctx, &mut errs);
        for d in errs.pack {
            self.c.pack_error(d);
        }
        for d in errs.names {
            self.policy_error(d);
        }
        id
    }

    fn loc(&mut self, span: Span) {
        let l = self.c.loc(span);
        self.f.set_loc(l);
    }

    fn konst(&mut self, c: Const, dst: Reg) {
        let k = self.c.const_id(c);
        self.f.emit(Instr::LoadConst { dst, k });
    }

    /// Evaluates `e` into a fresh register, or returns the register of an iterator variable
    /// or accumulator directly (they are never written by the expression that reads them).
    fn temp(&mut self, e: &Expr) -> Reg {
        if let ExprKind::Ident(name) = &e.kind {
            if let Some(Binding::Reg(r)) = self.lookup_local(name) {
                return r;
            }
        }
        let r = self.f.alloc();
        self.expr(e, r);
        r
    }

    // ---- function bodies ----

    /// A rule: `when ? body : default`.
    pub fn rule(&mut self, r: &ast::RuleDecl, rid: RuleId) {
        let out = self.f.alloc();
        let mut to_default = None;
        if let Some(w) = &r.when {
            let t = self.temp(w);
            to_default = Some(self.f.emit_fwd(Instr::JumpIfNotTrue { src: t, target: 0 }));
        }
        match &r.body {
            RuleBody::Expr(e) => self.expr(e, out),
            RuleBody::Import(imp) => self.import(imp, rid, out),
        }
        self.f.emit(Instr::Ret { src: out });
        if let Some(p) = to_default {
            self.f.patch_here(p);
            match &r.default {
                Some(d) => self.expr(d, out),
                None => {
                    self.f.emit(Instr::LoadUnknown { dst: out });
                }
            }
            self.f.emit(Instr::Ret { src: out });
        }
    }

    fn import(&mut self, imp: &ast::ImportClause, rid: RuleId, out: Reg) {
        let Some(&target) = self.c.policies[self.pidx].import_targets.get(&rid) else {
            self.f.emit(Instr::LoadUndef { dst: out });
            return;
        };
        self.c.deps.edge(self.node, Node::Rule(target.as_u32()));
        let args = self.f.alloc_n(imp.with.len() as u32);
        for (i, (_, e)) in imp.with.iter().enumerate() {
            self.expr(e, Reg(args.0 + i as u16));
        }
        let names = imp.with.iter().map(|(n, _)| n.text.clone()).collect();
        self.c.program.imports.push(ImportSite {
            rule: target,
            names,
            args,
        });
        let site = (self.c.program.imports.len() - 1) as u32;
        self.loc(imp.span);
        self.f.emit(Instr::Import { dst: out, site });
    }

    /// A value function: lets, attachments and fact defaults.
    pub fn value(&mut self, e: &Expr, check: Option<(String, &ast::TypeRef)>) {
        let out = self.f.alloc();
        self.expr(e, out);
        if let Some((name, ty)) = check {
            let ty = self.resolve_type(ty);
            self.c.program.let_checks.push(LetCheck { name, ty });
            let site = (self.c.program.let_checks.len() - 1) as u32;
            self.loc(e.span);
            self.f.emit(Instr::CheckLet { src: out, site });
        }
        self.f.emit(Instr::Ret { src: out });
    }

    // ---- expressions ----

    pub fn expr(&mut self, e: &Expr, dst: Reg) {
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
            ExprKind::Map(entries) => {
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
                self.loc(e.span);
                self.f.emit(Instr::MakeMap {
                    dst,
                    src: start,
                    n: entries.len() as u16,
                });
            }
            ExprKind::Block(b) => self.block(b, dst),
            ExprKind::Field(recv, name) => {
                if let ExprKind::Ident(alias) = &recv.kind {
                    if let Some(m) = self.module_alias(alias) {
                        self.module_value(&m, &name.text, e.span, dst);
                        return;
                    }
                }
                let r = self.temp(recv);
                let name = self.c.name_id(&name.text);
                self.loc(e.span);
                let name = u16::try_from(name).unwrap_or_else(|_| {
                    self.f.overflow = true;
                    0
                });
                if self.lenient > 0 {
                    self.f.emit(Instr::GetFieldLenient { dst, src: r, name });
                } else {
                    self.f.emit(Instr::GetField { dst, src: r, name });
                }
            }
            ExprKind::Index(recv, key) => {
                let r = self.temp(recv);
                let k = self.temp(key);
                self.loc(e.span);
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
            ExprKind::Cond { cond, then, other } => match then {
                Some(then) => {
                    let c = self.temp(cond);
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
            },
            ExprKind::Quant(q) => {
                self.quant(q.kind, &q.coll, &q.var, q.index.as_ref(), &q.body, dst)
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

    fn type_operand(&mut self, ty: TypeId) -> u16 {
        u16::try_from(ty.as_u32()).unwrap_or_else(|_| {
            self.f.overflow = true;
            0
        })
    }

    fn lookup_local(&self, name: &str) -> Option<Binding> {
        self.scope
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, b)| *b)
    }

    /// `!` means 300 seconds; `!N` must be a whole number of seconds.
    fn memo_ttl(&mut self, memo: Option<Option<f64>>, span: Span) -> Option<u32> {
        match memo? {
            None => Some(300),
            Some(n) if n >= 0.0 && n.fract() == 0.0 => Some(n.min(f64::from(u32::MAX)) as u32),
            Some(n) => {
                let msg = format!(
                    "parse error: memoization time `{n}` must be a whole number of seconds"
                );
                self.c.pack_error(Diagnostic::error(msg, span));
                None
            }
        }
    }

    /// The module used under `alias`, unless a local or policy name shadows it.
    fn module_alias(&self, alias: &str) -> Option<UsedModule> {
        if self.lookup_local(alias).is_some()
            || self.c.policies[self.pidx].values.contains_key(alias)
        {
            return None;
        }
        self.c.policies[self.pidx]
            .modules
            .iter()
            .find(|m| m.alias == alias)
            .cloned()
    }

    /// Emits a runtime failure with `msg` and leaves undefined in `dst`.
    fn fail(&mut self, msg: String, span: Span, dst: Reg) {
        let k = self.c.const_id(Const::Str(msg));
        self.loc(span);
        self.f.emit(Instr::Fail { k });
        self.f.emit(Instr::LoadUndef { dst });
    }

    /// `alias.NAME` without a call: an exported constant.
    fn module_value(&mut self, m: &UsedModule, name: &str, span: Span, dst: Reg) {
        if let Some(why) = &m.failure {
            return self.fail(why.clone(), span, dst);
        }
        if !m.names.iter().any(|n| n == name) {
            return self.fail(format!("'{name}' not imported from {}", m.alias), span, dst);
        }
        match &m.kind {
            ModuleKind::Builtin(module) => match sentrie_modules::native::lookup(module, name) {
                Some(Export::Const(c)) => self.konst(c, dst),
                Some(Export::Function(_)) => self.fail(
                    format!("{}.{name} is a function: call it", m.alias),
                    span,
                    dst,
                ),
                None => self.fail(
                    format!("module @sentrie/{module} missing export {name}"),
                    span,
                    dst,
                ),
            },
            ModuleKind::Local(key) => {
                self.module_site(module_site(key, name, false, None), &[], span, dst)
            }
            ModuleKind::Broken => {
                self.fail(format!("module `{}` cannot be used", m.alias), span, dst)
            }
        }
    }

    /// Emits a user-module call (or export read, `site.call == false`) run in QuickJS. The
    /// site's `args`/`argc` are filled in here.
    fn module_site(&mut self, mut site: ModuleSite, args: &[Expr], span: Span, dst: Reg) {
        let start = self.f.alloc_n(args.len().max(1) as u32);
        for (i, a) in args.iter().enumerate() {
            self.expr(a, Reg(start.0 + i as u16));
        }
        site.args = start;
        site.argc = args.len() as u16;
        self.c.program.module_sites.push(site);
        let site = (self.c.program.module_sites.len() - 1) as u32;
        self.loc(span);
        self.f.emit(Instr::CallModule { dst, site });
    }

    /// A call of module function `name` of `m` with `args`.
    fn module_call(
        &mut self,
        m: &UsedModule,
        name: &str,
        args: &[Expr],
        span: Span,
        dst: Reg,
        memo: Option<u32>,
    ) {
        if let Some(why) = &m.failure {
            return self.fail(why.clone(), span, dst);
        }
        if !m.names.iter().any(|n| n == name) {
            return self.fail(
                format!("function '{name}' not imported from {}", m.alias),
                span,
                dst,
            );
        }
        let module = match &m.kind {
            ModuleKind::Builtin(module) => module,
            ModuleKind::Local(key) => {
                return self.module_site(module_site(key, name, true, memo), args, span, dst)
            }
            ModuleKind::Broken => {
                return self.fail(format!("module `{}` cannot be used", m.alias), span, dst)
            }
        };
        match sentrie_modules::native::lookup(module, name) {
            Some(Export::Function(_)) => {}
            Some(Export::Const(_)) => {
                return self.fail(format!("{}.{name} is not a function", m.alias), span, dst)
            }
            None => {
                return self.fail(
                    format!("module @sentrie/{module} missing export {name}"),
                    span,
                    dst,
                )
            }
        }
        self.native_call(module, name, args, span, dst, memo);
    }

    /// Emits a call of native function `name` of builtin module `module`.
    fn native_call(
        &mut self,
        module: &str,
        name: &str,
        args: &[Expr],
        span: Span,
        dst: Reg,
        memo: Option<u32>,
    ) {
        let start = self.f.alloc_n(args.len().max(1) as u32);
        for (i, a) in args.iter().enumerate() {
            self.expr(a, Reg(start.0 + i as u16));
        }
        self.c.program.natives.push(NativeSite {
            module: module.to_string(),
            export: name.to_string(),
            args: start,
            argc: args.len() as u16,
            memo,
        });
        let site = (self.c.program.natives.len() - 1) as u32;
        self.loc(span);
        self.f.emit(Instr::CallNative { dst, site });
    }

    fn ident(&mut self, name: &str, span: Span, dst: Reg) {
        if let Some(b) = self.lookup_local(name) {
            match b {
                Binding::Reg(r) => {
                    self.f.emit(Instr::Move { dst, src: r });
                }
                Binding::BlockLet(i) => {
                    let slot = self.block_lets[i].slot;
                    let node = Node::BlockLet(self.block_lets[i].node);
                    self.c.deps.edge(self.node, node);
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
            self.c.pack_error(
                Diagnostic::error(format!("a fact default cannot refer to `{name}`"), span)
                    .with_help(
                        "fact defaults may only use literals, operators and builtin functions",
                    ),
            );
            self.f.emit(Instr::LoadUndef { dst });
            return;
        }
        let pol = &self.c.policies[self.pidx];
        match pol.values.get(name).copied() {
            Some(ValueRef::Fact(i)) => {
                self.f.emit(Instr::LoadFact { dst, idx: i });
            }
            Some(ValueRef::Let(l)) => {
                self.c.deps.edge(self.node, Node::Let(l.as_u32()));
                self.f.emit(Instr::LoadLet {
                    dst,
                    let_id: l.as_u32(),
                });
            }
            Some(ValueRef::Rule(r)) => {
                self.c.deps.edge(self.node, Node::Rule(r.as_u32()));
                self.f.emit(Instr::LoadRule {
                    dst,
                    rule: r.as_u32(),
                });
            }
            None => {
                match pol.import_names.get(name).copied() {
                    Some(Some(r)) => {
                        self.c.deps.edge(self.node, Node::Rule(r.as_u32()));
                        self.f.emit(Instr::LoadRule {
                            dst,
                            rule: r.as_u32(),
                        });
                    }
                    Some(None) => {
                        let msg = format!("ambiguous name `{name}`: several import rules import a rule of that name");
                        self.policy_error(Diagnostic::error(msg, span));
                        self.f.emit(Instr::LoadUndef { dst });
                    }
                    None => {
                        let n = self.c.name_id(name);
                        self.f.emit(Instr::LoadAdhoc { dst, name: n });
                    }
                }
            }
        }
    }

    fn block(&mut self, b: &ast::Block, dst: Reg) {
        let scope_mark = self.scope.len();
        let first_let = self.block_lets.len();
        let mut names: Vec<&str> = Vec::new();
        for l in &b.lets {
            if names.contains(&l.name.text.as_str()) {
                self.c.pack_error(crate::index::conflict(
                    &format!("let `{}`", l.name.text),
                    l.name.span,
                ));
            }
            names.push(&l.name.text);
            let slot = self.f.alloc();
            let node = self.c.next_block_let();
            let qualified = format!("{}.{}", self.f.name, l.name.text);
            self.c
                .deps
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
                self.c.program.let_checks.push(LetCheck {
                    name: l.name.text.clone(),
                    ty,
                });
                let site = (self.c.program.let_checks.len() - 1) as u32;
                self.loc(l.span);
                self.f.emit(Instr::CheckLet { src: slot, site });
            }
            self.f.emit(Instr::RetSub);
            self.f.free_to(mark);
            self.node = saved_node;
        }
        self.f.patch_here(to_end);
        self.scope.truncate(scope_mark);
    }

    fn binary(&mut self, op: BinOp, a: &Expr, b: &Expr, span: Span, dst: Reg) {
        match op {
            BinOp::And | BinOp::Or => {
                self.expr(a, dst);
                self.f.emit(Instr::Truthy { dst, src: dst });
                let skip = if op == BinOp::And {
                    self.f.emit_fwd(Instr::JumpIfFalse {
                        src: dst,
                        target: 0,
                    })
                } else {
                    self.f.emit_fwd(Instr::JumpIfTrue {
                        src: dst,
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
                        let regex = self.c.intern_regex(p);
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

    /// `e is Shape`: the right side is a name (or `a/b/N`) not bound as a value that names a
    /// visible shape.
    fn shape_test(&mut self, b: &Expr) -> Option<TypeId> {
        let segs = path_segments(b)?;
        if segs.len() == 1 {
            let n = &segs[0].text;
            let pol = &self.c.policies[self.pidx];
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
        match self.c.resolve_shape(&fqn, ctx) {
            Ok(idx) => {
                let mut errs = TypeErrors::default();
                if let Some(e) = self.c.shape_errors[idx].clone() {
                    self.policy_error(e);
                }
                let ty = self.c.shapes[idx].ty;
                let _ = &mut errs;
                Some(ty)
            }
            Err(d)
                if fqn.segments.len() > 1
                    || d.message.contains("ambiguous")
                    || d.message.contains("not exported") =>
            {
                if fqn.segments.len() > 1 && d.message.contains("not found") {
                    return None;
                }
                self.policy_error(d);
                None
            }
            Err(_) => None,
        }
    }

    fn call(&mut self, callee: &Expr, args: &[Expr], span: Span, dst: Reg, memo: Option<u32>) {
        let name = match &callee.kind {
            ExprKind::Ident(n) => n.clone(),
            ExprKind::Field(recv, f) => match &recv.kind {
                ExprKind::Ident(alias) => {
                    if let Some(m) = self.module_alias(alias) {
                        self.module_call(&m, &f.text, args, span, dst, memo);
                        return;
                    }
                    format!("{alias}.{}", f.text)
                }
                _ => {
                    self.invalid_call(span, dst);
                    return;
                }
            },
            _ => {
                self.invalid_call(span, dst);
                return;
            }
        };
        // An unqualified name imported by exactly one `use` is that module's function.
        let importing: Vec<UsedModule> = self.c.policies[self.pidx]
            .modules
            .iter()
            .filter(|m| m.names.contains(&name))
            .cloned()
            .collect();
        match importing.as_slice() {
            [m] => return self.module_call(m, &name, args, span, dst, memo),
            [] => {}
            _ => {
                let msg = format!("invalid call: ambiguous function `{name}` is imported by several use statements");
                self.policy_error(Diagnostic::error(msg, span));
                self.f.emit(Instr::LoadUndef { dst });
                return;
            }
        }
        let core = sentrie_modules::native::core::lookup(&name).map(|(_, min, max)| (min, max));
        let (builtin, min, max) = match (sentrie_vm::builtins::lookup(&name), core) {
            (Some((b, min, max)), _) => (Some(b), min, max),
            (None, Some((min, max))) => (None, min, max),
            (None, None) => {
                let k = self
                    .c
                    .const_id(Const::Str(format!("unknown function: {name}")));
                self.loc(span);
                self.f.emit(Instr::Fail { k });
                self.f.emit(Instr::LoadUndef { dst });
                return;
            }
        };
        if args.len() < min || args.len() > max {
            let want = sentrie_modules::native::arity_text(min, max);
            let msg = format!(
                "invalid call: `{name}` takes {want} argument(s), found {}",
                args.len()
            );
            self.policy_error(Diagnostic::error(msg, span));
            self.f.emit(Instr::LoadUndef { dst });
            return;
        }
        let Some(builtin) = builtin else {
            let module = sentrie_modules::native::core::MODULE;
            return self.native_call(module, &name, args, span, dst, memo);
        };
        let start = self.f.alloc_n(args.len().max(1) as u32);
        for (i, a) in args.iter().enumerate() {
            self.expr(a, Reg(start.0 + i as u16));
        }
        self.c.program.calls.push(CallSite {
            builtin,
            args: start,
            argc: args.len() as u16,
            memo,
        });
        let site = (self.c.program.calls.len() - 1) as u32;
        self.loc(span);
        self.f.emit(Instr::CallBuiltin { dst, site });
    }

    fn invalid_call(&mut self, span: Span, dst: Reg) {
        let msg =
            "invalid call target: only `name(...)` and `alias.name(...)` can be called".to_string();
        self.policy_error(Diagnostic::error(msg, span));
        self.f.emit(Instr::LoadUndef { dst });
    }

    // ---- collection forms ----

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

    fn quant(
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
        match kind {
            Quant::Any | Quant::First => {
                let cont = self.f.emit_fwd(Instr::JumpIfNotTrue { src: t, target: 0 });
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
        if let Some(b) = builder {
            self.f.emit(Instr::BuilderFinish { dst, b });
        }
        let done = self.f.emit_fwd(Instr::Jump { target: 0 });
        self.f.patch_here(undef);
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

    fn distinct(
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
        self.f.emit(Instr::BuilderFinish { dst, b });
        let done = self.f.emit_fwd(Instr::Jump { target: 0 });
        self.f.patch_here(undef);
        self.konst(Const::List(Vec::new()), dst);
        self.f.patch_here(done);
        self.f.free_builder();
        self.scope.truncate(scope_mark);
    }

    #[allow(clippy::too_many_arguments)]
    fn reduce(
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
        self.f.emit(Instr::Move { dst, src: acc_reg });
        let done = self.f.emit_fwd(Instr::Jump { target: 0 });
        self.f.patch_here(undef);
        self.f.emit(Instr::LoadUndef { dst });
        self.f.patch_here(done);
        self.scope.truncate(scope_mark);
    }
}

/// A module site before its argument registers are known.
fn module_site(key: &str, export: &str, call: bool, memo: Option<u32>) -> ModuleSite {
    ModuleSite {
        key: key.to_string(),
        export: export.to_string(),
        call,
        args: Reg(0),
        argc: 0,
        memo,
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

//! Pass 4: lowering. Each rule, policy-level let, attachment and fact default becomes one
//! bytecode function. Names are resolved here (LANGUAGE.md §14.1) and every reference to a
//! rule or let is recorded in the dependency graph for the cycle check (pass 5).
//!
//! `mod.rs` lowers policies and function bodies; `expr.rs` expressions and operators;
//! `names.rs` identifiers, blocks and shape tests; `calls.rs` builtin, native and module
//! calls; `forms.rs` the collection forms.

mod calls;
mod expr;
mod forms;
mod index;
mod index_rules;
mod names;
mod rules_inline;

use sentrie_grammar::ast::{self, Expr, ExprKind, FactMarker, RuleBody};
use sentrie_grammar::Span;
use sentrie_vm::bytecode::{Instr, Reg};
use sentrie_vm::program::{
    Const, FactInfo, FuncId, ImportSite, LetCheck, PolicyId, ProbeKind, RuleId, TypeId,
};

use crate::builder::Builder;
use crate::deps::Node;
use crate::emit::FnBuilder;
use crate::error::{CompileError, Diag};
use crate::index::Index;
use crate::resolve::Resolved;
use crate::types::{TypeCtx, TypeErrors, TypeResolver, Types};

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Normal,
    /// An attachment of the rule `node`: it may read that rule itself (it runs after the
    /// decision, LANGUAGE.md §17), so that read is no dependency edge.
    Attachment,
    /// Fact defaults may not refer to any declared or supplied name.
    FactDefault,
}

/// What lowering a let or rule body where it is read sets aside: the reader's scope, its
/// leniency, and the diagnostics and policy error as they were (the inline copy's own are
/// dropped: the body's own function reports them). See [`Lower::enter_inline`].
struct Outer {
    scope: Vec<(String, Binding)>,
    block_lets: Vec<BlockLet>,
    lenient: u32,
    diags: crate::error::DiagMarks,
    policy_error: Option<String>,
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

/// What lowering reads (the index, resolved names) and writes (types, the program).
struct Cx<'a, 'p> {
    ix: &'a Index<'p>,
    res: &'a Resolved,
    types: &'a mut Types,
    b: &'a mut Builder<'p>,
}

/// Runs pass 4 over every policy.
pub fn lower<'p>(ix: &Index<'p>, res: &Resolved, types: &mut Types, b: &mut Builder<'p>) {
    let mut cx = Cx { ix, res, types, b };
    for pid in ix.policies.keys() {
        cx.lower_policy(pid);
    }
}

impl<'p> Cx<'_, 'p> {
    fn lower_policy(&mut self, pid: PolicyId) {
        let qual = self.ix.qualified(pid);
        self.lower_facts(pid, &qual);
        let entry = &self.ix.policies[pid];
        for (l, lid) in &entry.lets {
            let node = Node::Let(lid.as_u32());
            self.b
                .graph
                .name(node, format!("{qual}/{}", l.name.text), l.name.span);
            let name = format!("{qual}.{}", l.name.text);
            let mut low = Lower::new(self, pid, name, node, Mode::Normal);
            low.f.decl = Some(low.b.loc(l.name.span));
            low.value(&l.value, l.ty.as_ref().map(|t| (l.name.text.clone(), t)));
            let func = low.finish();
            self.b.program.lets[*lid].func = func;
        }
        for (r, rid) in &entry.rules {
            let node = Node::Rule(rid.as_u32());
            self.b
                .graph
                .name(node, format!("{qual}/{}", r.name.text), r.name.span);
            let name = format!("{qual}/{}", r.name.text);
            let mut low = Lower::new(self, pid, name, node, Mode::Normal);
            low.f.decl = Some(low.b.loc(r.name.span));
            low.rule(r, *rid);
            let func = low.finish();
            self.b.program.rules[*rid].func = func;
        }
        for e in &entry.exports {
            let Some((_, rid)) = entry.rules.iter().find(|(r, _)| r.name.text == e.rule.text)
            else {
                continue;
            };
            let node = Node::Rule(rid.as_u32());
            let mut atts = Vec::new();
            for (name, expr) in &e.attachments {
                let fname = format!("{qual}/{}.{}", e.rule.text, name.text);
                let mut low = Lower::new(self, pid, fname, node, Mode::Attachment);
                low.f.decl = Some(low.b.loc(name.span));
                low.value(expr, None);
                atts.push((name.text.clone(), low.finish()));
            }
            self.b.program.rules[*rid].attachments = atts;
        }
    }

    /// Fact types, exposed names and default functions (LANGUAGE.md §9).
    fn lower_facts(&mut self, pid: PolicyId, qual: &str) {
        let entry = &self.ix.policies[pid];
        let ctx = TypeCtx {
            ns: entry.ns,
            policy: Some(pid),
        };
        let mut infos = Vec::new();
        for f in &entry.facts {
            let mut errs = TypeErrors::default();
            let ty = TypeResolver {
                ix: self.ix,
                types: &mut *self.types,
                b: &mut *self.b,
            }
            .type_ref(&f.ty, ctx, &mut errs);
            for d in errs.pack {
                self.b.diags.pack(d);
            }
            for d in errs.names {
                self.b.policy_error(pid, d);
            }
            let default = f.default.as_ref().map(|d| {
                let name = format!("{qual}.fact.{}", f.name.text);
                let mut l = Lower::new(self, pid, name, Node::FactDefault, Mode::FactDefault);
                l.value(d, None);
                l.finish()
            });
            let default_const = f
                .default
                .as_ref()
                .and_then(expr::fold)
                .filter(|c| !matches!(c, Const::Null))
                .map(|c| self.b.const_id(c));
            let exposed = f
                .alias
                .as_ref()
                .map_or_else(|| f.name.text.clone(), |a| a.text.clone());
            let required = match f.marker {
                FactMarker::Required => true,
                FactMarker::Optional => false,
                FactMarker::None => f.default.is_none(),
            };
            infos.push(FactInfo {
                exposed,
                required,
                default,
                default_const,
                ty,
            });
        }
        self.b.program.policies[pid].facts = infos;
    }
}

/// Lowers one function.
struct Lower<'c, 'p> {
    ix: &'c Index<'p>,
    res: &'c Resolved,
    types: &'c mut Types,
    b: &'c mut Builder<'p>,
    pid: PolicyId,
    f: FnBuilder,
    scope: Vec<(String, Binding)>,
    block_lets: Vec<BlockLet>,
    node: Node,
    /// The node of the function itself (`node` changes inside block lets).
    root: Node,
    lenient: u32,
    mode: Mode,
    /// Lowering a let's body inline (see `names.rs`): explained evaluations run the let's own
    /// function instead, so the inline copy records no probes.
    inlining: bool,
    /// Lowering a rule's body inline (see `rules_inline.rs`), likewise without probes.
    inlining_rule: bool,
    /// Rules considered for lowering inline in this function so far.
    inlined_rules: u32,
}

impl<'c, 'p> Lower<'c, 'p> {
    fn new(cx: &'c mut Cx<'_, 'p>, pid: PolicyId, name: String, node: Node, mode: Mode) -> Self {
        Lower {
            ix: cx.ix,
            res: cx.res,
            types: &mut *cx.types,
            b: &mut *cx.b,
            pid,
            f: FnBuilder::new(name, pid),
            scope: Vec::new(),
            block_lets: Vec::new(),
            node,
            root: node,
            lenient: 0,
            mode,
            inlining: false,
            inlining_rule: false,
            inlined_rules: 0,
        }
    }

    fn finish(self) -> FuncId {
        if self.f.overflow {
            let span = self.ix.policies[self.pid].ast.name.span;
            self.b.diags.pack(CompileError::FunctionTooLarge.at(span));
        }
        let func = self.f.finish();
        self.b.program.funcs.push(func)
    }

    /// Records that the function being lowered reads `to` (a self-reference is a cycle,
    /// except an attachment reading its own rule).
    fn depend(&mut self, to: Node) {
        if self.mode == Mode::Attachment && to == self.root {
            return;
        }
        self.b.graph.edge(self.node, to);
    }

    fn ctx(&self) -> TypeCtx {
        TypeCtx {
            ns: self.ix.policies[self.pid].ns,
            policy: Some(self.pid),
        }
    }

    fn policy_error(&mut self, d: Diag) {
        self.b.policy_error(self.pid, d);
    }

    /// Type resolution over this pass's index and program.
    fn types(&mut self) -> TypeResolver<'_, 'p> {
        TypeResolver {
            ix: self.ix,
            types: &mut *self.types,
            b: &mut *self.b,
        }
    }

    /// [`Self::resolve_type`] for a second look at a type already reported on: `None` (and no
    /// diagnostics) when it has errors.
    fn resolve_type_quiet(&mut self, t: &ast::TypeRef) -> Option<TypeId> {
        let mut errs = TypeErrors::default();
        let ctx = self.ctx();
        let id = self.types().type_ref(t, ctx, &mut errs);
        (errs.pack.is_empty() && errs.names.is_empty()).then_some(id)
    }

    fn resolve_type(&mut self, t: &ast::TypeRef) -> TypeId {
        let mut errs = TypeErrors::default();
        let ctx = self.ctx();
        let id = self.types().type_ref(t, ctx, &mut errs);
        for d in errs.pack {
            self.b.diags.pack(d);
        }
        for d in errs.names {
            self.policy_error(d);
        }
        id
    }

    /// Starts lowering a body where it is read: an empty scope, not lenient.
    fn enter_inline(&mut self) -> Outer {
        Outer {
            scope: std::mem::take(&mut self.scope),
            block_lets: std::mem::take(&mut self.block_lets),
            lenient: std::mem::replace(&mut self.lenient, 0),
            diags: self.b.diags.marks(),
            policy_error: self.b.program.policies[self.pid].error.clone(),
        }
    }

    /// Ends what [`Self::enter_inline`] started.
    fn leave_inline(&mut self, outer: Outer) {
        self.b.diags.truncate(outer.diags);
        self.b.program.policies[self.pid].error = outer.policy_error;
        self.scope = outer.scope;
        self.block_lets = outer.block_lets;
        self.lenient = outer.lenient;
    }

    fn loc(&mut self, span: Span) {
        let l = self.b.loc(span);
        self.f.set_loc(l);
    }

    /// Records a probe for explaining evaluations before the next instruction.
    fn probe(&mut self, span: Span, kind: ProbeKind) {
        if self.inlining || self.inlining_rule {
            return;
        }
        let loc = self.b.loc(span);
        self.f.probe(loc, kind);
    }

    fn konst(&mut self, c: Const, dst: Reg) {
        let k = self.b.const_id(c);
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
    fn rule(&mut self, r: &ast::RuleDecl, rid: RuleId) {
        let out = self.f.alloc();
        let mut to_default = None;
        if let Some(w) = &r.when {
            let t = self.temp(w);
            self.probe(w.span, ProbeKind::When { reg: t });
            to_default = Some(self.f.emit_fwd(Instr::JumpIfNotTrue { src: t, target: 0 }));
        }
        match &r.body {
            RuleBody::Expr(e) => self.expr(e, out),
            RuleBody::Import(imp) => self.import(imp, rid, out),
        }
        self.f.emit(Instr::Ret { src: out });
        if let Some(p) = to_default {
            self.f.patch_here(p);
            let at = r.default.as_ref().map_or(r.name.span, |d| d.span);
            self.probe(at, ProbeKind::Default);
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
        let Some(&target) = self.res.imports.get(&rid) else {
            self.f.emit(Instr::LoadUndef { dst: out });
            return;
        };
        self.depend(Node::Rule(target.as_u32()));
        let args = self.f.alloc_n(imp.with.len() as u32);
        for (i, (_, e)) in imp.with.iter().enumerate() {
            self.expr(e, Reg(args.0 + i as u16));
        }
        let names = imp.with.iter().map(|(n, _)| n.text.clone()).collect();
        self.b.program.imports.push(ImportSite {
            rule: target,
            names,
            args,
        });
        let site = (self.b.program.imports.len() - 1) as u32;
        self.loc(imp.span);
        self.f.emit(Instr::Import { dst: out, site });
    }

    /// A value function: lets, attachments and fact defaults.
    fn value(&mut self, e: &Expr, check: Option<(String, &ast::TypeRef)>) {
        let out = self.f.alloc();
        self.expr(e, out);
        if let Some((name, ty)) = check {
            let ty = self.resolve_type(ty);
            self.b.program.let_checks.push(LetCheck { name, ty });
            let site = (self.b.program.let_checks.len() - 1) as u32;
            self.loc(e.span);
            self.f.emit(Instr::CheckLet { src: out, site });
        }
        self.f.emit(Instr::Ret { src: out });
    }
}

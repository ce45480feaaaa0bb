//! Pass 1: index every namespace, shape and policy of the pack, check the structural rules
//! (namespaces, conflicts, statement order, exports) and allocate ids, so that later passes
//! can refer to any rule of any policy. The result, [`Index`], is read-only from then on.

use cranelift_entity::{entity_impl, PrimaryMap};
use rustc_hash::{FxHashMap, FxHashSet};
use sentrie_grammar::ast::{self, FactMarker, PolicyStmt, RuleBody, TopDecl};
use sentrie_grammar::{FileId, Span};
use sentrie_vm::program::{
    FuncId, LetId, LetInfo, PolicyId, PolicyInfo, RuleId, RuleInfo, TypeDef, TypeId, TypeKind,
};

use crate::builder::Builder;
use crate::error::{CompileError, Diag};
use crate::pack::SourcePack;

/// A namespace of the pack.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NsId(u32);
entity_impl!(NsId, "ns");

/// A declared shape (namespace-level or policy-local).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ShapeId(u32);
entity_impl!(ShapeId, "shape");

pub struct Namespace {
    pub name: String,
    pub shapes: FxHashMap<String, ShapeId>,
    pub exported: FxHashSet<String>,
    pub policies: FxHashMap<String, PolicyId>,
}

pub struct Shape<'p> {
    pub decl: &'p ast::ShapeDecl,
    pub ns: NsId,
    pub policy: Option<PolicyId>,
    /// Its entry in the program's type table (filled by the types pass).
    pub ty: TypeId,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ValueRef {
    Fact(u16),
    Let(LetId),
    Rule(RuleId),
}

/// One policy: its declarations by kind, and the names it binds.
pub struct PolicyEntry<'p> {
    pub ast: &'p ast::Policy,
    pub file: FileId,
    pub ns: NsId,
    pub facts: Vec<&'p ast::FactDecl>,
    pub uses: Vec<&'p ast::UseDecl>,
    pub lets: Vec<(&'p ast::LetDecl, LetId)>,
    pub rules: Vec<(&'p ast::RuleDecl, RuleId)>,
    pub exports: Vec<&'p ast::ExportDecl>,
    pub local_shapes: FxHashMap<String, ShapeId>,
    pub values: FxHashMap<String, ValueRef>,
    /// Imported rule names usable as aliases of the import rule (`None`: ambiguous).
    pub import_names: FxHashMap<String, Option<RuleId>>,
    pub use_aliases: FxHashMap<String, &'p ast::UseDecl>,
}

/// The result of pass 1. Policy entries are keyed by the same [`PolicyId`] as the program's
/// policy table.
pub struct Index<'p> {
    pub namespaces: PrimaryMap<NsId, Namespace>,
    ns_by_name: FxHashMap<String, NsId>,
    pub shapes: PrimaryMap<ShapeId, Shape<'p>>,
    pub policies: PrimaryMap<PolicyId, PolicyEntry<'p>>,
}

impl<'p> Index<'p> {
    pub fn ns(&self, name: &str) -> Option<NsId> {
        self.ns_by_name.get(name).copied()
    }

    /// The namespace-qualified name of a policy (`ns/policy`).
    pub fn qualified(&self, policy: PolicyId) -> String {
        let p = &self.policies[policy];
        format!("{}/{}", self.namespaces[p.ns].name, p.ast.name.text)
    }
}

/// Runs pass 1 over every parsed file of `pack`.
pub fn index<'p>(pack: &'p SourcePack, b: &mut Builder<'p>) -> Index<'p> {
    let mut ix = Indexer {
        ix: Index {
            namespaces: PrimaryMap::new(),
            ns_by_name: FxHashMap::default(),
            shapes: PrimaryMap::new(),
            policies: PrimaryMap::new(),
        },
        b,
    };
    ix.index(pack);
    if ix.ix.policies.is_empty() && !ix.b.diags.has_pack_errors() {
        let root = pack.root.display().to_string();
        ix.b.diags.pack(CompileError::NoPolicies.in_file(root));
    }
    ix.ix
}

struct Indexer<'p, 'b> {
    ix: Index<'p>,
    b: &'b mut Builder<'p>,
}

impl<'p> Indexer<'p, '_> {
    /// Collects namespaces, shapes and policies from every file.
    fn index(&mut self, pack: &'p SourcePack) {
        let files: Vec<(FileId, &'p ast::File)> =
            pack.files.iter().map(|(id, f)| (*id, f)).collect();
        for (file, tree) in &files {
            let Some(ns) = &tree.namespace else { continue };
            let ns_name = ns.joined();
            let ns_idx = self.ensure_ns(&ns_name);
            for decl in &tree.decls {
                match decl {
                    TopDecl::Namespace(second) => self
                        .b
                        .diags
                        .pack(CompileError::SecondNamespace(ns_name.clone()).at(second.span)),
                    TopDecl::Shape(s) => {
                        if let Some(&first) = self.ix.namespaces[ns_idx].shapes.get(&s.name.text) {
                            let what = format!("shape `{}`", s.name.text);
                            let first = self.ix.shapes[first].decl.name.span;
                            self.b
                                .diags
                                .pack(conflict(&what, s.name.span).first_at(first));
                            continue;
                        }
                        let idx = self.new_shape(s, ns_idx, None);
                        self.ix.namespaces[ns_idx]
                            .shapes
                            .insert(s.name.text.clone(), idx);
                    }
                    TopDecl::ExportShape(_) | TopDecl::Policy(_) => {}
                }
            }
            let _ = file;
        }
        // Exports of shapes and policies, after every shape is known.
        for (file, tree) in &files {
            let Some(ns) = &tree.namespace else { continue };
            let ns_idx = self.ensure_ns(&ns.joined());
            for decl in &tree.decls {
                match decl {
                    TopDecl::ExportShape(n) => {
                        let nsr = &mut self.ix.namespaces[ns_idx];
                        if !nsr.shapes.contains_key(&n.text) {
                            let d = CompileError::ShapeNotFound(n.text.clone()).at(n.span);
                            self.b.diags.pack(d.with_help(
                                "`export shape` names a namespace-level shape of this namespace",
                            ));
                        } else if !nsr.exported.insert(n.text.clone()) {
                            let what = format!("shape export `{}`", n.text);
                            self.b.diags.pack(conflict(&what, n.span));
                        }
                    }
                    TopDecl::Policy(p) => self.index_policy(p, *file, ns_idx),
                    _ => {}
                }
            }
        }
        self.check_namespace_conflicts();
    }

    fn ensure_ns(&mut self, name: &str) -> NsId {
        if let Some(i) = self.ix.ns_by_name.get(name) {
            return *i;
        }
        let id = self.ix.namespaces.push(Namespace {
            name: name.to_string(),
            shapes: FxHashMap::default(),
            exported: FxHashSet::default(),
            policies: FxHashMap::default(),
        });
        self.ix.ns_by_name.insert(name.to_string(), id);
        id
    }

    fn new_shape(
        &mut self,
        decl: &'p ast::ShapeDecl,
        ns: NsId,
        policy: Option<PolicyId>,
    ) -> ShapeId {
        let ty = self.b.program.types.push(TypeDef {
            kind: TypeKind::Any,
            constraints: Vec::new(),
            name: decl.name.text.clone(),
            declared: Some(self.b.sources.location(decl.name.span)),
        });
        self.ix.shapes.push(Shape {
            decl,
            ns,
            policy,
            ty,
        })
    }

    fn check_namespace_conflicts(&mut self) {
        let mut child_segments: FxHashMap<String, Vec<String>> = FxHashMap::default();
        for ns in self.ix.namespaces.values() {
            if let Some((parent, last)) = ns.name.rsplit_once('/') {
                if self.ix.ns_by_name.contains_key(parent) {
                    child_segments
                        .entry(parent.to_string())
                        .or_default()
                        .push(last.to_string());
                }
            }
        }
        let mut errors = Vec::new();
        for ns in self.ix.namespaces.values() {
            let children = child_segments.get(&ns.name).cloned().unwrap_or_default();
            for (name, &pid) in &ns.policies {
                let span = self.ix.policies[pid].ast.name.span;
                if ns.shapes.contains_key(name) {
                    errors.push(conflict(
                        &format!(
                            "policy `{name}` and a shape of the same name in `{}`",
                            ns.name
                        ),
                        span,
                    ));
                }
                if children.contains(name) {
                    errors.push(conflict(
                        &format!("policy `{name}` and namespace `{}/{name}`", ns.name),
                        span,
                    ));
                }
            }
            for (name, &sidx) in &ns.shapes {
                if children.contains(name) {
                    errors.push(conflict(
                        &format!("shape `{name}` and namespace `{}/{name}`", ns.name),
                        self.ix.shapes[sidx].decl.name.span,
                    ));
                }
            }
        }
        for e in errors {
            self.b.diags.pack(e);
        }
    }

    fn index_policy(&mut self, p: &'p ast::Policy, file: FileId, ns: NsId) {
        let name = &p.name.text;
        if let Some(&first) = self.ix.namespaces[ns].policies.get(name) {
            let what = format!(
                "policy `{name}` in namespace `{}`",
                self.ix.namespaces[ns].name
            );
            let first = self.ix.policies[first].ast.name.span;
            self.b
                .diags
                .pack(conflict(&what, p.name.span).first_at(first));
            return;
        }
        let id = self.b.program.policies.push(PolicyInfo {
            namespace: self.ix.namespaces[ns].name.clone(),
            name: name.clone(),
            facts: Vec::new(),
            lets: Vec::new(),
            rules: Vec::new(),
            exports: Vec::new(),
            error: None,
        });
        self.ix.namespaces[ns].policies.insert(name.clone(), id);
        let mut entry = PolicyEntry {
            ast: p,
            file,
            ns,
            facts: Vec::new(),
            uses: Vec::new(),
            lets: Vec::new(),
            rules: Vec::new(),
            exports: Vec::new(),
            local_shapes: FxHashMap::default(),
            values: FxHashMap::default(),
            import_names: FxHashMap::default(),
            use_aliases: FxHashMap::default(),
        };
        let mut errors = Vec::new();
        let mut seen_other = false;
        let mut seen_use = false;
        let mut local_shape_decls = Vec::new();
        for stmt in &p.stmts {
            match stmt {
                PolicyStmt::Fact(f) => {
                    if seen_other || seen_use {
                        errors.push(CompileError::FactAfterOther.at(f.span));
                    }
                    if f.marker == FactMarker::Required && f.default.is_some() {
                        errors.push(
                            CompileError::RequiredWithDefault(f.name.text.clone())
                                .at(f.span)
                                .with_help("remove `!` or the default"),
                        );
                    }
                    entry.facts.push(f);
                }
                PolicyStmt::Use(u) => {
                    if seen_other {
                        errors.push(CompileError::UseAfterOther.at(u.span));
                    }
                    seen_use = true;
                    entry.uses.push(u);
                }
                other => {
                    seen_other = true;
                    match other {
                        PolicyStmt::Let(l) => {
                            let slot = entry.lets.len() as u32;
                            let lid = self.b.program.lets.push(LetInfo {
                                policy: id,
                                name: l.name.text.clone(),
                                func: FuncId::from_u32(0),
                                slot,
                            });
                            entry.lets.push((l, lid));
                        }
                        PolicyStmt::Rule(r) => {
                            let slot = entry.rules.len() as u32;
                            let rid = self.b.program.rules.push(RuleInfo {
                                policy: id,
                                name: r.name.text.clone(),
                                func: FuncId::from_u32(0),
                                slot,
                                exported: false,
                                attachments: Vec::new(),
                            });
                            entry.rules.push((r, rid));
                        }
                        PolicyStmt::Export(e) => entry.exports.push(e),
                        PolicyStmt::Shape(s) => local_shape_decls.push(s),
                        PolicyStmt::Fact(_) | PolicyStmt::Use(_) => {}
                    }
                }
            }
        }
        let pushed = self.ix.policies.push(entry);
        debug_assert_eq!(
            pushed, id,
            "policy entries and program policies stay in step"
        );
        for s in local_shape_decls {
            if let Some(&first) = self.ix.policies[id].local_shapes.get(&s.name.text) {
                let first = self.ix.shapes[first].decl.name.span;
                errors.push(
                    conflict(&format!("shape `{}`", s.name.text), s.name.span).first_at(first),
                );
                continue;
            }
            let idx = self.new_shape(s, ns, Some(id));
            self.ix.policies[id]
                .local_shapes
                .insert(s.name.text.clone(), idx);
        }
        self.policy_names(id, &mut errors);
        for e in errors {
            self.b.diags.pack(e);
        }
    }

    /// Value names (facts, lets, rules), use aliases and exports of one policy.
    fn policy_names(&mut self, id: PolicyId, errors: &mut Vec<Diag>) {
        let entry = &mut self.ix.policies[id];
        // Where each name was first declared, to point at both declarations of a conflict.
        let mut firsts: FxHashMap<String, Span> = FxHashMap::default();
        let mut declare =
            |values: &mut FxHashMap<String, ValueRef>, name: &str, span: Span, v: ValueRef| {
                if values.contains_key(name) {
                    let mut d = conflict(&format!("name `{name}`"), span);
                    if let Some(first) = firsts.get(name) {
                        d = d.first_at(*first);
                    }
                    errors.push(d);
                } else {
                    values.insert(name.to_string(), v);
                    firsts.insert(name.to_string(), span);
                }
            };
        for (i, f) in entry.facts.iter().enumerate() {
            declare(
                &mut entry.values,
                &f.name.text,
                f.name.span,
                ValueRef::Fact(i as u16),
            );
            if let Some(alias) = &f.alias {
                if alias.text != f.name.text {
                    declare(
                        &mut entry.values,
                        &alias.text,
                        alias.span,
                        ValueRef::Fact(i as u16),
                    );
                }
            }
        }
        for (l, id) in &entry.lets {
            declare(
                &mut entry.values,
                &l.name.text,
                l.name.span,
                ValueRef::Let(*id),
            );
        }
        for (r, id) in &entry.rules {
            declare(
                &mut entry.values,
                &r.name.text,
                r.name.span,
                ValueRef::Rule(*id),
            );
        }
        for u in &entry.uses {
            let alias = match (&u.alias, &u.source) {
                (Some(a), _) => Some(a.text.clone()),
                (None, ast::ModuleSource::At(segs)) => segs.last().map(|s| s.text.clone()),
                (None, ast::ModuleSource::Quoted(q)) => {
                    let last = q.rsplit('/').next().unwrap_or(q);
                    Some(
                        last.trim_end_matches(".ts")
                            .trim_end_matches(".js")
                            .to_string(),
                    )
                }
            };
            if let Some(alias) = alias {
                if entry.use_aliases.contains_key(&alias) || entry.values.contains_key(&alias) {
                    errors.push(conflict(&format!("module alias `{alias}`"), u.span));
                } else {
                    entry.use_aliases.insert(alias, u);
                }
            }
        }
        // Imported rule names as aliases of their import rule (LANGUAGE.md §13).
        for (r, id) in &entry.rules {
            if let RuleBody::Import(imp) = &r.body {
                let name = imp.rule.text.clone();
                if entry.values.contains_key(&name) {
                    continue;
                }
                let slot = entry.import_names.entry(name).or_insert(Some(*id));
                if *slot != Some(*id) {
                    *slot = None;
                }
            }
        }
        let mut exported = FxHashSet::default();
        let mut export_ids = Vec::new();
        for e in &entry.exports {
            match entry.values.get(&e.rule.text) {
                Some(ValueRef::Rule(rid)) => {
                    if !exported.insert(*rid) {
                        errors.push(conflict(
                            &format!("export of rule `{}`", e.rule.text),
                            e.rule.span,
                        ));
                        continue;
                    }
                    export_ids.push(*rid);
                    let mut names = FxHashSet::default();
                    for (n, _) in &e.attachments {
                        if !names.insert(n.text.clone()) {
                            errors.push(conflict(&format!("attachment `{}`", n.text), n.span));
                        }
                    }
                }
                _ => {
                    let rules = entry.rules.iter().map(|(r, _)| r.name.text.as_str());
                    let suggestion = crate::error::closest(&e.rule.text, rules);
                    errors.push(
                        CompileError::ExportUnknown(e.rule.text.clone())
                            .at(e.rule.span)
                            .suggest(suggestion),
                    );
                }
            }
        }
        if entry.exports.is_empty() {
            errors.push(
                CompileError::NoExports(entry.ast.name.text.clone())
                    .at(entry.ast.name.span)
                    .with_help("add `export decision of RULE`"),
            );
        }
        for rid in &export_ids {
            self.b.program.rules[*rid].exported = true;
        }
        let rules = entry.rules.iter().map(|(_, r)| *r).collect();
        let lets = entry.lets.iter().map(|(_, l)| *l).collect();
        let info = &mut self.b.program.policies[id];
        info.exports = export_ids;
        info.rules = rules;
        info.lets = lets;
    }
}

/// `what` declared twice.
pub fn conflict(what: &str, span: Span) -> Diag {
    CompileError::Conflict(what.to_string()).at(span)
}

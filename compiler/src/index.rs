//! Pass 1: index every namespace, shape and policy of the pack, check the structural rules
//! (namespaces, conflicts, statement order, exports, import targets) and allocate ids, so
//! that lowering can refer to any rule of any policy.

use rustc_hash::{FxHashMap, FxHashSet};
use sentrie_grammar::ast::{self, FactMarker, PolicyStmt, RuleBody, TopDecl};
use sentrie_grammar::{Diagnostic, FileId, Span};
use sentrie_vm::program::{
    LetId, LetInfo, PolicyId, PolicyInfo, RuleId, RuleInfo, TypeDef, TypeId, TypeKind,
};

use crate::Compiler;

pub struct NsEntry {
    pub name: String,
    pub shapes: FxHashMap<String, usize>,
    pub exported: FxHashSet<String>,
    pub policies: FxHashMap<String, usize>,
}

pub struct ShapeEntry<'p> {
    pub decl: &'p ast::ShapeDecl,
    pub ns: usize,
    pub policy: Option<usize>,
    pub ty: TypeId,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ValueRef {
    Fact(u16),
    Let(LetId),
    Rule(RuleId),
}

pub struct PolicyEntry<'p> {
    pub ast: &'p ast::Policy,
    pub file: FileId,
    pub ns: usize,
    pub id: PolicyId,
    pub facts: Vec<&'p ast::FactDecl>,
    pub uses: Vec<&'p ast::UseDecl>,
    pub lets: Vec<(&'p ast::LetDecl, LetId)>,
    pub rules: Vec<(&'p ast::RuleDecl, RuleId)>,
    pub exports: Vec<&'p ast::ExportDecl>,
    pub local_shapes: FxHashMap<String, usize>,
    pub values: FxHashMap<String, ValueRef>,
    /// Imported rule names usable as aliases of the import rule (`None`: ambiguous).
    pub import_names: FxHashMap<String, Option<RuleId>>,
    pub use_aliases: FxHashMap<String, &'p ast::UseDecl>,
    /// Import targets resolved per import rule.
    pub import_targets: FxHashMap<RuleId, RuleId>,
    /// `use` statements resolved (filled just before lowering).
    pub modules: Vec<crate::modules::UsedModule>,
}

impl<'p> Compiler<'p> {
    pub(crate) fn ns_index(&self, name: &str) -> Option<usize> {
        self.ns_by_name.get(name).copied()
    }

    /// Collects namespaces, shapes and policies from every file.
    pub(crate) fn index(&mut self) {
        let files: Vec<(FileId, &'p ast::File)> =
            self.pack.files.iter().map(|(id, f)| (*id, f)).collect();
        for (file, tree) in &files {
            let Some(ns) = &tree.namespace else { continue };
            let ns_name = ns.joined();
            let ns_idx = self.ensure_ns(&ns_name);
            for decl in &tree.decls {
                match decl {
                    TopDecl::Namespace(second) => self.pack_error(Diagnostic::error(
                        format!("namespace cannot be declared after `{ns_name}`: only one namespace per file"),
                        second.span,
                    )),
                    TopDecl::Shape(s) => {
                        if self.namespaces[ns_idx].shapes.contains_key(&s.name.text) {
                            self.pack_error(conflict(&format!("shape `{}`", s.name.text), s.name.span));
                            continue;
                        }
                        let idx = self.new_shape(s, ns_idx, None);
                        self.namespaces[ns_idx].shapes.insert(s.name.text.clone(), idx);
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
                        let nsr = &mut self.namespaces[ns_idx];
                        if !nsr.shapes.contains_key(&n.text) {
                            let msg = format!("shape not found: {}", n.text);
                            self.pack_error(Diagnostic::error(msg, n.span).with_help(
                                "`export shape` names a namespace-level shape of this namespace",
                            ));
                        } else if !nsr.exported.insert(n.text.clone()) {
                            self.pack_error(conflict(
                                &format!("shape export `{}`", n.text),
                                n.span,
                            ));
                        }
                    }
                    TopDecl::Policy(p) => self.index_policy(p, *file, ns_idx),
                    _ => {}
                }
            }
        }
        self.check_namespace_conflicts();
    }

    fn ensure_ns(&mut self, name: &str) -> usize {
        if let Some(i) = self.ns_by_name.get(name) {
            return *i;
        }
        self.namespaces.push(NsEntry {
            name: name.to_string(),
            shapes: FxHashMap::default(),
            exported: FxHashSet::default(),
            policies: FxHashMap::default(),
        });
        let i = self.namespaces.len() - 1;
        self.ns_by_name.insert(name.to_string(), i);
        i
    }

    fn new_shape(&mut self, decl: &'p ast::ShapeDecl, ns: usize, policy: Option<usize>) -> usize {
        let ty = self.program.types.push(TypeDef {
            kind: TypeKind::Any,
            constraints: Vec::new(),
            name: decl.name.text.clone(),
        });
        self.shapes.push(ShapeEntry {
            decl,
            ns,
            policy,
            ty,
        });
        self.shapes.len() - 1
    }

    fn check_namespace_conflicts(&mut self) {
        let mut child_segments: FxHashMap<String, Vec<String>> = FxHashMap::default();
        for ns in &self.namespaces {
            if let Some((parent, last)) = ns.name.rsplit_once('/') {
                if self.ns_by_name.contains_key(parent) {
                    child_segments
                        .entry(parent.to_string())
                        .or_default()
                        .push(last.to_string());
                }
            }
        }
        let mut errors = Vec::new();
        for ns in &self.namespaces {
            let children = child_segments.get(&ns.name).cloned().unwrap_or_default();
            for (name, &pidx) in &ns.policies {
                let span = self.policies[pidx].ast.name.span;
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
                        self.shapes[sidx].decl.name.span,
                    ));
                }
            }
        }
        for e in errors {
            self.pack_error(e);
        }
    }

    fn index_policy(&mut self, p: &'p ast::Policy, file: FileId, ns: usize) {
        let name = &p.name.text;
        if self.namespaces[ns].policies.contains_key(name) {
            self.pack_error(conflict(
                &format!(
                    "policy `{name}` in namespace `{}`",
                    self.namespaces[ns].name
                ),
                p.name.span,
            ));
            return;
        }
        let id = self.program.policies.push(PolicyInfo {
            namespace: self.namespaces[ns].name.clone(),
            name: name.clone(),
            facts: Vec::new(),
            lets: Vec::new(),
            rules: Vec::new(),
            exports: Vec::new(),
            error: None,
        });
        let pidx = self.policies.len();
        self.namespaces[ns].policies.insert(name.clone(), pidx);
        let mut entry = PolicyEntry {
            ast: p,
            file,
            ns,
            id,
            facts: Vec::new(),
            uses: Vec::new(),
            lets: Vec::new(),
            rules: Vec::new(),
            exports: Vec::new(),
            local_shapes: FxHashMap::default(),
            values: FxHashMap::default(),
            import_names: FxHashMap::default(),
            use_aliases: FxHashMap::default(),
            import_targets: FxHashMap::default(),
            modules: Vec::new(),
        };
        let mut errors = Vec::new();
        let mut seen_other = false;
        let mut seen_use = false;
        let mut local_shape_decls = Vec::new();
        for stmt in &p.stmts {
            match stmt {
                PolicyStmt::Fact(f) => {
                    if seen_other || seen_use {
                        errors.push(Diagnostic::error(
                            "fact statements must be declared before any other statement",
                            f.span,
                        ));
                    }
                    if f.marker == FactMarker::Required && f.default.is_some() {
                        errors.push(
                            Diagnostic::error(
                                format!("required fact `{}` cannot have a default", f.name.text),
                                f.span,
                            )
                            .with_help("remove `!` or the default"),
                        );
                    }
                    entry.facts.push(f);
                }
                PolicyStmt::Use(u) => {
                    if seen_other {
                        errors.push(Diagnostic::error("use statements must be declared after facts and before other statements", u.span));
                    }
                    seen_use = true;
                    entry.uses.push(u);
                }
                other => {
                    seen_other = true;
                    match other {
                        PolicyStmt::Let(l) => {
                            let slot = entry.lets.len() as u32;
                            let lid = self.program.lets.push(LetInfo {
                                policy: id,
                                name: l.name.text.clone(),
                                func: sentrie_vm::program::FuncId::from_u32(0),
                                slot,
                            });
                            entry.lets.push((l, lid));
                        }
                        PolicyStmt::Rule(r) => {
                            let slot = entry.rules.len() as u32;
                            let rid = self.program.rules.push(RuleInfo {
                                policy: id,
                                name: r.name.text.clone(),
                                func: sentrie_vm::program::FuncId::from_u32(0),
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
        self.policies.push(entry);
        for s in local_shape_decls {
            if self.policies[pidx].local_shapes.contains_key(&s.name.text) {
                errors.push(conflict(&format!("shape `{}`", s.name.text), s.name.span));
                continue;
            }
            let idx = self.new_shape(s, ns, Some(pidx));
            self.policies[pidx]
                .local_shapes
                .insert(s.name.text.clone(), idx);
        }
        self.policy_names(pidx, &mut errors);
        for e in errors {
            self.pack_error(e);
        }
    }

    /// Value names (facts, lets, rules), use aliases and exports of one policy.
    fn policy_names(&mut self, pidx: usize, errors: &mut Vec<Diagnostic>) {
        let entry = &mut self.policies[pidx];
        let mut declare =
            |values: &mut FxHashMap<String, ValueRef>, name: &str, span: Span, v: ValueRef| {
                if values.contains_key(name) {
                    errors.push(conflict(&format!("name `{name}`"), span));
                } else {
                    values.insert(name.to_string(), v);
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
                _ => errors.push(Diagnostic::error(
                    format!("cannot export unknown rule `{}`", e.rule.text),
                    e.rule.span,
                )),
            }
        }
        if entry.exports.is_empty() {
            errors.push(
                Diagnostic::error(
                    format!("policy '{}' does not export any rules", entry.ast.name.text),
                    entry.ast.name.span,
                )
                .with_help("add `export decision of RULE`"),
            );
        }
        let id = entry.id;
        for rid in &export_ids {
            self.program.rules[*rid].exported = true;
        }
        self.program.policies[id].exports = export_ids;
        self.program.policies[id].rules =
            self.policies[pidx].rules.iter().map(|(_, r)| *r).collect();
        self.program.policies[id].lets = self.policies[pidx].lets.iter().map(|(_, l)| *l).collect();
    }

    /// Resolves every import clause to its target rule (after all policies are indexed).
    pub(crate) fn resolve_imports(&mut self) {
        let mut errors = Vec::new();
        for pidx in 0..self.policies.len() {
            let ns_name = self.namespaces[self.policies[pidx].ns].name.clone();
            let rules = self.policies[pidx].rules.clone();
            for (r, rid) in rules {
                let RuleBody::Import(imp) = &r.body else {
                    continue;
                };
                let mut seen = FxHashSet::default();
                for (n, _) in &imp.with {
                    if !seen.insert(n.text.clone()) {
                        errors.push(Diagnostic::error(
                            format!("duplicate with `{}` in import", n.text),
                            n.span,
                        ));
                    }
                }
                match self.import_target(&ns_name, imp) {
                    Ok(target) => {
                        self.policies[pidx].import_targets.insert(rid, target);
                    }
                    Err(d) => errors.push(d),
                }
            }
        }
        for e in errors {
            self.pack_error(e);
        }
    }

    fn import_target(&self, ns_name: &str, imp: &ast::ImportClause) -> Result<RuleId, Diagnostic> {
        let segs: Vec<&str> = imp.from.segments.iter().map(|s| s.text.as_str()).collect();
        let (target_ns, target_policy) = if segs.len() == 1 {
            (ns_name.to_string(), segs[0].to_string())
        } else {
            (
                segs[..segs.len() - 1].join("/"),
                segs[segs.len() - 1].to_string(),
            )
        };
        let policy = self
            .ns_index(&target_ns)
            .and_then(|n| self.namespaces[n].policies.get(&target_policy).copied())
            .or_else(|| {
                // Fallback: the whole FQN is a namespace with exactly one policy exporting the rule.
                let n = self.ns_index(&imp.from.joined())?;
                let candidates: Vec<usize> = self.namespaces[n]
                    .policies
                    .values()
                    .copied()
                    .filter(|p| {
                        self.policies[*p]
                            .exports
                            .iter()
                            .any(|e| e.rule.text == imp.rule.text)
                    })
                    .collect();
                if candidates.len() == 1 {
                    Some(candidates[0])
                } else {
                    None
                }
            });
        let Some(pidx) = policy else {
            return Err(Diagnostic::error(
                format!("import target policy not found: {}", imp.from.joined()),
                imp.from.span,
            ));
        };
        let pol = &self.policies[pidx];
        let Some(ValueRef::Rule(rid)) = pol.values.get(&imp.rule.text).copied() else {
            return Err(Diagnostic::error(
                format!(
                    "import target rule not found: {}/{}",
                    imp.from.joined(),
                    imp.rule.text
                ),
                imp.rule.span,
            ));
        };
        if !self.program.rules[rid].exported {
            return Err(Diagnostic::error(
                format!(
                    "import target rule is not exported: {}/{}",
                    imp.from.joined(),
                    imp.rule.text
                ),
                imp.rule.span,
            ));
        }
        Ok(rid)
    }
}

pub fn conflict(what: &str, span: Span) -> Diagnostic {
    Diagnostic::error(format!("conflict: {what} is declared more than once"), span)
}

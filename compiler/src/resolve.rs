//! Pass 2: resolve what policies refer to outside themselves: each import rule's target
//! rule (LANGUAGE.md §13) and each `use` statement's module (§16.1, through
//! [`crate::modules`]). The result, [`Resolved`], is read-only from then on.

use cranelift_entity::SecondaryMap;
use rustc_hash::{FxHashMap, FxHashSet};
use sentrie_grammar::ast::{self, RuleBody};
use sentrie_vm::program::{PolicyId, RuleId};

use crate::builder::Builder;
use crate::error::{CompileError, Diag};
use crate::index::{Index, ValueRef};
use crate::modules::{ModuleLoader, UsedModule};
use crate::pack::SourcePack;

/// The result of pass 2.
pub struct Resolved {
    /// The target of each import rule whose target was found.
    pub imports: FxHashMap<RuleId, RuleId>,
    /// The resolved `use` statements of each policy.
    pub modules: SecondaryMap<PolicyId, Vec<UsedModule>>,
}

/// Runs pass 2. Import problems are pack errors; module problems are policy errors.
pub fn resolve<'p>(pack: &'p SourcePack, ix: &Index<'p>, b: &mut Builder<'p>) -> Resolved {
    let mut imports = FxHashMap::default();
    for (pid, entry) in ix.policies.iter() {
        let ns_name = &ix.namespaces[entry.ns].name;
        for (r, rid) in &entry.rules {
            let RuleBody::Import(imp) = &r.body else {
                continue;
            };
            let mut seen = FxHashSet::default();
            for (n, _) in &imp.with {
                if !seen.insert(n.text.clone()) {
                    b.diags
                        .pack(CompileError::DuplicateWith(n.text.clone()).at(n.span));
                }
            }
            match import_target(ix, b, ns_name, imp) {
                Ok(target) => {
                    imports.insert(*rid, target);
                }
                Err(d) => b.diags.pack(d),
            }
        }
        let _ = pid;
    }
    let mut loader = ModuleLoader::new(pack);
    let mut modules = SecondaryMap::new();
    for pid in ix.policies.keys() {
        modules[pid] = loader.resolve_uses(ix, pid, b);
    }
    loader.finish(b);
    Resolved { imports, modules }
}

fn import_target(
    ix: &Index<'_>,
    b: &Builder<'_>,
    ns_name: &str,
    imp: &ast::ImportClause,
) -> Result<RuleId, Diag> {
    let segs: Vec<&str> = imp.from.segments.iter().map(|s| s.text.as_str()).collect();
    let (target_ns, target_policy) = if segs.len() == 1 {
        (ns_name.to_string(), segs[0].to_string())
    } else {
        (
            segs[..segs.len() - 1].join("/"),
            segs[segs.len() - 1].to_string(),
        )
    };
    let policy = ix
        .ns(&target_ns)
        .and_then(|n| ix.namespaces[n].policies.get(&target_policy).copied())
        .or_else(|| {
            // Fallback: the whole FQN is a namespace with exactly one policy exporting the rule.
            let n = ix.ns(&imp.from.joined())?;
            let candidates: Vec<PolicyId> = ix.namespaces[n]
                .policies
                .values()
                .copied()
                .filter(|p| {
                    ix.policies[*p]
                        .exports
                        .iter()
                        .any(|e| e.rule.text == imp.rule.text)
                })
                .collect();
            match candidates.as_slice() {
                [one] => Some(*one),
                _ => None,
            }
        });
    let Some(pid) = policy else {
        let known: Vec<String> = ix
            .namespaces
            .values()
            .flat_map(|n| n.policies.keys().map(move |p| format!("{}/{p}", n.name)))
            .collect();
        let wanted = format!("{target_ns}/{target_policy}");
        let suggestion = crate::error::closest(&wanted, known.iter().map(String::as_str));
        return Err(CompileError::ImportPolicyNotFound(imp.from.joined())
            .at(imp.from.span)
            .suggest(suggestion));
    };
    let target = format!("{}/{}", imp.from.joined(), imp.rule.text);
    let Some(ValueRef::Rule(rid)) = ix.policies[pid].values.get(&imp.rule.text).copied() else {
        let exported = ix.policies[pid]
            .exports
            .iter()
            .map(|e| e.rule.text.as_str());
        let suggestion = crate::error::closest(&imp.rule.text, exported);
        return Err(CompileError::ImportRuleNotFound(target)
            .at(imp.rule.span)
            .suggest(suggestion));
    };
    if !b.program.rules[rid].exported {
        return Err(CompileError::ImportRuleNotExported(target).at(imp.rule.span));
    }
    Ok(rid)
}

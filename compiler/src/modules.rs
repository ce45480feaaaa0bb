//! `use` statements (LANGUAGE.md §16.1): module sources resolved to builtin `@sentrie/*`
//! modules or pack files, default aliases, and export checks. Problems are policy errors.
//! Part of pass 2 ([`crate::resolve`]); user modules are transpiled and loaded once each.

use std::collections::{BTreeMap, BTreeSet};

use rustc_hash::FxHashMap;
use sentrie_grammar::ast::{ModuleSource, UseDecl};
use sentrie_modules::quickjs::ExportError;
use sentrie_vm::program::PolicyId;

use crate::builder::Builder;
use crate::error::CompileError;
use crate::index::Index;
use crate::pack::SourcePack;

#[derive(Clone, Debug, PartialEq)]
pub enum ModuleKind {
    /// `@sentrie/NAME`.
    Builtin(String),
    /// A pack file, by canonical key (`@local/` + pack-relative path).
    Local(String),
    /// The source could not be resolved (a policy error was recorded).
    Broken,
}

#[derive(Clone, Debug)]
pub struct UsedModule {
    pub alias: String,
    pub kind: ModuleKind,
    /// The names listed in the `use` statement.
    pub names: Vec<String>,
    /// Why calls into it fail, for modules that cannot be used.
    pub failure: Option<String>,
}

fn is_ident(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Joins `/`-separated path parts and normalises them; `None` if it climbs above the root.
fn normalise(parts: &[&str]) -> Option<String> {
    sentrie_modules::quickjs::normalise(&parts.join("/"))
}

/// Loads the user modules `use` statements name, once each.
pub struct ModuleLoader<'p> {
    pack: &'p SourcePack,
    /// Transpiled user modules by canonical key (sorted, for deterministic output).
    js_modules: BTreeMap<String, String>,
    /// Modules that failed to load, by key.
    module_errors: FxHashMap<String, String>,
    /// Builtin `(module, export)` pairs that user modules import.
    js_builtin_imports: BTreeSet<(String, String)>,
    /// `(pack-relative path, SHA-256 hex)` of every module source read, for the content hash.
    digests: BTreeMap<String, String>,
}

impl<'p> ModuleLoader<'p> {
    pub fn new(pack: &'p SourcePack) -> ModuleLoader<'p> {
        ModuleLoader {
            pack,
            js_modules: BTreeMap::new(),
            module_errors: FxHashMap::default(),
            js_builtin_imports: BTreeSet::new(),
            digests: BTreeMap::new(),
        }
    }

    /// Hands the loaded modules to the program.
    pub fn finish(self, b: &mut Builder<'_>) {
        b.program.js_modules = self.js_modules.into_iter().collect();
        b.program.js_builtin_imports = self.js_builtin_imports.into_iter().collect();
        b.module_digests = self.digests.into_iter().collect();
    }

    /// Resolves the `use` statements of a policy, recording policy errors.
    pub fn resolve_uses(
        &mut self,
        ix: &Index<'p>,
        pid: PolicyId,
        b: &mut Builder<'p>,
    ) -> Vec<UsedModule> {
        let uses = ix.policies[pid].uses.clone();
        let file = ix.policies[pid].file;
        let file_dir = self
            .pack
            .sources
            .get(file)
            .map(|f| {
                f.path
                    .rsplit_once('/')
                    .map_or(String::new(), |(d, _)| d.to_string())
            })
            .unwrap_or_default();
        let mut out = Vec::new();
        for u in uses {
            let (kind, default_alias, error) = self.module_source(u, &file_dir);
            let alias = match (&u.alias, default_alias) {
                (Some(a), _) => a.text.clone(),
                (None, Some(a)) if is_ident(&a) => a,
                (None, other) => {
                    let shown = other.unwrap_or_default();
                    let d = CompileError::ModuleNeedsAlias(shown)
                        .at(u.source_span)
                        .with_help("add `as NAME` to the use statement");
                    b.policy_error(pid, d);
                    continue;
                }
            };
            let names: Vec<String> = u.names.iter().map(|n| n.text.clone()).collect();
            let mut failure = error.clone();
            if let Some(msg) = error {
                b.policy_error(pid, CompileError::Module(msg).at(u.source_span));
            } else if let ModuleKind::Local(key) = &kind {
                if let Err(msg) = self.check_local_module(key, &names) {
                    b.policy_error(pid, CompileError::Module(msg.clone()).at(u.source_span));
                    failure = Some(msg);
                }
            } else if let ModuleKind::Builtin(m) = &kind {
                for n in &u.names {
                    if sentrie_modules::native::lookup(m, &n.text).is_none() {
                        let e = CompileError::MissingBuiltinExport {
                            module: m.clone(),
                            export: n.text.clone(),
                        };
                        failure.get_or_insert(e.to_string());
                        b.policy_error(pid, e.at(n.span));
                    }
                }
            }
            out.push(UsedModule {
                alias,
                kind,
                names,
                failure,
            });
        }
        out
    }

    /// `(kind, default alias, error)` of a use statement's source.
    fn module_source(
        &self,
        u: &UseDecl,
        file_dir: &str,
    ) -> (ModuleKind, Option<String>, Option<String>) {
        let text = match &u.source {
            ModuleSource::At(segs) => format!(
                "@{}",
                segs.iter()
                    .map(|s| s.text.as_str())
                    .collect::<Vec<_>>()
                    .join("/")
            ),
            ModuleSource::Quoted(q) => q.clone(),
        };
        let last = text.rsplit('/').next().unwrap_or(&text);
        let default_alias = Some(
            last.strip_suffix(".ts")
                .or_else(|| last.strip_suffix(".js"))
                .unwrap_or(last)
                .to_string(),
        );
        if let Some(name) = text.strip_prefix("@sentrie/") {
            if sentrie_modules::native::module_exists(name) {
                return (ModuleKind::Builtin(name.to_string()), default_alias, None);
            }
            return (
                ModuleKind::Broken,
                default_alias,
                Some(format!(
                    "module `{text}` not found: no such builtin module{}",
                    crate::error::closest(name, sentrie_modules::native::MODULES.iter().copied())
                        .map_or_else(String::new, |m| format!("; did you mean `@sentrie/{m}`?"))
                )),
            );
        }
        let rel = if let Some(p) = text.strip_prefix("@local/") {
            normalise(&[p])
        } else if text.starts_with('@') {
            return (
                ModuleKind::Broken,
                default_alias,
                Some(format!(
                    "unsupported module source `{text}`: only @sentrie/ and @local/ are known"
                )),
            );
        } else if let Some(abs) = text.strip_prefix('/') {
            normalise(&[abs])
        } else {
            normalise(&[file_dir, &text])
        };
        let Some(rel) = rel else {
            return (
                ModuleKind::Broken,
                default_alias,
                Some(format!("module `{text}` is outside the pack")),
            );
        };
        let root = &self.pack.root;
        let has_ext = [".ts", ".tsx", ".mts", ".cts", ".js"]
            .iter()
            .any(|e| rel.ends_with(e));
        let candidates = if has_ext {
            vec![rel]
        } else {
            vec![format!("{rel}.ts"), format!("{rel}.js")]
        };
        let Some(found) = candidates.into_iter().find(|c| root.join(c).is_file()) else {
            return (
                ModuleKind::Broken,
                default_alias,
                Some(format!("module `{text}` not found")),
            );
        };
        (
            ModuleKind::Local(format!("@local/{found}")),
            default_alias,
            None,
        )
    }

    /// Transpiles a local module and everything it imports into `js_modules` (once per key).
    fn load_module_graph(&mut self, key: &str) -> Result<(), String> {
        let mut queue = vec![key.to_string()];
        while let Some(k) = queue.pop() {
            if self.js_modules.contains_key(&k) {
                continue;
            }
            let rel = k.strip_prefix("@local/").unwrap_or(&k).to_string();
            let path = self.pack.root.join(&rel);
            let source = std::fs::read_to_string(&path)
                .map_err(|e| format!("module `{k}`: cannot read: {e}"))?;
            self.digests
                .insert(rel.clone(), sentrie_artifact::sha256_hex(source.as_bytes()));
            let t = sentrie_modules::transpile::transpile(&rel, &source)
                .map_err(|e| format!("module `{k}`: {e}"))?;
            for (module, name) in &t.builtin_imports {
                if sentrie_modules::native::lookup(module, name).is_none() {
                    return Err(format!(
                        "module `{k}`: module @sentrie/{module} missing export {name}"
                    ));
                }
                self.js_builtin_imports
                    .insert((module.clone(), name.clone()));
            }
            for spec in &t.imports {
                let candidates = sentrie_modules::quickjs::import_candidates(&k, spec)
                    .map_err(|e| format!("module `{k}`: {e}"))?;
                let found = candidates
                    .into_iter()
                    .find(|c| {
                        c.strip_prefix("@local/")
                            .is_some_and(|r| self.pack.root.join(r).is_file())
                    })
                    .ok_or_else(|| format!("module `{k}`: import `{spec}` not found"))?;
                queue.push(found);
            }
            let (mut js, offset) = if t.commonjs {
                let wrapped = sentrie_modules::quickjs::wrap_commonjs(&k, &t.js);
                (wrapped, sentrie_modules::quickjs::COMMONJS_PRELUDE_LINES)
            } else {
                (t.js, 0)
            };
            let points = if t.points.is_empty() && offset > 0 {
                sentrie_modules::linemap::identity(&source)
            } else {
                t.points
            };
            sentrie_modules::linemap::append(&mut js, &points, offset);
            self.js_modules.insert(k, js);
        }
        Ok(())
    }

    /// Loads a local module, runs it once and checks the listed exports.
    fn check_local_module(&mut self, key: &str, names: &[String]) -> Result<(), String> {
        if let Some(err) = self.module_errors.get(key) {
            return Err(err.clone());
        }
        // A module that does not load fails for every use of it; a missing export only for
        // the use that lists it.
        if let Err(e) = self.load_module_graph(key) {
            self.module_errors.insert(key.to_string(), e.clone());
            return Err(e);
        }
        let all: Vec<(String, String)> = self
            .js_modules
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let builtins: Vec<(String, String)> = self.js_builtin_imports.iter().cloned().collect();
        let pack = sentrie_modules::quickjs::JsPack {
            instance: 0,
            modules: &all,
            env: &[],
            builtins: &builtins,
        };
        sentrie_modules::quickjs::check_exports(pack, key, names).map_err(|e| {
            if let ExportError::Load(msg) = &e {
                self.module_errors.insert(key.to_string(), msg.clone());
            }
            e.to_string()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_normalise_inside_the_root() {
        assert_eq!(
            normalise(&["lib", "./x/../y.ts"]).as_deref(),
            Some("lib/y.ts")
        );
        assert_eq!(normalise(&["", "a.ts"]).as_deref(), Some("a.ts"));
        assert_eq!(normalise(&["lib", "../../etc/passwd"]), None);
        assert!(is_ident("utils") && !is_ident("my-mod") && !is_ident("1x"));
    }
}

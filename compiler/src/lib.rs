//! `sentrie-compiler`: from a pack folder to a verified `sentrie_vm::Program`.
//!
//! Passes, in order: [`pack`] (locate, manifest, read and parse files) → [`index`] (namespaces,
//! shapes, policies, ids, structural checks) → [`types`] (shapes and constraints) → [`lower`]
//! (names resolved, bytecode emitted, dependencies recorded) → [`deps`] (cycle check) →
//! `vm::verify`. Errors are collected, never thrown: one run reports every independent problem.
//!
//! This crate does not evaluate anything; that is `sentrie-vm`'s job.

pub mod deps;
pub mod emit;
pub mod index;
pub mod lower;
pub mod manifest;
pub mod modules;
pub mod pack;
pub mod types;

use std::path::Path;
use std::sync::Arc;

use rustc_hash::FxHashMap;
use sentrie_grammar::ast::RuleBody;
use sentrie_grammar::{Diagnostic, SourceMap, Span};
use sentrie_vm::program::{Const, FactInfo, SrcLoc};
use sentrie_vm::{Program, VerifiedProgram};

use crate::deps::{Graph, Node};
use crate::index::{NsEntry, PolicyEntry, ShapeEntry};
use crate::lower::{Lower, Mode};
use crate::pack::SourcePack;
use crate::types::{BuildState, TypeCtx, TypeErrors};

/// Compiler state for one pack.
pub struct Compiler<'p> {
    pub(crate) pack: &'p SourcePack,
    pub(crate) program: Program,
    pub(crate) namespaces: Vec<NsEntry>,
    pub(crate) ns_by_name: FxHashMap<String, usize>,
    pub(crate) shapes: Vec<ShapeEntry<'p>>,
    pub(crate) shape_state: Vec<BuildState>,
    pub(crate) shape_errors: Vec<Option<Diagnostic>>,
    pub(crate) shape_deps: Vec<Vec<usize>>,
    pub(crate) shape_cycle_reported: Vec<bool>,
    pub(crate) policies: Vec<PolicyEntry<'p>>,
    pub(crate) pack_errors: Vec<Diagnostic>,
    /// Non-fatal for evaluation: policy errors and errors in unused shapes.
    pub(crate) policy_diags: Vec<Diagnostic>,
    pub(crate) deps: Graph,
    block_let_counter: u32,
    names: FxHashMap<String, u32>,
    consts: FxHashMap<String, u32>,
    /// Transpiled user modules by canonical key (sorted, for deterministic output).
    pub(crate) js_modules: std::collections::BTreeMap<String, String>,
    /// Modules that failed to load, by key.
    pub(crate) module_errors: FxHashMap<String, String>,
    /// Builtin `(module, export)` pairs that user modules import.
    pub(crate) js_builtin_imports: std::collections::BTreeSet<(String, String)>,
}

/// A successfully compiled pack. `diagnostics` are policy errors: the pack runs, but the
/// affected policies fail at evaluation, and `validate`/`compile` must report them.
pub struct Compiled {
    pub program: VerifiedProgram,
    pub diagnostics: Vec<Diagnostic>,
}

impl<'p> Compiler<'p> {
    pub fn new(pack: &'p SourcePack) -> Compiler<'p> {
        Compiler {
            pack,
            program: Program::default(),
            namespaces: Vec::new(),
            ns_by_name: FxHashMap::default(),
            shapes: Vec::new(),
            shape_state: Vec::new(),
            shape_errors: Vec::new(),
            shape_deps: Vec::new(),
            shape_cycle_reported: Vec::new(),
            policies: Vec::new(),
            pack_errors: Vec::new(),
            policy_diags: Vec::new(),
            deps: Graph::default(),
            block_let_counter: 0,
            names: FxHashMap::default(),
            consts: FxHashMap::default(),
            js_modules: std::collections::BTreeMap::new(),
            module_errors: FxHashMap::default(),
            js_builtin_imports: std::collections::BTreeSet::new(),
        }
    }

    pub(crate) fn pack_error(&mut self, d: Diagnostic) {
        self.pack_errors.push(d);
    }

    pub(crate) fn policy_error(&mut self, pidx: usize, d: Diagnostic) {
        let id = self.policies[pidx].id;
        if self.program.policies[id].error.is_none() {
            let at = d
                .span
                .map(|s| format!(" (at {})", self.pack.sources.location(s)))
                .unwrap_or_default();
            self.program.policies[id].error = Some(format!("{}{at}", d.message));
        }
        if !self.policy_diags.contains(&d) {
            self.policy_diags.push(d);
        }
    }

    pub(crate) fn loc(&self, span: Span) -> SrcLoc {
        let (line, col) = self
            .pack
            .sources
            .get(span.file)
            .map_or((0, 0), |f| f.line_col(span.start));
        SrcLoc {
            file: span.file.0,
            line,
            col,
        }
    }

    pub(crate) fn name_id(&mut self, name: &str) -> u32 {
        if let Some(i) = self.names.get(name) {
            return *i;
        }
        self.program.names.push(name.to_string());
        let i = (self.program.names.len() - 1) as u32;
        self.names.insert(name.to_string(), i);
        i
    }

    pub(crate) fn const_id(&mut self, c: Const) -> u32 {
        let key = match &c {
            Const::Num(n) => Some(format!("n{}", n.to_bits())),
            Const::Str(s) => Some(format!("s{s}")),
            _ => None,
        };
        if let Some(k) = &key {
            if let Some(i) = self.consts.get(k) {
                return *i;
            }
        }
        self.program.consts.push(c);
        let i = (self.program.consts.len() - 1) as u32;
        if let Some(k) = key {
            self.consts.insert(k, i);
        }
        i
    }

    pub(crate) fn next_block_let(&mut self) -> u32 {
        self.block_let_counter += 1;
        self.block_let_counter
    }

    /// Runs every pass. On pack errors returns all diagnostics (pack and policy ones).
    pub fn compile(mut self) -> Result<Compiled, Vec<Diagnostic>> {
        self.index();
        if self.policies.is_empty() && self.pack_errors.is_empty() {
            let root = self.pack.root.display().to_string();
            self.pack_error(Diagnostic::file(
                "the pack contains no policies: add a `.sentrie` file with a policy",
                root,
            ));
        }
        self.resolve_imports();
        let n = self.shapes.len();
        self.shape_state = vec![BuildState::Unbuilt; n];
        self.shape_errors = vec![None; n];
        self.shape_deps = vec![Vec::new(); n];
        self.shape_cycle_reported = vec![false; n];
        self.build_shapes();
        for pidx in 0..self.policies.len() {
            self.lower_policy(pidx);
        }
        for (names, span) in self.deps.cycles() {
            self.pack_error(Diagnostic::error(
                format!("cyclic dependency: {}", names.join(" -> ")),
                span,
            ));
        }
        if !self.pack_errors.is_empty() {
            let mut all = self.pack_errors;
            all.extend(self.policy_diags);
            return Err(all);
        }
        let mut program = self.program;
        program.js_modules = self.js_modules.into_iter().collect();
        program.js_builtin_imports = self.js_builtin_imports.into_iter().collect();
        program.env_names = self.pack.manifest.env.clone();
        program.files = self
            .pack
            .sources
            .files()
            .map(|(_, f)| f.path.clone())
            .collect();
        program.namespaces = self.namespaces.iter().map(|n| n.name.clone()).collect();
        let program = match sentrie_modules::link(program) {
            Ok(p) => p,
            Err(e) => {
                return Err(vec![Diagnostic::error(
                    format!("internal error: generated bytecode failed verification: {e}"),
                    Span::default(),
                )])
            }
        };
        Ok(Compiled {
            program,
            diagnostics: self.policy_diags,
        })
    }

    fn lower_policy(&mut self, pidx: usize) {
        let entry = &self.policies[pidx];
        let (ast, ns) = (entry.ast, entry.ns);
        let qual = format!("{}/{}", self.namespaces[ns].name, ast.name.text);
        let ctx = TypeCtx {
            ns,
            policy: Some(pidx),
        };
        let facts = entry.facts.clone();
        let lets = entry.lets.clone();
        let rules = entry.rules.clone();
        let exports = entry.exports.clone();
        let id = entry.id;
        let used = self.resolve_uses(pidx);
        self.policies[pidx].modules = used;
        let mut infos = Vec::new();
        for f in facts {
            let mut errs = TypeErrors::default();
            let ty = self.type_ref(&f.ty, ctx, &mut errs);
            for d in errs.pack {
                self.pack_error(d);
            }
            for d in errs.names {
                self.policy_error(pidx, d);
            }
            let default = f.default.as_ref().map(|d| {
                let mut l = Lower::new(
                    self,
                    pidx,
                    format!("{qual}.fact.{}", f.name.text),
                    Node::Rule(u32::MAX),
                    Mode::FactDefault,
                );
                l.value(d, None);
                l.finish()
            });
            let exposed = f
                .alias
                .as_ref()
                .map_or_else(|| f.name.text.clone(), |a| a.text.clone());
            let required = match f.marker {
                sentrie_grammar::ast::FactMarker::Required => true,
                sentrie_grammar::ast::FactMarker::Optional => false,
                sentrie_grammar::ast::FactMarker::None => f.default.is_none(),
            };
            infos.push(FactInfo {
                exposed,
                required,
                default,
                ty,
            });
        }
        self.program.policies[id].facts = infos;
        for (l, lid) in lets {
            let node = Node::Let(lid.as_u32());
            self.deps
                .name(node, format!("{qual}/{}", l.name.text), l.name.span);
            let mut low = Lower::new(
                self,
                pidx,
                format!("{qual}.{}", l.name.text),
                node,
                Mode::Normal,
            );
            low.value(&l.value, l.ty.as_ref().map(|t| (l.name.text.clone(), t)));
            let func = low.finish();
            self.program.lets[lid].func = func;
        }
        for (r, rid) in &rules {
            let node = Node::Rule(rid.as_u32());
            self.deps
                .name(node, format!("{qual}/{}", r.name.text), r.name.span);
            let mut low = Lower::new(
                self,
                pidx,
                format!("{qual}/{}", r.name.text),
                node,
                Mode::Normal,
            );
            low.rule(r, *rid);
            let func = low.finish();
            self.program.rules[*rid].func = func;
            let _ = matches!(r.body, RuleBody::Import(_));
        }
        for e in exports {
            let Some((_, rid)) = rules.iter().find(|(r, _)| r.name.text == e.rule.text) else {
                continue;
            };
            let node = Node::Rule(rid.as_u32());
            let mut atts = Vec::new();
            for (name, expr) in &e.attachments {
                let mut low = Lower::new(
                    self,
                    pidx,
                    format!("{qual}/{}.{}", e.rule.text, name.text),
                    node,
                    Mode::Normal,
                );
                low.value(expr, None);
                atts.push((name.text.clone(), low.finish()));
            }
            self.program.rules[*rid].attachments = atts;
        }
    }
}

/// A loaded pack, ready to evaluate.
pub struct Loaded {
    pub program: Arc<VerifiedProgram>,
    /// SHA-256 (hex) identifying the pack: of the compiled file, or of the sorted source texts.
    pub hash: String,
    /// True when loaded from a compiled pack file.
    pub compiled: bool,
    pub sources: SourceMap,
    pub manifest: manifest::Manifest,
    /// Policy errors (the pack still runs; see LANGUAGE.md §17.1).
    pub diagnostics: Vec<Diagnostic>,
}

/// Why a pack could not be loaded: diagnostics with the sources to render them.
pub struct LoadError {
    pub diagnostics: Vec<Diagnostic>,
    pub sources: SourceMap,
}

impl LoadError {
    fn plain(msg: String) -> LoadError {
        LoadError {
            diagnostics: vec![Diagnostic {
                message: msg,
                span: None,
                path: None,
                label: None,
                help: None,
            }],
            sources: SourceMap::new(),
        }
    }
}

/// Stack for the compiler thread: recursion over expressions is bounded by the parser's depth
/// limit; this leaves ample room in debug builds.
const COMPILER_STACK: usize = 64 * 1024 * 1024;

/// Loads a pack from `--pack-location`.
pub fn load_pack(path: &Path) -> Result<Loaded, LoadError> {
    let location = pack::locate(path).map_err(LoadError::plain)?;
    let (root, manifest) = match location {
        pack::Location::Source { root, manifest } => (root, manifest),
        pack::Location::Compiled(p) => return load_compiled(&p),
    };
    std::thread::scope(|s| {
        let handle = std::thread::Builder::new()
            .stack_size(COMPILER_STACK)
            .spawn_scoped(s, || load_source(&root, manifest.as_deref()));
        match handle {
            Ok(h) => h.join().unwrap_or_else(|_| {
                Err(LoadError::plain(
                    "internal error: the compiler crashed".to_string(),
                ))
            }),
            Err(e) => Err(LoadError::plain(format!(
                "cannot start the compiler thread: {e}"
            ))),
        }
    })
}

fn load_source(root: &Path, manifest: Option<&Path>) -> Result<Loaded, LoadError> {
    let (pack, diags) = pack::read(root, manifest);
    let Some(pack) = pack else {
        return Err(LoadError {
            diagnostics: diags,
            sources: SourceMap::new(),
        });
    };
    if diags.is_empty() {
        return compile_source(pack);
    }
    // Some files did not parse: still check the others, so one run reports every
    // independent error. Name-resolution errors may stem from the broken files: drop them.
    let mut diagnostics = diags;
    if let Err(more) = Compiler::new(&pack).compile() {
        diagnostics.extend(
            more.into_iter()
                .filter(|d| !is_resolution_error(&d.message)),
        );
    }
    Err(LoadError {
        diagnostics,
        sources: pack.sources,
    })
}

fn is_resolution_error(msg: &str) -> bool {
    ["not found", "not exported", "ambiguous", "no policies"]
        .iter()
        .any(|p| msg.contains(p))
}

/// Compiles an already-read source pack.
pub fn compile_source(pack: SourcePack) -> Result<Loaded, LoadError> {
    let result = Compiler::new(&pack).compile();
    match result {
        Ok(c) => Ok(Loaded {
            program: Arc::new(c.program),
            hash: source_hash(&pack.sources),
            compiled: false,
            sources: pack.sources,
            manifest: pack.manifest,
            diagnostics: c.diagnostics,
        }),
        Err(diagnostics) => Err(LoadError {
            diagnostics,
            sources: pack.sources,
        }),
    }
}

/// Compiles in-memory sources as one pack with an implicit manifest (tests, benchmarks).
pub fn compile_text(files: &[(&str, &str)]) -> Result<Loaded, LoadError> {
    let mut sources = SourceMap::new();
    let mut parsed = Vec::new();
    let mut diags = Vec::new();
    for (path, text) in files {
        let id = sources.add((*path).to_string(), Arc::from(*text));
        let (tree, mut d) = sentrie_grammar::parse_file(id, text);
        diags.append(&mut d);
        if let Some(tree) = tree {
            if tree.namespace.is_some() {
                parsed.push((id, tree));
            }
        }
    }
    if !diags.is_empty() {
        return Err(LoadError {
            diagnostics: diags,
            sources,
        });
    }
    let manifest = manifest::Manifest {
        name: "inline".into(),
        version: "0.0.0".into(),
        env: Vec::new(),
    };
    let pack = SourcePack {
        root: std::path::PathBuf::from("."),
        manifest,
        sources,
        files: parsed,
    };
    compile_source(pack)
}

/// Loads a compiled pack file (PACKS_AND_CLI.md §9.3).
pub fn load_compiled(path: &Path) -> Result<Loaded, LoadError> {
    let art = sentrie_artifact::load(path).map_err(|e| match e {
        e @ sentrie_artifact::ArtifactError::Read { .. } => LoadError::plain(e.to_string()),
        e => LoadError::plain(format!("{}: {e}", path.display())),
    })?;
    Ok(Loaded {
        program: Arc::new(art.program),
        hash: art.hash,
        compiled: true,
        sources: SourceMap::new(),
        manifest: art.manifest,
        diagnostics: Vec::new(),
    })
}

/// SHA-256 over the sorted `(path, text)` pairs of a source pack.
fn source_hash(sources: &SourceMap) -> String {
    sentrie_artifact::source_hash(sources.files().map(|(_, f)| (f.path.as_str(), &*f.text)))
}

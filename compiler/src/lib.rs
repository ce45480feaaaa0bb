//! `sentrie-compiler`: from a pack folder to a verified `sentrie_vm::VerifiedProgram`.
//!
//! Passes, in order, each taking the previous one's result: [`pack`] (locate, manifest, read
//! and parse files) → [`index`] (namespaces, shapes, policies, ids, structural checks:
//! [`index::Index`]) → [`resolve`] (import targets, `use` modules: [`resolve::Resolved`]) →
//! [`types`] (shapes and constraints: [`types::Types`]) → [`lower`] (names resolved,
//! bytecode emitted, dependencies recorded) → [`deps`] (cycle check) → verify and link.
//! What the passes produce goes into one [`builder::Builder`]: the program under
//! construction and the diagnostics. Errors are collected, never thrown: one run reports
//! every independent problem.
//!
//! This crate does not evaluate anything; that is `sentrie-vm`'s job.

pub mod builder;
pub mod deps;
pub mod emit;
pub mod error;
pub mod index;
pub mod lower;
pub mod manifest;
pub mod modules;
pub mod pack;
pub mod resolve;
pub mod types;

use std::path::Path;
use std::sync::Arc;

use sentrie_grammar::{Diagnostic, SourceMap};
use sentrie_vm::VerifiedProgram;

use crate::builder::Builder;
use crate::error::{CompileError, Diag};
use crate::pack::SourcePack;

/// A successfully compiled pack. `diagnostics` are policy errors: the pack runs, but the
/// affected policies fail at evaluation, and `validate`/`compile` must report them.
pub struct Compiled {
    pub program: VerifiedProgram,
    pub diagnostics: Vec<Diag>,
    /// Likely mistakes the language allows (see [`error::Diags::warnings`]).
    pub warnings: Vec<Diag>,
    /// See [`sentrie_artifact::content_hash`].
    pub hash: String,
}

/// Runs every pass over a read pack. On pack errors returns all diagnostics (pack errors
/// first, then policy errors).
pub fn compile(pack: &SourcePack) -> Result<Compiled, Vec<Diag>> {
    compile_with(pack, &LoadOptions::default())
}

/// [`compile`] with options (only `no_index` and `no_inline` matter here).
pub fn compile_with(pack: &SourcePack, opts: &LoadOptions) -> Result<Compiled, Vec<Diag>> {
    let mut b = Builder::new(&pack.sources);
    b.index = !opts.no_index;
    b.inline = !opts.no_inline;
    let ix = index::index(pack, &mut b);
    let resolved = resolve::resolve(pack, &ix, &mut b);
    let mut types = types::build(&ix, &mut b);
    lower::lower(&ix, &resolved, &mut types, &mut b);
    deps::check(&b.graph, &mut b.diags);
    let Builder {
        mut program,
        diags,
        module_digests,
        ..
    } = b;
    if diags.has_pack_errors() {
        let mut all = diags.pack;
        all.extend(diags.policy);
        return Err(all);
    }
    program.env_names = pack.manifest.env.clone();
    program.files = pack.sources.files().map(|(_, f)| f.path.clone()).collect();
    program.namespaces = ix.namespaces.values().map(|n| n.name.clone()).collect();
    let hash = content_hash(pack, module_digests);
    match sentrie_modules::link(program) {
        Ok(program) => Ok(Compiled {
            program,
            diagnostics: diags.policy,
            warnings: diags.warnings,
            hash,
        }),
        Err(e) => Err(vec![Diag {
            error: CompileError::Verify(e.to_string()),
            span: None,
            path: None,
            notes: None,
        }]),
    }
}

/// Policies, the module files they load and the manifest: every file that can change a
/// decision (tests and documentation are never read).
fn content_hash(pack: &SourcePack, mut digests: Vec<(String, String)>) -> String {
    digests.extend(pack.sources.files().map(|(_, f)| {
        (
            f.path.clone(),
            sentrie_artifact::sha256_hex(f.text.as_bytes()),
        )
    }));
    if let Some(text) = &pack.manifest_text {
        digests.push((
            pack::MANIFEST.to_string(),
            sentrie_artifact::sha256_hex(text.as_bytes()),
        ));
    }
    sentrie_artifact::content_hash(digests)
}

fn rendered(diags: &[Diag]) -> Vec<Diagnostic> {
    diags.iter().map(Diag::to_diagnostic).collect()
}

/// A loaded pack, ready to evaluate.
pub struct Loaded {
    pub program: Arc<VerifiedProgram>,
    /// The content hash ([`sentrie_artifact::content_hash`]): the same for a pack's source and
    /// compiled forms.
    pub hash: String,
    /// True when loaded from a compiled pack file.
    pub compiled: bool,
    pub sources: SourceMap,
    pub manifest: manifest::Manifest,
    /// Policy errors (the pack still runs; see LANGUAGE.md §17.1).
    pub diagnostics: Vec<Diagnostic>,
    /// Warnings (severity `Warning`): ad-hoc facts, calls that always fail. Computed from
    /// sources; a compiled pack carries none (compile it with `--strict` to refuse them).
    pub warnings: Vec<Diagnostic>,
    /// How the pack was found, worth telling whoever loads it (an implicit manifest), as
    /// warnings that `--strict` does not refuse.
    pub notes: Vec<Diagnostic>,
}

/// How a pack is loaded.
#[derive(Clone, Debug, Default)]
pub struct LoadOptions {
    /// Warnings are load errors (`--strict`; the manifest's `strict = true` also asks for it).
    pub strict: bool,
    /// Scan constant lists instead of indexing them (to compare the two; `--no-index`).
    pub no_index: bool,
    /// Give every let and rule its own frame instead of lowering small ones where they are
    /// read (to compare the two in tests and benchmarks).
    pub no_inline: bool,
    /// `--verify-key`: when not empty, only compiled packs signed by one of these keys load
    /// (a source pack, which carries no signature, is refused).
    pub trusted: Vec<sentrie_artifact::PublicKey>,
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
                severity: sentrie_grammar::Severity::Error,
                message: msg,
                span: None,
                path: None,
                label: None,
                help: None,
                related: Vec::new(),
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
    load_pack_with(path, LoadOptions::default())
}

/// [`load_pack`] with options.
pub fn load_pack_with(path: &Path, opts: LoadOptions) -> Result<Loaded, LoadError> {
    let location = pack::locate(path).map_err(LoadError::plain)?;
    let (root, manifest) = match location {
        pack::Location::Source { .. } if !opts.trusted.is_empty() => {
            return Err(LoadError::plain(format!(
                "{} is a source pack, which carries no signature: with --verify-key only compiled packs signed with `sentrie compile --sign` load",
                path.display()
            )))
        }
        pack::Location::Source { root, manifest } => (root, manifest),
        pack::Location::Compiled(p) => return load_compiled_with(&p, &opts.trusted),
    };
    std::thread::scope(|s| {
        let handle = std::thread::Builder::new()
            .stack_size(COMPILER_STACK)
            .spawn_scoped(s, || load_source(&root, manifest.as_deref(), opts));
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

fn load_source(
    root: &Path,
    manifest: Option<&Path>,
    opts: LoadOptions,
) -> Result<Loaded, LoadError> {
    let (pack, diags) = pack::read(root, manifest);
    if manifest.is_none() && diags.is_empty() {
        if let Some(pack) = pack {
            let files = pack.files.len();
            return compile_source_with(pack, opts).map(|mut l| {
                l.notes.push(
                    Diagnostic::file(
                        format!(
                            "no {} found: using {} as the pack root with an implicit manifest ({files} .sentrie file(s) loaded)",
                            pack::MANIFEST,
                            root.display()
                        ),
                        root.display().to_string(),
                    )
                    .warning(),
                );
                l
            });
        }
        return Err(LoadError::plain("internal error: no pack read".to_string()));
    }
    let Some(pack) = pack else {
        return Err(LoadError {
            diagnostics: diags,
            sources: SourceMap::new(),
        });
    };
    if diags.is_empty() {
        return compile_source_with(pack, opts);
    }
    // Some files did not parse: still check the others, so one run reports every
    // independent error. Name-resolution errors may stem from the broken files: drop them.
    let mut diagnostics = diags;
    if let Err(more) = compile(&pack) {
        let independent: Vec<Diag> = more
            .into_iter()
            .filter(|d| !d.error.is_resolution())
            .collect();
        diagnostics.extend(rendered(&independent));
    }
    Err(LoadError {
        diagnostics,
        sources: pack.sources,
    })
}

/// Compiles an already-read source pack.
pub fn compile_source(pack: SourcePack) -> Result<Loaded, LoadError> {
    compile_source_with(pack, LoadOptions::default())
}

/// [`compile_source`] with options: in strict mode (or with `strict = true` in the manifest)
/// warnings refuse the pack, as errors.
pub fn compile_source_with(pack: SourcePack, opts: LoadOptions) -> Result<Loaded, LoadError> {
    let strict = opts.strict || pack.manifest.strict;
    match compile_with(&pack, &opts) {
        Ok(c) if strict && !c.warnings.is_empty() => {
            let mut diagnostics = rendered(&c.warnings);
            diagnostics.extend(rendered(&c.diagnostics));
            Err(LoadError {
                diagnostics,
                sources: pack.sources,
            })
        }
        Ok(c) => Ok(Loaded {
            program: Arc::new(c.program),
            hash: c.hash,
            compiled: false,
            sources: pack.sources,
            manifest: pack.manifest,
            diagnostics: rendered(&c.diagnostics),
            warnings: c
                .warnings
                .iter()
                .map(|d| d.to_diagnostic().warning())
                .collect(),
            notes: Vec::new(),
        }),
        Err(diagnostics) => Err(LoadError {
            diagnostics: rendered(&diagnostics),
            sources: pack.sources,
        }),
    }
}

/// Compiles in-memory sources as one pack with an implicit manifest (tests, benchmarks).
pub fn compile_text(files: &[(&str, &str)]) -> Result<Loaded, LoadError> {
    compile_text_with(files, LoadOptions::default())
}

/// [`compile_text`] with options.
pub fn compile_text_with(files: &[(&str, &str)], opts: LoadOptions) -> Result<Loaded, LoadError> {
    let mut sources = SourceMap::new();
    let mut parsed = Vec::new();
    let mut diags = Vec::new();
    let ids: Vec<(sentrie_grammar::FileId, &str)> = files
        .iter()
        .map(|(path, text)| (sources.add((*path).to_string(), Arc::from(*text)), *text))
        .collect();
    for ((id, _), (tree, mut d)) in ids.iter().zip(sentrie_grammar::parse_files(&ids)) {
        diags.append(&mut d);
        if let Some(tree) = tree {
            if tree.namespace.is_some() {
                parsed.push((*id, tree));
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
        ..manifest::Manifest::default()
    };
    let pack = SourcePack {
        root: std::path::PathBuf::from("."),
        manifest,
        manifest_text: None,
        sources,
        files: parsed,
    };
    compile_source_with(pack, opts)
}

/// Loads a compiled pack file (PACKS_AND_CLI.md §9.3).
pub fn load_compiled(path: &Path) -> Result<Loaded, LoadError> {
    load_compiled_with(path, &[])
}

/// [`load_compiled`], refusing a pack that no key of `trusted` signed (when it is not empty).
pub fn load_compiled_with(
    path: &Path,
    trusted: &[sentrie_artifact::PublicKey],
) -> Result<Loaded, LoadError> {
    let art = sentrie_artifact::load(path, trusted).map_err(|e| match e {
        e @ sentrie_artifact::ArtifactError::Read { .. } => LoadError::plain(e.to_string()),
        e => LoadError::plain(format!("{}: {e}", path.display())),
    })?;
    Ok(loaded_artifact(art))
}

/// Loads a compiled pack from its bytes (fetched from `origin`, which messages name).
pub fn load_compiled_bytes(
    bytes: &[u8],
    origin: &str,
    trusted: &[sentrie_artifact::PublicKey],
) -> Result<Loaded, LoadError> {
    sentrie_artifact::decode_trusted(bytes, trusted)
        .map(loaded_artifact)
        .map_err(|e| LoadError::plain(format!("{origin}: {e}")))
}

fn loaded_artifact(art: sentrie_artifact::Artifact) -> Loaded {
    Loaded {
        program: Arc::new(art.program),
        hash: art.hash,
        compiled: true,
        sources: SourceMap::new(),
        manifest: art.manifest,
        diagnostics: Vec::new(),
        warnings: Vec::new(),
        notes: Vec::new(),
    }
}

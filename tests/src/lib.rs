//! Shared helpers for the workspace tests: compile sources in memory, render diagnostics
//! deterministically, evaluate a target and describe the decisions as JSON.

use bumpalo::Bump;
use sentrie_compiler::{compile_text, LoadError, Loaded};
use sentrie_grammar::{render_all, ErrorFormat};
use sentrie_vm::{json, target, Limits};

/// Compiles `files`; on failure returns the plain rendering of every diagnostic.
pub fn compile(files: &[(&str, &str)]) -> Result<Loaded, String> {
    compile_text(files).map_err(
        |LoadError {
             diagnostics,
             sources,
         }| render_all(&diagnostics, &sources, ErrorFormat::Plain),
    )
}

/// The human (miette) rendering of a failed compilation, for snapshots.
pub fn render_human(files: &[(&str, &str)]) -> String {
    match compile_text(files) {
        Ok(_) => "<compiled without errors>".to_string(),
        Err(LoadError {
            diagnostics,
            sources,
        }) => render_all(&diagnostics, &sources, ErrorFormat::Human),
    }
}

/// Evaluates `target` with `facts` (a JSON object text) and returns one JSON object per
/// decision: `{rule, state, value, attachments}` or `{rule, error}`.
pub fn eval(
    loaded: &Loaded,
    target_text: &str,
    facts: &str,
) -> Result<Vec<serde_json::Value>, String> {
    let p = &loaded.program;
    let t = target::resolve(p, target_text)?;
    let bump = Bump::new();
    let facts = json::decode(facts.as_bytes(), &bump)?;
    let outcomes = sentrie_vm::evaluate(p, t.policy, &t.rules, facts, &bump, Limits::default());
    Ok(outcomes
        .iter()
        .map(|o| {
            let info = &p.rules()[o.rule];
            match &o.result {
                Ok(d) => {
                    let atts: serde_json::Map<String, serde_json::Value> = info
                        .attachments
                        .iter()
                        .zip(d.attachments.iter())
                        .map(|((n, _), v)| (n.clone(), json::to_json(*v)))
                        .collect();
                    serde_json::json!({"rule": info.name, "state": d.state.as_str(), "value": json::to_json(d.value), "attachments": atts})
                }
                Err(e) => serde_json::json!({"rule": info.name, "error": e.message()}),
            }
        })
        .collect())
}

/// Compiles one file `t.sentrie` with `opts` (indexes or inline lets turned off, to compare);
/// panics with the diagnostics when it does not compile.
pub fn compile_one(src: &str, opts: sentrie_compiler::LoadOptions) -> Loaded {
    sentrie_compiler::compile_text_with(&[("t.sentrie", src)], opts)
        .unwrap_or_else(|e| panic!("does not compile: {:?}\n{src}", e.diagnostics))
}

/// [`compile_one`] with small lets and rules lowered where they are read (`no_inline`
/// false) or each in its own frame (true), to compare the two.
pub fn compile_inlined(src: &str, no_inline: bool) -> Loaded {
    compile_one(
        src,
        sentrie_compiler::LoadOptions {
            no_inline,
            ..sentrie_compiler::LoadOptions::default()
        },
    )
}

/// One line per outcome: `rule: STATE value`, or `rule: error message (location)`.
pub fn outcome_lines(loaded: &Loaded, outcomes: &sentrie_vm::Outcomes<'_>) -> Vec<String> {
    outcomes
        .iter()
        .map(|o| {
            let name = &loaded.program.rules()[o.rule].name;
            match &o.result {
                Ok(d) => format!("{name}: {} {}", d.state.as_str(), json::to_json(d.value)),
                Err(e) => format!("{name}: error {e}"),
            }
        })
        .collect()
}

/// Every exported decision of `t/p` (as [`outcome_lines`], each followed by ` +` and the JSON
/// of every attachment) and the explanation of each. Panics when the explaining evaluation
/// answered differently from the plain one.
pub fn decide_explained(loaded: &Loaded, facts: &str) -> (Vec<String>, Vec<serde_json::Value>) {
    let p = &loaded.program;
    let t = target::resolve(p, "t/p").unwrap_or_else(|e| panic!("no t/p: {e}"));
    let bump = Bump::new();
    let facts = json::decode(facts.as_bytes(), &bump).unwrap_or_else(|e| panic!("bad facts: {e}"));
    let lines = |outcomes: &sentrie_vm::Outcomes<'_>| -> Vec<String> {
        let mut lines = outcome_lines(loaded, outcomes);
        for (line, o) in lines.iter_mut().zip(outcomes.iter()) {
            if let Ok(d) = &o.result {
                for a in d.attachments {
                    line.push_str(&format!(" +{}", json::to_json(*a)));
                }
            }
        }
        lines
    };
    let plain = sentrie_vm::evaluate(p, t.policy, &t.rules, facts, &bump, Limits::default());
    let (explained, traces) =
        sentrie_vm::evaluate_explained(p, t.policy, &t.rules, facts, &bump, Limits::default());
    assert_eq!(
        lines(&plain),
        lines(&explained),
        "explaining changed an answer"
    );
    (lines(&plain), traces)
}

/// Evaluates a one-policy program whose single exported rule is `r` and returns
/// `(state, value)` or the error message.
pub fn eval_rule(src: &str, facts: &str) -> Result<(String, serde_json::Value), String> {
    let loaded = compile(&[("t.sentrie", src)])?;
    let out = eval(&loaded, "t/p/r", facts)?;
    let d = out.into_iter().next().ok_or("no decision")?;
    match d.get("error") {
        Some(e) => Err(e.as_str().unwrap_or_default().to_string()),
        None => Ok((
            d["state"].as_str().unwrap_or_default().to_string(),
            d["value"].clone(),
        )),
    }
}

/// Writes a one-module pack (`sentrie.pack.toml`, `mod.ts`, `p.sentrie`) into a fresh
/// directory under the system temp directory named after `name` and this process.
pub fn write_module_pack(name: &str, ts: &str, policy: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("sentrie-modules-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let written = std::fs::create_dir_all(&dir)
        .and_then(|()| {
            std::fs::write(
                dir.join("sentrie.pack.toml"),
                "[schema]\nversion = 1\n\n[pack]\nname = \"m\"\nversion = \"1.0.0\"\n",
            )
        })
        .and_then(|()| std::fs::write(dir.join("mod.ts"), ts))
        .and_then(|()| std::fs::write(dir.join("p.sentrie"), policy));
    if let Err(e) = written {
        panic!("cannot write the test pack {}: {e}", dir.display());
    }
    dir
}

/// Loads the pack at `dir` from source; panics with the diagnostics when it does not load.
pub fn load_dir(dir: &std::path::Path) -> Loaded {
    match sentrie_compiler::load_pack(dir) {
        Ok(l) => l,
        Err(e) => panic!("{} does not load: {:?}", dir.display(), e.diagnostics),
    }
}

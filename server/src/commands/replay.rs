//! `sentrie replay LOG [--pack-location PACK] [--output table|json]`: evaluates every logged
//! decision that carries its full facts again and reports what is equal, what differs (with a
//! per-rule diff of state, value and attachments) and what was skipped and why.
//!
//! The log is streamed in chunks of lines (a log of any size runs in bounded memory); each
//! chunk is evaluated on every core and reported in line order, so the report is the same on
//! every run. Without `--pack-location` each line is replayed against the pack it names (its
//! `location`), which must still have the line's content hash; with it, every line is
//! replayed against that pack (to check what a changed pack would have decided).

use std::collections::HashMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use bumpalo::Bump;
use sentrie_vm::{json, target, Limits, VerifiedProgram};
use serde_json::Value as Json;

use super::{error, out, EXIT_FAIL, EXIT_OK, EXIT_USAGE};
use crate::cli::OutputFormat;
use crate::output;

/// Lines evaluated together (in parallel) before their results are reported.
const CHUNK: usize = 4096;

/// What became of one line.
#[derive(Debug)]
enum Verdict {
    Equal,
    Different(Vec<Diff>),
    Skipped(Skip),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Skip {
    /// Not a decision line (`dropped`, `shadow`).
    NotADecision,
    /// Logged with `--decision-log-facts hash|none`.
    NoFacts,
    /// Some fact values were masked.
    Masked,
    /// The pack at the line's location no longer has the line's hash, or does not load.
    OtherPack,
    /// Not valid JSON, or a decision line without its members.
    Invalid,
}

impl Skip {
    fn label(self) -> &'static str {
        match self {
            Skip::NotADecision => "not decisions",
            Skip::NoFacts => "no facts",
            Skip::Masked => "masked facts",
            Skip::OtherPack => "another pack",
            Skip::Invalid => "invalid",
        }
    }
}

/// One rule whose replay differs from the log.
#[derive(Debug, serde::Serialize)]
struct Diff {
    rule: String,
    field: &'static str,
    logged: Json,
    replayed: Json,
}

/// A loaded pack and its content hash, or why it does not load.
type Loaded = Result<(Arc<VerifiedProgram>, String), String>;

/// Loaded packs by location.
#[derive(Default)]
struct Packs {
    by_location: Mutex<HashMap<String, Loaded>>,
}

impl Packs {
    fn get(&self, location: &str) -> Loaded {
        if let Some(p) = self
            .by_location
            .lock()
            .ok()
            .and_then(|m| m.get(location).cloned())
        {
            return p;
        }
        let loaded = sentrie_compiler::load_pack(Path::new(location))
            .map(|l| (l.program, l.hash))
            .map_err(|e| {
                format!(
                    "{location}: {}",
                    sentrie_grammar::render_all(
                        &e.diagnostics,
                        &e.sources,
                        sentrie_grammar::ErrorFormat::Plain
                    )
                )
            });
        if let Ok(mut m) = self.by_location.lock() {
            m.insert(location.to_string(), loaded.clone());
        }
        loaded
    }
}

/// Where lines are replayed.
enum Against {
    /// The pack each line names.
    Logged(Packs),
    /// One pack for every line.
    Fixed(Arc<VerifiedProgram>),
}

pub fn run(log: &Path, pack: Option<&PathBuf>, format: OutputFormat) -> u8 {
    let file = match std::fs::File::open(log) {
        Ok(f) => f,
        Err(e) => {
            error(&format!("cannot open {}: {e}", log.display()));
            return EXIT_USAGE;
        }
    };
    let against = match pack {
        Some(p) => match super::load(p, sentrie_grammar::ErrorFormat::Human) {
            Some(l) => Against::Fixed(l.program),
            None => return EXIT_USAGE,
        },
        None => Against::Logged(Packs::default()),
    };
    let mut report = Report::new(format);
    let mut lines = std::io::BufReader::new(file).lines();
    let mut number = 0usize;
    loop {
        let mut chunk: Vec<(usize, String)> = Vec::with_capacity(CHUNK);
        for line in lines.by_ref().take(CHUNK) {
            number += 1;
            match line {
                Ok(l) => chunk.push((number, l)),
                // Not UTF-8 (or unreadable): counted, the rest goes on.
                Err(_) => chunk.push((number, String::new())),
            }
        }
        if chunk.is_empty() {
            break;
        }
        let verdicts = replay_chunk(&chunk, &against);
        for ((n, text), v) in chunk.iter().zip(verdicts) {
            report.add(*n, text, v);
        }
    }
    report.finish()
}

/// Replays `chunk` on every core; the verdicts come back in line order.
fn replay_chunk(chunk: &[(usize, String)], against: &Against) -> Vec<Verdict> {
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let per = chunk.len().div_ceil(threads).max(1);
    std::thread::scope(|s| {
        let handles: Vec<_> = chunk
            .chunks(per)
            .map(|part| {
                s.spawn(move || {
                    part.iter()
                        .map(|(_, text)| replay_line(text, against))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| {
                h.join()
                    .unwrap_or_else(|_| vec![Verdict::Skipped(Skip::Invalid)])
            })
            .collect()
    })
}

fn replay_line(text: &str, against: &Against) -> Verdict {
    let Ok(line) = serde_json::from_str::<Json>(text) else {
        return Verdict::Skipped(Skip::Invalid);
    };
    if line["type"] != "decision" {
        return Verdict::Skipped(if line.is_object() && line.get("type").is_some() {
            Skip::NotADecision
        } else {
            Skip::Invalid
        });
    }
    if line.get("masked").is_some() {
        return Verdict::Skipped(Skip::Masked);
    }
    let Some(facts) = line.get("facts") else {
        return Verdict::Skipped(Skip::NoFacts);
    };
    let (Some(target_text), Some(logged)) = (line["target"].as_str(), line.get("decisions")) else {
        return Verdict::Skipped(Skip::Invalid);
    };
    let program = match against {
        Against::Fixed(p) => Arc::clone(p),
        Against::Logged(packs) => {
            let (Some(location), Some(hash)) = (
                line["pack"]["location"].as_str(),
                line["pack"]["hash"].as_str(),
            ) else {
                return Verdict::Skipped(Skip::Invalid);
            };
            match packs.get(location) {
                Ok((p, h)) if h == hash => p,
                _ => return Verdict::Skipped(Skip::OtherPack),
            }
        }
    };
    let Some(replayed) = evaluate(&program, target_text, facts) else {
        return Verdict::Skipped(Skip::Invalid);
    };
    let mut diffs = compare(logged, &replayed["decisions"]);
    let (was, now) = (&line["error"], &replayed["error"]);
    if was != now {
        diffs.push(Diff {
            rule: target_text.to_string(),
            field: "error",
            logged: was.clone(),
            replayed: now.clone(),
        });
    }
    if diffs.is_empty() {
        Verdict::Equal
    } else {
        Verdict::Different(diffs)
    }
}

/// The response members (`decisions`, `error`) the server would write for these facts.
fn evaluate(program: &VerifiedProgram, target_text: &str, facts: &Json) -> Option<Json> {
    let t = target::resolve(program, target_text).ok()?;
    let bump = Bump::new();
    let facts = json::decode(facts.to_string().as_bytes(), &bump).ok()?;
    let outcomes =
        sentrie_vm::evaluate(program, t.policy, &t.rules, facts, &bump, Limits::default());
    let mut body = String::new();
    output::write_response(&mut body, program, &outcomes);
    serde_json::from_str(&body).ok()
}

/// Differences, rule by rule, in state, value and attachments.
fn compare(logged: &Json, replayed: &Json) -> Vec<Diff> {
    let empty = Vec::new();
    let (l, r) = (
        logged.as_array().unwrap_or(&empty),
        replayed.as_array().unwrap_or(&empty),
    );
    let name = |d: &Json| {
        format!(
            "{}/{}/{}",
            d["namespace"].as_str().unwrap_or(""),
            d["policy"].as_str().unwrap_or(""),
            d["rule"].as_str().unwrap_or("")
        )
    };
    let mut diffs = Vec::new();
    for i in 0..l.len().max(r.len()) {
        let (a, b) = (
            l.get(i).unwrap_or(&Json::Null),
            r.get(i).unwrap_or(&Json::Null),
        );
        let rule = if a.is_null() { name(b) } else { name(a) };
        for (field, x, y) in [
            ("state", &a["decision"]["state"], &b["decision"]["state"]),
            ("value", &a["decision"]["value"], &b["decision"]["value"]),
            ("attachments", &a["attachments"], &b["attachments"]),
        ] {
            if x != y {
                diffs.push(Diff {
                    rule: rule.clone(),
                    field,
                    logged: x.clone(),
                    replayed: y.clone(),
                });
            }
        }
    }
    diffs
}

/// Counts, and the differences as they are found.
struct Report {
    format: OutputFormat,
    equal: u64,
    different: u64,
    skipped: std::collections::BTreeMap<Skip, u64>,
    first_json: bool,
}

impl Report {
    fn new(format: OutputFormat) -> Report {
        if format == OutputFormat::Json {
            out("{\"differences\":[");
        }
        Report {
            format,
            equal: 0,
            different: 0,
            skipped: std::collections::BTreeMap::new(),
            first_json: true,
        }
    }

    fn add(&mut self, line: usize, text: &str, v: Verdict) {
        match v {
            Verdict::Equal => self.equal += 1,
            Verdict::Skipped(s) => *self.skipped.entry(s).or_default() += 1,
            Verdict::Different(diffs) => {
                self.different += 1;
                let logged: Json = serde_json::from_str(text).unwrap_or(Json::Null);
                let id = logged["decision_id"].as_str().unwrap_or("");
                let target = logged["target"].as_str().unwrap_or("");
                match self.format {
                    OutputFormat::Json => {
                        let item = serde_json::json!({
                            "line": line, "decision_id": id, "target": target, "diffs": diffs,
                        });
                        let sep = if self.first_json { "" } else { "," };
                        self.first_json = false;
                        out(&format!("{sep}\n{item}"));
                    }
                    OutputFormat::Table => {
                        let mut text = format!("line {line}: decision {id} ({target}) differs\n");
                        for d in diffs {
                            text.push_str(&format!(
                                "  {} {}: logged {}, replayed {}\n",
                                d.rule, d.field, d.logged, d.replayed
                            ));
                        }
                        out(&text);
                    }
                }
            }
        }
    }

    fn finish(self) -> u8 {
        let skipped: u64 = self.skipped.values().sum();
        match self.format {
            OutputFormat::Json => {
                let reasons: serde_json::Map<String, Json> = self
                    .skipped
                    .iter()
                    .map(|(k, v)| (k.label().replace(' ', "_"), Json::from(*v)))
                    .collect();
                out(&format!(
                    "\n],\"equal\":{},\"different\":{},\"skipped\":{},\"skipped_by_reason\":{}}}\n",
                    self.equal,
                    self.different,
                    skipped,
                    Json::Object(reasons)
                ));
            }
            OutputFormat::Table => {
                let reasons: Vec<String> = self
                    .skipped
                    .iter()
                    .map(|(k, v)| format!("{v} {}", k.label()))
                    .collect();
                let why = if reasons.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", reasons.join(", "))
                };
                out(&format!(
                    "{} equal, {} different, {skipped} skipped{why}\n",
                    self.equal, self.different
                ));
            }
        }
        if self.different == 0 {
            EXIT_OK
        } else {
            EXIT_FAIL
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compare_reports_each_field_that_differs() {
        let logged = serde_json::json!([
            {"namespace": "t", "policy": "p", "rule": "a", "decision": {"state": "TRUE", "value": 1}, "attachments": {}},
            {"namespace": "t", "policy": "p", "rule": "b", "decision": {"state": "TRUE", "value": true}, "attachments": {"x": 1}}
        ]);
        let mut replayed = logged.clone();
        replayed[1]["decision"] = serde_json::json!({"state": "FALSE", "value": false});
        assert!(compare(&logged, &logged).is_empty());
        let d = compare(&logged, &replayed);
        assert_eq!(d.len(), 2);
        assert_eq!(d[0].rule, "t/p/b");
        assert_eq!((d[0].field, d[1].field), ("state", "value"));
    }

    #[test]
    fn lines_that_cannot_be_replayed_are_skipped_with_a_reason() {
        let against = Against::Logged(Packs::default());
        let skip = |text: &str| match replay_line(text, &against) {
            Verdict::Skipped(s) => Some(s),
            _ => None,
        };
        assert_eq!(skip("not json"), Some(Skip::Invalid));
        assert_eq!(skip("[1]"), Some(Skip::Invalid));
        assert_eq!(
            skip(r#"{"type":"dropped","count":3}"#),
            Some(Skip::NotADecision)
        );
        assert_eq!(
            skip(r#"{"type":"decision","facts_sha256":"ab"}"#),
            Some(Skip::NoFacts)
        );
        assert_eq!(
            skip(r#"{"type":"decision","facts":{},"masked":["/a"]}"#),
            Some(Skip::Masked)
        );
        assert_eq!(
            skip(
                r#"{"type":"decision","facts":{},"target":"t/p","decisions":[],"pack":{"location":"/nonexistent/pack","hash":"x"}}"#
            ),
            Some(Skip::OtherPack)
        );
    }
}

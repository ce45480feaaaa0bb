//! Reports of `sentrie test`: the human summary (failures with what differed, then
//! `N passed, M failed`), JSON, JUnit XML for CI systems, and the coverage report.

use sentrie_vm::coverage::Coverage;
use sentrie_vm::VerifiedProgram;
use serde_json::{json, Value as Json};

use super::test::{CaseResult, Format};

/// Coverage by policy file: what was reached and what was not.
pub struct CoverageReport {
    pub files: Vec<FileCoverage>,
}

pub struct FileCoverage {
    pub file: String,
    pub total: usize,
    pub covered: usize,
    /// `(what, name, file:line:col)` of each item no case reached.
    pub missed: Vec<(&'static str, String, String)>,
}

fn percent(covered: usize, total: usize) -> f64 {
    if total == 0 {
        100.0
    } else {
        (covered as f64 * 1000.0 / total as f64).round() / 10.0
    }
}

pub fn coverage(p: &VerifiedProgram, cov: &Coverage) -> CoverageReport {
    let files = &p.program().files;
    let mut by_file: Vec<FileCoverage> = Vec::new();
    for item in cov.items(p) {
        let file = files
            .get(item.loc.file as usize)
            .cloned()
            .unwrap_or_else(|| "<unknown>".into());
        if by_file.last().is_none_or(|f| f.file != file) {
            by_file.push(FileCoverage {
                file: file.clone(),
                total: 0,
                covered: 0,
                missed: Vec::new(),
            });
        }
        let Some(entry) = by_file.last_mut() else {
            continue;
        };
        entry.total += 1;
        if item.covered {
            entry.covered += 1;
        } else {
            let at = format!("{file}:{}:{}", item.loc.line, item.loc.col);
            entry.missed.push((item.what, item.name, at));
        }
    }
    CoverageReport { files: by_file }
}

pub fn render(format: Format, results: &[CaseResult], cov: Option<&CoverageReport>) -> String {
    match format {
        Format::Human => human(results, cov),
        Format::Json => format!("{}\n", as_json(results, cov)),
        Format::Junit => junit(results),
    }
}

fn counts(results: &[CaseResult]) -> (usize, usize) {
    let failed = results.iter().filter(|r| !r.failures.is_empty()).count();
    (results.len() - failed, failed)
}

fn human(results: &[CaseResult], cov: Option<&CoverageReport>) -> String {
    let mut out = String::new();
    for r in results.iter().filter(|r| !r.failures.is_empty()) {
        out.push_str(&format!("FAIL {} ({})\n", r.name, r.file));
        for f in &r.failures {
            out.push_str(&format!("  {f}\n"));
        }
    }
    if let Some(c) = cov {
        let (covered, total) = c
            .files
            .iter()
            .fold((0, 0), |(a, b), f| (a + f.covered, b + f.total));
        out.push_str(&format!(
            "coverage: {covered}/{total} ({}%)\n",
            percent(covered, total)
        ));
        for f in &c.files {
            out.push_str(&format!(
                "  {}: {}/{} ({}%)\n",
                f.file,
                f.covered,
                f.total,
                percent(f.covered, f.total)
            ));
            for (what, name, at) in &f.missed {
                out.push_str(&format!("    not reached: {what} of {name} at {at}\n"));
            }
        }
    }
    let (passed, failed) = counts(results);
    out.push_str(&format!("{passed} passed, {failed} failed\n"));
    out
}

fn as_json(results: &[CaseResult], cov: Option<&CoverageReport>) -> Json {
    let (passed, failed) = counts(results);
    let cases: Vec<Json> = results
        .iter()
        .map(|r| {
            json!({"file": r.file, "name": r.name, "passed": r.failures.is_empty(), "failures": r.failures})
        })
        .collect();
    let mut report = json!({"cases": cases, "passed": passed, "failed": failed});
    if let (Some(c), Some(m)) = (cov, report.as_object_mut()) {
        let files: Vec<Json> = c
            .files
            .iter()
            .map(|f| {
                let missed: Vec<Json> = f
                    .missed
                    .iter()
                    .map(|(what, name, at)| json!({"what": what, "name": name, "location": at}))
                    .collect();
                json!({"file": f.file, "total": f.total, "covered": f.covered,
                       "percent": percent(f.covered, f.total), "missed": missed})
            })
            .collect();
        m.insert("coverage".into(), json!({ "files": files }));
    }
    report
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// One `<testsuite>` per test file, one `<testcase>` per case.
fn junit(results: &[CaseResult]) -> String {
    let (_, failed) = counts(results);
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"sentrie\" tests=\"{}\" failures=\"{failed}\">\n",
        results.len()
    );
    let mut files: Vec<&str> = results.iter().map(|r| r.file.as_str()).collect();
    files.dedup();
    for file in files {
        let cases: Vec<&CaseResult> = results.iter().filter(|r| r.file == file).collect();
        let failures = cases.iter().filter(|r| !r.failures.is_empty()).count();
        out.push_str(&format!(
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\">\n",
            xml_escape(file),
            cases.len()
        ));
        for r in cases {
            let name = xml_escape(&r.name);
            let class = xml_escape(file);
            if r.failures.is_empty() {
                out.push_str(&format!(
                    "    <testcase name=\"{name}\" classname=\"{class}\"/>\n"
                ));
            } else {
                let text = xml_escape(&r.failures.join("\n"));
                let first = xml_escape(&r.failures[0]);
                out.push_str(&format!(
                    "    <testcase name=\"{name}\" classname=\"{class}\">\n      <failure message=\"{first}\">{text}</failure>\n    </testcase>\n"
                ));
            }
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn results() -> Vec<CaseResult> {
        vec![
            CaseResult {
                file: "a.test.json".into(),
                name: "ok".into(),
                failures: vec![],
            },
            CaseResult {
                file: "a.test.json".into(),
                name: "bad <one>".into(),
                failures: vec!["rule r: state expected \"TRUE\", got \"FALSE\"".into()],
            },
        ]
    }

    #[test]
    fn human_lists_failures_and_ends_with_the_counts() {
        let text = render(Format::Human, &results(), None);
        assert!(text.starts_with("FAIL bad <one> (a.test.json)\n  rule r: state"));
        assert!(text.ends_with("1 passed, 1 failed\n"));
    }

    #[test]
    fn junit_is_escaped_xml_with_one_suite_per_file() {
        let xml = render(Format::Junit, &results(), None);
        assert!(xml.contains("<testsuite name=\"a.test.json\" tests=\"2\" failures=\"1\">"));
        assert!(xml.contains("<testcase name=\"bad &lt;one&gt;\""));
        assert!(xml.contains("expected &quot;TRUE&quot;"));
    }
}

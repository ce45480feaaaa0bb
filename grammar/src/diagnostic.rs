//! Diagnostics: the data (`Diagnostic`, collected by every pass) and its rendering
//! (human via miette, one-line plain text, or JSON objects with file, line and column).

use miette::{GraphicalReportHandler, GraphicalTheme, LabeledSpan, MietteDiagnostic, NamedSource};

use crate::span::{SourceMap, Span};

/// One problem found while loading a pack. Messages are lowercase, without a final period.
#[derive(Clone, Debug, PartialEq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub message: String,
    /// Where in a source file; `None` for problems of a whole file or of the pack.
    pub span: Option<Span>,
    /// The file concerned when there is no span (for example the manifest).
    pub path: Option<String>,
    pub label: Option<String>,
    pub help: Option<String>,
    /// Other places that explain this one (the first of two declarations), with a note.
    pub related: Vec<(Span, String)>,
}

impl Diagnostic {
    pub fn error(message: impl Into<String>, span: Span) -> Diagnostic {
        Diagnostic {
            severity: Severity::Error,
            message: message.into(),
            span: Some(span),
            path: None,
            label: None,
            help: None,
            related: Vec::new(),
        }
    }

    /// A diagnostic about a whole file (no position inside it).
    pub fn file(message: impl Into<String>, path: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Error,
            message: message.into(),
            span: None,
            path: Some(path.into()),
            label: None,
            help: None,
            related: Vec::new(),
        }
    }

    /// The same diagnostic as a warning (reported, never failing the load).
    pub fn warning(mut self) -> Diagnostic {
        self.severity = Severity::Warning;
        self
    }

    /// `Error` or `Warning`, the prefix of rendered diagnostics.
    pub fn prefix(&self) -> &'static str {
        match self.severity {
            Severity::Error => "Error",
            Severity::Warning => "Warning",
        }
    }

    pub fn with_label(mut self, label: impl Into<String>) -> Diagnostic {
        self.label = Some(label.into());
        self
    }

    /// Adds another place to show, with a note (`first declared here`).
    pub fn with_related(mut self, span: Span, note: impl Into<String>) -> Diagnostic {
        self.related.push((span, note.into()));
        self
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Diagnostic {
        self.help = Some(help.into());
        self
    }

    /// `(file, line, column)`; line and column are 0 when the diagnostic has no span.
    pub fn position(&self, sources: &SourceMap) -> (String, u32, u32) {
        if let Some(span) = self.span {
            if let Some(f) = sources.get(span.file) {
                let (line, col) = f.line_col(span.start);
                return (f.path.clone(), line, col);
            }
        }
        (self.path.clone().unwrap_or_default(), 0, 0)
    }

    /// `file:line:col: message` (or `file: message` without a span).
    pub fn render_plain(&self, sources: &SourceMap) -> String {
        let (file, line, col) = self.position(sources);
        let mut out = if line > 0 {
            format!("{file}:{line}:{col}: {}", self.message)
        } else if file.is_empty() {
            self.message.clone()
        } else {
            format!("{file}: {}", self.message)
        };
        for (span, note) in &self.related {
            out.push_str(&format!(" ({note}: {})", sources.location(*span)));
        }
        if let Some(help) = &self.help {
            out.push_str(&format!(" (help: {help})"));
        }
        out
    }

    /// A miette report: the location line, the source snippet with an underline, and help.
    pub fn render_human(&self, sources: &SourceMap) -> String {
        let (file, line, col) = self.position(sources);
        let header = if line > 0 {
            format!("{file}:{line}:{col}")
        } else {
            file
        };
        let mut diag =
            MietteDiagnostic::new(self.message.clone()).with_severity(match self.severity {
                Severity::Error => miette::Severity::Error,
                Severity::Warning => miette::Severity::Warning,
            });
        if let Some(help) = &self.help {
            diag = diag.with_help(help.clone());
        }
        let mut out = String::new();
        let handler =
            GraphicalReportHandler::new_themed(GraphicalTheme::unicode_nocolor()).with_width(100);
        let located = self.span.and_then(|s| sources.get(s.file).map(|f| (s, f)));
        if located.is_some_and(|(span, f)| too_wide(&f.text, span.start as usize)) {
            // The snippet renderer cannot draw very wide lines: say where, without a snippet.
            return self.render_plain(sources);
        }
        let rendered = match located {
            Some((span, f)) => {
                let len = (span.end.saturating_sub(span.start)) as usize;
                let mut labels = vec![LabeledSpan::new(
                    self.label.clone(),
                    span.start as usize,
                    len,
                )];
                for (other, note) in &self.related {
                    if other.file == span.file {
                        let len = other.end.saturating_sub(other.start) as usize;
                        labels.push(LabeledSpan::new(
                            Some(note.clone()),
                            other.start as usize,
                            len,
                        ));
                    }
                }
                let diag = diag.with_labels(labels);
                let report = miette::Report::new(diag)
                    .with_source_code(NamedSource::new(f.path.clone(), f.text.to_string()));
                handler.render_report(&mut out, report.as_ref())
            }
            None => {
                let report = miette::Report::new(diag);
                handler.render_report(&mut out, report.as_ref())
            }
        };
        if rendered.is_err() {
            return self.render_plain(sources);
        }
        if header.is_empty() {
            return out;
        }
        // The header line carries the message; miette's own first line (`× message`, which may
        // wrap over several `│` lines) would say it a second time.
        let snippet: String = out
            .lines()
            .skip_while(|l| {
                let t = l.trim_start();
                t.starts_with('×') || t.starts_with('⚠') || t.starts_with('│')
            })
            .map(|l| format!("{l}\n"))
            .collect();
        format!("{header}: {}\n{snippet}", self.message)
    }

    pub fn to_json(&self, sources: &SourceMap) -> serde_json::Value {
        let (file, line, column) = self.position(sources);
        let mut obj = serde_json::json!({
            "file": file,
            "line": line,
            "column": column,
            "message": self.message,
            "severity": match self.severity {
                Severity::Error => "error",
                Severity::Warning => "warning",
            },
        });
        if let (Some(help), Some(map)) = (&self.help, obj.as_object_mut()) {
            map.insert("help".into(), serde_json::Value::String(help.clone()));
        }
        if let (false, Some(map)) = (self.related.is_empty(), obj.as_object_mut()) {
            let related: Vec<serde_json::Value> = self
                .related
                .iter()
                .map(|(span, note)| {
                    let (file, line, column) = Diagnostic::error("", *span).position(sources);
                    serde_json::json!({"file": file, "line": line, "column": column, "message": note})
                })
                .collect();
            map.insert("related".into(), serde_json::Value::Array(related));
        }
        obj
    }
}

/// How serious a diagnostic is: errors stop a load (or a policy), warnings are reported only
/// (`--strict` turns them into errors).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Severity {
    #[default]
    Error,
    Warning,
}

/// How the CLI prints diagnostics.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ErrorFormat {
    #[default]
    Human,
    Plain,
    Json,
}

/// Renders a list of diagnostics in the chosen format (JSON: one array).
pub fn render_all(diags: &[Diagnostic], sources: &SourceMap, format: ErrorFormat) -> String {
    // By file and position; diagnostics without a position keep their order among them.
    let mut sorted: Vec<&Diagnostic> = diags.iter().collect();
    sorted.sort_by_cached_key(|d| d.position(sources));
    let diags = sorted;
    match format {
        ErrorFormat::Json => {
            let arr: Vec<serde_json::Value> = diags.iter().map(|d| d.to_json(sources)).collect();
            serde_json::to_string_pretty(&arr).unwrap_or_else(|_| "[]".to_string())
        }
        ErrorFormat::Plain => diags
            .iter()
            .map(|d| format!("{}: {}", d.prefix(), d.render_plain(sources)))
            .collect::<Vec<_>>()
            .join("\n"),
        ErrorFormat::Human => diags
            .iter()
            .map(|d| format!("{}: {}", d.prefix(), d.render_human(sources)))
            .collect::<Vec<_>>()
            .join("\n"),
    }
}

/// Longest source line the human renderer draws; wider lines fall back to the plain form.
const MAX_SNIPPET_LINE: usize = 1000;

/// True when the line holding `offset` is wider than [`MAX_SNIPPET_LINE`] bytes.
fn too_wide(text: &str, offset: usize) -> bool {
    let bytes = text.as_bytes();
    let offset = offset.min(bytes.len());
    let start = bytes[..offset]
        .iter()
        .rposition(|b| *b == b'\n')
        .map_or(0, |i| i + 1);
    let end = bytes[offset..]
        .iter()
        .position(|b| *b == b'\n')
        .map_or(bytes.len(), |i| offset + i);
    end - start > MAX_SNIPPET_LINE
}

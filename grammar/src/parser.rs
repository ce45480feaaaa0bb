//! The one entry point to parsing: [`parse_file`]. No other crate names a lalrpop type.
//!
//! Parsing never fails outright: it returns whatever tree it could build plus every
//! diagnostic (lexical errors, syntax errors recovered at statement level, depth limits).

use lalrpop_util::{ErrorRecovery, ParseError};

use crate::ast::{BinOp, Expr, ExprKind, File, MapKey};
use crate::diagnostic::Diagnostic;
use crate::hints;
use crate::lexer::{tokenize, LexError, LexErrorKind, Tok};
use crate::span::{FileId, Span};

lalrpop_util::lalrpop_mod!(
    #[allow(
        clippy::all,
        clippy::pedantic,
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::redundant_clone,
        unused,
        unused_qualifications,
        rust_2018_idioms
    )]
    sentrie
);

/// Maximum height of an expression tree. Deeper expressions are replaced by an error node,
/// so that later passes can recurse over the tree without risking the stack.
pub const MAX_EXPR_DEPTH: u32 = 1024;

/// State threaded through the grammar actions.
pub struct ParseCtx {
    file: FileId,
    diagnostics: Vec<Found>,
    depth_reported: bool,
}

impl ParseCtx {
    pub(crate) fn span(&self, l: usize, r: usize) -> Span {
        Span::new(self.file, l, r)
    }

    pub(crate) fn mk(&mut self, kind: ExprKind, l: usize, r: usize) -> Expr {
        let depth = child_depth(&kind).saturating_add(1);
        let span = self.span(l, r);
        if depth > MAX_EXPR_DEPTH {
            if !self.depth_reported {
                self.depth_reported = true;
                self.diagnostics.push(Found::other(
                    Diagnostic::error(
                        format!("parse error: expression nested too deeply (more than {MAX_EXPR_DEPTH} levels)"),
                        span,
                    )
                    .with_help("split the expression into `let` bindings"),
                ));
            }
            return Expr {
                kind: ExprKind::Error,
                span,
                depth: 1,
            };
        }
        Expr { kind, span, depth }
    }

    pub(crate) fn bin(&mut self, op: BinOp, a: Expr, b: Expr, l: usize, r: usize) -> Expr {
        self.mk(ExprKind::Binary(op, Box::new(a), Box::new(b)), l, r)
    }

    pub(crate) fn recovered(&mut self, err: ErrorRecovery<usize, Tok, LexError>) {
        let found = self.convert(err.error);
        self.diagnostics.push(found);
    }

    fn convert(&self, err: ParseError<usize, Tok, LexError>) -> Found {
        match err {
            ParseError::InvalidToken { location } => Found::other(Diagnostic::error(
                "parse error: invalid token",
                self.span(location, location + 1),
            )),
            ParseError::UnrecognizedEof { location, expected } => Found {
                hint: Hint::Eof,
                ..Found::syntax(Diagnostic::error(
                    format!(
                        "parse error: unexpected end of file{}",
                        expected_list(&expected)
                    ),
                    self.span(location, location),
                ))
            },
            ParseError::UnrecognizedToken {
                token: (l, tok, r),
                expected,
            } => Found {
                hint: Hint::Token(expected.clone()),
                ..Found::syntax(Diagnostic::error(
                    format!(
                        "parse error: unexpected {}{}",
                        tok.describe(),
                        expected_list(&expected)
                    ),
                    self.span(l, r),
                ))
            },
            ParseError::ExtraToken { token: (l, tok, r) } => Found::syntax(Diagnostic::error(
                format!("parse error: unexpected {}", tok.describe()),
                self.span(l, r),
            )),
            ParseError::User { error } => Found::lex(&error, self),
        }
    }
}

fn expected_list(expected: &[String]) -> String {
    if expected.is_empty() {
        return String::new();
    }
    let shown: Vec<String> = expected
        .iter()
        .take(8)
        .map(|e| match e.as_str() {
            "IDENT" => "identifier".to_string(),
            "NUM" => "number".to_string(),
            "STR" => "string".to_string(),
            other => format!("`{}`", other.trim_matches('"')),
        })
        .collect();
    let more = if expected.len() > 8 { ", ..." } else { "" };
    format!(", expected one of {}{more}", shown.join(", "))
}

fn child_depth(kind: &ExprKind) -> u32 {
    let d = |e: &Expr| e.depth;
    match kind {
        ExprKind::Number(_)
        | ExprKind::String(_)
        | ExprKind::Bool(_)
        | ExprKind::Unknown
        | ExprKind::Null
        | ExprKind::Ident(_)
        | ExprKind::Error => 0,
        ExprKind::List(items) => items.iter().map(d).max().unwrap_or(0),
        ExprKind::Map(entries) => entries
            .iter()
            .map(|(k, v)| match k {
                MapKey::Expr(k) => k.depth.max(v.depth),
                MapKey::Name(_) => v.depth,
            })
            .max()
            .unwrap_or(0),
        ExprKind::Block(b) => b
            .lets
            .iter()
            .map(|l| l.value.depth)
            .max()
            .unwrap_or(0)
            .max(b.yield_expr.depth),
        ExprKind::Field(e, _) => e.depth,
        ExprKind::Index(a, b) | ExprKind::Binary(_, a, b) => a.depth.max(b.depth),
        ExprKind::Call { callee, args, .. } => {
            args.iter().map(d).max().unwrap_or(0).max(callee.depth)
        }
        ExprKind::Unary(_, e) | ExprKind::Count(e) | ExprKind::Cast(e, _) => e.depth,
        ExprKind::IsDefined { expr, .. } | ExprKind::IsEmpty { expr, .. } => expr.depth,
        ExprKind::Cond { cond, then, other } => cond
            .depth
            .max(other.depth)
            .max(then.as_ref().map_or(0, |t| t.depth)),
        ExprKind::Quant(q) => q.coll.depth.max(q.body.depth),
        ExprKind::Distinct(d) => d.coll.depth.max(d.body.depth),
        ExprKind::Reduce(r) => r.coll.depth.max(r.init.depth).max(r.body.depth),
    }
}

/// A problem found while parsing, and whether it is an unexpected token or character (the
/// kind that cascades after error recovery).
struct Found {
    diag: Diagnostic,
    syntax: bool,
    hint: Hint,
}

/// What a hint needs to know about a diagnostic (see `hints.rs`).
enum Hint {
    None,
    Char(char),
    Token(Vec<String>),
    Eof,
}

impl Found {
    fn syntax(diag: Diagnostic) -> Found {
        Found {
            diag,
            syntax: true,
            hint: Hint::None,
        }
    }

    fn other(diag: Diagnostic) -> Found {
        Found {
            diag,
            syntax: false,
            hint: Hint::None,
        }
    }

    fn lex(e: &LexError, ctx: &ParseCtx) -> Found {
        let hint = match e.kind {
            LexErrorKind::UnexpectedChar(c) => Hint::Char(c),
            _ => Hint::None,
        };
        Found {
            diag: Diagnostic::error(e.message(), ctx.span(e.start, e.end)),
            syntax: matches!(e.kind, LexErrorKind::UnexpectedChar(_)),
            hint,
        }
    }
}

/// Adds the newcomer hints of `hints.rs` to what parsing found.
fn add_hints(found: &mut [Found], src: &str) {
    if found.iter().all(|f| matches!(f.hint, Hint::None)) {
        return;
    }
    let (toks, _) = tokenize(src);
    for f in found.iter_mut() {
        let at = f.diag.span.map_or(0, |s| s.start as usize);
        let help = match &f.hint {
            Hint::None => None,
            Hint::Char(c) => hints::for_char(src, at, *c),
            Hint::Token(expected) => toks
                .binary_search_by_key(&at, |t| t.0)
                .ok()
                .and_then(|i| hints::for_token(src, &toks, i, expected)),
            Hint::Eof => hints::unclosed(&toks).map(|(start, _, c)| {
                format!(
                    "the `{c}` opened at {} is never closed",
                    hints::line_col(src, start)
                )
            }),
        };
        hints::add(&mut f.diag, help);
    }
}

/// Keeps the first syntax error of each policy: after error recovery the parser often
/// resynchronises in the wrong place and reports follow-on errors that only confuse.
fn drop_cascades(found: Vec<Found>, policy_starts: &[u32]) -> Vec<Diagnostic> {
    let mut out: Vec<Diagnostic> = Vec::with_capacity(found.len());
    let mut last_syntax: Option<u32> = None;
    for Found {
        diag: d, syntax, ..
    } in found
    {
        let at = d.span.map_or(0, |s| s.start);
        if syntax {
            if let Some(prev) = last_syntax {
                let new_policy_between = policy_starts.iter().any(|p| *p > prev && *p <= at);
                if !new_policy_between {
                    continue;
                }
            }
            last_syntax = Some(at);
        }
        out.push(d);
    }
    out
}

/// Parses one source file. The tree is `None` only when no tree could be built at all.
pub fn parse_file(file: FileId, src: &str) -> (Option<File>, Vec<Diagnostic>) {
    let (tokens, lex_errors) = tokenize(src);
    let policy_starts: Vec<u32> = tokens
        .iter()
        .filter(|(_, t, _)| *t == Tok::Policy)
        .map(|(s, _, _)| *s as u32)
        .collect();
    let mut ctx = ParseCtx {
        file,
        diagnostics: Vec::new(),
        depth_reported: false,
    };
    for e in &lex_errors {
        let found = Found::lex(e, &ctx);
        ctx.diagnostics.push(found);
    }
    let stream = tokens.into_iter().map(Ok::<_, LexError>);
    let parser = sentrie::FileParser::new();
    let result = parser.parse(&mut ctx, stream);
    let tree = match result {
        Ok(tree) => Some(tree),
        Err(err) => {
            // Lexical errors already explain most failures; avoid a second, confusing message
            // at the same place.
            let diag = ctx.convert(err);
            if lex_errors.is_empty() {
                ctx.diagnostics.push(diag);
            }
            None
        }
    };
    let mut diagnostics = ctx.diagnostics;
    // An unterminated literal or a nesting overflow swallows the rest of the file: syntax
    // errors after it are noise.
    let fatal = lex_errors.iter().any(|e| {
        matches!(
            e.kind,
            LexErrorKind::UnterminatedString | LexErrorKind::TooDeep
        )
    });
    if fatal {
        diagnostics.truncate(lex_errors.len());
    }
    add_hints(&mut diagnostics, src);
    (tree, drop_cascades(diagnostics, &policy_starts))
}

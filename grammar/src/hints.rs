//! Help for the syntax mistakes newcomers make: operators and keywords from other languages
//! (`&&`, `||`, `!`, `=`, `if`, single quotes), a block without `yield`, a brace never closed,
//! and misspelt keywords. Hints only add a `help` (and sometimes a label) to a diagnostic the
//! parser already made; they never change what is an error.

use crate::diagnostic::Diagnostic;
use crate::lexer::{Spanned, Tok};

/// The closest of `candidates` to `word` when it is a likely misspelling: at most a third of
/// its letters differ (at least one edit; swapping two neighbours counts as one). Names
/// shorter than three letters get no suggestion: any other short name would be "close".
pub fn closest<'c>(word: &str, candidates: impl IntoIterator<Item = &'c str>) -> Option<&'c str> {
    if word.chars().count() < 3 {
        return None;
    }
    let limit = (word.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .filter(|c| *c != word)
        .map(|c| (strsim::osa_distance(word, c), c))
        .filter(|(d, _)| *d <= limit)
        .min()
        .map(|(_, c)| c)
}

/// Keywords `expected` names (as the parser lists them: `"\"policy\""`).
fn expected_keywords(expected: &[String]) -> Vec<&str> {
    expected
        .iter()
        .map(|e| e.trim_matches('"'))
        .filter(|e| e.chars().all(|c| c.is_ascii_lowercase()) && !e.is_empty())
        .collect()
}

/// Help for an unexpected token at `tok` (index into `toks`), given what the parser expected.
pub(crate) fn for_token(
    src: &str,
    toks: &[Spanned],
    at: usize,
    expected: &[String],
) -> Option<String> {
    let tok = &toks.get(at)?.1;
    let prev = at.checked_sub(1).and_then(|i| toks.get(i)).map(|t| &t.1);
    let keywords = expected_keywords(expected);
    if let Some(Tok::Ident(word)) = prev {
        if word == "if" {
            return Some(IF_HELP.into());
        }
    }
    if let Tok::Ident(word) = tok {
        if matches!(word.as_str(), "if" | "then" | "else" | "elif") {
            return Some(IF_HELP.into());
        }
        if let Some(k) = closest(word, keywords.iter().copied()) {
            return Some(format!("did you mean `{k}`?"));
        }
    }
    match tok {
        Tok::Assign => Some(
            "to compare, write `==`; `=` only appears in `let NAME = ...` and `rule NAME = ...`"
                .into(),
        ),
        Tok::Bang => Some("Sentrie writes `not` for negation".into()),
        _ if keywords.contains(&"yield") => Some(YIELD_HELP.into()),
        _ if expected.iter().any(|e| e == "\"}\"") => {
            let (start, _, c) = unclosed(&toks[..at])?;
            (c == '{').then(|| {
                format!(
                    "is a `}}` missing? the `{{` opened at {} is not closed before this",
                    line_col(src, start)
                )
            })
        }
        _ => None,
    }
}

const YIELD_HELP: &str =
    "a block `{ ... }` ends with `yield EXPR`, the value it gives (lets may come before it)";

/// `line L, column C` of a byte offset.
pub(crate) fn line_col(src: &str, at: usize) -> String {
    let at = at.min(src.len());
    let line = src[..at].matches('\n').count() + 1;
    let col = src[..at].rfind('\n').map_or(at, |n| at - n - 1) + 1;
    format!("line {line}, column {col}")
}

const IF_HELP: &str =
    "Sentrie has no `if`: write `condition ? value : other`, or a rule with `when`";

/// Help for a character the lexer refused (`&`, `|`, `'`).
pub(crate) fn for_char(src: &str, at: usize, c: char) -> Option<String> {
    let next = src.get(at + c.len_utf8()..).and_then(|s| s.chars().next());
    match (c, next) {
        ('&', _) => Some("Sentrie writes `and` for logical and (`&&` is not an operator)".into()),
        ('|', _) => Some("Sentrie writes `or` for logical or (`||` is not an operator)".into()),
        ('\'', _) => Some("strings use double quotes: \"...\"".into()),
        ('=', Some('=')) | ('!', Some('=')) => None,
        _ => None,
    }
}

/// For an end of file inside braces: where the innermost unclosed `{`, `(` or `[` was opened.
pub(crate) fn unclosed(toks: &[Spanned]) -> Option<(usize, usize, char)> {
    let mut open: Vec<(usize, usize, char)> = Vec::new();
    for (s, t, e) in toks {
        match t {
            Tok::LBrace => open.push((*s, *e, '{')),
            Tok::LParen => open.push((*s, *e, '(')),
            Tok::LBracket => open.push((*s, *e, '[')),
            Tok::RBrace | Tok::RParen | Tok::RBracket => {
                open.pop();
            }
            _ => {}
        }
    }
    open.pop()
}

/// Adds `help` to `d` unless it already has one.
pub(crate) fn add(d: &mut Diagnostic, help: Option<String>) {
    if d.help.is_none() {
        d.help = help;
    }
}

//! The lexer: logos for the regular tokens, hand-written scanners for strings and heredocs,
//! then a small pass that merges contextual pairs (`not in`, `is not`, prefix `count`).
//!
//! Comments (`--` and `//`) and white space are dropped here, so the grammar never sees them.

use logos::Logos;

/// Maximum nesting of `(`, `[` and `{`; deeper input is rejected instead of recursing.
pub const MAX_BRACKET_DEPTH: usize = 256;

#[derive(Clone, Debug, PartialEq)]
pub enum LexErrorKind {
    UnexpectedChar(char),
    InvalidIdentifier,
    UnterminatedString,
    BadEscape(String),
    BadHeredoc,
    TooDeep,
    Transform,
}

#[derive(Clone, Debug, PartialEq)]
pub struct LexError {
    pub kind: LexErrorKind,
    pub start: usize,
    pub end: usize,
}

impl LexError {
    pub fn message(&self) -> String {
        match &self.kind {
            LexErrorKind::UnexpectedChar(c) => format!("parse error: unexpected character `{c}`"),
            LexErrorKind::InvalidIdentifier => "parse error: invalid identifier".to_string(),
            LexErrorKind::UnterminatedString => "unterminated string literal".to_string(),
            LexErrorKind::BadEscape(e) => format!("parse error: invalid escape `{e}`"),
            LexErrorKind::BadHeredoc => {
                "parse error: heredoc `<<<` must be followed by a tag and the end of the line"
                    .to_string()
            }
            LexErrorKind::TooDeep => {
                format!("parse error: nesting too deep (more than {MAX_BRACKET_DEPTH} levels of brackets)")
            }
            LexErrorKind::Transform => "transform is not supported".to_string(),
        }
    }
}

#[derive(Default, Clone, Debug, PartialEq)]
pub enum RawError {
    #[default]
    Other,
    Unterminated,
    Escape(String),
    Heredoc,
}

/// Tokens as the grammar sees them.
#[derive(Logos, Clone, Debug, PartialEq)]
#[logos(error = RawError)]
#[logos(skip r"[ \t\r\n\f\u{0B}\u{85}\u{A0}\u{1680}\u{2000}-\u{200A}\u{2028}\u{2029}\u{202F}\u{205F}\u{3000}\u{FEFF}]+")]
#[logos(skip r"--[^\n]*")]
#[logos(skip r"//[^\n]*")]
pub enum Tok {
    #[token("namespace")]
    Namespace,
    #[token("policy")]
    Policy,
    #[token("shape")]
    Shape,
    #[token("export")]
    Export,
    #[token("decision")]
    Decision,
    #[token("of")]
    Of,
    #[token("attach")]
    Attach,
    #[token("use")]
    Use,
    #[token("from")]
    From,
    #[token("as")]
    As,
    #[token("with")]
    With,
    #[token("import")]
    Import,
    #[token("rule")]
    Rule,
    #[token("fact")]
    Fact,
    #[token("let")]
    Let,
    #[token("when")]
    When,
    #[token("default")]
    Default,
    #[token("yield")]
    Yield,
    #[token("and")]
    And,
    #[token("or")]
    Or,
    #[token("xor")]
    Xor,
    #[token("not")]
    Not,
    #[token("in")]
    In,
    #[token("is")]
    Is,
    #[token("matches")]
    Matches,
    #[token("contains")]
    Contains,
    #[token("defined")]
    Defined,
    #[token("empty")]
    Empty,
    #[token("any")]
    Any,
    #[token("all")]
    All,
    #[token("filter")]
    Filter,
    #[token("first")]
    First,
    #[token("map")]
    Map,
    #[token("distinct")]
    Distinct,
    #[token("reduce")]
    Reduce,
    #[token("cast")]
    Cast,
    #[token("transform")]
    Transform,
    #[token("true")]
    True,
    #[token("false")]
    False,
    #[token("unknown")]
    Unknown,
    #[token("null")]
    Null,
    #[token("string")]
    StringTy,
    #[token("number")]
    NumberTy,
    #[token("boolean")]
    BooleanTy,
    #[token("trinary")]
    TrinaryTy,
    #[token("list")]
    ListTy,
    #[token("record")]
    RecordTy,
    #[token("document")]
    DocumentTy,

    /// Produced by the post-pass: `not in`.
    NotIn,
    /// `not contains`.
    NotContains,
    /// `not matches`.
    NotMatches,
    /// `is not`.
    IsNot,
    /// `count` in prefix-operator position.
    Count,
    /// The memoization suffix `!` or `!N` right after a call's `)`.
    Memo(Option<f64>),
    /// A `/` inside the qualified type name of a cast (`cast e as a/b/T`), where it separates
    /// name segments instead of dividing.
    TypeSlash,

    #[regex(r"[A-Za-z_][A-Za-z0-9_]*", |lex| lex.slice().to_string())]
    Ident(String),
    #[regex(r"[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?", |lex| lex.slice().parse::<f64>().unwrap_or(f64::NAN))]
    Number(f64),
    #[token("\"", lex_string)]
    #[token("<<<", lex_heredoc)]
    Str(String),

    #[token("+")]
    Plus,
    #[token("-")]
    Minus,
    #[token("*")]
    Star,
    #[token("/")]
    Slash,
    #[token("%")]
    Percent,
    #[token("==")]
    EqEq,
    #[token("!=")]
    NotEq,
    #[token("<")]
    Lt,
    #[token("<=")]
    Le,
    #[token(">")]
    Gt,
    #[token(">=")]
    Ge,
    #[token("!")]
    Bang,
    #[token("?")]
    Question,
    #[token(":")]
    Colon,
    #[token("=")]
    Assign,
    #[token(".")]
    Dot,
    #[token(",")]
    Comma,
    #[token(";")]
    Semi,
    #[token("(")]
    LParen,
    #[token(")")]
    RParen,
    #[token("[")]
    LBracket,
    #[token("]")]
    RBracket,
    #[token("{")]
    LBrace,
    #[token("}")]
    RBrace,
    #[token("@")]
    At,
}

impl Tok {
    /// The keyword text if this token is a reserved word (usable as a field name).
    pub fn keyword_text(&self) -> Option<&'static str> {
        Some(match self {
            Tok::Namespace => "namespace",
            Tok::Policy => "policy",
            Tok::Shape => "shape",
            Tok::Export => "export",
            Tok::Decision => "decision",
            Tok::Of => "of",
            Tok::Attach => "attach",
            Tok::Use => "use",
            Tok::From => "from",
            Tok::As => "as",
            Tok::With => "with",
            Tok::Import => "import",
            Tok::Rule => "rule",
            Tok::Fact => "fact",
            Tok::Let => "let",
            Tok::When => "when",
            Tok::Default => "default",
            Tok::Yield => "yield",
            Tok::And => "and",
            Tok::Or => "or",
            Tok::Xor => "xor",
            Tok::Not => "not",
            Tok::In => "in",
            Tok::Is => "is",
            Tok::Matches => "matches",
            Tok::Contains => "contains",
            Tok::Defined => "defined",
            Tok::Empty => "empty",
            Tok::Any => "any",
            Tok::All => "all",
            Tok::Filter => "filter",
            Tok::First => "first",
            Tok::Map => "map",
            Tok::Distinct => "distinct",
            Tok::Reduce => "reduce",
            Tok::Cast => "cast",
            Tok::Transform => "transform",
            Tok::True => "true",
            Tok::False => "false",
            Tok::Unknown => "unknown",
            Tok::Null => "null",
            Tok::StringTy => "string",
            Tok::NumberTy => "number",
            Tok::BooleanTy => "boolean",
            Tok::TrinaryTy => "trinary",
            Tok::ListTy => "list",
            Tok::RecordTy => "record",
            Tok::DocumentTy => "document",
            _ => return None,
        })
    }

    /// A short human description used in "expected ..." parse errors.
    pub fn describe(&self) -> String {
        match self {
            Tok::Ident(s) => format!("identifier `{s}`"),
            Tok::Number(n) => format!("number `{n}`"),
            Tok::Str(_) => "string literal".to_string(),
            Tok::NotIn => "`not in`".to_string(),
            Tok::NotContains => "`not contains`".to_string(),
            Tok::NotMatches => "`not matches`".to_string(),
            Tok::IsNot => "`is not`".to_string(),
            Tok::Count => "`count`".to_string(),
            Tok::Memo(_) => "`!`".to_string(),
            other => match other.keyword_text() {
                Some(k) => format!("`{k}`"),
                None => format!("`{}`", punct_text(other)),
            },
        }
    }
}

fn punct_text(t: &Tok) -> &'static str {
    match t {
        Tok::Plus => "+",
        Tok::Minus => "-",
        Tok::Star => "*",
        Tok::Slash | Tok::TypeSlash => "/",
        Tok::Percent => "%",
        Tok::EqEq => "==",
        Tok::NotEq => "!=",
        Tok::Lt => "<",
        Tok::Le => "<=",
        Tok::Gt => ">",
        Tok::Ge => ">=",
        Tok::Bang => "!",
        Tok::Question => "?",
        Tok::Colon => ":",
        Tok::Assign => "=",
        Tok::Dot => ".",
        Tok::Comma => ",",
        Tok::Semi => ";",
        Tok::LParen => "(",
        Tok::RParen => ")",
        Tok::LBracket => "[",
        Tok::RBracket => "]",
        Tok::LBrace => "{",
        Tok::RBrace => "}",
        Tok::At => "@",
        _ => "?",
    }
}

/// Scans the rest of a `"` string literal; the opening quote is already consumed.
fn lex_string(lex: &mut logos::Lexer<'_, Tok>) -> Result<String, RawError> {
    let rest = lex.remainder();
    let mut out = String::new();
    let mut chars = rest.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => {
                lex.bump(i + 1);
                return Ok(out);
            }
            '\\' => {
                let Some((_, e)) = chars.next() else { break };
                match e {
                    'n' => out.push('\n'),
                    't' => out.push('\t'),
                    'r' => out.push('\r'),
                    'b' => out.push('\u{8}'),
                    'f' => out.push('\u{c}'),
                    'u' => {
                        let hi = read_hex4(&mut chars).ok_or_else(|| bad_escape(lex, i, rest))?;
                        if (0xD800..0xDC00).contains(&hi) {
                            let mut look = chars.clone();
                            let pair = match (look.next(), look.next()) {
                                (Some((_, '\\')), Some((_, 'u'))) => read_hex4(&mut look),
                                _ => None,
                            };
                            match pair {
                                Some(lo) if (0xDC00..0xE000).contains(&lo) => {
                                    chars = look;
                                    let code = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
                                    out.push(char::from_u32(code).unwrap_or('\u{FFFD}'));
                                }
                                _ => return Err(bad_escape(lex, i, rest)),
                            }
                        } else {
                            match char::from_u32(hi) {
                                Some(ch) => out.push(ch),
                                None => return Err(bad_escape(lex, i, rest)),
                            }
                        }
                    }
                    other => out.push(other),
                }
            }
            other => out.push(other),
        }
    }
    lex.bump(rest.len());
    Err(RawError::Unterminated)
}

fn bad_escape(lex: &mut logos::Lexer<'_, Tok>, at: usize, rest: &str) -> RawError {
    let text: String = rest[at..].chars().take(6).collect();
    // Skip to the end of the literal so lexing can go on after the error.
    let close = rest[at + 1..]
        .find('"')
        .map(|p| at + 2 + p)
        .unwrap_or(rest.len());
    lex.bump(close);
    RawError::Escape(text)
}

fn read_hex4(chars: &mut std::str::CharIndices<'_>) -> Option<u32> {
    let mut v = 0u32;
    for _ in 0..4 {
        let (_, c) = chars.next()?;
        v = v * 16 + c.to_digit(16)?;
    }
    Some(v)
}

/// Scans a heredoc after `<<<`: the tag, the rest of its line, then content lines up to the tag.
fn lex_heredoc(lex: &mut logos::Lexer<'_, Tok>) -> Result<String, RawError> {
    let rest = lex.remainder();
    let tag_len = rest
        .char_indices()
        .take_while(|(i, c)| c.is_ascii_alphabetic() || *c == '_' || (*i > 0 && c.is_ascii_digit()))
        .count();
    if tag_len == 0 {
        return Err(RawError::Heredoc);
    }
    let tag = &rest[..tag_len];
    let after_tag = &rest[tag_len..];
    let Some(nl) = after_tag.find('\n') else {
        lex.bump(rest.len());
        return Err(RawError::Unterminated);
    };
    if !after_tag[..nl]
        .chars()
        .all(|c| c == ' ' || c == '\t' || c == '\r')
    {
        return Err(RawError::Heredoc);
    }
    let mut pos = tag_len + nl + 1;
    let mut out = String::new();
    loop {
        if pos > rest.len() || (pos == rest.len() && !rest.ends_with('\n')) {
            lex.bump(rest.len());
            return Err(RawError::Unterminated);
        }
        let line_end = rest[pos..].find('\n').map(|p| pos + p);
        let raw = &rest[pos..line_end.unwrap_or(rest.len())];
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        if line == tag {
            lex.bump(pos + raw.len());
            return Ok(out);
        }
        match line_end {
            Some(end) => {
                out.push_str(line);
                out.push('\n');
                pos = end + 1;
            }
            None => {
                lex.bump(rest.len());
                return Err(RawError::Unterminated);
            }
        }
    }
}

pub type Spanned = (usize, Tok, usize);

/// Lexes a whole file. Errors are collected; lexing continues after each one.
pub fn tokenize(src: &str) -> (Vec<Spanned>, Vec<LexError>) {
    let mut toks = Vec::new();
    let mut errors = Vec::new();
    let mut lex = Tok::lexer(src);
    let mut depth = 0usize;
    while let Some(res) = lex.next() {
        let span = lex.span();
        match res {
            Ok(tok) => {
                match tok {
                    Tok::LParen | Tok::LBracket | Tok::LBrace => {
                        depth += 1;
                        if depth > MAX_BRACKET_DEPTH {
                            errors.push(LexError {
                                kind: LexErrorKind::TooDeep,
                                start: span.start,
                                end: span.end,
                            });
                            return (toks, errors);
                        }
                    }
                    Tok::RParen | Tok::RBracket | Tok::RBrace => depth = depth.saturating_sub(1),
                    Tok::Transform => {
                        errors.push(LexError {
                            kind: LexErrorKind::Transform,
                            start: span.start,
                            end: span.end,
                        });
                    }
                    _ => {}
                }
                toks.push((span.start, tok, span.end));
            }
            Err(raw) => {
                let kind = match raw {
                    RawError::Unterminated => LexErrorKind::UnterminatedString,
                    RawError::Escape(e) => LexErrorKind::BadEscape(e),
                    RawError::Heredoc => LexErrorKind::BadHeredoc,
                    RawError::Other => {
                        let c = src[span.start..].chars().next().unwrap_or('?');
                        if c.is_alphabetic() {
                            LexErrorKind::InvalidIdentifier
                        } else {
                            LexErrorKind::UnexpectedChar(c)
                        }
                    }
                };
                errors.push(LexError {
                    kind,
                    start: span.start,
                    end: span.end.max(span.start + 1),
                });
            }
        }
    }
    (mark_cast_paths(merge_contextual(toks)), errors)
}

/// Marks the `/` of a qualified type name after `cast ... as` (LANGUAGE.md §2: a type name is
/// an FQN, and the cast's inner expression ends at the first `as` on its bracket level). The
/// `as` of each cast, quantifier, `distinct` and `reduce` is paired with its keyword by a
/// stack of (bracket depth, is cast); a `/` continues the type name only when an identifier or
/// a keyword that cannot start an operand follows it, so `cast x as number / 2` still divides.
fn mark_cast_paths(mut toks: Vec<Spanned>) -> Vec<Spanned> {
    let mut pending: Vec<(usize, bool)> = Vec::new();
    let mut depth = 0usize;
    let mut i = 0;
    while i < toks.len() {
        let prev_is_dot = i > 0 && toks[i - 1].1 == Tok::Dot;
        match &toks[i].1 {
            Tok::LParen | Tok::LBracket | Tok::LBrace => depth += 1,
            Tok::RParen | Tok::RBracket | Tok::RBrace => {
                depth = depth.saturating_sub(1);
                while pending.last().is_some_and(|(d, _)| *d > depth) {
                    pending.pop();
                }
            }
            Tok::Cast if !prev_is_dot => pending.push((depth, true)),
            t if is_collection_keyword(t) && !prev_is_dot => pending.push((depth, false)),
            Tok::As if pending.last().is_some_and(|(d, _)| *d == depth) => {
                let is_cast = pending.pop().is_some_and(|(_, c)| c);
                if is_cast && matches!(toks.get(i + 1), Some((_, Tok::Ident(_), _))) {
                    let mut j = i + 2;
                    while toks.get(j).is_some_and(|t| t.1 == Tok::Slash)
                        && toks.get(j + 1).is_some_and(|t| continues_type_name(&t.1))
                    {
                        toks[j].1 = Tok::TypeSlash;
                        j += 2;
                    }
                    i = j;
                    continue;
                }
            }
            _ => {}
        }
        i += 1;
    }
    toks
}

/// Can this token be a segment of a qualified type name after `/`? Identifiers and keywords,
/// except those that start an operand (a division by them is the likelier reading).
fn continues_type_name(t: &Tok) -> bool {
    match t {
        Tok::Ident(_) => true,
        Tok::Not | Tok::Transform => false,
        other => !is_operand_keyword(other) && other.keyword_text().is_some(),
    }
}

/// Keywords that begin an operand: literals and the prefix forms.
fn is_operand_keyword(t: &Tok) -> bool {
    matches!(
        t,
        Tok::True | Tok::False | Tok::Unknown | Tok::Null | Tok::Cast
    ) || is_collection_keyword(t)
}

/// The collection forms, each paired with a later `as`.
fn is_collection_keyword(t: &Tok) -> bool {
    matches!(
        t,
        Tok::Any | Tok::All | Tok::Filter | Tok::First | Tok::Map | Tok::Distinct | Tok::Reduce
    )
}

/// Merges `not in`/`not contains`/`not matches`/`is not` into single tokens and marks `count`
/// used as a prefix operator (LANGUAGE.md §2 rule 6).
fn merge_contextual(toks: Vec<Spanned>) -> Vec<Spanned> {
    let mut out: Vec<Spanned> = Vec::with_capacity(toks.len());
    let mut iter = toks.into_iter().peekable();
    while let Some((s, tok, e)) = iter.next() {
        let next = iter.peek().map(|(_, t, _)| t);
        let merged = match (&tok, next) {
            (Tok::Not, Some(Tok::In)) => Some(Tok::NotIn),
            (Tok::Not, Some(Tok::Contains)) => Some(Tok::NotContains),
            (Tok::Not, Some(Tok::Matches)) => Some(Tok::NotMatches),
            (Tok::Is, Some(Tok::Not)) => Some(Tok::IsNot),
            _ => None,
        };
        if let Some(m) = merged {
            let (_, _, e2) = iter.next().unwrap_or((s, Tok::Semi, e));
            out.push((s, m, e2));
            continue;
        }
        if tok == Tok::Bang && matches!(out.last(), Some((_, Tok::RParen, _))) {
            if let Some((ns, Tok::Number(n), ne)) = iter.peek().cloned() {
                if ns == e {
                    iter.next();
                    out.push((s, Tok::Memo(Some(n)), ne));
                    continue;
                }
            }
            out.push((s, Tok::Memo(None), e));
            continue;
        }
        if let Tok::Ident(name) = &tok {
            if name == "count" && starts_count_operand(next) && !after_member(out.last()) {
                out.push((s, Tok::Count, e));
                continue;
            }
        }
        out.push((s, tok, e));
    }
    out
}

fn starts_count_operand(next: Option<&Tok>) -> bool {
    matches!(
        next,
        Some(Tok::Ident(_) | Tok::Number(_) | Tok::Str(_) | Tok::LBracket)
    ) || next.is_some_and(is_operand_keyword)
}

/// `count` right after `.`, `let`, `rule`, `fact` etc. is a name, never the operator.
fn after_member(prev: Option<&Spanned>) -> bool {
    matches!(
        prev.map(|(_, t, _)| t),
        Some(Tok::Dot | Tok::Let | Tok::Rule | Tok::Fact | Tok::Of | Tok::Attach)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The slashes of `src` as `t` (type-name separator) or `d` (division), in order.
    fn slashes(src: &str) -> String {
        let (toks, errors) = tokenize(src);
        assert!(errors.is_empty(), "{src}: {errors:?}");
        toks.iter()
            .filter_map(|(_, t, _)| match t {
                Tok::TypeSlash => Some('t'),
                Tok::Slash => Some('d'),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn cast_type_names_take_their_slashes() {
        assert_eq!(slashes("cast u as a/b/User"), "tt");
        assert_eq!(slashes("cast u as acme/policy/User"), "tt");
        assert_eq!(slashes("cast n as number / 2"), "d");
        assert_eq!(slashes("cast n as T / 2"), "d");
        assert_eq!(slashes("cast n as T / not x"), "d");
        assert_eq!(slashes("(cast n as number) / t"), "d");
        assert_eq!(slashes("cast (a / b) as x/T"), "dt");
        assert_eq!(slashes("cast (cast u as a/T) as b/U"), "tt");
        assert_eq!(slashes("cast [u] as list[a/T]"), "d");
        assert_eq!(slashes("any xs as x (x / y)"), "d");
        assert_eq!(slashes("cast any xs as x (x) as a/T"), "t");
        assert_eq!(slashes("attach half as n / t"), "d");
        assert_eq!(slashes("with u as a / b"), "d");
        assert_eq!(slashes("x.cast as a / b"), "d");
    }
}

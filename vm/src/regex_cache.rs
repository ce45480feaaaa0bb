//! Regular expressions: built with size limits (the `regex` crate runs in linear time, so a
//! hostile pattern cannot hang a decision), and cached per thread for dynamic patterns. A
//! [`Pattern`] is a regex with, when it pays, the set of bytes every match contains
//! ([`crate::regex_needed`]): a subject without any of them is answered without a search.

use std::cell::RefCell;

use regex::Regex;
use rustc_hash::FxHashMap;

/// Compiled-program size limit for one pattern.
const SIZE_LIMIT: usize = 1 << 20;
const CACHE_CAP: usize = 512;

/// The nesting limit of every pattern.
const NEST_LIMIT: u32 = 100;

/// A compiled regex and, when checking it first pays, the bytes every match contains.
#[derive(Clone, Debug)]
pub struct Pattern {
    re: Regex,
    needed: Option<Box<crate::regex_needed::Scanner>>,
}

impl Pattern {
    /// Is there a match in `text`? The same answer as the regex's own `is_match`.
    pub fn is_match(&self, text: &str) -> bool {
        if let Some(set) = &self.needed {
            if !set.any_in(text.as_bytes()) {
                return false;
            }
        }
        self.re.is_match(text)
    }

    pub fn regex(&self) -> &Regex {
        &self.re
    }
}

/// [`build`] with the byte prefilter worked out.
pub fn build_pattern(pattern: &str) -> Result<Pattern, String> {
    let re = build(pattern)?;
    Ok(Pattern {
        re,
        needed: crate::regex_needed::prefilter(pattern, NEST_LIMIT).map(Box::new),
    })
}

pub fn build(pattern: &str) -> Result<Regex, String> {
    regex::RegexBuilder::new(pattern)
        .size_limit(SIZE_LIMIT)
        .dfa_size_limit(SIZE_LIMIT)
        .nest_limit(NEST_LIMIT)
        .build()
        .map_err(|e| {
            format!(
                "invalid regular expression `{pattern}`: {}",
                first_line(&e.to_string())
            )
        })
}

/// Compiled-program size limit for a set of patterns (a constant list matched in one pass).
const SET_SIZE_LIMIT: usize = 16 << 20;

/// The patterns as one set, with the limits of [`build`] (the set as a whole bounded by
/// [`SET_SIZE_LIMIT`]); `None` when any pattern, or the set, does not build.
pub fn build_set(patterns: &[&str]) -> Option<regex::RegexSet> {
    if patterns.iter().any(|p| build(p).is_err()) {
        return None;
    }
    regex::RegexSetBuilder::new(patterns)
        .size_limit(SET_SIZE_LIMIT)
        .dfa_size_limit(SET_SIZE_LIMIT)
        .nest_limit(NEST_LIMIT)
        .build()
        .ok()
}

/// One pattern matching wherever any of `patterns` matches (their alternation, built from
/// each pattern's syntax tree, so a pattern's flags and comments stay its own), with the
/// byte prefilter of the whole; bounded like a set. `None` when a pattern or the whole does
/// not build.
pub fn build_any(patterns: &[&str]) -> Option<Pattern> {
    let mut branches = Vec::with_capacity(patterns.len());
    for p in patterns {
        build(p).ok()?;
        let hir = regex_syntax::ParserBuilder::new()
            .nest_limit(NEST_LIMIT)
            .build()
            .parse(p)
            .ok()?;
        branches.push(hir);
    }
    let text = regex_syntax::hir::Hir::alternation(branches).to_string();
    let re = regex::RegexBuilder::new(&text)
        .size_limit(SET_SIZE_LIMIT)
        .dfa_size_limit(SET_SIZE_LIMIT)
        .build()
        .ok()?;
    Some(Pattern {
        re,
        needed: crate::regex_needed::prefilter(&text, NEST_LIMIT + 1).map(Box::new),
    })
}

fn first_line(s: &str) -> String {
    s.lines().last().unwrap_or(s).trim().to_string()
}

thread_local! {
    static CACHE: RefCell<FxHashMap<String, Pattern>> = RefCell::new(FxHashMap::default());
}

/// Runs `f` with the compiled `pattern`; patterns are compiled once per thread.
pub fn with_regex<T>(pattern: &str, f: impl FnOnce(&Regex) -> T) -> Result<T, String> {
    with_pattern(pattern, |p| f(p.regex()))
}

/// [`with_regex`] with the [`Pattern`].
fn with_pattern<T>(pattern: &str, f: impl FnOnce(&Pattern) -> T) -> Result<T, String> {
    CACHE.with(|cache| {
        let mut cache = cache.borrow_mut();
        if let Some(re) = cache.get(pattern) {
            return Ok(f(re));
        }
        let re = build_pattern(pattern)?;
        let res = f(&re);
        if cache.len() >= CACHE_CAP {
            cache.clear();
        }
        cache.insert(pattern.to_string(), re);
        Ok(res)
    })
}

/// Is there a match of `pattern` in `text`?
pub fn is_match(pattern: &str, text: &str) -> Result<bool, String> {
    with_pattern(pattern, |re| re.is_match(text))
}

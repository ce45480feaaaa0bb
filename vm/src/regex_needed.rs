//! The bytes a match cannot do without: for a pattern, a set of bytes such that every match
//! contains at least one of them. A subject with none of those bytes cannot match, which a
//! scan of the subject tells far faster than a search when the pattern starts with a class
//! (`\d{3}-...`) and the regex engine has no literal to look for.
//!
//! Worked out on the pattern's HIR (regex-syntax, parsed as the `regex` crate parses it):
//! a literal needs its first byte; a class needs the first bytes of the UTF-8 encodings of
//! its characters; a concatenation needs what any one of its parts needs (the smallest set is
//! kept); an alternation needs the union of what every branch needs; a repetition needs what
//! its body needs when it repeats at least once. Anything that can match empty text (empty
//! patterns, look-arounds, optional parts) needs nothing, and then there is no set.

use regex_syntax::hir::{Class, Hir, HirKind};

/// A set of byte values.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ByteSet([bool; 256]);

/// A [`ByteSet`] ready for scanning: its ASCII members as at most [`MAX_RANGES`] ranges, tested
/// on thirty-two bytes at once (a block holding a non-ASCII byte is looked up byte by byte).
#[derive(Clone, Debug)]
pub struct Scanner {
    set: ByteSet,
    /// Per range `lo..=hi`: the lane adders `127 - hi` and `128 - lo` (see [`Scanner::hit`]).
    ranges: Option<smallvec::SmallVec<[(u64, u64); MAX_RANGES]>>,
}

const MAX_RANGES: usize = 4;
const ONES: u64 = 0x0101_0101_0101_0101;
const HIGH: u64 = 0x8080_8080_8080_8080;

impl Scanner {
    pub fn new(set: ByteSet) -> Scanner {
        let mut ranges: Vec<(u8, u8)> = Vec::new();
        for b in 0..0x80u8 {
            if set.contains(b) {
                match ranges.last_mut() {
                    Some((_, hi)) if *hi + 1 == b => *hi = b,
                    _ => ranges.push((b, b)),
                }
            }
        }
        let adders = ranges
            .iter()
            .map(|&(lo, hi)| (ONES * u64::from(127 - hi), ONES * u64::from(128 - lo)))
            .collect();
        let ranges = (ranges.len() <= MAX_RANGES).then_some(adders);
        Scanner { set, ranges }
    }

    /// Does any byte of `text` belong to the set?
    pub fn any_in(&self, text: &[u8]) -> bool {
        let Some(ranges) = &self.ranges else {
            return self.set.any_in(text);
        };
        // Thirty-two bytes per step, as four words whose range hits are gathered before one
        // branch; a block with a non-ASCII byte is looked up byte by byte.
        let mut blocks = text.chunks_exact(32);
        for block in &mut blocks {
            let w = [
                word(block, 0),
                word(block, 8),
                word(block, 16),
                word(block, 24),
            ];
            let found = if (w[0] | w[1] | w[2] | w[3]) & HIGH != 0 {
                self.set.any_in(block)
            } else {
                let mut acc = 0;
                for &r in ranges.iter() {
                    for x in w {
                        acc |= Scanner::hit(x, r);
                    }
                }
                acc & HIGH != 0
            };
            if found {
                return true;
            }
        }
        self.set.any_in(blocks.remainder())
    }

    /// Masked with `HIGH`: the high bit of every lane of `w` (all lanes below 0x80) inside the
    /// range whose adders are `(above, from)`: adding `127 - hi` sets a lane's high bit exactly
    /// when it exceeds `hi`, adding `128 - lo` exactly when it reaches `lo`; no sum carries
    /// into the next lane.
    #[inline(always)]
    fn hit(w: u64, (above, from): (u64, u64)) -> u64 {
        (w + from) & !(w + above)
    }
}

/// The eight bytes of `block` from `at`, as a little-endian word (`block` holds them).
#[inline(always)]
fn word(block: &[u8], at: usize) -> u64 {
    block
        .get(at..at + 8)
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .map_or(HIGH, u64::from_le_bytes)
}

impl ByteSet {
    fn empty() -> ByteSet {
        ByteSet([false; 256])
    }

    fn len(&self) -> usize {
        self.0.iter().filter(|b| **b).count()
    }

    fn add_range(&mut self, lo: u8, hi: u8) {
        for b in lo..=hi {
            self.0[usize::from(b)] = true;
        }
    }

    fn union(mut self, other: &ByteSet) -> ByteSet {
        for (a, b) in self.0.iter_mut().zip(other.0.iter()) {
            *a |= *b;
        }
        self
    }

    /// Does the set hold bytes that most text is made of (ASCII letters, whitespace)?
    fn has_common_bytes(&self) -> bool {
        (0..=255u8)
            .any(|b| self.contains(b) && (b.is_ascii_alphabetic() || b.is_ascii_whitespace()))
    }

    pub fn contains(&self, b: u8) -> bool {
        self.0[usize::from(b)]
    }

    /// Does any byte of `text` belong to the set? (One lookup per byte; see [`Scanner`].)
    pub fn any_in(&self, text: &[u8]) -> bool {
        // Sixteen bytes per step without a branch per byte.
        let mut chunks = text.chunks_exact(16);
        for chunk in &mut chunks {
            if chunk.iter().fold(false, |seen, b| seen | self.contains(*b)) {
                return true;
            }
        }
        chunks.remainder().iter().any(|b| self.contains(*b))
    }
}

/// The set for `hir` (see the module comment), or `None` when a match may hold no byte.
pub fn needed(hir: &Hir) -> Option<ByteSet> {
    match hir.kind() {
        HirKind::Empty | HirKind::Look(_) => None,
        HirKind::Literal(lit) => {
            let first = *lit.0.first()?;
            let mut set = ByteSet::empty();
            set.add_range(first, first);
            Some(set)
        }
        HirKind::Class(Class::Bytes(class)) => {
            let mut set = ByteSet::empty();
            for r in class.ranges() {
                set.add_range(r.start(), r.end());
            }
            Some(set)
        }
        HirKind::Class(Class::Unicode(class)) => {
            let mut set = ByteSet::empty();
            for r in class.ranges() {
                add_lead_bytes(&mut set, u32::from(r.start()), u32::from(r.end()));
            }
            Some(set)
        }
        HirKind::Repetition(rep) if rep.min >= 1 => needed(&rep.sub),
        HirKind::Repetition(_) => None,
        HirKind::Capture(cap) => needed(&cap.sub),
        // Of the parts' sets, one without common text bytes first, then the smallest.
        HirKind::Concat(parts) => parts
            .iter()
            .filter_map(needed)
            .min_by_key(|s| (s.has_common_bytes(), s.len())),
        HirKind::Alternation(branches) => {
            let mut sets = branches.iter().map(needed);
            let first = sets.next()??;
            sets.try_fold(first, |acc, s| Some(acc.union(&s?)))
        }
    }
}

/// Adds the first bytes of the UTF-8 encodings of the characters `lo..=hi`. Within one
/// encoded length the first byte grows with the character, so each length adds one range.
fn add_lead_bytes(set: &mut ByteSet, lo: u32, hi: u32) {
    // (first character of the length, last character, lead byte of a character)
    type Length = (u32, u32, fn(u32) -> u8);
    let lengths: [Length; 4] = [
        (0, 0x7f, |c| c as u8),
        (0x80, 0x7ff, |c| 0xc0 | (c >> 6) as u8),
        (0x800, 0xffff, |c| 0xe0 | (c >> 12) as u8),
        (0x1_0000, 0x10_ffff, |c| 0xf0 | (c >> 18) as u8),
    ];
    for (first, last, lead) in lengths {
        let (a, b) = (lo.max(first), hi.min(last));
        if a <= b {
            set.add_range(lead(a), lead(b));
        }
    }
}

/// The set for `pattern` parsed as the `regex` crate parses it, whether or not it pays.
pub fn needed_by(pattern: &str, nest_limit: u32) -> Option<ByteSet> {
    let hir = regex_syntax::ParserBuilder::new()
        .nest_limit(nest_limit)
        .build()
        .parse(pattern)
        .ok()?;
    needed(&hir)
}

/// The set for `pattern` when checking it first pays: parsed as the `regex` crate parses
/// it, and only a set without ASCII letters or whitespace (bytes that most text is made of)
/// and of more than three bytes (one to three bytes the regex engine finds itself with
/// `memchr`). `None` otherwise, or when the pattern does not parse.
pub fn prefilter(pattern: &str, nest_limit: u32) -> Option<Scanner> {
    let set = needed_by(pattern, nest_limit)?;
    (!set.has_common_bytes() && set.len() > 3).then(|| Scanner::new(set))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set_of(pattern: &str) -> Option<ByteSet> {
        needed(&regex_syntax::parse(pattern).ok()?)
    }

    #[test]
    fn what_patterns_need() {
        // The smallest set without letters: the dash.
        assert_eq!(set_of(r"\b\d{3}-\d{2}-\d{4}\b").map(|s| s.len()), Some(1));
        let phone = set_of(r"\+?\d{1,3}[ -]?\(?\d{3}\)?").unwrap();
        assert!((b'0'..=b'9').all(|d| phone.contains(d)));
        // Unicode digits: the first bytes of their encodings (Arabic-Indic, fullwidth).
        assert!(
            phone.contains("\u{661}".as_bytes()[0]) && phone.contains("\u{ff11}".as_bytes()[0])
        );
        assert!(!phone.contains(b'a') && !phone.contains(b'+'));
        assert_eq!(set_of("a|bc").map(|s| s.len()), Some(2));
        for none in ["", "a?", "a*", r"\b", "a|", "(?:)", "^$"] {
            assert_eq!(set_of(none), None, "{none}");
        }
        assert_eq!(set_of("[^\\x00-\\x{10FFFF}]").map(|s| s.len()), Some(0));
    }

    #[test]
    fn the_word_scan_agrees_with_the_byte_scan() {
        let mut state: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..3000 {
            let mut set = ByteSet::empty();
            for _ in 0..(next() % 5) {
                let lo = (next() % 256) as u8;
                let hi = lo.saturating_add((next() % 12) as u8);
                set.add_range(lo, hi);
            }
            let scanner = Scanner::new(set.clone());
            let len = (next() % 40) as usize;
            // Mostly ASCII, now and then a byte above 0x7f.
            let text: Vec<u8> = (0..len)
                .map(|_| match next() % 10 {
                    0 => 0x80 | (next() % 0x80) as u8,
                    _ => (next() % 0x80) as u8,
                })
                .collect();
            let naive = text.iter().any(|b| set.contains(*b));
            assert_eq!(scanner.any_in(&text), naive, "{text:?}");
            assert_eq!(set.any_in(&text), naive, "{text:?}");
        }
    }

    #[test]
    fn only_sets_that_pay_are_kept() {
        assert!(prefilter(r"\b(?:\d[ -]?){13,16}\b", 100).is_some());
        assert!(prefilter("(?i)api[_-]?key", 100).is_none());
        assert!(prefilter("-----BEGIN", 100).is_none());
        assert!(prefilter(r"\s+\d", 100).is_some());
        assert!(prefilter(r"\s+", 100).is_none());
    }
}

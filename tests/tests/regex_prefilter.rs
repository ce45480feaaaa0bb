//! The byte prefilter of patterns (`regex_needed`): every match of a pattern holds a byte of
//! the pattern's set, so text without any of those bytes must never match, and a `Pattern`
//! (prefilter, then search) answers exactly as the regex alone. Patterns are generated from
//! literals, ASCII and Unicode classes (`\d`, `\w`, `\s`, negated and case-insensitive ones),
//! alternations, bounded and unbounded repetitions, groups and look-arounds; subjects mix
//! ASCII, Unicode digits and letters.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers fail loudly on broken fixtures"
)]

use proptest::prelude::*;
use sentrie_vm::{regex_cache, regex_needed};

fn atom() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-c0-2@-]{1,2}",
        Just(r"\d".to_string()),
        Just(r"\w".to_string()),
        Just(r"\s".to_string()),
        Just(r"\D".to_string()),
        Just("[0-9]".to_string()),
        Just("[^a-z]".to_string()),
        Just("(?i:k)".to_string()),
        Just(r"\x{661}".to_string()),
        Just("é".to_string()),
        Just(".".to_string()),
        Just(r"\b".to_string()),
        Just("^".to_string()),
        Just("$".to_string()),
        Just(r"\+".to_string()),
    ]
}

fn pattern() -> impl Strategy<Value = String> {
    atom().prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 1..4).prop_map(|p| p.concat()),
            prop::collection::vec(inner.clone(), 1..3).prop_map(|p| format!("(?:{})", p.join("|"))),
            (
                inner.clone(),
                prop_oneof![
                    Just("?"),
                    Just("*"),
                    Just("+"),
                    Just("{2}"),
                    Just("{0,2}"),
                    Just("{1,3}")
                ]
            )
                .prop_map(|(p, q)| format!("(?:{p}){q}")),
            inner.prop_map(|p| format!("({p})")),
        ]
    })
}

fn subject() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            "[a-z ]{1,6}",
            "[0-9]{1,3}",
            Just("@".to_string()),
            Just("-".to_string()),
            Just("+".to_string()),
            Just("\u{661}\u{662}".to_string()),
            Just("é".to_string()),
            Just("K".to_string()),
            Just("\u{ff11}".to_string()),
        ],
        0..8,
    )
    .prop_map(|p| p.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn text_without_the_needed_bytes_never_matches(p in pattern(), text in subject()) {
        let re = regex_cache::build(&p).unwrap();
        if let Some(set) = regex_needed::needed_by(&p, 100) {
            // The subject with every character that holds a needed byte taken out.
            let without: String = text
                .chars()
                .filter(|c| !c.to_string().bytes().any(|b| set.contains(b)))
                .collect();
            prop_assert!(!set.any_in(without.as_bytes()));
            prop_assert!(!re.is_match(&without), "{p:?} matches {without:?}");
        }
        let pat = regex_cache::build_pattern(&p).unwrap();
        prop_assert_eq!(pat.is_match(&text), re.is_match(&text), "{:?} on {:?}", p, text);
    }
}

#[test]
fn the_prefilter_is_kept_for_digit_led_patterns_only() {
    let digits = regex_needed::needed_by(r"\+?\d{1,3}[ -]?\(?\d{3}\)?[ -]?\d{3}", 100).unwrap();
    assert!((b'0'..=b'9').all(|d| digits.contains(d)));
    assert!(regex_needed::prefilter(r"\+?\d{1,3}", 100).is_some());
    // A long subject with a digit only at the very end still matches through the prefilter.
    let pat = regex_cache::build_pattern(r"\d{3}").unwrap();
    let text = format!("{}123", "word ".repeat(200));
    assert!(pat.is_match(&text));
    assert!(!pat.is_match(&"word ".repeat(200)));
    assert!(regex_needed::prefilter("(?i)password", 100).is_none());
}

/// Bytes of a subject for the scanner test: mostly ASCII text, some digits and punctuation,
/// now and then a non-ASCII byte (a block holding one is looked up byte by byte).
fn scan_byte() -> impl Strategy<Value = u8> {
    prop_oneof![
        8 => b'a'..=b'z',
        2 => Just(b' '),
        1 => b'0'..=b'9',
        1 => prop::sample::select(b"-+()@.%_".to_vec()),
        1 => 0x80u8..=0xff,
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// The word-at-a-time scan tells exactly what a byte-by-byte look at the set tells, for
    /// subjects of every length around the block sizes and needed bytes anywhere in them.
    #[test]
    fn the_scanner_agrees_with_a_byte_by_byte_look(
        p in pattern(),
        text in prop::collection::vec(scan_byte(), 0..140),
    ) {
        if let Some(set) = regex_needed::needed_by(&p, 100) {
            let naive = text.iter().any(|b| set.contains(*b));
            let scanner = regex_needed::Scanner::new(set);
            prop_assert_eq!(scanner.any_in(&text), naive, "{:?} on {:?}", p, text);
        }
    }
}

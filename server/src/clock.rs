//! Wall-clock stamps in UTC, RFC 3339 with milliseconds (`2026-12-04T21:00:00.123Z`), on jiff.

use std::fmt::Write;

use jiff::Timestamp;

/// The current time as RFC 3339 with milliseconds.
pub fn rfc3339_now() -> String {
    let mut out = String::with_capacity(24);
    push_rfc3339_now(&mut out);
    out
}

/// Appends the current time as [`rfc3339_now`] would (the decision log stamps every line).
pub fn push_rfc3339_now(out: &mut String) {
    push_rfc3339(out, Timestamp::now());
}

/// Appends `t` as RFC 3339 in UTC with exactly three fractional digits.
pub fn push_rfc3339(out: &mut String, t: Timestamp) {
    let _ = write!(out, "{t:.3}");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unix_ms() -> i64 {
        Timestamp::now().as_millisecond()
    }

    fn at(ms: i64) -> String {
        let mut out = String::new();
        push_rfc3339(
            &mut out,
            Timestamp::from_millisecond(ms).unwrap_or_default(),
        );
        out
    }

    #[test]
    fn formats_known_instants_with_milliseconds() {
        assert_eq!(at(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(at(1_705_314_600_123), "2024-01-15T10:30:00.123Z");
        assert_eq!(at(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(at(-1), "1969-12-31T23:59:59.999Z");
    }

    #[test]
    fn now_is_between_two_readings() {
        let before = unix_ms();
        let stamp = rfc3339_now();
        let after = unix_ms();
        let parsed: Timestamp = stamp.parse().unwrap_or_default();
        assert_eq!(stamp.len(), 24, "{stamp}");
        assert!(
            (before..=after).contains(&parsed.as_millisecond()),
            "{stamp}"
        );
    }
}

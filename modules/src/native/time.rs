//! `@sentrie/time`: Unix-second timestamps, RFC 3339 parsing, Go-layout formatting in UTC,
//! comparisons and Go-style durations (plus `d` = 24 h).
//!
//! Calendar arithmetic and RFC 3339 parsing are `jiff`'s (years -9999 to 9999; timestamps outside
//! cannot be formatted). Go reference layouts (`2006-01-02 15:04:05`) and Go duration syntax
//! are hand-written: no Rust crate implements them, and the language reference follows Go.

use super::{alloc_str, arity, num_arg, str_arg, Env, Export};
use sentrie_vm::program::Const;
use sentrie_vm::value::Value;

type R<'a> = Result<Value<'a>, String>;

fn now<'a>(args: &[Value<'a>], env: &Env<'a>) -> R<'a> {
    arity("now", args, 0, 0)?;
    Ok(Value::Num(env.now_ms.div_euclid(1000) as f64))
}

/// RFC 3339 (`YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`) to whole seconds (floor). The shape is
/// checked here (jiff's parser also takes other ISO 8601 forms); the values by jiff.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    if !rfc3339_shape(s.as_bytes()) {
        return None;
    }
    let t: jiff::Timestamp = s.parse().ok()?;
    let secs = t.as_second();
    Some(if t.subsec_nanosecond() < 0 {
        secs - 1
    } else {
        secs
    })
}

fn rfc3339_shape(b: &[u8]) -> bool {
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|d| d.iter().all(u8::is_ascii_digit));
    let date_time = b.len() >= 20
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && matches!(b[10], b'T' | b't')
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19);
    if !date_time {
        return false;
    }
    let mut i = 19;
    if b.get(i) == Some(&b'.') {
        let n = b[i + 1..].iter().take_while(|d| d.is_ascii_digit()).count();
        if n == 0 {
            return false;
        }
        i += 1 + n;
    }
    match &b[i..] {
        [b'Z' | b'z'] => true,
        [b'+' | b'-', _, _, b':', _, _] => digits(i + 1..i + 3) && digits(i + 4..i + 6),
        _ => false,
    }
}

fn parse<'a>(args: &[Value<'a>], _env: &Env<'a>) -> R<'a> {
    arity("parse", args, 1, 1)?;
    let s = str_arg(args, 0);
    parse_rfc3339(&s)
        .map(|t| Value::Num(t as f64))
        .ok_or_else(|| format!("parse: `{s}` is not an RFC 3339 time"))
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];

/// Formats a Unix time in UTC with a Go reference layout; `None` outside years ±9999.
pub fn format_go(ts: i64, layout: &str) -> Option<String> {
    let t = jiff::Timestamp::from_second(ts).ok()?;
    let dt = jiff::tz::Offset::UTC.to_datetime(t);
    let (y, m, d) = (
        i64::from(dt.year()),
        i64::from(dt.month()),
        i64::from(dt.day()),
    );
    let (h, mi, s) = (
        i64::from(dt.hour()),
        i64::from(dt.minute()),
        i64::from(dt.second()),
    );
    let weekday = dt.weekday().to_sunday_zero_offset() as usize;
    let tokens: [(&str, String); 27] = [
        ("January", MONTHS[(m - 1) as usize].to_string()),
        ("Monday", DAYS[weekday].to_string()),
        ("Z07:00", "Z".to_string()),
        ("-07:00", "+00:00".to_string()),
        ("Z0700", "Z".to_string()),
        ("-0700", "+0000".to_string()),
        ("2006", format!("{y:04}")),
        (".000", ".000".to_string()),
        (".999", String::new()),
        ("Jan", MONTHS[(m - 1) as usize][..3].to_string()),
        ("Mon", DAYS[weekday][..3].to_string()),
        ("MST", "UTC".to_string()),
        ("_2", format!("{d:>2}")),
        ("01", format!("{m:02}")),
        ("02", format!("{d:02}")),
        (
            "03",
            format!("{:02}", if h % 12 == 0 { 12 } else { h % 12 }),
        ),
        ("04", format!("{mi:02}")),
        ("05", format!("{s:02}")),
        ("06", format!("{:02}", y.rem_euclid(100))),
        ("15", format!("{h:02}")),
        ("PM", if h >= 12 { "PM" } else { "AM" }.to_string()),
        ("pm", if h >= 12 { "pm" } else { "am" }.to_string()),
        ("1", m.to_string()),
        ("2", d.to_string()),
        ("3", (if h % 12 == 0 { 12 } else { h % 12 }).to_string()),
        ("4", mi.to_string()),
        ("5", s.to_string()),
    ];
    let mut out = String::new();
    let mut rest = layout;
    'outer: while !rest.is_empty() {
        // Fractions: `.000…` keeps its width, `.999…` trims (whole seconds have no fraction).
        for lead in [".0", ".9"] {
            if rest.starts_with(lead) {
                let digit = lead.as_bytes()[1];
                let n = rest[1..].bytes().take_while(|c| *c == digit).count();
                if digit == b'0' {
                    out.push('.');
                    out.push_str(&"0".repeat(n));
                }
                rest = &rest[1 + n..];
                continue 'outer;
            }
        }
        for (tok, val) in &tokens {
            if let Some(r) = rest.strip_prefix(tok) {
                out.push_str(val);
                rest = r;
                continue 'outer;
            }
        }
        let c = rest.chars().next().unwrap_or(' ');
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    Some(out)
}

fn format<'a>(args: &[Value<'a>], env: &Env<'a>) -> R<'a> {
    arity("format", args, 2, 2)?;
    let ts = num_arg(args, 0);
    if !ts.is_finite() {
        return Err("format: the timestamp must be a finite number".to_string());
    }
    let text = format_go(ts.floor() as i64, &str_arg(args, 1))
        .ok_or("format: the timestamp is outside years -9999 to 9999")?;
    Ok(alloc_str(env, &text))
}

fn secs(args: &[Value<'_>], i: usize) -> f64 {
    num_arg(args, i).trunc()
}

fn is_before<'a>(args: &[Value<'a>], _env: &Env<'a>) -> R<'a> {
    arity("isBefore", args, 2, 2)?;
    Ok(Value::Bool(secs(args, 0) < secs(args, 1)))
}

fn is_after<'a>(args: &[Value<'a>], _env: &Env<'a>) -> R<'a> {
    arity("isAfter", args, 2, 2)?;
    Ok(Value::Bool(secs(args, 0) > secs(args, 1)))
}

fn is_between<'a>(args: &[Value<'a>], _env: &Env<'a>) -> R<'a> {
    arity("isBetween", args, 3, 3)?;
    let t = secs(args, 0);
    Ok(Value::Bool(secs(args, 1) <= t && t <= secs(args, 2)))
}

/// Go duration syntax plus `d` (24 h), e.g. `1d5h30m`, `-90s`, `1.5h`; in seconds.
pub fn parse_duration(s: &str) -> Result<f64, String> {
    let bad = || format!("invalid duration `{s}`");
    let (sign, mut rest) = match s.as_bytes().first() {
        Some(b'-') => (-1.0, &s[1..]),
        Some(b'+') => (1.0, &s[1..]),
        _ => (1.0, s),
    };
    if rest == "0" {
        return Ok(0.0);
    }
    if rest.is_empty() {
        return Err(bad());
    }
    let mut total = 0.0;
    while !rest.is_empty() {
        let n = rest
            .bytes()
            .take_while(|c| c.is_ascii_digit() || *c == b'.')
            .count();
        if n == 0 {
            return Err(bad());
        }
        let value: f64 = rest[..n].parse().map_err(|_| bad())?;
        rest = &rest[n..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" | "μs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            "d" => 86_400.0,
            _ => return Err(bad()),
        };
        total += value * scale;
        rest = &rest[unit_len..];
    }
    Ok(sign * total)
}

fn add_duration<'a>(args: &[Value<'a>], _env: &Env<'a>) -> R<'a> {
    arity("addDuration", args, 2, 2)?;
    Ok(Value::Num(
        (num_arg(args, 0) + parse_duration(&str_arg(args, 1))?).trunc(),
    ))
}

fn subtract_duration<'a>(args: &[Value<'a>], _env: &Env<'a>) -> R<'a> {
    arity("subtractDuration", args, 2, 2)?;
    Ok(Value::Num(
        (num_arg(args, 0) - parse_duration(&str_arg(args, 1))?).trunc(),
    ))
}

fn unix<'a>(args: &[Value<'a>], _env: &Env<'a>) -> R<'a> {
    arity("unix", args, 1, 1)?;
    Ok(Value::Num(num_arg(args, 0).trunc()))
}

pub fn lookup(name: &str) -> Option<Export> {
    let c = |s: &str| Some(Export::Const(Const::Str(s.to_string())));
    match name {
        "RFC3339" => return c("2006-01-02T15:04:05Z07:00"),
        "RFC3339Nano" => return c("2006-01-02T15:04:05.999999999Z07:00"),
        "RFC1123" => return c("Mon, 02 Jan 2006 15:04:05 MST"),
        "RFC1123Z" => return c("Mon, 02 Jan 2006 15:04:05 -0700"),
        "RFC822" => return c("02 Jan 06 15:04 MST"),
        "RFC822Z" => return c("02 Jan 06 15:04 -0700"),
        _ => {}
    }
    let f: super::NativeFn = match name {
        "now" => now,
        "parse" => parse,
        "format" => format,
        "isBefore" => is_before,
        "isAfter" => is_after,
        "isBetween" => is_between,
        "addDuration" => add_duration,
        "subtractDuration" => subtract_duration,
        "unix" => unix,
        _ => return None,
    };
    Some(Export::Function(f))
}

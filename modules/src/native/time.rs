//! `@sentrie/time`: Unix-second timestamps, RFC 3339 parsing, Go-layout formatting in UTC,
//! comparisons and Go-style durations (plus `d` = 24 h).

use super::{alloc_str, arity, num_arg, str_arg, Env, Export};
use sentrie_vm::program::Const;
use sentrie_vm::value::Value;

type R<'a> = Result<Value<'a>, String>;

fn now<'a>(args: &[Value<'a>], env: &Env<'a>) -> R<'a> {
    arity("now", args, 0, 0)?;
    Ok(Value::Num(env.now_ms.div_euclid(1000) as f64))
}

/// RFC 3339 (`YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`) to whole seconds.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let shape = b.len() >= 20
        && b[4] == b'-'
        && b[7] == b'-'
        && matches!(b[10], b'T' | b't')
        && b[13] == b':'
        && b[16] == b':';
    let has_zone = matches!(b.last(), Some(b'Z' | b'z'))
        || s.get(19..).is_some_and(|t| t.contains(['+', '-']));
    if !shape || !has_zone {
        return None;
    }
    let ms = super::js::date_parse(s);
    ms.is_finite().then(|| (ms / 1000.0).floor() as i64)
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

/// Formats a Unix time in UTC with a Go reference layout.
pub fn format_go(ts: i64, layout: &str) -> String {
    let days = ts.div_euclid(86_400);
    let rem = ts.rem_euclid(86_400);
    let (y, m, d) = civil(days);
    let (h, mi, s) = (rem / 3600, (rem / 60) % 60, rem % 60);
    let weekday = (days + 4).rem_euclid(7) as usize;
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
    out
}

fn civil(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (
        if m <= 2 {
            yoe + era * 400 + 1
        } else {
            yoe + era * 400
        },
        m,
        d,
    )
}

fn format<'a>(args: &[Value<'a>], env: &Env<'a>) -> R<'a> {
    arity("format", args, 2, 2)?;
    let ts = num_arg(args, 0);
    if !ts.is_finite() {
        return Err("format: the timestamp must be a finite number".to_string());
    }
    Ok(alloc_str(
        env,
        &format_go(ts.floor() as i64, &str_arg(args, 1)),
    ))
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

//! `@sentrie/js`: JavaScript standard functions with their ECMAScript semantics — Math,
//! Number, String, Date, JSON and Array helpers, plus `add/sub/mul/div`.

use super::{alloc_str, arity, js_number, list, num_arg, parse_js_number, str_arg, Env, Export};
use sentrie_vm::program::Const;
use sentrie_vm::value::Value;

type R<'a> = Result<Value<'a>, String>;

fn num<'a>(n: f64) -> R<'a> {
    Ok(Value::Num(n))
}

/// `Math.round`: halves round towards +∞.
pub fn js_round(x: f64) -> f64 {
    if !x.is_finite() {
        return x;
    }
    let f = x.floor();
    if x - f >= 0.5 {
        f + 1.0
    } else {
        f
    }
}

macro_rules! unary {
    ($name:ident, $label:literal, $f:expr) => {
        fn $name<'a>(args: &[Value<'a>], _env: &Env<'a>) -> R<'a> {
            arity($label, args, 1, 1)?;
            let f: fn(f64) -> f64 = $f;
            num(f(num_arg(args, 0)))
        }
    };
}

unary!(round, "round", js_round);
unary!(floor, "floor", f64::floor);
unary!(ceil, "ceil", f64::ceil);
unary!(abs, "abs", f64::abs);
unary!(sqrt, "sqrt", f64::sqrt);
unary!(exp, "exp", f64::exp);
unary!(log, "log", f64::ln);
unary!(log10, "log10", f64::log10);
unary!(log2, "log2", f64::log2);
unary!(sin, "sin", f64::sin);
unary!(cos, "cos", f64::cos);
unary!(tan, "tan", f64::tan);
unary!(asin, "asin", f64::asin);
unary!(acos, "acos", f64::acos);
unary!(atan, "atan", f64::atan);
unary!(sinh, "sinh", f64::sinh);
unary!(cosh, "cosh", f64::cosh);
unary!(tanh, "tanh", f64::tanh);

fn pow<'a>(args: &[Value<'a>], _env: &Env<'a>) -> R<'a> {
    arity("pow", args, 2, 2)?;
    let (b, e) = (num_arg(args, 0), num_arg(args, 1));
    // ECMAScript: 1 ** NaN and (±1) ** ±Infinity are NaN, unlike C's pow.
    if e.is_nan() || (b.abs() == 1.0 && e.is_infinite()) {
        return num(f64::NAN);
    }
    num(b.powf(e))
}

fn atan2<'a>(args: &[Value<'a>], _env: &Env<'a>) -> R<'a> {
    arity("atan2", args, 2, 2)?;
    num(num_arg(args, 0).atan2(num_arg(args, 1)))
}

fn max<'a>(args: &[Value<'a>], _env: &Env<'a>) -> R<'a> {
    let mut acc = f64::NEG_INFINITY;
    for a in args {
        let n = js_number(*a);
        if n.is_nan() {
            return num(f64::NAN);
        }
        if n > acc || (n == 0.0 && acc == 0.0 && n.is_sign_positive()) {
            acc = n;
        }
    }
    num(acc)
}

fn min<'a>(args: &[Value<'a>], _env: &Env<'a>) -> R<'a> {
    let mut acc = f64::INFINITY;
    for a in args {
        let n = js_number(*a);
        if n.is_nan() {
            return num(f64::NAN);
        }
        if n < acc || (n == 0.0 && acc == 0.0 && n.is_sign_negative()) {
            acc = n;
        }
    }
    num(acc)
}

fn random<'a>(args: &[Value<'a>], _env: &Env<'a>) -> R<'a> {
    arity("random", args, 0, 0)?;
    let b = crate::native::core::random_bytes();
    let mut word = [0u8; 8];
    word.copy_from_slice(&b[..8]);
    // 53 random bits: every double in [0, 1) that is a multiple of 2^-53.
    let bits = u64::from_le_bytes(word) >> 11;
    num(bits as f64 / (1u64 << 53) as f64)
}

fn length<'a>(args: &[Value<'a>], _env: &Env<'a>) -> R<'a> {
    arity("length", args, 1, 1)?;
    num(str_arg(args, 0).encode_utf16().count() as f64)
}

fn from_char_code<'a>(args: &[Value<'a>], env: &Env<'a>) -> R<'a> {
    let units: Vec<u16> = args.iter().map(|a| to_uint16(js_number(*a))).collect();
    Ok(alloc_str(env, &String::from_utf16_lossy(&units)))
}

fn to_uint16(n: f64) -> u16 {
    if !n.is_finite() {
        return 0;
    }
    (n.trunc().rem_euclid(65_536.0)) as u16
}

fn is_nan<'a>(args: &[Value<'a>], _env: &Env<'a>) -> R<'a> {
    arity("isNaN", args, 1, 1)?;
    Ok(Value::Bool(
        matches!(args[0].plain(), Value::Num(n) if n.is_nan()),
    ))
}

fn is_finite<'a>(args: &[Value<'a>], _env: &Env<'a>) -> R<'a> {
    arity("isFinite", args, 1, 1)?;
    Ok(Value::Bool(
        matches!(args[0].plain(), Value::Num(n) if n.is_finite()),
    ))
}

fn is_integer<'a>(args: &[Value<'a>], _env: &Env<'a>) -> R<'a> {
    arity("isInteger", args, 1, 1)?;
    Ok(Value::Bool(
        matches!(args[0].plain(), Value::Num(n) if n.is_finite() && n.fract() == 0.0),
    ))
}

/// `parseInt(s, radix)`.
pub fn parse_int(s: &str, radix: f64) -> f64 {
    let t = s.trim_start();
    let (sign, mut body) = match t.as_bytes().first() {
        Some(b'-') => (-1.0, &t[1..]),
        Some(b'+') => (1.0, &t[1..]),
        _ => (1.0, t),
    };
    let mut r = if radix.is_nan() || radix == 0.0 {
        0
    } else {
        radix.trunc() as i64
    };
    if r != 0 && !(2..=36).contains(&r) {
        return f64::NAN;
    }
    if (r == 0 || r == 16) && (body.starts_with("0x") || body.starts_with("0X")) {
        body = &body[2..];
        r = 16;
    }
    if r == 0 {
        r = 10;
    }
    let mut acc = 0f64;
    let mut any = false;
    for c in body.chars() {
        match c.to_digit(r as u32) {
            Some(d) => {
                acc = acc * r as f64 + f64::from(d);
                any = true;
            }
            None => break,
        }
    }
    if any {
        sign * acc
    } else {
        f64::NAN
    }
}

fn parse_int_fn<'a>(args: &[Value<'a>], _env: &Env<'a>) -> R<'a> {
    arity("parseInt", args, 1, 2)?;
    let radix = if args.len() > 1 {
        num_arg(args, 1)
    } else {
        0.0
    };
    num(parse_int(&str_arg(args, 0), radix))
}

/// `parseFloat(s)`: the longest prefix that is a decimal literal.
pub fn parse_float(s: &str) -> f64 {
    let t = s.trim_start();
    for (prefix, v) in [
        ("Infinity", f64::INFINITY),
        ("+Infinity", f64::INFINITY),
        ("-Infinity", f64::NEG_INFINITY),
    ] {
        if t.starts_with(prefix) {
            return v;
        }
    }
    let b = t.as_bytes();
    let mut end = 0;
    let mut i = 0;
    if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
        i += 1;
    }
    let digits = |i: &mut usize| {
        let s = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i > s
    };
    let int = digits(&mut i);
    if int {
        end = i;
    }
    if i < b.len() && b[i] == b'.' {
        i += 1;
        if digits(&mut i) || int {
            end = i;
        }
    }
    if end > 0 && i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        let mut j = i + 1;
        if j < b.len() && (b[j] == b'+' || b[j] == b'-') {
            j += 1;
        }
        if digits(&mut j) {
            end = j;
        }
    }
    if end == 0 {
        return f64::NAN;
    }
    t[..end].parse().unwrap_or(f64::NAN)
}

fn parse_float_fn<'a>(args: &[Value<'a>], _env: &Env<'a>) -> R<'a> {
    arity("parseFloat", args, 1, 1)?;
    num(parse_float(&str_arg(args, 0)))
}

fn now<'a>(args: &[Value<'a>], env: &Env<'a>) -> R<'a> {
    arity("now", args, 0, 0)?;
    num(env.now_ms as f64)
}

/// Days from 1970-01-01 to a civil date (proleptic Gregorian).
pub fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `Date.UTC`-style milliseconds; month is 0-based and fields may overflow.
pub fn utc_ms(y: f64, mon: f64, d: f64, h: f64, mi: f64, s: f64, ms: f64) -> f64 {
    if ![y, mon, d, h, mi, s, ms].iter().all(|x| x.is_finite()) {
        return f64::NAN;
    }
    // Far outside the ±275,760 years a JavaScript date can hold: NaN, as TimeClip gives,
    // before the calendar arithmetic below could overflow.
    if y.abs() > 1e7 || mon.abs() > 1e8 {
        return f64::NAN;
    }
    let (y, mon) = (y.trunc() as i64, mon.trunc() as i64);
    let ym = y + mon.div_euclid(12);
    let mn = mon.rem_euclid(12) + 1;
    let days = days_from_civil(ym, mn, 1) as f64 + d.trunc() - 1.0;
    let t = days * 86_400_000.0
        + h.trunc() * 3_600_000.0
        + mi.trunc() * 60_000.0
        + s.trunc() * 1000.0
        + ms.trunc();
    if t.abs() > 8.64e15 {
        f64::NAN
    } else {
        t
    }
}

fn utc<'a>(args: &[Value<'a>], _env: &Env<'a>) -> R<'a> {
    arity("UTC", args, 1, 7)?;
    let get = |i: usize, d: f64| if i < args.len() { num_arg(args, i) } else { d };
    let mut y = get(0, f64::NAN);
    if (0.0..=99.0).contains(&y.trunc()) {
        y += 1900.0;
    }
    num(utc_ms(
        y,
        get(1, 0.0),
        get(2, 1.0),
        get(3, 0.0),
        get(4, 0.0),
        get(5, 0.0),
        get(6, 0.0),
    ))
}

/// `Date.parse` for the ISO 8601 forms ECMAScript requires; other text is NaN. Date-times
/// without an offset are taken as UTC.
pub fn date_parse(s: &str) -> f64 {
    let b = s.as_bytes();
    let n = |from: usize, len: usize| -> Option<f64> {
        let part = s.get(from..from + len)?;
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())
            .flatten()
    };
    let Some(y) = n(0, 4) else { return f64::NAN };
    let (mut mon, mut d) = (1.0, 1.0);
    let mut i = 4;
    if b.get(i) == Some(&b'-') {
        let Some(m) = n(i + 1, 2) else {
            return f64::NAN;
        };
        mon = m;
        i += 3;
        if b.get(i) == Some(&b'-') {
            let Some(dd) = n(i + 1, 2) else {
                return f64::NAN;
            };
            d = dd;
            i += 3;
        }
    }
    let (mut h, mut mi, mut sec, mut ms, mut offset) = (0.0, 0.0, 0.0, 0.0, 0.0);
    if matches!(b.get(i), Some(b'T' | b't' | b' ')) {
        let (Some(hh), Some(mm)) = (n(i + 1, 2), n(i + 4, 2)) else {
            return f64::NAN;
        };
        if b.get(i + 3) != Some(&b':') {
            return f64::NAN;
        }
        h = hh;
        mi = mm;
        i += 6;
        if b.get(i) == Some(&b':') {
            let Some(ss) = n(i + 1, 2) else {
                return f64::NAN;
            };
            sec = ss;
            i += 3;
            if b.get(i) == Some(&b'.') {
                let start = i + 1;
                let mut j = start;
                while j < b.len() && b[j].is_ascii_digit() {
                    j += 1;
                }
                if j == start {
                    return f64::NAN;
                }
                let frac: f64 = format!("0.{}", &s[start..j]).parse().unwrap_or(0.0);
                ms = (frac * 1000.0).trunc();
                i = j;
            }
        }
        match b.get(i) {
            Some(b'Z' | b'z') => i += 1,
            Some(sign @ (b'+' | b'-')) => {
                let (Some(oh), Some(om)) = (n(i + 1, 2), n(i + 4, 2)) else {
                    return f64::NAN;
                };
                let o = oh * 60.0 + om;
                offset = if *sign == b'+' { o } else { -o };
                i += 6;
            }
            _ => {}
        }
    }
    if i != b.len()
        || !(1.0..=12.0).contains(&mon)
        || !(1.0..=31.0).contains(&d)
        || h > 24.0
        || mi > 59.0
        || sec > 59.0
    {
        return f64::NAN;
    }
    utc_ms(y, mon - 1.0, d, h, mi, sec, ms) - offset * 60_000.0
}

fn date_parse_fn<'a>(args: &[Value<'a>], _env: &Env<'a>) -> R<'a> {
    arity("dateParse", args, 1, 1)?;
    num(date_parse(&str_arg(args, 0)))
}

fn parse<'a>(args: &[Value<'a>], env: &Env<'a>) -> R<'a> {
    arity("parse", args, 1, 1)?;
    let s = str_arg(args, 0);
    sentrie_vm::json::decode(s.as_bytes(), env.bump).map_err(|e| format!("parse: {e}"))
}

fn stringify<'a>(args: &[Value<'a>], env: &Env<'a>) -> R<'a> {
    arity("stringify", args, 1, 1)?;
    let v = args[0].plain();
    if v.is_undefined() {
        return Ok(Value::Undefined);
    }
    let mut out = String::new();
    sentrie_vm::json::write_compact(&mut out, v);
    Ok(alloc_str(env, &out))
}

fn is_array<'a>(args: &[Value<'a>], _env: &Env<'a>) -> R<'a> {
    arity("isArray", args, 1, 1)?;
    Ok(Value::Bool(matches!(args[0].plain(), Value::List(_))))
}

fn from<'a>(args: &[Value<'a>], env: &Env<'a>) -> R<'a> {
    arity("from", args, 1, 1)?;
    Ok(match args[0].plain() {
        Value::List(items) => list(env, items.iter().copied()),
        Value::Str(s) => list(
            env,
            s.chars()
                .map(|c| alloc_str(env, c.encode_utf8(&mut [0; 4]))),
        ),
        _ => list(env, std::iter::empty()),
    })
}

fn of<'a>(args: &[Value<'a>], env: &Env<'a>) -> R<'a> {
    Ok(list(env, args.iter().map(|a| a.plain())))
}

macro_rules! binary {
    ($name:ident, $label:literal, $op:tt) => {
        fn $name<'a>(args: &[Value<'a>], _env: &Env<'a>) -> R<'a> {
            arity($label, args, 2, 2)?;
            num(num_arg(args, 0) $op num_arg(args, 1))
        }
    };
}

binary!(add, "add", +);
binary!(sub, "sub", -);
binary!(mul, "mul", *);

fn div<'a>(args: &[Value<'a>], _env: &Env<'a>) -> R<'a> {
    arity("div", args, 2, 2)?;
    let d = num_arg(args, 1);
    if d == 0.0 {
        return Err("divide by zero".to_string());
    }
    num(num_arg(args, 0) / d)
}

pub fn lookup(name: &str) -> Option<Export> {
    let c = |n: f64| Some(Export::Const(Const::Num(n)));
    match name {
        "E" => return c(std::f64::consts::E),
        "PI" => return c(std::f64::consts::PI),
        "LN2" => return c(std::f64::consts::LN_2),
        "LN10" => return c(std::f64::consts::LN_10),
        "LOG2E" => return c(std::f64::consts::LOG2_E),
        "LOG10E" => return c(std::f64::consts::LOG10_E),
        "SQRT2" => return c(std::f64::consts::SQRT_2),
        "SQRT1_2" => return c(std::f64::consts::FRAC_1_SQRT_2),
        "MAX_VALUE" => return c(f64::MAX),
        "MIN_VALUE" => return c(5e-324),
        _ => {}
    }
    let f: super::NativeFn = match name {
        "round" => round,
        "floor" => floor,
        "ceil" => ceil,
        "max" => max,
        "min" => min,
        "abs" => abs,
        "sqrt" => sqrt,
        "pow" => pow,
        "exp" => exp,
        "log" => log,
        "log10" => log10,
        "log2" => log2,
        "sin" => sin,
        "cos" => cos,
        "tan" => tan,
        "asin" => asin,
        "acos" => acos,
        "atan" => atan,
        "atan2" => atan2,
        "sinh" => sinh,
        "cosh" => cosh,
        "tanh" => tanh,
        "random" => random,
        "length" => length,
        "fromCharCode" => from_char_code,
        "isNaN" => is_nan,
        "isFinite" => is_finite,
        "isInteger" => is_integer,
        "parseInt" => parse_int_fn,
        "parseFloat" => parse_float_fn,
        "now" => now,
        "dateParse" => date_parse_fn,
        "UTC" => utc,
        "parse" => parse,
        "stringify" => stringify,
        "isArray" => is_array,
        "from" => from,
        "of" => of,
        "add" => add,
        "sub" => sub,
        "mul" => mul,
        "div" => div,
        _ => return None,
    };
    let _ = parse_js_number;
    Some(Export::Function(f))
}

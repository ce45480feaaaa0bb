//! `@sentrie/semver`: lenient version parsing (optional `v`, 1–3 numeric parts, prerelease,
//! build), SemVer ordering, and constraint matching (`= != > < >= <= ~ ~> ^`, wildcards,
//! hyphen ranges, AND by space or comma, OR by `||`).
//!
//! Hand-written on purpose: the language reference follows Masterminds semver (Go), and the
//! `semver` crate implements Cargo's rules instead (exactly three parts, no `v` prefix,
//! numeric identifiers without leading zeros, a bare requirement means `^`, no `!=`, no
//! `||` and no hyphen ranges), so it would change answers.

use std::cmp::Ordering;

use super::{alloc_str, arity, str_arg, Env, Export};
use sentrie_vm::value::Value;

type R<'a> = Result<Value<'a>, String>;

#[derive(Clone, Debug, PartialEq)]
pub struct Version {
    pub parts: [u64; 3],
    /// How many numeric parts were written (for partial constraints like `1.2`).
    pub given: usize,
    pub pre: Vec<String>,
    pub build: String,
}

/// Parses a version; in constraints, `x`, `X` and `*` parts mark wildcards (`given` stops there).
pub fn parse_version(s: &str, wildcards: bool) -> Option<Version> {
    let s = s.trim();
    let s = s.strip_prefix(['v', 'V']).unwrap_or(s);
    let (rest, build) = s.split_once('+').map_or((s, ""), |(a, b)| (a, b));
    let (core, pre) = rest.split_once('-').map_or((rest, ""), |(a, b)| (a, b));
    let ident_ok =
        |id: &str| !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    if (!pre.is_empty() && !pre.split('.').all(ident_ok))
        || (!build.is_empty() && !build.split('.').all(ident_ok))
    {
        return None;
    }
    let nums: Vec<&str> = core.split('.').collect();
    if nums.is_empty() || nums.len() > 3 {
        return None;
    }
    let mut parts = [0u64; 3];
    let mut given = 0;
    for (i, n) in nums.iter().enumerate() {
        if wildcards && matches!(*n, "x" | "X" | "*") {
            break;
        }
        if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        parts[i] = n.parse().ok()?;
        given = i + 1;
    }
    let pre = if pre.is_empty() {
        Vec::new()
    } else {
        pre.split('.').map(str::to_string).collect()
    };
    Some(Version {
        parts,
        given,
        pre,
        build: build.to_string(),
    })
}

fn cmp_pre(a: &[String], b: &[String]) -> Ordering {
    match (a.is_empty(), b.is_empty()) {
        (true, true) => return Ordering::Equal,
        (true, false) => return Ordering::Greater,
        (false, true) => return Ordering::Less,
        _ => {}
    }
    for (x, y) in a.iter().zip(b.iter()) {
        let ord = match (x.parse::<u64>(), y.parse::<u64>()) {
            (Ok(p), Ok(q)) => p.cmp(&q),
            (Ok(_), Err(_)) => Ordering::Less,
            (Err(_), Ok(_)) => Ordering::Greater,
            _ => x.cmp(y),
        };
        if ord != Ordering::Equal {
            return ord;
        }
    }
    a.len().cmp(&b.len())
}

/// SemVer precedence (build metadata ignored).
pub fn compare(a: &Version, b: &Version) -> Ordering {
    a.parts.cmp(&b.parts).then_with(|| cmp_pre(&a.pre, &b.pre))
}

fn version_arg(args: &[Value<'_>], i: usize, f: &str) -> Result<Version, String> {
    let s = str_arg(args, i);
    parse_version(&s, false).ok_or_else(|| format!("{f}: invalid version `{s}`"))
}

/// One comparator as a half-open check.
#[derive(Debug)]
enum Cmp {
    Ge(Version),
    Gt(Version),
    Le(Version),
    Lt(Version),
    Ne(Version),
    Eq(Version),
    Any,
}

fn bump(v: &Version, at: usize) -> Version {
    let mut parts = v.parts;
    parts[at] += 1;
    for p in parts.iter_mut().skip(at + 1) {
        *p = 0;
    }
    Version {
        parts,
        given: 3,
        pre: vec!["0".to_string()],
        build: String::new(),
    }
}

fn exact(v: &Version) -> Version {
    Version {
        given: 3,
        ..v.clone()
    }
}

/// Expands one comparator token into checks.
fn comparator(tok: &str) -> Result<Vec<Cmp>, String> {
    let ops = [">=", "<=", "!=", "~>", ">", "<", "=", "~", "^"];
    let op = ops
        .iter()
        .find(|o| tok.starts_with(**o))
        .copied()
        .unwrap_or("");
    let text = tok[op.len()..].trim();
    if matches!(text, "" | "*" | "x" | "X") && op.is_empty() {
        return Ok(vec![Cmp::Any]);
    }
    let v = parse_version(text, true)
        .ok_or_else(|| format!("satisfies: invalid constraint `{tok}`"))?;
    let partial = v.given < 3;
    Ok(match op {
        "" | "=" if partial => {
            if v.given == 0 {
                vec![Cmp::Any]
            } else {
                vec![Cmp::Ge(exact(&v)), Cmp::Lt(bump(&v, v.given - 1))]
            }
        }
        "" | "=" => vec![Cmp::Eq(v)],
        "!=" => vec![Cmp::Ne(exact(&v))],
        ">" if partial && v.given > 0 => vec![Cmp::Ge(bump(&v, v.given - 1))],
        ">" => vec![Cmp::Gt(exact(&v))],
        ">=" => vec![Cmp::Ge(exact(&v))],
        "<" => vec![Cmp::Lt(exact(&v))],
        "<=" if partial && v.given > 0 => vec![Cmp::Lt(bump(&v, v.given - 1))],
        "<=" => vec![Cmp::Le(exact(&v))],
        "~" | "~>" => {
            let at = if v.given >= 2 { 1 } else { 0 };
            vec![Cmp::Ge(exact(&v)), Cmp::Lt(bump(&v, at))]
        }
        _ => {
            // Caret: the leftmost non-zero part may not change.
            let at = if v.parts[0] > 0 || v.given <= 1 {
                0
            } else if v.parts[1] > 0 || v.given == 2 {
                1
            } else {
                2
            };
            vec![Cmp::Ge(exact(&v)), Cmp::Lt(bump(&v, at))]
        }
    })
}

fn holds(c: &Cmp, v: &Version) -> bool {
    match c {
        Cmp::Any => true,
        Cmp::Ge(w) => compare(v, w) != Ordering::Less,
        Cmp::Gt(w) => compare(v, w) == Ordering::Greater,
        Cmp::Le(w) => compare(v, w) != Ordering::Greater,
        Cmp::Lt(w) => compare(v, w) == Ordering::Less,
        Cmp::Ne(w) => compare(v, w) != Ordering::Equal,
        Cmp::Eq(w) => compare(v, w) == Ordering::Equal,
    }
}

/// Does `v` satisfy the constraint text?
pub fn satisfies(v: &Version, constraint: &str) -> Result<bool, String> {
    let mut any = false;
    for group in constraint.split("||") {
        let group = group.trim();
        // Hyphen ranges: `a - b` is `>=a <=b` (a partial `b` covers its whole range).
        let group = match group.split_once(" - ") {
            Some((lo, hi)) => format!(">={} <={}", lo.trim(), hi.trim()),
            None => group.to_string(),
        };
        let normalised = group.replace(',', " ");
        let mut tokens: Vec<String> = Vec::new();
        let mut pending_op = String::new();
        for t in normalised.split_whitespace() {
            if t.chars().all(|c| "<>=!~^".contains(c)) {
                pending_op = t.to_string();
            } else {
                tokens.push(format!("{pending_op}{t}"));
                pending_op.clear();
            }
        }
        if tokens.is_empty() {
            tokens.push("*".to_string());
        }
        let checks: Vec<Cmp> = tokens
            .iter()
            .map(|t| comparator(t))
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .flatten()
            .collect();
        let mentions_pre = tokens.iter().any(|t| t.contains('-'));
        let ok = (v.pre.is_empty() || mentions_pre) && checks.iter().all(|c| holds(c, v));
        any = any || ok;
    }
    Ok(any)
}

fn compare_fn<'a>(args: &[Value<'a>], _env: &Env<'a>) -> R<'a> {
    arity("compare", args, 2, 2)?;
    let (a, b) = (
        version_arg(args, 0, "compare")?,
        version_arg(args, 1, "compare")?,
    );
    Ok(Value::Num(match compare(&a, &b) {
        Ordering::Less => -1.0,
        Ordering::Equal => 0.0,
        Ordering::Greater => 1.0,
    }))
}

fn is_valid<'a>(args: &[Value<'a>], _env: &Env<'a>) -> R<'a> {
    arity("isValid", args, 1, 1)?;
    Ok(Value::Bool(
        parse_version(&str_arg(args, 0), false).is_some(),
    ))
}

fn strip_prefix<'a>(args: &[Value<'a>], env: &Env<'a>) -> R<'a> {
    arity("stripPrefix", args, 1, 1)?;
    let s = str_arg(args, 0);
    Ok(alloc_str(env, s.strip_prefix(['v', 'V']).unwrap_or(&s)))
}

fn satisfies_fn<'a>(args: &[Value<'a>], _env: &Env<'a>) -> R<'a> {
    arity("satisfies", args, 2, 2)?;
    let v = version_arg(args, 0, "satisfies")?;
    Ok(Value::Bool(satisfies(&v, &str_arg(args, 1))?))
}

macro_rules! part {
    ($name:ident, $label:literal, $i:expr) => {
        fn $name<'a>(args: &[Value<'a>], _env: &Env<'a>) -> R<'a> {
            arity($label, args, 1, 1)?;
            Ok(Value::Num(version_arg(args, 0, $label)?.parts[$i] as f64))
        }
    };
}

part!(major, "major", 0);
part!(minor, "minor", 1);
part!(patch, "patch", 2);

fn prerelease<'a>(args: &[Value<'a>], env: &Env<'a>) -> R<'a> {
    arity("prerelease", args, 1, 1)?;
    let v = version_arg(args, 0, "prerelease")?;
    Ok(if v.pre.is_empty() {
        Value::Null
    } else {
        alloc_str(env, &v.pre.join("."))
    })
}

fn metadata<'a>(args: &[Value<'a>], env: &Env<'a>) -> R<'a> {
    arity("metadata", args, 1, 1)?;
    let v = version_arg(args, 0, "metadata")?;
    Ok(if v.build.is_empty() {
        Value::Null
    } else {
        alloc_str(env, &v.build)
    })
}

pub fn lookup(name: &str) -> Option<Export> {
    let f: super::NativeFn = match name {
        "compare" => compare_fn,
        "isValid" => is_valid,
        "stripPrefix" => strip_prefix,
        "satisfies" => satisfies_fn,
        "major" => major,
        "minor" => minor,
        "patch" => patch,
        "prerelease" => prerelease,
        "metadata" => metadata,
        _ => return None,
    };
    Some(Export::Function(f))
}

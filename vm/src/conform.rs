//! Type conformance (LANGUAGE.md §7.3, §8) and constraint checks, used for facts, typed lets,
//! casts and `is Shape` tests. Constraint names and arguments were validated by the compiler.

use crate::program::{Const, ConstraintDef, ConstraintOp as Op, TypeId, TypeKind};
use crate::value::{Tri, Value};
use crate::verified::VerifiedProgram;

/// Why a value does not conform: a human reason.
pub type Reason = String;

/// Whether `v` conforms to type `ty`: [`conforms`] answers, and only a value that does not
/// conform is walked again to say why.
pub fn check(p: &VerifiedProgram, ty: TypeId, v: Value<'_>, depth: u32) -> Result<(), Reason> {
    if conforms(p, ty, v, depth) {
        return Ok(());
    }
    explain(p, ty, v, depth)
}

/// The yes/no form of [`check`]: the same walk and budget, no reasons built.
pub fn conforms(p: &VerifiedProgram, ty: TypeId, v: Value<'_>, depth: u32) -> bool {
    if depth > crate::MAX_VALUE_DEPTH || !crate::work::visit() {
        return false;
    }
    let def = &p.program.types[ty];
    let v = v.plain();
    let kind_ok = match (&def.kind, v) {
        (TypeKind::Any, _) => true,
        (_, Value::Undefined | Value::Null | Value::Pending) => false,
        (TypeKind::Number, Value::Num(_))
        | (TypeKind::String, Value::Str(_))
        | (TypeKind::Boolean, Value::Bool(_))
        | (TypeKind::Trinary, Value::Bool(_) | Value::Unknown)
        | (TypeKind::Document, Value::Map(_)) => true,
        (TypeKind::List(elem), Value::List(items)) => {
            items.iter().all(|x| child(p, *elem, *x, depth))
        }
        (TypeKind::Map(elem), Value::Map(entries)) => {
            entries.iter().all(|(_, x)| child(p, *elem, *x, depth))
        }
        (TypeKind::Record(elems), Value::List(items)) => {
            items.len() == elems.len()
                && elems
                    .iter()
                    .zip(items.iter())
                    .all(|(t, x)| child(p, *t, *x, depth))
        }
        (TypeKind::Shape(fields), Value::Map(entries)) => {
            fields
                .iter()
                .all(|f| match crate::value::map_get(entries, &f.name) {
                    None => !f.required,
                    Some(Value::Null) => f.nullable,
                    Some(x) => child(p, f.ty, x, depth),
                })
        }
        (TypeKind::Alias(target), _) => conforms(p, *target, v, depth + 1),
        _ => false,
    };
    kind_ok && def.constraints.iter().all(|c| constraint_holds(p, c, v))
}

/// [`conforms`] for an element or field of a value at `depth`. A scalar type without
/// constraints is answered here, without a call (the visit is counted all the same, so the
/// budget is spent as by the walk).
#[inline(always)]
fn child(p: &VerifiedProgram, ty: TypeId, x: Value<'_>, depth: u32) -> bool {
    let def = &p.program.types[ty];
    if !def.constraints.is_empty() {
        return conforms(p, ty, x, depth + 1);
    }
    let ok = match (&def.kind, x) {
        (TypeKind::Any, _) => true,
        (TypeKind::Number, Value::Num(_))
        | (TypeKind::String, Value::Str(_))
        | (TypeKind::Boolean, Value::Bool(_))
        | (TypeKind::Trinary, Value::Bool(_) | Value::Unknown)
        | (TypeKind::Document, Value::Map(_)) => true,
        (_, Value::Decision(_)) => return conforms(p, ty, x, depth + 1),
        (
            TypeKind::Number
            | TypeKind::String
            | TypeKind::Boolean
            | TypeKind::Trinary
            | TypeKind::Document,
            _,
        ) => false,
        _ => return conforms(p, ty, x, depth + 1),
    };
    depth < crate::MAX_VALUE_DEPTH && crate::work::visit() && ok
}

/// Why `v` does not conform to `ty`: the walk of [`check`] that builds the reason (`Ok` when
/// it conforms; public so that tests can hold it against [`conforms`]).
pub fn explain(p: &VerifiedProgram, ty: TypeId, v: Value<'_>, depth: u32) -> Result<(), Reason> {
    if depth > crate::MAX_VALUE_DEPTH {
        return Err("value nested too deeply".to_string());
    }
    if !crate::work::visit() {
        return Err(crate::work::exhausted_message().to_string());
    }
    let def = &p.program.types[ty];
    let v = v.plain();
    if matches!(v, Value::Undefined | Value::Null | Value::Pending)
        && !matches!(def.kind, TypeKind::Any)
    {
        return Err(format!("expected {}, found {}", def.name, v.kind_name()));
    }
    match &def.kind {
        TypeKind::Any => {}
        TypeKind::Number => expect(matches!(v, Value::Num(_)), "number", v)?,
        TypeKind::String => expect(matches!(v, Value::Str(_)), "string", v)?,
        TypeKind::Boolean => expect(matches!(v, Value::Bool(_)), "boolean", v)?,
        TypeKind::Trinary => expect(matches!(v, Value::Bool(_) | Value::Unknown), "trinary", v)?,
        TypeKind::Document => expect(matches!(v, Value::Map(_)), "document", v)?,
        TypeKind::List(elem) => {
            let Value::List(items) = v else {
                return Err(format!("expected list, found {}", v.kind_name()));
            };
            for (i, x) in items.iter().enumerate() {
                explain(p, *elem, *x, depth + 1).map_err(|r| format!("[{i}]: {r}"))?;
            }
        }
        TypeKind::Map(elem) => {
            let Value::Map(entries) = v else {
                return Err(format!("expected map, found {}", v.kind_name()));
            };
            for (k, x) in entries.iter() {
                explain(p, *elem, *x, depth + 1).map_err(|r| format!("{k}: {r}"))?;
            }
        }
        TypeKind::Record(elems) => {
            let Value::List(items) = v else {
                return Err(format!("expected record, found {}", v.kind_name()));
            };
            if items.len() != elems.len() {
                return Err(format!(
                    "expected a record of {} elements, found {}",
                    elems.len(),
                    items.len()
                ));
            }
            for (i, (t, x)) in elems.iter().zip(items.iter()).enumerate() {
                explain(p, *t, *x, depth + 1).map_err(|r| format!("[{i}]: {r}"))?;
            }
        }
        TypeKind::Shape(fields) => {
            let Value::Map(entries) = v else {
                return Err(format!(
                    "not a shape: expected {}, found {}",
                    def.name,
                    v.kind_name()
                ));
            };
            for f in fields {
                match crate::value::map_get(entries, &f.name) {
                    None => {
                        if f.required {
                            let r = format!("missing required field '{}'", f.name);
                            return Err(declared_at(r, def));
                        }
                    }
                    Some(Value::Null) => {
                        if !f.nullable {
                            let r = format!("field '{}' cannot be null", f.name);
                            return Err(declared_at(r, def));
                        }
                    }
                    Some(x) => explain(p, f.ty, x, depth + 1)
                        .map_err(|r| declared_at(format!("{}: {r}", f.name), def))?,
                }
            }
        }
        TypeKind::Alias(target) => explain(p, *target, v, depth + 1)?,
    }
    for c in &def.constraints {
        if !constraint_holds(p, c, v) {
            return Err(format!(
                "constraint failed: '{}': {} does not satisfy {}",
                c.name,
                value_text(v),
                constraint_text(c)
            ));
        }
    }
    Ok(())
}

/// Longest value text shown in a conformance error.
const VALUE_TEXT_LIMIT: usize = 80;

/// `v` as compact JSON, cut after [`VALUE_TEXT_LIMIT`] characters.
fn value_text(v: Value<'_>) -> String {
    let mut out = String::new();
    crate::json::write_compact(&mut out, v);
    if out.chars().count() > VALUE_TEXT_LIMIT {
        let cut: String = out.chars().take(VALUE_TEXT_LIMIT).collect();
        return format!("{cut}...");
    }
    out
}

/// `@name(arg, ...)` as written in a policy.
fn constraint_text(c: &ConstraintDef) -> String {
    if c.args.is_empty() {
        return format!("@{}", c.name);
    }
    let mut out = format!("@{}(", c.name);
    for (i, a) in c.args.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        const_text(a, &mut out);
    }
    out.push(')');
    out
}

fn const_text(c: &Const, out: &mut String) {
    match c {
        Const::Num(n) => crate::json::write_compact(out, Value::Num(*n)),
        Const::Str(s) => crate::json::write_compact(out, Value::Str(s)),
        Const::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Const::Unknown => out.push_str("unknown"),
        Const::Null => out.push_str("null"),
        Const::List(items) => {
            out.push('[');
            for (i, x) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                const_text(x, out);
            }
            out.push(']');
        }
        Const::Map(entries) => {
            out.push('{');
            for (i, (k, x)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                crate::json::write_compact(out, Value::Str(k));
                out.push_str(": ");
                const_text(x, out);
            }
            out.push('}');
        }
    }
}

/// Adds where the innermost shape concerned is declared (`(shape User at a.sentrie:2:7)`).
fn declared_at(reason: Reason, def: &crate::program::TypeDef) -> Reason {
    match &def.declared {
        Some(at) if !reason.ends_with(')') || !reason.contains(" (shape ") => {
            format!("{reason} (shape {} at {at})", def.name)
        }
        _ => reason,
    }
}

fn expect(ok: bool, want: &str, v: Value<'_>) -> Result<(), Reason> {
    if ok {
        Ok(())
    } else {
        Err(format!("expected {want}, found {}", v.kind_name()))
    }
}

fn num_arg(c: &ConstraintDef, i: usize) -> f64 {
    match c.args.get(i) {
        Some(Const::Num(n)) => *n,
        _ => f64::NAN,
    }
}

fn str_arg(c: &ConstraintDef, i: usize) -> &str {
    match c.args.get(i) {
        Some(Const::Str(s)) => s,
        _ => "",
    }
}

/// The argument list of `in`/`one_of`: one list literal or several values.
fn arg_list(c: &ConstraintDef) -> &[Const] {
    match c.args.as_slice() {
        [Const::List(items)] => items,
        other => other,
    }
}

fn re_match(pattern: &str, s: &str) -> bool {
    crate::regex_cache::is_match(pattern, s).unwrap_or(false)
}

const EMAIL: &str = r"^[a-zA-Z0-9._%+-]+@[a-zA-Z0-9.-]+\.[a-zA-Z]{2,}$";
const URL: &str = r"^https?://[a-zA-Z0-9.-]+\.[a-zA-Z]{2,}(/.*)?$";
const NUMERIC: &str = r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$";

fn is_uuid(s: &str) -> bool {
    let lower = s.to_ascii_lowercase();
    let body = if let Some(rest) = lower.strip_prefix("urn:uuid:") {
        rest
    } else if lower.starts_with('{') && lower.ends_with('}') && lower.len() == 38 {
        &lower[1..37]
    } else {
        &lower
    };
    let hex = |t: &str| t.chars().all(|c| c.is_ascii_hexdigit());
    if body.len() == 32 {
        return hex(body);
    }
    let parts: Vec<&str> = body.split('-').collect();
    parts.len() == 5
        && [8, 4, 4, 4, 12]
            .iter()
            .zip(parts.iter())
            .all(|(n, p)| p.len() == *n && hex(p))
}

pub fn is_numeric_text(s: &str) -> bool {
    let t = s.trim_start_matches(['+', '-']).to_ascii_lowercase();
    re_match(NUMERIC, s) || t == "inf" || t == "infinity" || t == "nan"
}

fn constraint_holds(p: &VerifiedProgram, c: &ConstraintDef, v: Value<'_>) -> bool {
    match v {
        Value::Num(n) => number_constraint(c, n),
        Value::Str(s) => string_constraint(p, c, s),
        Value::Bool(_) | Value::Unknown => {
            let t = v.truthy();
            let arg = match c.args.first() {
                Some(Const::Bool(b)) => Tri::from_bool(*b),
                _ => Tri::Unknown,
            };
            match c.op {
                Op::NotUnknown => t != Tri::Unknown,
                Op::Eq => t == arg,
                Op::Neq => t != arg,
                Op::IsTrue => t == Tri::True,
                Op::IsFalse => t == Tri::False,
                _ => false,
            }
        }
        Value::List(items) => {
            let n = items.len() as f64;
            length_constraint(c, n)
        }
        _ => false,
    }
}

fn length_constraint(c: &ConstraintDef, n: f64) -> bool {
    match c.op {
        Op::NotEmpty => n > 0.0,
        Op::Length if c.args.len() == 2 => num_arg(c, 0) <= n && n <= num_arg(c, 1),
        Op::Length => n == num_arg(c, 0),
        Op::MinLength => n >= num_arg(c, 0),
        Op::MaxLength => n <= num_arg(c, 0),
        _ => false,
    }
}

fn number_constraint(c: &ConstraintDef, v: f64) -> bool {
    let a = num_arg(c, 0);
    match c.op {
        Op::Min => v >= a,
        Op::Max => v <= a,
        Op::Gt => v > a,
        Op::Lt => v < a,
        Op::Eq => v == a,
        Op::Neq => v != a,
        Op::In => arg_list(c)
            .iter()
            .any(|x| matches!(x, Const::Num(n) if *n == v)),
        Op::NotIn => !arg_list(c)
            .iter()
            .any(|x| matches!(x, Const::Num(n) if *n == v)),
        Op::Range => a <= v && v <= num_arg(c, 1),
        Op::MultipleOf => {
            let r = (v % a).abs();
            r <= 1e-10 || (a.abs() - r) <= 1e-10
        }
        Op::Even => v.fract() == 0.0 && v % 2.0 == 0.0,
        Op::Odd => v.fract() == 0.0 && (v % 2.0).abs() == 1.0,
        Op::Positive => v > 0.0,
        Op::Negative => v < 0.0,
        Op::NonNegative => v >= 0.0,
        Op::NonPositive => v <= 0.0,
        Op::Finite => v.is_finite(),
        Op::Infinite => v.is_infinite(),
        Op::Nan => v.is_nan(),
        _ => false,
    }
}

fn string_constraint(p: &VerifiedProgram, c: &ConstraintDef, s: &str) -> bool {
    match c.op {
        Op::Length | Op::MinLength | Op::MaxLength | Op::NotEmpty => {
            length_constraint(c, s.chars().count() as f64)
        }
        Op::Regexp => match c.regex.and_then(|i| p.regexes.get(i as usize)) {
            Some(re) => re.is_match(s),
            None => re_match(str_arg(c, 0), s),
        },
        Op::StartsWith => s.starts_with(str_arg(c, 0)),
        Op::EndsWith => s.ends_with(str_arg(c, 0)),
        Op::HasSubstring => s.contains(str_arg(c, 0)),
        Op::NotHasSubstring => !s.contains(str_arg(c, 0)),
        Op::Email => re_match(EMAIL, s),
        Op::Url => re_match(URL, s),
        Op::Uuid => is_uuid(s),
        Op::Alphanumeric => s.chars().all(|ch| ch.is_alphabetic() || ch.is_numeric()),
        Op::Alpha => s.chars().all(char::is_alphabetic),
        Op::Numeric => is_numeric_text(s),
        Op::Lowercase => s.to_lowercase() == s,
        Op::Uppercase => s.to_uppercase() == s,
        Op::Trimmed => s.trim() == s,
        Op::OneOf => arg_list(c)
            .iter()
            .any(|x| matches!(x, Const::Str(t) if t == s)),
        Op::NotOneOf => !arg_list(c)
            .iter()
            .any(|x| matches!(x, Const::Str(t) if t == s)),
        _ => false,
    }
}

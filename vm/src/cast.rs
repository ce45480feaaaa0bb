//! `cast e as T` (LANGUAGE.md §14.11): convert, then check conformance to `T`.

use bumpalo::Bump;

use crate::program::{Program, TypeId, TypeKind};
use crate::value::{canonical_text, Tri, Value};

pub fn cast<'a>(
    p: &Program,
    ty: TypeId,
    v: Value<'a>,
    bump: &'a Bump,
) -> Result<Value<'a>, String> {
    let v = v.plain();
    if v.is_undefined() {
        return Ok(Value::Undefined);
    }
    let mut base = ty;
    // Bounded: the verifier rejects alias cycles, this keeps a bad program from spinning.
    for _ in 0..64 {
        match &p.types[base].kind {
            TypeKind::Alias(t) => base = *t,
            _ => break,
        }
    }
    let converted = match &p.types[base].kind {
        TypeKind::String => Value::Str(bump.alloc_str(&canonical_text(v))),
        TypeKind::Number => match v {
            Value::Num(_) => v,
            Value::Str(s) => parse_number(s)
                .map(Value::Num)
                .ok_or_else(|| format!("cannot cast `{s}` to number"))?,
            other => return Err(format!("cannot cast {} to number", other.kind_name())),
        },
        TypeKind::Boolean | TypeKind::Trinary => match v {
            Value::Bool(_) | Value::Unknown => v,
            Value::Num(n) => Tri::from_bool(n != 0.0).value(),
            Value::Str(s) => match s {
                "1" | "t" | "T" | "TRUE" | "true" | "True" => Value::Bool(true),
                "0" | "f" | "F" | "FALSE" | "false" | "False" => Value::Bool(false),
                _ => Value::Unknown,
            },
            other => {
                return Err(format!(
                    "cannot cast {} to {}",
                    other.kind_name(),
                    p.types[base].name
                ))
            }
        },
        TypeKind::List(_) | TypeKind::Record(_) => match v {
            Value::List(_) => v,
            other => {
                return Err(format!(
                    "cannot cast {} to {}",
                    other.kind_name(),
                    p.types[base].name
                ))
            }
        },
        TypeKind::Map(_) | TypeKind::Document => match v {
            Value::Map(_) => v,
            other => {
                return Err(format!(
                    "cannot cast {} to {}",
                    other.kind_name(),
                    p.types[base].name
                ))
            }
        },
        TypeKind::Shape(_) | TypeKind::Any | TypeKind::Alias(_) => v,
    };
    crate::conform::check(p, ty, converted, 0)
        .map_err(|r| format!("cannot cast to {}: {r}", p.types[ty].name))?;
    Ok(converted)
}

fn parse_number(s: &str) -> Option<f64> {
    if !crate::conform::is_numeric_text(s) {
        return None;
    }
    let t = s.trim_start_matches('+').to_ascii_lowercase();
    match t.trim_start_matches('-') {
        "inf" | "infinity" => Some(if t.starts_with('-') {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        }),
        "nan" => Some(f64::NAN),
        _ => {
            let fixed = if t.starts_with('.') {
                format!("0{t}")
            } else if t.starts_with("-.") {
                format!("-0{}", &t[1..])
            } else {
                t.clone()
            };
            fixed
                .trim_end_matches('.')
                .parse::<f64>()
                .ok()
                .or_else(|| fixed.parse().ok())
        }
    }
}

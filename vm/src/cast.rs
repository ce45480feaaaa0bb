//! `cast e as T` (LANGUAGE.md §14.11): convert, then check conformance to `T`.

use bumpalo::Bump;

use crate::error::ErrorKind;
use crate::program::{TypeId, TypeKind};
use crate::value::{canonical_text, Tri, Value};
use crate::verified::VerifiedProgram;

pub fn cast<'a>(
    p: &VerifiedProgram,
    ty: TypeId,
    v: Value<'a>,
    bump: &'a Bump,
) -> Result<Value<'a>, ErrorKind> {
    let v = v.plain();
    if v.is_undefined() {
        return Ok(Value::Undefined);
    }
    let mut base = ty;
    // Bounded: the verifier rejects alias cycles, this keeps a bad program from spinning.
    for _ in 0..64 {
        match &p.program.types[base].kind {
            TypeKind::Alias(t) => base = *t,
            _ => break,
        }
    }
    let converted = match &p.program.types[base].kind {
        TypeKind::String => Value::Str(bump.alloc_str(&canonical_text(v))),
        TypeKind::Number => match v {
            Value::Num(_) => v,
            Value::Str(s) => parse_number(s)
                .map(Value::Num)
                .ok_or_else(|| ErrorKind::CastText(s.to_string()))?,
            other => {
                return Err(ErrorKind::CastKind {
                    found: other.kind_name(),
                    to: "number".to_string(),
                })
            }
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
                return Err(ErrorKind::CastKind {
                    found: other.kind_name(),
                    to: p.program.types[base].name.clone(),
                })
            }
        },
        TypeKind::List(_) | TypeKind::Record(_) => match v {
            Value::List(_) => v,
            other => {
                return Err(ErrorKind::CastKind {
                    found: other.kind_name(),
                    to: p.program.types[base].name.clone(),
                })
            }
        },
        TypeKind::Map(_) | TypeKind::Document => match v {
            Value::Map(_) => v,
            other => {
                return Err(ErrorKind::CastKind {
                    found: other.kind_name(),
                    to: p.program.types[base].name.clone(),
                })
            }
        },
        TypeKind::Shape(_) | TypeKind::Any | TypeKind::Alias(_) => v,
    };
    crate::conform::check(p, ty, converted, 0).map_err(|reason| ErrorKind::CastShape {
        to: p.program.types[ty].name.clone(),
        reason,
    })?;
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

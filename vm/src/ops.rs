//! Operators on values: field and index access, arithmetic, ordering, equality, membership
//! and matching, as LANGUAGE.md §14 defines them. Each returns the value or the text of a
//! runtime error; the interpreter adds the location.

use bumpalo::Bump;

use crate::error::ErrorKind;
use crate::value::{deep_eq, map_get, Value};
use crate::verified::VerifiedProgram;

type Step<T> = Result<T, ErrorKind>;

/// [`get_field`] with the common case, a map receiver, looked up in place.
#[inline(always)]
pub(crate) fn field<'a>(
    p: &VerifiedProgram,
    recv: Value<'a>,
    name: &str,
    lenient: bool,
) -> Step<Value<'a>> {
    match recv {
        Value::Map(m) => Ok(map_get(m, name).unwrap_or(Value::Undefined)),
        other => get_field(p, other, name, lenient),
    }
}

pub(crate) fn get_field<'a>(
    p: &VerifiedProgram,
    recv: Value<'a>,
    name: &str,
    lenient: bool,
) -> Step<Value<'a>> {
    match recv {
        Value::Decision(d) => {
            match name {
                "state" => return Ok(d.state.value()),
                "value" => return Ok(d.value),
                _ => {}
            }
            let mut cur = Some(d);
            while let Some(dec) = cur {
                let info = &p.program.rules[dec.rule];
                if let Some(i) = info.attachments.iter().position(|(n, _)| n == name) {
                    return Ok(dec.attachments.get(i).copied().unwrap_or(Value::Undefined));
                }
                cur = dec.imported;
            }
            match d.value.plain() {
                Value::Map(m) => Ok(map_get(m, name).unwrap_or(Value::Undefined)),
                _ => Ok(Value::Undefined),
            }
        }
        Value::Map(m) => Ok(map_get(m, name).unwrap_or(Value::Undefined)),
        Value::Undefined | Value::Null | Value::Pending if lenient => Ok(Value::Undefined),
        other => Err(ErrorKind::FieldOf {
            field: name.to_string(),
            found: other.kind_name(),
        }),
    }
}

pub(crate) fn get_index<'a>(
    p: &VerifiedProgram,
    recv: Value<'a>,
    key: Value<'a>,
    lenient: bool,
) -> Step<Value<'a>> {
    let key = key.plain();
    match recv.plain() {
        Value::Map(m) => Ok(match key {
            Value::Str(k) => map_get(m, k).unwrap_or(Value::Undefined),
            _ => Value::Undefined,
        }),
        Value::List(items) => match key {
            Value::Num(n) => {
                let i = n.trunc();
                if i >= 0.0 && (i as usize) < items.len() {
                    Ok(items[i as usize])
                } else {
                    Ok(Value::Undefined)
                }
            }
            // Lenient operands forgive an undefined or null receiver, not a bad index.
            other => Err(ErrorKind::IndexWith(other.kind_name())),
        },
        Value::Undefined | Value::Null if lenient => Ok(Value::Undefined),
        other => {
            let _ = p;
            Err(ErrorKind::IndexOf(other.kind_name()))
        }
    }
}

/// Longest string `+` may build.
pub const MAX_STRING_BYTES: usize = 64 << 20;

pub(crate) fn add<'a>(a: Value<'a>, b: Value<'a>, bump: &'a Bump) -> Step<Value<'a>> {
    match (a.plain(), b.plain()) {
        (Value::Undefined, _) | (_, Value::Undefined) => Ok(Value::Undefined),
        (Value::Num(x), Value::Num(y)) => Ok(Value::Num(x + y)),
        (Value::Str(x), Value::Str(y)) => {
            if x.len() + y.len() > MAX_STRING_BYTES {
                return Err(ErrorKind::StringTooLong(MAX_STRING_BYTES >> 20));
            }
            let mut s = bumpalo::collections::String::with_capacity_in(x.len() + y.len(), bump);
            s.push_str(x);
            s.push_str(y);
            Ok(Value::Str(s.into_bump_str()))
        }
        (x, y) => Err(ErrorKind::Operands {
            op: "+",
            lhs: x.kind_name(),
            rhs: y.kind_name(),
        }),
    }
}

pub(crate) fn arith<'a>(a: Value<'a>, b: Value<'a>, op: char) -> Step<Value<'a>> {
    match (a.plain(), b.plain()) {
        (Value::Undefined, _) | (_, Value::Undefined) => Ok(Value::Undefined),
        (Value::Num(x), Value::Num(y)) => Ok(Value::Num(match op {
            '-' => x - y,
            '*' => x * y,
            '/' => {
                if y == 0.0 {
                    return Err(ErrorKind::DivideByZero);
                }
                x / y
            }
            _ => {
                if y == 0.0 {
                    return Err(ErrorKind::DivideByZero);
                }
                x % y
            }
        })),
        (x, y) => Err(ErrorKind::Operands {
            op: match op {
                '-' => "-",
                '*' => "*",
                '/' => "/",
                _ => "%",
            },
            lhs: x.kind_name(),
            rhs: y.kind_name(),
        }),
    }
}

pub(crate) fn compare<'a>(a: Value<'a>, b: Value<'a>, op: &'static str) -> Step<Value<'a>> {
    use std::cmp::Ordering;
    let ord = match (a.plain(), b.plain()) {
        (Value::Undefined, _) | (_, Value::Undefined) => return Ok(Value::Undefined),
        (Value::Num(x), Value::Num(y)) => x.partial_cmp(&y),
        (Value::Str(x), Value::Str(y)) => Some(x.cmp(y)),
        (x, y) => {
            return Err(ErrorKind::Compare {
                op,
                lhs: x.kind_name(),
                rhs: y.kind_name(),
            })
        }
    };
    let res = match (ord, op) {
        (None, _) => false,
        (Some(o), "<") => o == Ordering::Less,
        (Some(o), "<=") => o != Ordering::Greater,
        (Some(o), ">") => o == Ordering::Greater,
        (Some(o), _) => o != Ordering::Less,
    };
    Ok(Value::Bool(res))
}

/// `==` (`!=` when `negate`). Two strings or two numbers get `deep_eq`'s answer and budget
/// charge in place, without the walk.
#[inline(always)]
pub(crate) fn equals<'a>(a: Value<'a>, b: Value<'a>, negate: bool) -> Value<'a> {
    match (a, b) {
        (Value::Str(x), Value::Str(y)) => Value::Bool((crate::work::visit() && x == y) != negate),
        (Value::Num(x), Value::Num(y)) => Value::Bool((crate::work::visit() && x == y) != negate),
        _ => equals_deep(a, b, negate),
    }
}

fn equals_deep<'a>(a: Value<'a>, b: Value<'a>, negate: bool) -> Value<'a> {
    if a.is_undefined() || b.is_undefined() {
        return Value::Undefined;
    }
    Value::Bool(deep_eq(a, b, 0) != negate)
}

/// [`contains`] with the common case, a string looked for in a list, answered in place.
#[inline(always)]
pub(crate) fn contains_in<'a>(hay: Value<'a>, needle: Value<'a>) -> Value<'a> {
    if let (Value::List(items), Value::Str(_)) = (hay, needle) {
        return Value::Bool(list_has_scalar(items, needle));
    }
    contains(hay, needle)
}

pub(crate) fn contains<'a>(hay: Value<'a>, needle: Value<'a>) -> Value<'a> {
    let (hay, needle) = (hay.plain(), needle.plain());
    if hay.is_undefined() || needle.is_undefined() {
        return Value::Undefined;
    }
    Value::Bool(match (hay, needle) {
        (Value::List(items), Value::Str(_) | Value::Num(_) | Value::Bool(_)) => {
            list_has_scalar(items, needle)
        }
        (Value::List(items), n) => items.iter().any(|x| !x.is_undefined() && deep_eq(*x, n, 0)),
        (Value::Map(m), Value::Str(k)) => map_get(m, k).is_some(),
        (Value::Map(m), Value::Map(sub)) => sub
            .iter()
            .all(|(k, v)| map_get(m, k).is_some_and(|x| deep_eq(x, *v, 0))),
        (Value::Str(s), Value::Str(t)) => !t.is_empty() && s.contains(t),
        _ => false,
    })
}

/// Whether `items` holds the string, number or boolean `scalar`: one budget charge for the
/// whole list, no walk per element.
#[inline(always)]
fn list_has_scalar(items: &[Value<'_>], scalar: Value<'_>) -> bool {
    crate::work::spend(items.len() + 1) && items.iter().any(|x| scalar_eq(x.plain(), scalar))
}

/// `deep_eq` of a plain value and a string, number or boolean.
#[inline]
fn scalar_eq(x: Value<'_>, scalar: Value<'_>) -> bool {
    match (x, scalar) {
        (Value::Str(a), Value::Str(b)) => a == b,
        (Value::Num(a), Value::Num(b)) => a == b,
        (Value::Bool(a), Value::Bool(b)) => a == b,
        _ => false,
    }
}

pub(crate) fn matches_dyn<'a>(s: Value<'a>, pat: Value<'a>) -> Step<Value<'a>> {
    match (s.plain(), pat.plain()) {
        (Value::Undefined, _) | (_, Value::Undefined) => Ok(Value::Undefined),
        (Value::Str(s), Value::Str(p)) => crate::regex_cache::is_match(p, s)
            .map(Value::Bool)
            .map_err(ErrorKind::BadPattern),
        (x, y) => Err(ErrorKind::MatchOperands {
            lhs: x.kind_name(),
            rhs: y.kind_name(),
        }),
    }
}

pub(crate) fn unary_num<'a>(v: Value<'a>, neg: bool) -> Step<Value<'a>> {
    match v.plain() {
        Value::Undefined => Ok(Value::Undefined),
        Value::Num(n) => Ok(Value::Num(if neg { -n } else { n })),
        other => Err(ErrorKind::Unary {
            op: if neg { '-' } else { '+' },
            found: other.kind_name(),
        }),
    }
}

pub(crate) fn is_empty(v: Value<'_>) -> bool {
    match v.plain() {
        Value::Undefined | Value::Null | Value::Pending => true,
        Value::Str(s) => s.is_empty(),
        Value::List(l) => l.is_empty(),
        Value::Map(m) => m.is_empty(),
        _ => false,
    }
}

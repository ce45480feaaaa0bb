//! Core builtin functions (LANGUAGE.md §15), implemented natively. Arity was checked by the
//! compiler; argument kinds are checked here and reported as runtime errors.

use bumpalo::collections::Vec as BumpVec;
use bumpalo::Bump;

use crate::error::ErrorKind;
use crate::program::Builtin;
use crate::value::{canonical_text, Value};

pub type BuiltinResult<'a> = Result<Value<'a>, ErrorKind>;

/// Builtin name, arity range and id, as seen by the compiler.
pub fn lookup(name: &str) -> Option<(Builtin, usize, usize)> {
    Some(match name {
        "count" => (Builtin::Count, 1, 1),
        "merge" => (Builtin::Merge, 2, 2),
        "error" => (Builtin::Error, 1, usize::MAX),
        "as_list" => (Builtin::AsList, 1, 1),
        "flatten" => (Builtin::Flatten, 1, 2),
        "flatten_deep" => (Builtin::FlattenDeep, 1, 1),
        "normalise_list" => (Builtin::NormaliseList, 1, 1),
        _ => return None,
    })
}

pub fn call<'a>(b: Builtin, args: &[Value<'a>], bump: &'a Bump) -> BuiltinResult<'a> {
    let arg = |i: usize| args.get(i).map_or(Value::Undefined, |v| v.plain());
    match b {
        Builtin::Count => Ok(Value::Num(count(arg(0)))),
        Builtin::Merge => match (arg(0), arg(1)) {
            (Value::Map(a), Value::Map(b)) => Ok(merge(a, b, bump, 0)),
            _ => Err(ErrorKind::Builtin("type error: merge expects two maps")),
        },
        Builtin::Error => match arg(0) {
            Value::Str(_) => Err(ErrorKind::Raised(format_error(args))),
            _ => Err(ErrorKind::Builtin("error: the message must be a string")),
        },
        Builtin::AsList => Ok(match arg(0) {
            Value::Undefined => Value::Undefined,
            Value::List(items) if items.iter().any(|x| x.is_undefined()) => Value::Undefined,
            v @ Value::List(_) => v,
            v => Value::List(bump.alloc_slice_copy(&[v])),
        }),
        Builtin::Flatten | Builtin::FlattenDeep => {
            let depth = if b == Builtin::FlattenDeep {
                u32::MAX
            } else {
                match arg(1) {
                    Value::Undefined if args.len() > 1 => return Ok(Value::Undefined),
                    Value::Undefined => 1,
                    Value::Num(n) if n >= 0.0 && n.fract() == 0.0 => n.min(u32::MAX as f64) as u32,
                    _ => {
                        return Err(ErrorKind::Builtin(
                            "flatten: depth must be a non-negative integer",
                        ))
                    }
                }
            };
            match arg(0) {
                Value::Undefined => Ok(Value::Undefined),
                // Depth 0 visits no list: `xs` as it is, undefined elements included.
                v @ Value::List(_) if depth == 0 => Ok(v),
                Value::List(items) => {
                    let mut out = BumpVec::new_in(bump);
                    if flatten_into(items, depth, &mut out, 0) {
                        Ok(Value::List(out.into_bump_slice()))
                    } else {
                        Ok(Value::Undefined)
                    }
                }
                _ => Err(ErrorKind::Builtin("flatten: first argument must be a list")),
            }
        }
        Builtin::NormaliseList => normalise_list(arg(0), bump),
    }
}

/// `as_list`, then one level flattened (LANGUAGE.md §15.1). Undefined anywhere in the top or
/// second level gives undefined, whatever else the list holds; only then is a list nested two
/// levels deep an error. The answer never depends on the order of the elements.
fn normalise_list<'a>(v: Value<'a>, bump: &'a Bump) -> BuiltinResult<'a> {
    let items: &[Value<'a>] = match v {
        Value::Undefined => return Ok(Value::Undefined),
        Value::List(items) => items,
        other => bump.alloc_slice_copy(&[other]),
    };
    let second = |x: &Value<'a>| match x.plain() {
        Value::List(inner) => inner,
        _ => &[],
    };
    let undefined = items.iter().any(|x| x.is_undefined())
        || items
            .iter()
            .any(|x| second(x).iter().any(|y| y.is_undefined()));
    if undefined {
        return Ok(Value::Undefined);
    }
    if items.iter().any(|x| {
        second(x)
            .iter()
            .any(|y| matches!(y.plain(), Value::List(_)))
    }) {
        return Err(ErrorKind::Builtin(
            "normalise_list: input contains deeper than one level of nesting",
        ));
    }
    let mut out = BumpVec::new_in(bump);
    for x in items {
        match x.plain() {
            Value::List(inner) => out.extend(inner.iter().map(|y| y.plain())),
            other => out.push(other),
        }
    }
    Ok(Value::List(out.into_bump_slice()))
}

pub fn count(v: Value<'_>) -> f64 {
    match v.plain() {
        Value::List(items) => items.len() as f64,
        Value::Str(s) => s.chars().count() as f64,
        Value::Map(m) => m.len() as f64,
        _ => 0.0,
    }
}

fn merge<'a>(
    a: crate::value::MapRef<'a>,
    b: crate::value::MapRef<'a>,
    bump: &'a Bump,
    depth: u32,
) -> Value<'a> {
    let mut out: BumpVec<'a, (&'a str, Value<'a>)> =
        BumpVec::with_capacity_in(a.len() + b.len(), bump);
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        if !crate::work::visit() {
            break;
        }
        if j >= b.len() || (i < a.len() && a[i].0 < b[j].0) {
            out.push(a[i]);
            i += 1;
        } else if i >= a.len() || b[j].0 < a[i].0 {
            out.push(b[j]);
            j += 1;
        } else {
            let merged = match (a[i].1.plain(), b[j].1.plain()) {
                (Value::Map(x), Value::Map(y)) if crate::work::enter(depth + 1) => {
                    merge(x, y, bump, depth + 1)
                }
                _ => b[j].1,
            };
            out.push((a[i].0, merged));
            i += 1;
            j += 1;
        }
    }
    Value::Map(out.into_bump_slice())
}

/// Returns false when an undefined element was met (the result is then undefined).
fn flatten_into<'a>(
    items: &[Value<'a>],
    depth: u32,
    out: &mut BumpVec<'a, Value<'a>>,
    level: u32,
) -> bool {
    for x in items {
        if !crate::work::visit() {
            return false;
        }
        match x.plain() {
            Value::Undefined => return false,
            Value::List(inner) if depth > 0 => {
                if !crate::work::enter(level + 1) {
                    return false;
                }
                if !flatten_into(inner, depth - 1, out, level + 1) {
                    return false;
                }
            }
            other => out.push(other),
        }
    }
    true
}

/// `error(fmt, args...)` formatting: `%v %s %d %%`, other verbs copied, missing → `%!v(MISSING)`.
pub fn format_error(args: &[Value<'_>]) -> String {
    let fmt = match args.first().map(|v| v.plain()) {
        Some(Value::Str(s)) => s,
        Some(other) => return canonical_text(other),
        None => return String::new(),
    };
    let mut out = String::new();
    let mut next = 1;
    let mut chars = fmt.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('%') => out.push('%'),
            Some(verb @ ('v' | 's' | 'd')) => match args.get(next) {
                Some(v) => {
                    next += 1;
                    match (verb, v.plain()) {
                        ('d', Value::Num(n)) => out.push_str(&crate::value::number_text(n.trunc())),
                        (_, other) => out.push_str(&canonical_text(other)),
                    }
                }
                None => out.push_str(&format!("%!{verb}(MISSING)")),
            },
            Some(other) => {
                out.push('%');
                out.push(other);
            }
            None => out.push('%'),
        }
    }
    if out.len() > MAX_ERROR_TEXT {
        let mut cut = MAX_ERROR_TEXT;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
        out.push_str("… (truncated)");
    }
    out
}

/// Longest message `error(...)` raises; longer formatted text is cut.
const MAX_ERROR_TEXT: usize = 16 << 10;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_formatting_follows_the_go_subset() {
        let bump = Bump::new();
        let args = [
            Value::Str("%s has %d items, %v%% %x %v"),
            Value::Str("cart"),
            Value::Num(3.9),
            Value::Bool(true),
        ];
        assert_eq!(
            format_error(&args),
            "cart has 3 items, true% %x %!v(MISSING)"
        );
        let _ = &bump;
    }
}

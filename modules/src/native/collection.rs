//! `@sentrie/collection`: list and map helpers. Equality is deep equality (§14.6); maps are
//! iterated in sorted key order.

use bumpalo::collections::Vec as BumpVec;

use super::{alloc_str, arity, list, num_arg, Env, Export};
use sentrie_vm::value::{deep_eq, map_get, sort_key_cmp, MapRef, Value};

type R<'a> = Result<Value<'a>, String>;

fn list_arg<'a>(name: &str, v: Value<'a>) -> Result<&'a [Value<'a>], String> {
    match v.plain() {
        Value::List(items) => Ok(items),
        other => Err(format!(
            "{name} expects a list, found {}",
            other.kind_name()
        )),
    }
}

fn map_arg<'a>(name: &str, v: Value<'a>) -> Result<MapRef<'a>, String> {
    match v.plain() {
        Value::Map(m) => Ok(m),
        other => Err(format!("{name} expects a map, found {}", other.kind_name())),
    }
}

fn includes<'a>(args: &[Value<'a>], _env: &Env<'a>) -> R<'a> {
    arity("list_includes", args, 2, 2)?;
    Ok(Value::Bool(match args[0].plain() {
        Value::List(items) => items.iter().any(|x| deep_eq(*x, args[1], 0)),
        _ => false,
    }))
}

fn index_of<'a>(args: &[Value<'a>], _env: &Env<'a>) -> R<'a> {
    arity("list_indexOf", args, 2, 2)?;
    Ok(Value::Num(match args[0].plain() {
        Value::List(items) => items
            .iter()
            .position(|x| deep_eq(*x, args[1], 0))
            .map_or(-1.0, |i| i as f64),
        _ => -1.0,
    }))
}

fn last_index_of<'a>(args: &[Value<'a>], _env: &Env<'a>) -> R<'a> {
    arity("list_lastIndexOf", args, 2, 2)?;
    Ok(Value::Num(match args[0].plain() {
        Value::List(items) => items
            .iter()
            .rposition(|x| deep_eq(*x, args[1], 0))
            .map_or(-1.0, |i| i as f64),
        _ => -1.0,
    }))
}

fn sort<'a>(args: &[Value<'a>], env: &Env<'a>) -> R<'a> {
    arity("list_sort", args, 1, 1)?;
    let items = list_arg("list_sort", args[0])?;
    let mut v: BumpVec<'a, Value<'a>> = BumpVec::from_iter_in(items.iter().copied(), env.bump);
    // Each comparison spends from the work budget, which also watches the deadline; once
    // it is spent the remaining comparisons are trivial and the call fails.
    v.sort_by(|a, b| {
        if sentrie_vm::work::visit() {
            sort_key_cmp(*a, *b)
        } else {
            std::cmp::Ordering::Equal
        }
    });
    if sentrie_vm::work::exhausted() {
        return Err(sentrie_vm::work::exhausted_message().to_string());
    }
    Ok(Value::List(v.into_bump_slice()))
}

/// First occurrences, in order. Elements are bucketed by a hash that agrees with deep
/// equality, so the work is linear in the size of the list, not quadratic in its length.
fn unique<'a>(args: &[Value<'a>], env: &Env<'a>) -> R<'a> {
    arity("list_unique", args, 1, 1)?;
    let items = list_arg("list_unique", args[0])?;
    let mut out: BumpVec<'a, Value<'a>> = BumpVec::new_in(env.bump);
    let mut seen: std::collections::HashMap<u64, Vec<usize>> = std::collections::HashMap::new();
    for x in items {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        hash_value(*x, 0, &mut h);
        if sentrie_vm::work::exhausted() {
            return Err(sentrie_vm::work::exhausted_message().to_string());
        }
        let bucket = seen.entry(std::hash::Hasher::finish(&h)).or_default();
        if !bucket.iter().any(|i| deep_eq(*x, out[*i], 0)) {
            bucket.push(out.len());
            out.push(*x);
        }
    }
    Ok(Value::List(out.into_bump_slice()))
}

/// A hash consistent with [`deep_eq`]: equal values hash equally (`0` and `-0` alike; NaN,
/// equal to nothing, may hash anywhere). Spends the work budget like any deep walk.
fn hash_value(v: Value<'_>, depth: u32, h: &mut impl std::hash::Hasher) {
    if !sentrie_vm::work::enter(depth) {
        return;
    }
    match v.plain() {
        Value::Undefined | Value::Pending => h.write_u8(0),
        Value::Null => h.write_u8(1),
        Value::Unknown => h.write_u8(2),
        Value::Bool(b) => h.write_u8(3 + u8::from(b)),
        Value::Num(n) => {
            h.write_u8(5);
            h.write_u64(if n == 0.0 { 0 } else { n.to_bits() });
        }
        Value::Str(s) => {
            h.write_u8(6);
            h.write(s.as_bytes());
            h.write_u8(0xff);
        }
        Value::List(items) => {
            h.write_u8(7);
            h.write_usize(items.len());
            for x in items {
                hash_value(*x, depth + 1, h);
            }
        }
        Value::Map(entries) => {
            h.write_u8(8);
            h.write_usize(entries.len());
            for (k, x) in entries {
                h.write(k.as_bytes());
                h.write_u8(0xff);
                hash_value(*x, depth + 1, h);
            }
        }
        Value::Decision(d) => hash_value(d.value, depth + 1, h),
    }
}

fn chunk<'a>(args: &[Value<'a>], env: &Env<'a>) -> R<'a> {
    arity("list_chunk", args, 2, 2)?;
    let items = list_arg("list_chunk", args[0])?;
    let n = num_arg(args, 1).trunc();
    if n.is_nan() || n < 1.0 {
        return Err("list_chunk: size must be at least 1".to_string());
    }
    let n = n.min(items.len().max(1) as f64) as usize;
    Ok(list(env, items.chunks(n).map(Value::List)))
}

fn flatten_all<'a>(args: &[Value<'a>], env: &Env<'a>) -> R<'a> {
    arity("list_flatten", args, 1, 1)?;
    let items = list_arg("list_flatten", args[0])?;
    let mut out: BumpVec<'a, Value<'a>> = BumpVec::new_in(env.bump);
    let mut stack: Vec<(&'a [Value<'a>], usize)> = vec![(items, 0)];
    while let Some((cur, i)) = stack.pop() {
        if i >= cur.len() {
            continue;
        }
        if !sentrie_vm::work::visit() {
            return Err(sentrie_vm::work::exhausted_message().to_string());
        }
        stack.push((cur, i + 1));
        match cur[i].plain() {
            Value::List(inner) => {
                if !sentrie_vm::work::enter(stack.len() as u32) {
                    return Err(sentrie_vm::work::exhausted_message().to_string());
                }
                stack.push((inner, 0))
            }
            other => out.push(other),
        }
    }
    Ok(Value::List(out.into_bump_slice()))
}

fn keys<'a>(args: &[Value<'a>], env: &Env<'a>) -> R<'a> {
    arity("map_keys", args, 1, 1)?;
    let m = map_arg("map_keys", args[0])?;
    Ok(list(env, m.iter().map(|(k, _)| Value::Str(k))))
}

fn values<'a>(args: &[Value<'a>], env: &Env<'a>) -> R<'a> {
    arity("map_values", args, 1, 1)?;
    let m = map_arg("map_values", args[0])?;
    Ok(list(env, m.iter().map(|(_, v)| *v)))
}

fn entries<'a>(args: &[Value<'a>], env: &Env<'a>) -> R<'a> {
    arity("map_entries", args, 1, 1)?;
    let m = map_arg("map_entries", args[0])?;
    Ok(list(
        env,
        m.iter().map(|(k, v)| list(env, [Value::Str(k), *v])),
    ))
}

fn has<'a>(args: &[Value<'a>], _env: &Env<'a>) -> R<'a> {
    arity("map_has", args, 2, 2)?;
    Ok(Value::Bool(match (args[0].plain(), args[1].plain()) {
        (Value::Map(m), Value::Str(k)) => map_get(m, k).is_some(),
        _ => false,
    }))
}

fn get<'a>(args: &[Value<'a>], env: &Env<'a>) -> R<'a> {
    arity("map_get", args, 2, 3)?;
    let m = map_arg("map_get", args[0])?;
    let key = super::str_arg(args, 1);
    let _ = alloc_str;
    let _ = env;
    Ok(map_get(m, &key).unwrap_or_else(|| args.get(2).copied().unwrap_or(Value::Undefined)))
}

fn size<'a>(args: &[Value<'a>], _env: &Env<'a>) -> R<'a> {
    arity("map_size", args, 1, 1)?;
    Ok(Value::Num(map_arg("map_size", args[0])?.len() as f64))
}

fn is_empty<'a>(args: &[Value<'a>], _env: &Env<'a>) -> R<'a> {
    arity("map_isEmpty", args, 1, 1)?;
    Ok(Value::Bool(map_arg("map_isEmpty", args[0])?.is_empty()))
}

fn merge<'a>(args: &[Value<'a>], env: &Env<'a>) -> R<'a> {
    arity("map_merge", args, 2, usize::MAX)?;
    let mut entries: BumpVec<'a, (&'a str, Value<'a>)> = BumpVec::new_in(env.bump);
    for a in args {
        entries.extend(map_arg("map_merge", *a)?.iter().copied());
    }
    Ok(Value::Map(sentrie_vm::json::sort_entries(
        env.bump, entries,
    )))
}

pub fn lookup(name: &str) -> Option<Export> {
    let f: super::NativeFn = match name {
        "list_includes" => includes,
        "list_indexOf" => index_of,
        "list_lastIndexOf" => last_index_of,
        "list_sort" => sort,
        "list_unique" => unique,
        "list_chunk" => chunk,
        "list_flatten" => flatten_all,
        "map_keys" => keys,
        "map_values" => values,
        "map_entries" => entries,
        "map_has" => has,
        "map_get" => get,
        "map_size" => size,
        "map_isEmpty" => is_empty,
        "map_merge" => merge,
        _ => return None,
    };
    Some(Export::Function(f))
}

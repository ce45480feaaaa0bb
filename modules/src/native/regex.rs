//! `@sentrie/regex` (RE2 syntax of the `regex` crate, patterns cached per thread): match,
//! find, findAll, replace (first), replaceAll (`$1`/`${name}` expand groups), split.

use super::{alloc_str, arity, list, str_arg, Env, Export};
use sentrie_vm::regex_cache::with_regex;
use sentrie_vm::value::Value;

type R<'a> = Result<Value<'a>, String>;

fn is_match<'a>(args: &[Value<'a>], _env: &Env<'a>) -> R<'a> {
    arity("match", args, 2, 2)?;
    let s = str_arg(args, 1);
    with_regex(&str_arg(args, 0), |re| Value::Bool(re.is_match(&s)))
}

fn find<'a>(args: &[Value<'a>], env: &Env<'a>) -> R<'a> {
    arity("find", args, 2, 2)?;
    let s = str_arg(args, 1);
    let found = with_regex(&str_arg(args, 0), |re| {
        re.find(&s).map(|m| m.as_str().to_string())
    })?;
    Ok(match found {
        Some(m) if !m.is_empty() => alloc_str(env, &m),
        _ => Value::Null,
    })
}

/// Most pieces `findAll` and `split` return.
const MAX_PIECES: usize = 1 << 20;

/// The pieces as a list, or an error when there were more than `MAX_PIECES` (the caller
/// collects at most one more).
fn piece_list<'a>(name: &str, env: &Env<'a>, pieces: &[String]) -> R<'a> {
    if pieces.len() > MAX_PIECES {
        return Err(format!("{name}: more than {MAX_PIECES} pieces"));
    }
    Ok(list(env, pieces.iter().map(|p| alloc_str(env, p))))
}

fn find_all<'a>(args: &[Value<'a>], env: &Env<'a>) -> R<'a> {
    arity("findAll", args, 2, 2)?;
    let s = str_arg(args, 1);
    let all: Vec<String> = with_regex(&str_arg(args, 0), |re| {
        re.find_iter(&s)
            .take(MAX_PIECES + 1)
            .map(|m| m.as_str().to_string())
            .collect()
    })?;
    piece_list("findAll", env, &all)
}

fn replace<'a>(args: &[Value<'a>], env: &Env<'a>) -> R<'a> {
    arity("replace", args, 3, 3)?;
    let (s, r) = (str_arg(args, 1), str_arg(args, 2));
    let out = with_regex(&str_arg(args, 0), |re| {
        re.replace(&s, r.as_str()).into_owned()
    })?;
    Ok(alloc_str(env, &out))
}

fn replace_all<'a>(args: &[Value<'a>], env: &Env<'a>) -> R<'a> {
    arity("replaceAll", args, 3, 3)?;
    let (s, r) = (str_arg(args, 1), str_arg(args, 2));
    let out = with_regex(&str_arg(args, 0), |re| {
        // Every position of `s` can match, each expanding `r`: build piece by piece and stop
        // at the string limit instead of allocating the product.
        let limit = sentrie_vm::ops::MAX_STRING_BYTES;
        let mut out = String::new();
        let mut last = 0;
        for caps in re.captures_iter(&s) {
            let Some(m) = caps.get(0) else { continue };
            out.push_str(&s[last..m.start()]);
            caps.expand(r.as_str(), &mut out);
            last = m.end();
            if out.len() > limit {
                return Err(format!(
                    "replaceAll: result longer than {} MiB",
                    limit >> 20
                ));
            }
        }
        out.push_str(&s[last..]);
        Ok(out)
    })??;
    Ok(alloc_str(env, &out))
}

fn split<'a>(args: &[Value<'a>], env: &Env<'a>) -> R<'a> {
    arity("split", args, 2, 2)?;
    let s = str_arg(args, 1);
    let parts: Vec<String> = with_regex(&str_arg(args, 0), |re| {
        re.split(&s)
            .take(MAX_PIECES + 1)
            .map(str::to_string)
            .collect()
    })?;
    piece_list("split", env, &parts)
}

pub fn lookup(name: &str) -> Option<Export> {
    let f: super::NativeFn = match name {
        "match" => is_match,
        "find" => find,
        "findAll" => find_all,
        "replace" => replace,
        "replaceAll" => replace_all,
        "split" => split,
        _ => return None,
    };
    Some(Export::Function(f))
}

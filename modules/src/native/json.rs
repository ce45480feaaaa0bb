//! `@sentrie/json`: `isValid(s)` — true iff `s` is one complete JSON value.

use super::{arity, str_arg, Env, Export};
use sentrie_vm::value::Value;

fn is_valid<'a>(args: &[Value<'a>], _env: &Env<'a>) -> Result<Value<'a>, String> {
    arity("isValid", args, 1, 1)?;
    let s = str_arg(args, 0);
    Ok(Value::Bool(
        serde_json::from_str::<serde::de::IgnoredAny>(&s).is_ok(),
    ))
}

pub fn lookup(name: &str) -> Option<Export> {
    match name {
        "isValid" => Some(Export::Function(is_valid)),
        _ => None,
    }
}

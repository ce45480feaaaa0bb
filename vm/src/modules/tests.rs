//! Unit tests of the builtin modules: each function's results, argument conversions and
//! errors, called directly with arena values.

use bumpalo::Bump;
use serde_json::{json, Value as J};

use super::{function, js_number, js_string, lookup, parse_js_number, Env, Export};
use crate::json::{decode, to_json};
use crate::program::Const;

/// Calls `@sentrie/module.name` with JSON arguments.
fn call(module: &str, name: &str, args: &[J]) -> Result<J, String> {
    let bump = Bump::new();
    let f = function(module, name).unwrap_or_else(|| panic!("{module}.{name} missing"));
    let vals: Vec<crate::Value<'_>> = args
        .iter()
        .map(|a| {
            if a == &json!("__undefined__") {
                crate::Value::Undefined
            } else {
                decode(a.to_string().as_bytes(), &bump).unwrap()
            }
        })
        .collect();
    let env = Env {
        bump: &bump,
        now_ms: 1_705_314_600_000,
    };
    f(&vals, &env).map(to_json)
}

fn ok(module: &str, name: &str, args: &[J], want: J) {
    assert_eq!(
        call(module, name, args),
        Ok(want),
        "{module}.{name}({args:?})"
    );
}

fn err(module: &str, name: &str, args: &[J], phrase: &str) {
    match call(module, name, args) {
        Err(e) => assert!(
            e.contains(phrase),
            "{module}.{name}: `{e}` lacks `{phrase}`"
        ),
        Ok(v) => panic!("{module}.{name}({args:?}) should fail, got {v}"),
    }
}

#[test]
fn js_conversions() {
    let bump = Bump::new();
    let v = |t: &str| decode(t.as_bytes(), &bump).unwrap();
    assert_eq!(js_string(v("[1,null,\"a\",[2,3]]")), "1,,a,2,3");
    assert_eq!(js_string(v("{\"a\":1}")), "[object Object]");
    assert_eq!(js_string(v("0.1")), "0.1");
    assert_eq!(js_string(crate::Value::Undefined), "undefined");
    assert_eq!(js_number(v("\"  12  \"")), 12.0);
    assert_eq!(js_number(v("\"\"")), 0.0);
    assert_eq!(js_number(v("[\"7\"]")), 7.0);
    assert_eq!(js_number(v("true")), 1.0);
    assert!(js_number(v("\"12px\"")).is_nan());
    assert_eq!(parse_js_number("0x1F"), 31.0);
    assert_eq!(parse_js_number("-Infinity"), f64::NEG_INFINITY);
    assert!(parse_js_number("-0x1F").is_nan());
}

#[test]
fn hashes_and_hmac() {
    ok(
        "hash",
        "md5",
        &[json!("")],
        json!("d41d8cd98f00b204e9800998ecf8427e"),
    );
    ok(
        "hash",
        "sha1",
        &[json!("abc")],
        json!("a9993e364706816aba3e25717850c26c9cd0d89d"),
    );
    ok(
        "hash",
        "sha256",
        &[json!(42)],
        json!("73475cb40a568e8da8a045ced110137e159f890ac4da883b6b17dc651b3a8049"),
    );
    ok(
        "crypto",
        "sha256",
        &[json!("abc")],
        json!("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
    );
    ok(
        "hash",
        "hmac",
        &[json!("md5"), json!("data"), json!("k")],
        json!("c7110920bcc2b49d73c50ba707dd0630"),
    );
    err(
        "hash",
        "hmac",
        &[json!("sha3"), json!("d"), json!("k")],
        "unsupported algorithm",
    );
    err("hash", "sha256", &[], "sha256 requires 1 argument");
}

#[test]
fn encodings() {
    ok("encoding", "base64Encode", &[json!("hi?")], json!("aGk/"));
    ok(
        "encoding",
        "base64UrlEncode",
        &[json!("hi?")],
        json!("aGk_"),
    );
    ok(
        "encoding",
        "base64UrlDecode",
        &[json!("aGk_")],
        json!("hi?"),
    );
    ok("encoding", "hexDecode", &[json!("E282AC")], json!("€"));
    ok(
        "encoding",
        "urlDecode",
        &[json!("%E2%82%AC+x")],
        json!("€ x"),
    );
    ok(
        "encoding",
        "base64Decode",
        &[json!("/w==")],
        json!("\u{FFFD}"),
    );
    err("encoding", "hexDecode", &[json!("abc")], "odd number");
    err("encoding", "urlDecode", &[json!("%zz")], "invalid escape");
    err(
        "encoding",
        "base64UrlDecode",
        &[json!("a+b/")],
        "invalid base64url",
    );
}

#[test]
fn js_math_and_numbers() {
    ok("js", "round", &[json!(-0.5)], json!(0));
    ok("js", "round", &[json!(0.49999999999999994)], json!(0));
    ok("js", "max", &[json!(1), json!("5"), json!(3)], json!(5));
    ok("js", "max", &[json!(1), json!("x")], J::Null);
    ok("js", "pow", &[json!(1), json!("__undefined__")], J::Null);
    ok("js", "sqrt", &[json!(-1)], J::Null);
    ok("js", "abs", &[json!(-3)], json!(3));
    ok(
        "js",
        "atan2",
        &[json!(0), json!(-1)],
        json!(std::f64::consts::PI),
    );
    ok("js", "isNaN", &[json!("x")], json!(false));
    ok("js", "isInteger", &[json!(5.0)], json!(true));
    ok("js", "isFinite", &[json!("1")], json!(false));
    ok("js", "parseInt", &[json!("  -0x1A")], json!(-26));
    ok("js", "parseInt", &[json!("12"), json!(37)], J::Null);
    ok("js", "parseInt", &[json!("z")], J::Null);
    ok("js", "parseFloat", &[json!(".5e1x")], json!(5));
    ok("js", "parseFloat", &[json!("-Infinityx")], J::Null);
    ok("js", "length", &[json!("😀a")], json!(3));
    ok(
        "js",
        "fromCharCode",
        &[json!(65), json!(65601)],
        json!("AA"),
    );
    ok("js", "add", &[json!("2"), json!(3)], json!(5));
    err("js", "div", &[json!(1), json!(0)], "divide by zero");
    assert!(
        matches!(lookup("js", "PI"), Some(Export::Const(Const::Num(p))) if p == std::f64::consts::PI)
    );
    let r = call("js", "random", &[]).unwrap().as_f64().unwrap();
    assert!((0.0..1.0).contains(&r));
}

#[test]
fn js_dates_and_json() {
    ok("js", "now", &[], json!(1_705_314_600_000_i64));
    ok(
        "js",
        "dateParse",
        &[json!("2024-01-15T12:30:00.5+02:00")],
        json!(1_705_314_600_500_i64),
    );
    ok(
        "js",
        "dateParse",
        &[json!("2024-02")],
        json!(1_706_745_600_000_i64),
    );
    ok("js", "dateParse", &[json!("2024-13-01")], J::Null);
    ok(
        "js",
        "UTC",
        &[json!(2024), json!(12), json!(1)],
        json!(1_735_689_600_000_i64),
    );
    ok(
        "js",
        "stringify",
        &[json!({"k": [1.5, "é"]})],
        json!("{\"k\":[1.5,\"é\"]}"),
    );
    ok("js", "stringify", &[json!("__undefined__")], J::Null);
    ok(
        "js",
        "parse",
        &[json!("[1, {\"a\": null}]")],
        json!([1, {"a": null}]),
    );
    err("js", "parse", &[json!("{")], "parse");
    ok("js", "isArray", &[json!([])], json!(true));
    ok("js", "from", &[json!("ab")], json!(["a", "b"]));
    ok("js", "of", &[json!(1), json!("x")], json!([1, "x"]));
    ok("json", "isValid", &[json!(" {\"a\": 1} ")], json!(true));
    ok("json", "isValid", &[json!("{} {}")], json!(false));
}

#[test]
fn regexes() {
    ok("regex", "find", &[json!("x*"), json!("abc")], J::Null);
    ok(
        "regex",
        "findAll",
        &[json!("\\d"), json!("a1b2")],
        json!(["1", "2"]),
    );
    ok(
        "regex",
        "replace",
        &[json!("(?P<w>b)"), json!("abcb"), json!("[${w}]")],
        json!("a[b]cb"),
    );
    ok(
        "regex",
        "split",
        &[json!("-"), json!("a--b")],
        json!(["a", "", "b"]),
    );
    err(
        "regex",
        "match",
        &[json!("a{1000000}"), json!("a")],
        "invalid regular expression",
    );
}

#[test]
fn collections() {
    ok(
        "collection",
        "list_includes",
        &[json!([[1], {"a": 1}]), json!({"a": 1})],
        json!(true),
    );
    ok(
        "collection",
        "list_includes",
        &[json!("abc"), json!("a")],
        json!(false),
    );
    ok(
        "collection",
        "list_lastIndexOf",
        &[json!([1, 2, 1]), json!(1)],
        json!(2),
    );
    ok(
        "collection",
        "list_indexOf",
        &[json!({}), json!(1)],
        json!(-1),
    );
    ok(
        "collection",
        "list_sort",
        &[json!([true, 2, "a", 1, null])],
        json!([1, 2, "a", true, null]),
    );
    ok(
        "collection",
        "list_chunk",
        &[json!([1, 2, 3]), json!(2.9)],
        json!([[1, 2], [3]]),
    );
    ok(
        "collection",
        "map_values",
        &[json!({"b": 2, "a": 1})],
        json!([1, 2]),
    );
    ok(
        "collection",
        "map_entries",
        &[json!({"a": 1})],
        json!([["a", 1]]),
    );
    ok(
        "collection",
        "map_has",
        &[json!([]), json!("a")],
        json!(false),
    );
    ok(
        "collection",
        "map_size",
        &[json!({"a": 1, "b": 2})],
        json!(2),
    );
    ok("collection", "map_isEmpty", &[json!({})], json!(true));
    err("collection", "list_sort", &[json!("x")], "expects a list");
    err(
        "collection",
        "list_chunk",
        &[json!([1]), json!(0)],
        "at least 1",
    );
    err(
        "collection",
        "map_merge",
        &[json!({})],
        "requires at least 2",
    );
    err("collection", "map_keys", &[json!([1])], "expects a map");
}

#[test]
fn uuids_have_their_version() {
    for (name, version) in [("v4", '4'), ("v6", '6'), ("v7", '7')] {
        let u = call("uuid", name, &[]).unwrap();
        let s = u.as_str().unwrap();
        assert_eq!(s.len(), 36, "{name}");
        assert_eq!(s.chars().nth(14), Some(version), "{name}: {s}");
        assert!(
            matches!(s.chars().nth(19), Some('8' | '9' | 'a' | 'b')),
            "{name}: {s}"
        );
    }
    assert!(lookup("math", "floor").is_none() && lookup("string", "trim").is_none());
}

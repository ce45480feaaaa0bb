//! Unit tests of the builtin modules: each function's results, argument conversions and
//! errors, called directly with arena values.

use bumpalo::Bump;
use serde_json::{json, Value as J};

use super::{function, js_number, js_string, lookup, parse_js_number, Env, Export};
use sentrie_vm::json::{decode, to_json};
use sentrie_vm::program::Const;

/// Calls `@sentrie/module.name` with JSON arguments.
fn call(module: &str, name: &str, args: &[J]) -> Result<J, String> {
    let bump = Bump::new();
    let f = function(module, name).unwrap_or_else(|| panic!("{module}.{name} missing"));
    let vals: Vec<sentrie_vm::Value<'_>> = args
        .iter()
        .map(|a| {
            if a == &json!("__undefined__") {
                sentrie_vm::Value::Undefined
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
    assert_eq!(js_string(sentrie_vm::Value::Undefined), "undefined");
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
    // Multi-byte text and signs are invalid hex, never a panic or a number.
    err("encoding", "hexDecode", &[json!("aé1")], "invalid hex");
    err("encoding", "hexDecode", &[json!("+f+f")], "invalid hex");
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
    // Outside the range of a JavaScript date (TimeClip): NaN, shown as null.
    ok("js", "UTC", &[json!(4.2e65), json!(0)], J::Null);
    ok("js", "UTC", &[json!(275_761), json!(0)], J::Null);
    ok("js", "UTC", &[json!(2024), json!(-1e300)], J::Null);
    ok(
        "js",
        "UTC",
        &[json!(275_760), json!(8), json!(13)],
        json!(8_640_000_000_000_000_i64),
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
    // replaceAll expands groups at every match, empty matches included, like the regex crate.
    for (p, s, r) in [
        ("(?P<w>b)", "abcb", "[${w}]"),
        ("", "abc", "-"),
        ("x*", "axxb", "<$0>"),
        ("(a)(b)?", "ab a", "$2$1"),
    ] {
        let want = regex::Regex::new(p).unwrap().replace_all(s, r).into_owned();
        ok(
            "regex",
            "replaceAll",
            &[json!(p), json!(s), json!(r)],
            json!(want),
        );
    }
    // Growth beyond the string limit is an error, not a giant allocation.
    let big = "x".repeat(1 << 20);
    err(
        "regex",
        "replaceAll",
        &[json!(""), json!(big), json!("y".repeat(128))],
        "longer than",
    );
    err(
        "regex",
        "findAll",
        &[json!(""), json!("a".repeat((1 << 20) + 1))],
        "more than",
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
    // v7 starts with the Unix milliseconds; v6 with the Gregorian time, high bits first.
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let v7 = call("uuid", "v7", &[]).unwrap();
    let hex_ms = v7.as_str().unwrap().replace('-', "");
    let at = u64::from_str_radix(&hex_ms[..12], 16).unwrap();
    assert!(at.abs_diff(ms) < 60_000, "{v7}");
    let v6 = call("uuid", "v6", &[]).unwrap();
    assert!(v6.as_str().unwrap().starts_with("1f"), "{v6}");
}

#[test]
fn randomness_varies_in_every_bit_position() {
    let ids: std::collections::HashSet<String> = (0..64)
        .map(|_| {
            call("uuid", "v4", &[])
                .unwrap()
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(ids.len(), 64);
    // js.random scaled to 2^53 is an integer; over 64 draws its lowest four bits must not be
    // stuck (a fixed version nibble once leaked into them).
    let mut seen_low = 0u64;
    for _ in 0..64 {
        let r = call("js", "random", &[]).unwrap().as_f64().unwrap();
        assert!((0.0..1.0).contains(&r));
        let scaled = r * (1u64 << 53) as f64;
        assert_eq!(scaled.fract(), 0.0);
        seen_low |= 1 << (scaled as u64 & 0xf);
    }
    assert!(
        seen_low.count_ones() > 4,
        "low bits barely vary: {seen_low:b}"
    );
}

const TOKEN: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1MSIsInJvbGUiOiJhZG1pbiJ9.q_BrODh5oznsIwn99X32gqoe5GnUz_aGwjq1wAeUMKM";
const TOKEN_512: &str = "eyJhbGciOiJIUzUxMiJ9.eyJzdWIiOiJ1MSIsInJvbGUiOiJhZG1pbiJ9.s5ZoqSErfGZZyYrJTent_vZRmLUKIrm8Z91DyJBxyt2EnZ6-lUEZAbNm932CuePiw1v_bLgKUTrngR8Y2tYtDA";

#[test]
fn jwt_decoding_and_verification() {
    let payload = json!({"role": "admin", "sub": "u1"});
    ok("jwt", "getPayload", &[json!(TOKEN)], payload.clone());
    ok(
        "jwt",
        "getHeader",
        &[json!(TOKEN)],
        json!({"alg": "HS256", "typ": "JWT"}),
    );
    ok("jwt", "decode", &[json!(TOKEN)], payload.clone());
    ok("jwt", "decode", &[json!(TOKEN), json!("s3cret")], payload);
    err(
        "jwt",
        "decode",
        &[json!(TOKEN), json!("wrong")],
        "token signature is invalid",
    );
    ok(
        "jwt",
        "verify",
        &[json!(TOKEN), json!("s3cret")],
        json!(true),
    );
    ok(
        "jwt",
        "verify",
        &[json!(TOKEN), json!("wrong")],
        json!(false),
    );
    ok(
        "jwt",
        "verify",
        &[json!(TOKEN), json!("s3cret"), json!("HS512")],
        json!(false),
    );
    ok(
        "jwt",
        "verify",
        &[json!(TOKEN_512), json!("k"), json!("HS512")],
        json!(true),
    );
    ok("jwt", "verify", &[json!("a.b"), json!("k")], json!(false));
    err("jwt", "getPayload", &[json!("a.b")], "invalid token format");
    let none = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ1MSJ9.";
    err(
        "jwt",
        "decode",
        &[json!(none), json!("k")],
        "unsupported algorithm",
    );
}

#[test]
fn time_functions() {
    ok("time", "now", &[], json!(1_705_314_600));
    ok(
        "time",
        "parse",
        &[json!("2024-01-15T10:30:05.9Z")],
        json!(1_705_314_605),
    );
    ok(
        "time",
        "parse",
        &[json!("2024-01-15T12:30:05+02:00")],
        json!(1_705_314_605),
    );
    err(
        "time",
        "parse",
        &[json!("2024-01-15")],
        "not an RFC 3339 time",
    );
    // Floor, also before the epoch; lowercase separators; offsets need their colon.
    ok(
        "time",
        "parse",
        &[json!("1969-12-31T23:59:59.5Z")],
        json!(-1),
    );
    ok(
        "time",
        "parse",
        &[json!("2024-01-15t10:30:05z")],
        json!(1_705_314_605),
    );
    for bad in [
        "2024-01-15T10:30:05+0200",
        "2024-01-15 10:30:05Z",
        "2024-01-15T10:30:05.Z",
        "2024-01-15T10:30:05Z[UTC]",
        "2024-13-15T10:30:05Z",
    ] {
        err("time", "parse", &[json!(bad)], "not an RFC 3339 time");
    }
    err(
        "time",
        "format",
        &[json!(1e15), json!("2006")],
        "outside years",
    );
    let ts = json!(1_705_314_605);
    ok(
        "time",
        "format",
        &[ts.clone(), json!("2006-01-02T15:04:05Z07:00")],
        json!("2024-01-15T10:30:05Z"),
    );
    ok(
        "time",
        "format",
        &[ts.clone(), json!("Mon, 02 Jan 2006 15:04:05 MST")],
        json!("Mon, 15 Jan 2024 10:30:05 UTC"),
    );
    ok(
        "time",
        "format",
        &[
            ts.clone(),
            json!("Monday January 2 3:4:5 PM .000 -0700 _2|06"),
        ],
        json!("Monday January 15 10:30:5 AM .000 +0000 15|24"),
    );
    ok(
        "time",
        "format",
        &[ts, json!("15:04:05.999")],
        json!("10:30:05"),
    );
    ok(
        "time",
        "isBetween",
        &[json!(5.9), json!(5), json!(5)],
        json!(true),
    );
    ok("time", "isBefore", &[json!(1), json!(2)], json!(true));
    ok("time", "isAfter", &[json!(1), json!(2)], json!(false));
    ok(
        "time",
        "addDuration",
        &[json!(0), json!("1d5h30m")],
        json!(106_200),
    );
    ok(
        "time",
        "addDuration",
        &[json!(100), json!("-90s")],
        json!(10),
    );
    ok(
        "time",
        "subtractDuration",
        &[json!(7200), json!("1.5h")],
        json!(1800),
    );
    ok(
        "time",
        "addDuration",
        &[json!(0), json!("1500ms")],
        json!(1),
    );
    err(
        "time",
        "addDuration",
        &[json!(0), json!("5 parsecs")],
        "invalid duration",
    );
    ok("time", "unix", &[json!(12.9)], json!(12));
    assert!(
        matches!(lookup("time", "RFC1123Z"), Some(Export::Const(Const::Str(s))) if s == "Mon, 02 Jan 2006 15:04:05 -0700")
    );
}

#[test]
fn net_functions() {
    ok(
        "net",
        "cidrContains",
        &[json!("10.0.0.0/8"), json!("10.1.2.3")],
        json!(true),
    );
    ok(
        "net",
        "cidrContains",
        &[json!("10.0.0.0/8"), json!("10.1.0.0/16")],
        json!(true),
    );
    ok(
        "net",
        "cidrContains",
        &[json!("10.0.0.0/16"), json!("10.0.0.0/8")],
        json!(false),
    );
    ok(
        "net",
        "cidrContains",
        &[json!("2001:db8::/32"), json!("2001:db8::1")],
        json!(true),
    );
    ok(
        "net",
        "cidrContains",
        &[json!("10.0.0.0/8"), json!("::ffff:10.0.0.1")],
        json!(true),
    );
    ok(
        "net",
        "cidrContains",
        &[json!("10.0.0.0/8"), json!("not-an-ip")],
        json!(false),
    );
    err(
        "net",
        "cidrContains",
        &[json!("10.0.0.0/33"), json!("10.0.0.1")],
        "invalid CIDR",
    );
    ok(
        "net",
        "cidrIntersects",
        &[json!("10.0.0.0/8"), json!("10.5.0.0/16")],
        json!(true),
    );
    ok(
        "net",
        "cidrIntersects",
        &[json!("10.0.0.0/16"), json!("10.1.0.0/16")],
        json!(false),
    );
    ok(
        "net",
        "cidrIsValid",
        &[json!("192.168.1.0/24")],
        json!(true),
    );
    ok("net", "cidrIsValid", &[json!("192.168.1.0")], json!(false));
    ok(
        "net",
        "cidrExpand",
        &[json!("192.168.1.4/31")],
        json!(["192.168.1.4", "192.168.1.5"]),
    );
    err(
        "net",
        "cidrExpand",
        &[json!("10.0.0.0/8")],
        "more than 65536",
    );
    ok(
        "net",
        "cidrMerge",
        &[json!([
            "10.0.1.0/24",
            "10.0.0.0/24",
            "10.0.0.5",
            "192.168.0.0/16",
            "::1"
        ])],
        json!(["10.0.0.0/23", "192.168.0.0/16", "::1/128"]),
    );
    ok(
        "net",
        "parseIP",
        &[json!("::ffff:1.2.3.4")],
        json!("1.2.3.4"),
    );
    ok(
        "net",
        "parseIP",
        &[json!("2001:0db8::0001")],
        json!("2001:db8::1"),
    );
    ok("net", "parseIP", &[json!("1.2.3")], J::Null);
    ok("net", "isPrivate", &[json!("172.20.1.1")], json!(true));
    ok("net", "isPrivate", &[json!("172.32.1.1")], json!(false));
    ok("net", "isPublic", &[json!("8.8.8.8")], json!(true));
    ok("net", "isPublic", &[json!("127.0.0.1")], json!(false));
    ok("net", "isLoopback", &[json!("::1")], json!(true));
    ok("net", "isMulticast", &[json!("239.1.1.1")], json!(true));
    ok("net", "isIPv6", &[json!("fe80::1")], json!(true));
    ok("net", "isIPv4", &[json!("garbage")], json!(false));
}

#[test]
fn url_functions() {
    ok(
        "url",
        "parse",
        &[json!(
            "https://bob:pw@api.example.com:8443/v1/items?limit=5#top"
        )],
        json!({"scheme": "https", "user": "bob:pw", "host": "api.example.com:8443", "path": "/v1/items", "query": "limit=5", "fragment": "top"}),
    );
    ok(
        "url",
        "getHost",
        &[json!("http://example.com/x")],
        json!("example.com"),
    );
    ok(
        "url",
        "getPath",
        &[json!("/relative/path?q=1")],
        json!("/relative/path"),
    );
    ok(
        "url",
        "getQuery",
        &[json!("http://e.com/?a=1&b=2")],
        json!("a=1&b=2"),
    );
    ok(
        "url",
        "join",
        &[
            json!("https://e.com/api/"),
            json!("/v1/"),
            J::Null,
            json!(""),
            json!("users"),
        ],
        json!("https://e.com/api/v1/users"),
    );
    ok(
        "url",
        "isValid",
        &[json!("https://example.com")],
        json!(true),
    );
    ok("url", "isValid", &[json!("/just/a/path")], json!(false));
    ok(
        "url",
        "isValid",
        &[json!("http://exa mple.com")],
        json!(false),
    );
    err("url", "parse", &[json!("http://e.com:port/")], "bad port");
}

#[test]
fn semver_functions() {
    ok(
        "semver",
        "compare",
        &[json!("v1.2.3"), json!("1.2.3+build")],
        json!(0),
    );
    ok(
        "semver",
        "compare",
        &[json!("1.2.3-alpha"), json!("1.2.3")],
        json!(-1),
    );
    ok(
        "semver",
        "compare",
        &[json!("1.2.3-alpha.2"), json!("1.2.3-alpha.10")],
        json!(-1),
    );
    ok(
        "semver",
        "compare",
        &[json!("1.2.3-alpha.beta"), json!("1.2.3-alpha.1")],
        json!(1),
    );
    ok(
        "semver",
        "compare",
        &[json!("1.10"), json!("1.9.9")],
        json!(1),
    );
    ok("semver", "isValid", &[json!("1.2")], json!(true));
    ok("semver", "isValid", &[json!("1.2.3.4")], json!(false));
    ok("semver", "isValid", &[json!("one")], json!(false));
    ok("semver", "stripPrefix", &[json!("v2.0.0")], json!("2.0.0"));
    ok("semver", "major", &[json!("v3.4.5")], json!(3));
    ok("semver", "minor", &[json!("3")], json!(0));
    ok(
        "semver",
        "prerelease",
        &[json!("1.0.0-rc.1+sha")],
        json!("rc.1"),
    );
    ok(
        "semver",
        "metadata",
        &[json!("1.0.0-rc.1+sha")],
        json!("sha"),
    );
    ok("semver", "prerelease", &[json!("1.0.0")], J::Null);
    err("semver", "major", &[json!("nope")], "invalid version");
    let cases = [
        ("1.2.3", ">=1.0.0 <2.0.0", true),
        ("2.0.0", ">=1.0.0, <2.0.0", false),
        ("1.2.9", "~1.2.3", true),
        ("1.3.0", "~1.2.3", false),
        ("1.9.0", "^1.2.3", true),
        ("2.0.0", "^1.2.3", false),
        ("0.2.9", "^0.2.3", true),
        ("0.3.0", "^0.2.3", false),
        ("0.0.3", "^0.0.3", true),
        ("0.0.4", "^0.0.3", false),
        ("1.2.7", "1.2.x", true),
        ("1.3.0", "1.2", false),
        ("4.5.6", "*", true),
        ("1.3.0", "1.2 - 1.4.5", true),
        ("1.4.6", "1.2 - 1.4.5", false),
        ("1.4.9", "1.2 - 1.4", true),
        ("3.0.0", "<1.0.0 || >=3.0.0", true),
        ("2.0.0", "<1.0.0 || >=3.0.0", false),
        ("1.2.3", "!=1.2.3", false),
        ("1.2.4-beta", ">=1.2.0", false),
        ("1.2.4-beta", ">=1.2.4-alpha", true),
        ("1.2.0", "> 1.1", true),
        ("1.1.5", "> 1.1", false),
        ("1.1.9", "<= 1.1", true),
    ];
    for (v, c, want) in cases {
        ok("semver", "satisfies", &[json!(v), json!(c)], json!(want));
    }
    err(
        "semver",
        "satisfies",
        &[json!("1.0.0"), json!(">=banana")],
        "invalid constraint",
    );
}

#[test]
fn js_math_functions_follow_ecmascript() {
    let close = |name: &str, args: &[J], want: f64| {
        let got = call("js", name, args).unwrap().as_f64().unwrap();
        assert!(
            (got - want).abs() < 1e-12,
            "{name}({args:?}) = {got}, want {want}"
        );
    };
    close("exp", &[json!(1)], std::f64::consts::E);
    close("log", &[json!(std::f64::consts::E)], 1.0);
    close("log10", &[json!(1000)], 3.0);
    close("log2", &[json!(8)], 3.0);
    close("sin", &[json!(0)], 0.0);
    close("cos", &[json!(0)], 1.0);
    close("tan", &[json!(0)], 0.0);
    close("asin", &[json!(1)], std::f64::consts::FRAC_PI_2);
    close("acos", &[json!(1)], 0.0);
    close("atan", &[json!(1)], std::f64::consts::FRAC_PI_4);
    close("sinh", &[json!(0)], 0.0);
    close("cosh", &[json!(0)], 1.0);
    close("tanh", &[json!(0)], 0.0);
    close("ceil", &[json!(1.2)], 2.0);
    close("floor", &[json!("-0.5")], -1.0);
    close("sub", &[json!(5), json!("2")], 3.0);
    close("mul", &[json!(2.5), json!(4)], 10.0);
    close("min", &[json!(3), json!(-1)], -1.0);
    ok("js", "log", &[json!(-1)], J::Null);
    err("js", "sqrt", &[], "sqrt requires 1 argument");
    err("js", "atan2", &[json!(1)], "atan2 requires 2 arguments");
}

#[test]
fn list_unique_keeps_first_occurrences_by_deep_equality() {
    ok(
        "collection",
        "list_unique",
        &[json!([1, 1.0, -0.0, 0, [1], [1], {"a": 1}, {"a": 1}, "1", null, null, [1, 2]])],
        json!([1, 0, [1], {"a": 1}, "1", null, [1, 2]]),
    );
}

#[test]
fn list_unique_is_linear_in_the_size_of_the_list() {
    // 100,000 distinct elements within the default work budget of one rule: a pairwise scan
    // would need billions of comparisons and exhaust it.
    sentrie_vm::work::reset(sentrie_vm::work::DEFAULT_BUDGET);
    let xs: Vec<J> = (0..100_000).map(|i| json!([i, format!("k{i}")])).collect();
    let out = call("collection", "list_unique", &[J::Array(xs)]);
    let exhausted = sentrie_vm::work::exhausted();
    sentrie_vm::work::reset(sentrie_vm::work::UNLIMITED);
    assert!(!exhausted, "list_unique spent the whole work budget");
    assert_eq!(out.map(|v| v.as_array().map(Vec::len)), Ok(Some(100_000)));
}

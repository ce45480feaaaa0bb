//! `use` statements: builtin module resolution, aliases, unqualified calls, policy errors that
//! only disable their own policy, and the runtime errors of module calls.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers fail loudly on broken fixtures"
)]

use sentrie_tests::{compile, eval, load_dir, write_module_pack};
use serde_json::json;

const PACK: &str = r#"
namespace m

policy broken {
  use { nope } from @sentrie/hash
  rule r = 1
  export decision of r
}

policy fine {
  use { sha256 } from @sentrie/hash
  use round, PI from @sentrie/js as math
  use { now } from "@sentrie/js" as js
  rule unqualified = sha256("a")
  rule constant = math.round(math.PI * 100)
  rule clock = js.now() == js.now()
  rule shadow = { let math = {"PI": 3} yield math.PI }
  export decision of unqualified
  export decision of constant
  export decision of clock
  export decision of shadow
}
"#;

#[test]
fn a_missing_export_disables_only_its_policy() {
    let loaded = compile(&[("m.sentrie", PACK)]).unwrap();
    assert_eq!(loaded.diagnostics.len(), 1);
    assert!(loaded.diagnostics[0]
        .message
        .contains("module @sentrie/hash missing export nope"));
    let broken = eval(&loaded, "m/broken", "{}").unwrap();
    assert!(broken[0]["error"]
        .as_str()
        .unwrap()
        .contains("missing export nope"));
    let fine = eval(&loaded, "m/fine", "{}").unwrap();
    let values: Vec<_> = fine.iter().map(|d| d["value"].clone()).collect();
    assert_eq!(
        values,
        vec![
            json!("ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb"),
            json!(314),
            json!(true),
            json!(3)
        ]
    );
}

#[test]
fn module_source_errors_are_policy_errors() {
    let cases = [
        (
            "use { x } from \"@npm/left-pad\" as pad",
            "unsupported module source",
        ),
        ("use { x } from @sentrie/nope", "not found"),
        ("use { x } from \"./missing.ts\"", "not found"),
        ("use { x } from \"../../outside.ts\"", "outside the pack"),
        ("use { x } from \"./my-mod.ts\"", "needs an alias"),
    ];
    for (stmt, phrase) in cases {
        let src = format!(
            "namespace m\npolicy p {{\n  {stmt}\n  rule r = 1\n  export decision of r\n}}\n"
        );
        let loaded = compile(&[("m.sentrie", &src)]).unwrap_or_else(|e| panic!("{stmt}: {e}"));
        let msgs: Vec<&str> = loaded
            .diagnostics
            .iter()
            .map(|d| d.message.as_str())
            .collect();
        assert!(msgs.iter().any(|m| m.contains(phrase)), "{stmt}: {msgs:?}");
        let out = eval(&loaded, "m/p", "{}").unwrap();
        assert!(
            out[0]["error"].as_str().is_some(),
            "{stmt}: the policy must fail"
        );
    }
}

#[test]
fn ambiguous_unqualified_functions_are_policy_errors() {
    let src = "namespace m\npolicy p {\n  use { sha256 } from @sentrie/hash\n  use { sha256 } from @sentrie/crypto\n  rule r = sha256(\"x\")\n  export decision of r\n}\n";
    let loaded = compile(&[("m.sentrie", src)]).unwrap();
    assert!(loaded
        .diagnostics
        .iter()
        .any(|d| d.message.contains("ambiguous function")));
}

#[test]
fn alias_colliding_with_a_value_name_is_a_conflict() {
    let src = "namespace m\npolicy p {\n  use { sha256 } from @sentrie/hash\n  rule hash = 1\n  export decision of hash\n}\n";
    let err = compile(&[("m.sentrie", src)]).err().unwrap();
    assert!(err.contains("conflict"), "{err}");
}

fn load(dir: &std::path::Path) -> sentrie_compiler::Loaded {
    load_dir(dir)
}

const POLICY: &str = "namespace m\npolicy p {\n  use { spin, hog, recurse, ok } from \"./mod.ts\" as m\n  rule loop = m.spin()\n  rule memory = m.hog()\n  rule deep = m.recurse(0)\n  rule fine = m.ok()\n  export decision of loop\n  export decision of memory\n  export decision of deep\n  export decision of fine\n}\n";

#[test]
fn hostile_modules_hit_their_limits_and_the_runtime_recovers() {
    let ts = "export function spin(): number { for (;;) {} }\n\
              export function hog(): number { const a: string[] = []; for (;;) { a.push('x'.repeat(1 << 20)); } }\n\
              export function recurse(n: number): number { return recurse(n + 1) + 1; }\n\
              export function ok(): string { return 'still here'; }\n";
    let dir = write_module_pack("hostile", ts, POLICY);
    let loaded = load(&dir);
    assert!(loaded.diagnostics.is_empty(), "{:?}", loaded.diagnostics);
    let started = std::time::Instant::now();
    let spin = eval(&loaded, "m/p/loop", "{}").unwrap();
    let elapsed = started.elapsed();
    assert!(
        spin[0]["error"]
            .as_str()
            .unwrap()
            .contains("ran longer than 5 s"),
        "{spin:?}"
    );
    assert!(elapsed < std::time::Duration::from_secs(20), "{elapsed:?}");
    let hog = eval(&loaded, "m/p/memory", "{}").unwrap();
    assert!(
        hog[0]["error"].as_str().unwrap().contains("module"),
        "{hog:?}"
    );
    let deep = eval(&loaded, "m/p/deep", "{}").unwrap();
    assert!(
        deep[0]["error"].as_str().unwrap().contains("module"),
        "{deep:?}"
    );
    let fine = eval(&loaded, "m/p/fine", "{}").unwrap();
    assert_eq!(fine[0]["value"], json!("still here"));
}

/// A module's globals live as long as its runtime: they show whether a failure discarded it.
#[test]
fn only_exhausted_runtimes_are_discarded() {
    let ts = "let n = 0;\n\
              export function count(): number { n += 1; return n; }\n\
              export function hog(): number { const a: string[] = []; for (;;) { a.push('x'.repeat(1 << 20)); } }\n\
              export function recurse(n: number): number { return recurse(n + 1) + 1; }\n\
              export function fails(): number { throw new Error('plain failure'); }\n";
    let policy = "namespace m\npolicy p {\n  use { count, hog, recurse, fails } from \"./mod.ts\" as m\n  rule c = m.count()\n  rule h = m.hog()\n  rule d = m.recurse(0)\n  rule f = m.fails()\n  export decision of c\n  export decision of h\n  export decision of d\n  export decision of f\n}\n";
    let dir = write_module_pack("discard", ts, policy);
    let loaded = load(&dir);
    let count = || eval(&loaded, "m/p/c", "{}").unwrap()[0]["value"].clone();
    assert_eq!(count(), json!(1));
    assert_eq!(count(), json!(2));
    // A thrown error leaves the runtime (and its state) in place.
    let failed = eval(&loaded, "m/p/f", "{}").unwrap();
    assert!(failed[0]["error"]
        .as_str()
        .unwrap()
        .contains("plain failure"));
    assert_eq!(count(), json!(3));
    // Running out of memory discards it: the next call starts from fresh globals.
    let hog = eval(&loaded, "m/p/h", "{}").unwrap();
    assert!(hog[0]["error"].is_string(), "{hog:?}");
    assert_eq!(count(), json!(1));
    assert_eq!(count(), json!(2));
    // A stack overflow unwinds cleanly and keeps it.
    let deep = eval(&loaded, "m/p/d", "{}").unwrap();
    assert!(deep[0]["error"].is_string(), "{deep:?}");
    assert_eq!(count(), json!(3));
}

#[test]
fn module_load_errors_name_the_module() {
    let broken = write_module_pack("syntax", "export function ok(: number {", POLICY);
    let loaded = load(&broken);
    let msg = &loaded.diagnostics[0].message;
    assert!(
        msg.contains("module `@local/mod.ts`") && msg.contains("transpile error: mod.ts:1:"),
        "{msg}"
    );
    let missing = write_module_pack(
        "export",
        "export function ok(): number { return 1; }",
        POLICY,
    );
    let loaded = load(&missing);
    assert!(loaded.diagnostics.iter().any(|d| d
        .message
        .contains("module @local/mod.ts missing export spin")));
    let throws = write_module_pack(
        "throw",
        "throw new Error('at load');\nexport const x = 1;",
        POLICY,
    );
    let loaded = load(&throws);
    assert!(
        loaded
            .diagnostics
            .iter()
            .any(|d| d.message.contains("at load")),
        "{:?}",
        loaded.diagnostics
    );
    // The policy is unusable, with the same message at evaluation.
    let out = eval(&loaded, "m/p/fine", "{}").unwrap();
    assert!(out[0]["error"].as_str().unwrap().contains("at load"));
}

#[test]
fn modules_see_only_permitted_environment_variables() {
    let dir = write_module_pack(
        "env",
        "export function read(): string[] { const e = (globalThis as any).env; return [e.SENTRIE_MODULE_TEST_OK ?? 'unset', e.SENTRIE_MODULE_TEST_SECRET ?? 'unset', typeof (globalThis as any).process]; }\n",
        "namespace m\npolicy p {\n  use { read } from \"./mod.ts\" as m\n  rule r = m.read()\n  export decision of r\n}\n",
    );
    std::fs::write(
        dir.join("sentrie.pack.toml"),
        "[schema]\nversion = 1\n\n[pack]\nname = \"m\"\nversion = \"1.0.0\"\n\n[permissions]\nenv = [\"SENTRIE_MODULE_TEST_OK\"]\n",
    )
    .unwrap();
    std::env::set_var("SENTRIE_MODULE_TEST_OK", "granted");
    std::env::set_var("SENTRIE_MODULE_TEST_SECRET", "hidden");
    let loaded = load(&dir);
    let out = eval(&loaded, "m/p/r", "{}").unwrap();
    assert_eq!(out[0]["value"], json!(["granted", "unset", "undefined"]));
}

#[test]
fn memoized_calls_reuse_results_across_decisions() {
    let src = "namespace m\npolicy p {\n  use { v4 } from @sentrie/uuid\n  rule cached = uuid()!\n  rule cachedNative = v4()!60\n  rule fresh = uuid()\n  rule disabled = v4()!0\n  rule failing = error(\"boom\")!\n  export decision of cached\n  export decision of cachedNative\n  export decision of fresh\n  export decision of disabled\n  export decision of failing\n}\n";
    let loaded = compile(&[("m.sentrie", src)]).unwrap();
    let first = eval(&loaded, "m/p", "{}").unwrap();
    let second = eval(&loaded, "m/p", "{}").unwrap();
    assert_eq!(first[0]["value"], second[0]["value"], "uuid()! is cached");
    assert_eq!(first[1]["value"], second[1]["value"], "v4()!60 is cached");
    assert_ne!(first[2]["value"], second[2]["value"], "uuid() is not");
    assert_ne!(first[3]["value"], second[3]["value"], "!0 disables caching");
    assert_eq!(second[4]["error"], json!("boom"), "errors are never cached");
    let bad = compile(&[(
        "m.sentrie",
        "namespace m\npolicy p {\n  rule r = uuid()!1.5\n  export decision of r\n}\n",
    )]);
    assert!(bad.err().unwrap().contains("whole number of seconds"));
}

#[test]
fn module_code_can_import_builtin_modules() {
    let ts = "import { sha256 } from '@sentrie/hash';\nimport { PI, round } from \"@sentrie/js\";\nimport { cidrContains } from '@sentrie/net';\n\
              export function tag(s: string): string { return sha256(s).slice(0, 8) + ':' + round(PI * 100); }\n\
              export function inOffice(ip: string): boolean { return cidrContains('10.0.0.0/8', ip); }\n\
              export function bad(): string { return sha256(); }\n";
    let policy = "namespace m\npolicy p {\n  use { tag, inOffice, bad } from \"./mod.ts\" as m\n  rule t = m.tag(\"a\")\n  rule office = m.inOffice(\"10.1.2.3\")\n  rule b = m.bad()\n  export decision of t\n  export decision of office\n  export decision of b\n}\n";
    let dir = write_module_pack("builtin-imports", ts, policy);
    let loaded = load(&dir);
    assert!(loaded.diagnostics.is_empty(), "{:?}", loaded.diagnostics);
    let out = eval(&loaded, "m/p", "{}").unwrap();
    assert_eq!(out[0]["value"], json!("ca978112:314"));
    assert_eq!(out[1]["value"], json!(true));
    assert!(
        out[2]["error"]
            .as_str()
            .unwrap()
            .contains("sha256 requires 1 argument"),
        "{out:?}"
    );

    let missing = write_module_pack(
        "builtin-missing",
        "import { nope } from '@sentrie/hash';\nexport function spin(): number { return 1; }\n",
        POLICY,
    );
    let loaded = load(&missing);
    assert!(
        loaded.diagnostics.iter().any(|d| d
            .message
            .contains("module @sentrie/hash missing export nope")),
        "{:?}",
        loaded.diagnostics
    );
    let star = write_module_pack(
        "builtin-star",
        "import * as h from '@sentrie/hash';\nexport function spin(): number { return 1; }\n",
        POLICY,
    );
    let loaded = load(&star);
    assert!(
        loaded
            .diagnostics
            .iter()
            .any(|d| d.message.contains("only named imports")),
        "{:?}",
        loaded.diagnostics
    );
}

#[test]
fn commonjs_modules_with_require_and_cycles() {
    let dir = std::env::temp_dir().join(format!("sentrie-modules-{}-cjs", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("lib")).unwrap();
    let w = |p: &str, t: &str| std::fs::write(dir.join(p), t).unwrap();
    w(
        "sentrie.pack.toml",
        "[schema]\nversion = 1\n\n[pack]\nname = \"m\"\nversion = \"1.0.0\"\n",
    );
    // main.js requires a CommonJS helper, an ES module and takes part in a cycle with a.js.
    w("lib/main.js", "const h = require('./helper');\nconst { twice } = require('./esm');\nconst a = require('./a.js');\nmodule.exports = { shout: (s) => h.upper(s) + '!', quad: (n) => twice(twice(n)), cyc: () => a.seen() };\n");
    w("lib/helper.js", "exports.upper = (s) => s.toUpperCase();\n");
    w(
        "lib/esm.ts",
        "export function twice(n: number): number { return n * 2; }\n",
    );
    w(
        "lib/a.js",
        "exports.early = 1;\nconst b = require('./b');\nexports.seen = () => b.sawEarly;\n",
    );
    w(
        "lib/b.js",
        "const a = require('./a');\nexports.sawEarly = a.early === 1;\n",
    );
    w(
        "p.sentrie",
        "namespace m\npolicy p {\n  use { shout, quad, cyc } from \"./lib/main.js\" as main\n  rule s = main.shout(\"hi\")\n  rule q = main.quad(3)\n  rule c = main.cyc()\n  export decision of s\n  export decision of q\n  export decision of c\n}\n",
    );
    let loaded = load(&dir);
    assert!(loaded.diagnostics.is_empty(), "{:?}", loaded.diagnostics);
    let out = eval(&loaded, "m/p", "{}").unwrap();
    let values: Vec<_> = out
        .iter()
        .map(|d| {
            d.get("value")
                .cloned()
                .unwrap_or_else(|| d["error"].clone())
        })
        .collect();
    assert_eq!(values, vec![json!("HI!"), json!(12), json!(true)]);
    // A compiled pack carries the wrapped modules.
    let sources: Vec<(String, &str)> = Vec::new();
    let bytes = sentrie_artifact::encode(
        &loaded.manifest,
        &sources,
        loaded.program.program(),
        &loaded.hash,
    )
    .unwrap();
    let art = sentrie_artifact::decode(&bytes).unwrap();
    assert_eq!(art.program.js_modules().len(), 5);
}

#[test]
fn module_errors_point_at_the_source_lines_the_user_wrote() {
    let dir = write_module_pack("lines", "", "");
    // Writes one module and a policy calling `f` from it; returns the error of rule `r`.
    let run = |file: &str, code: &str| {
        std::fs::write(dir.join(file), code).unwrap();
        let policy = format!("namespace m\npolicy p {{\n  use {{ f }} from \"./{file}\" as m\n  rule r = m.f(1)\n  export decision of r\n}}\n");
        std::fs::write(dir.join("p.sentrie"), policy).unwrap();
        let loaded = load(&dir);
        if let Some(d) = loaded.diagnostics.first() {
            return d.message.clone();
        }
        let out = eval(&loaded, "m/p/r", "{}").unwrap();
        out[0]["error"].as_str().unwrap().to_string()
    };
    let cases = [
        // Types and comments before the throw shift the transpiled JavaScript by two lines.
        ("mod.ts", "interface Big { n: number }\n\n// checks\nexport function f(n: number): number {\n  if (n > 0) {\n    throw new Error('too big');\n  }\n  return n;\n}\n", "too big", "@local/mod.ts:6:"),
        // CommonJS code runs inside a wrapper; its lines are reported unshifted too.
        ("c.js", "exports.f = (n) => {\n  throw new Error('cjs ' + n);\n};\n", "cjs 1", "@local/c.js:2:"),
        // A throw while the module loads is located the same way.
        ("mod.ts", "type T = string;\n\nthrow new Error('at load');\n", "at load", "@local/mod.ts:3:"),
    ];
    for (file, code, message, position) in cases {
        let err = run(file, code);
        assert!(err.contains(message) && err.contains(position), "{err}");
    }
}

/// One content hash per pack: policies, the module files they load and the manifest count;
/// files that are never read (tests, docs) do not; source and compiled forms agree.
#[test]
fn the_content_hash_covers_modules_and_manifest_and_survives_compiling() {
    let ts = "export function ok(): string { return 'a'; }\n";
    let policy = "namespace m\npolicy p {\n  use { ok } from \"./mod.ts\" as m\n  rule r = m.ok()\n  export decision of r\n}\n";
    let dir = write_module_pack("hash", ts, policy);
    let h = |dir: &std::path::Path| load(dir).hash;
    let first = h(&dir);
    assert_eq!(first.len(), 64);
    assert_eq!(h(&dir), first, "stable");

    // Compiled: the artifact carries the same content hash.
    let loaded = load(&dir);
    let sources: Vec<(String, &str)> = loaded
        .sources
        .files()
        .map(|(_, f)| (f.path.clone(), &*f.text))
        .collect();
    let bytes = sentrie_artifact::encode(
        &loaded.manifest,
        &sources,
        loaded.program.program(),
        &loaded.hash,
    )
    .unwrap();
    let compiled_path = dir.join("pack.sntr");
    std::fs::write(&compiled_path, &bytes).unwrap();
    assert_eq!(
        sentrie_compiler::load_pack(&compiled_path)
            .map(|l| l.hash)
            .ok(),
        Some(first.clone())
    );
    std::fs::remove_file(&compiled_path).unwrap();

    // A file nothing reads leaves it alone.
    std::fs::write(dir.join("notes.test.json"), "[]").unwrap();
    std::fs::write(dir.join("README.md"), "docs").unwrap();
    assert_eq!(h(&dir), first);

    // Editing the module changes it, and so does the manifest.
    std::fs::write(
        dir.join("mod.ts"),
        "export function ok(): string { return 'b'; }\n",
    )
    .unwrap();
    let second = h(&dir);
    assert_ne!(second, first);
    let manifest = std::fs::read_to_string(dir.join("sentrie.pack.toml")).unwrap();
    std::fs::write(
        dir.join("sentrie.pack.toml"),
        manifest.replace("1.0.0", "1.0.1"),
    )
    .unwrap();
    assert_ne!(h(&dir), second);
}

/// A module call stops at the decision's deadline when that comes before its own 5 s limit,
/// and later calls in the same decision do not start a fresh 5 s each.
#[test]
fn module_calls_stop_at_the_decision_deadline() {
    let ts = "export function spin(): number { for (;;) {} }\n\
              export function hog(): number { return 1; }\n\
              export function recurse(n: number): number { return n; }\n\
              export function ok(): string { return 'still here'; }\n";
    let policy = "namespace m\npolicy p {\n  use { spin, ok } from \"./mod.ts\" as m\n  rule twice = [m.spin(), m.spin()]\n  rule fine = m.ok()\n  export decision of twice\n  export decision of fine\n}\n";
    let dir = write_module_pack("deadline", ts, policy);
    let loaded = load(&dir);
    let t = sentrie_vm::target::resolve(&loaded.program, "m/p/twice").unwrap();
    let bump = bumpalo::Bump::new();
    let limits = sentrie_vm::Limits {
        deadline: Some(std::time::Instant::now() + std::time::Duration::from_millis(200)),
        ..sentrie_vm::Limits::default()
    };
    let out = sentrie_vm::evaluate(
        &loaded.program,
        t.policy,
        &t.rules,
        sentrie_vm::Value::Map(&[]),
        &bump,
        limits,
    );
    let err = out[0].result.as_ref().err().unwrap().to_string();
    assert!(err.contains("evaluation deadline exceeded"), "{err}");
    // The runtime was interrupted, so it is replaced; the module still works afterwards.
    let fine = eval(&loaded, "m/p/fine", "{}").unwrap();
    assert_eq!(fine[0]["value"], json!("still here"));
}

/// A module building a value nested a million deep fails its call with a clear message; the
/// process and the next calls are fine.
#[test]
fn deeply_nested_module_values_fail_cleanly() {
    let ts = "export function deep(): unknown { let x: unknown = []; for (let i = 0; i < 1000000; i++) { x = [x]; } return x; }\n\
              export function str(): string { let x: unknown = []; for (let i = 0; i < 1000000; i++) { x = [x]; } return JSON.stringify(x); }\n\
              export function ok(): number { return 1; }\n";
    let policy = "namespace m\npolicy p {\n  use { deep, str, ok } from \"./mod.ts\" as m\n  rule a = m.deep()\n  rule b = m.str()\n  rule c = m.ok()\n  export decision of a\n  export decision of b\n  export decision of c\n}\n";
    let dir = write_module_pack("deep-values", ts, policy);
    let loaded = load(&dir);
    let out = eval(&loaded, "m/p", "{}").unwrap();
    for d in &out[..2] {
        let err = d["error"].as_str().unwrap_or_default();
        assert!(err.contains("module `@local/mod.ts`"), "{d}");
        assert!(!err.contains("Null\\\"null\\\""), "{d}");
    }
    assert_eq!(out[2]["value"], json!(1));
    assert_eq!(eval(&loaded, "m/p/c", "{}").unwrap()[0]["value"], json!(1));
}

/// Built-ins are frozen: a module that tries to change them fails, and neither another
/// module nor a later call sees a change. Inheriting objects may still set their own
/// `name`, `toString` and the like.
#[test]
fn modules_cannot_change_built_ins_for_others() {
    let ts = "export function tamper(): boolean { (Array.prototype as any).includes = () => true; return true; }\n\
              export function tamperGlobal(): boolean { (globalThis as any).JSON = null; return true; }\n\
              export function addGlobal(): boolean { (globalThis as any).leak = 1; return true; }\n\
              export function probe(xs: number[]): unknown { return [xs.includes(5), typeof JSON.stringify, (globalThis as any).leak ?? null]; }\n\
              class Denied extends Error { constructor() { super('no'); this.name = 'Denied'; } }\n\
              export function own(): string { const o: any = {}; o.toString = () => 'mine'; return String(o) + ':' + new Denied().name; }\n";
    let policy = "namespace m\npolicy p {\n  use { tamper, tamperGlobal, addGlobal, probe, own } from \"./mod.ts\" as m\n  rule t = m.tamper()\n  rule g = m.tamperGlobal()\n  rule a = m.addGlobal()\n  rule probe = m.probe([1, 2])\n  rule own = m.own()\n  export decision of t\n  export decision of g\n  export decision of a\n  export decision of probe\n  export decision of own\n}\n";
    let dir = write_module_pack("frozen", ts, policy);
    let loaded = load(&dir);
    for target in ["m/p/t", "m/p/g", "m/p/a"] {
        let out = eval(&loaded, target, "{}").unwrap();
        let err = out[0]["error"].as_str().unwrap_or_default();
        assert!(
            err.contains("read-only") || err.contains("not extensible"),
            "{target}: {out:?}"
        );
    }
    let probe = eval(&loaded, "m/p/probe", "{}").unwrap();
    assert_eq!(
        probe[0]["value"],
        json!([false, "function", null]),
        "{probe:?}"
    );
    let own = eval(&loaded, "m/p/own", "{}").unwrap();
    assert_eq!(own[0]["value"], json!("mine:Denied"), "{own:?}");
}

/// A catastrophically backtracking regular expression in a module stops at the decision
/// deadline like any other loop.
#[test]
fn regex_backtracking_in_a_module_stops_at_the_deadline() {
    let ts = "export function bad(s: string): boolean { return /^(a+)+$/.test(s); }\n\
              export function ok(): number { return 1; }\n";
    let policy = "namespace m\npolicy p {\n  fact s: string\n  use { bad, ok } from \"./mod.ts\" as m\n  rule r = m.bad(s)\n  rule fine = m.ok()\n  export decision of r\n  export decision of fine\n}\n";
    let dir = write_module_pack("regex", ts, policy);
    let loaded = load(&dir);
    let t = sentrie_vm::target::resolve(&loaded.program, "m/p/r").unwrap();
    let bump = bumpalo::Bump::new();
    let facts = format!("{{\"s\": \"{}!\"}}", "a".repeat(40));
    let facts = sentrie_vm::json::decode(facts.as_bytes(), &bump).unwrap();
    let started = std::time::Instant::now();
    let limits = sentrie_vm::Limits {
        deadline: Some(started + std::time::Duration::from_millis(300)),
        ..sentrie_vm::Limits::default()
    };
    let out = sentrie_vm::evaluate(&loaded.program, t.policy, &t.rules, facts, &bump, limits);
    let err = out[0].result.as_ref().err().unwrap().to_string();
    assert!(err.contains("evaluation deadline exceeded"), "{err}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    let fine = eval(&loaded, "m/p/fine", r#"{"s": "aa"}"#).unwrap();
    assert_eq!(fine[0]["value"], json!(1), "{fine:?}");
}

/// A module nested far too deep for the transpiler is a load error with its position, for
/// every way of nesting, never a crash.
#[test]
fn deeply_nested_module_sources_are_load_errors() {
    let policy = "namespace m\npolicy p {\n  use { x } from \"./mod.ts\" as m\n  rule r = m.x()\n  export decision of r\n}\n";
    let n = 50_000;
    for (i, body) in [
        format!("{}1{}", "(".repeat(n), ")".repeat(n)),
        format!("{}{}", "[".repeat(n), "]".repeat(n)),
        format!("a{}", ".b".repeat(n)),
        format!("a{}", "()".repeat(n)),
        format!("1{}", " + 1".repeat(n)),
        format!("{}1", "a => ".repeat(n)),
    ]
    .iter()
    .enumerate()
    {
        let ts = format!("let a: any;\nexport function x(): unknown {{ return {body}; }}\n");
        let dir = write_module_pack(&format!("deep-source-{i}"), &ts, policy);
        let err = match sentrie_compiler::load_pack(&dir) {
            Ok(l) => format!("{:?}", l.diagnostics),
            Err(e) => format!("{:?}", e.diagnostics),
        };
        assert!(err.contains("mod.ts:2:"), "{err}");
        assert!(err.contains("nests more than 1000 levels"), "{err}");
    }
}

//! Golden bytecode listings for small policies (insta snapshots). A compiler change shows
//! up in review as a readable diff. Regenerate with
//! `INSTA_UPDATE=always cargo test -p sentrie-tests --test disasm`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers fail loudly on broken fixtures"
)]

use sentrie_vm::disasm::disasm;

fn listing(src: &str, target: &str) -> String {
    let loaded = sentrie_tests::compile(&[("g.sentrie", src)]).unwrap();
    let p = &loaded.program;
    let t = sentrie_vm::target::resolve(p, target).unwrap();
    let mut out = String::new();
    for r in t.rules {
        out.push_str(&disasm(p, p.rules()[r].func));
        for (_, f) in &p.rules()[r].attachments {
            out.push_str(&disasm(p, *f));
        }
    }
    out
}

#[test]
fn and_or_short_circuit() {
    let src = "namespace g\npolicy p {\n  rule r = a and b or c\n  export decision of r\n}\n";
    insta::assert_snapshot!(listing(src, "g/p/r"));
}

#[test]
fn default_when_body_and_attachment() {
    let src = "namespace g\npolicy p {\n  fact user: document\n  rule r = default false when user.role is defined { yield user.role == \"admin\" }\n  export decision of r attach role as user.role\n}\n";
    insta::assert_snapshot!(listing(src, "g/p/r"));
}

#[test]
fn block_lets_are_lazy_subroutines() {
    let src = "namespace g\npolicy p {\n  rule r = {\n    let a = b + 1\n    let b = 2\n    yield a * a\n  }\n  export decision of r\n}\n";
    insta::assert_snapshot!(listing(src, "g/p/r"));
}

#[test]
fn filter_loop_and_constant_regex() {
    let src = "namespace g\npolicy p {\n  rule r = filter xs as x (x matches \"^a\")\n  export decision of r\n}\n";
    insta::assert_snapshot!(listing(src, "g/p/r"));
}

#[test]
fn constants_are_folded() {
    let src = "namespace g\npolicy p {\n  rule r = [1 + 2 * 3, {\"k\": -1}, \"a\" + \"b\"]\n  export decision of r\n}\n";
    insta::assert_snapshot!(listing(src, "g/p/r"));
}

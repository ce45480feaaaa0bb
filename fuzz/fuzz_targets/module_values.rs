//! Values crossing into and out of QuickJS: arbitrary JSON passed to a TypeScript identity
//! function and to one that stringifies, and back.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

fn pack() -> Option<&'static sentrie_compiler::Loaded> {
    static PACK: OnceLock<Option<sentrie_compiler::Loaded>> = OnceLock::new();
    PACK.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("sentrie-fuzz-modules-{}", std::process::id()));
        std::fs::create_dir_all(&dir).ok()?;
        std::fs::write(
            dir.join("sentrie.pack.toml"),
            "[schema]\nversion = 1\n\n[pack]\nname = \"f\"\nversion = \"1.0.0\"\n",
        )
        .ok()?;
        std::fs::write(
            dir.join("m.ts"),
            "export function id(x: unknown): unknown { return x; }\nexport function text(x: unknown): string { return JSON.stringify(x); }\n",
        )
        .ok()?;
        std::fs::write(
            dir.join("p.sentrie"),
            "namespace f\npolicy p {\n  use { id, text } from \"./m.ts\" as m\n  rule same = m.id(v)\n  rule str = m.text(v)\n  export decision of same\n  export decision of str\n}\n",
        )
        .ok()?;
        sentrie_compiler::load_pack(&dir).ok()
    })
    .as_ref()
}

fuzz_target!(|data: &[u8]| {
    let Some(loaded) = pack() else { return };
    let Ok(t) = sentrie_vm::target::resolve(&loaded.program, "f/p") else {
        return;
    };
    let bump = bumpalo::Bump::new();
    let mut facts = Vec::from(&b"{\"v\":"[..]);
    facts.extend_from_slice(data);
    facts.push(b'}');
    let Ok(facts) = sentrie_vm::json::decode(&facts, &bump) else {
        return;
    };
    let limits = sentrie_vm::Limits {
        deadline: Some(std::time::Instant::now() + std::time::Duration::from_secs(2)),
        ..sentrie_vm::Limits::default()
    };
    let _ = sentrie_vm::evaluate(&loaded.program, t.policy, &t.rules, facts, &bump, limits);
});

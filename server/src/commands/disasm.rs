//! `sentrie disasm TARGET`: the bytecode listing of the target's rules and their attachments,
//! then of the policy's lets (where collection forms over constants and their indexes often
//! live).

use std::path::Path;

use sentrie_grammar::ErrorFormat;
use sentrie_vm::disasm::disasm;

use super::{load, EXIT_FAIL, EXIT_OK};

pub fn run(target_text: &str, pack: &Path, format: ErrorFormat) -> u8 {
    let Some(loaded) = load(pack, format) else {
        return EXIT_FAIL;
    };
    let p = &loaded.program;
    let Some(target) = super::resolve_target(p, target_text) else {
        return EXIT_FAIL;
    };
    for rule in target.rules {
        let info = &p.rules()[rule];
        super::out(&disasm(p, info.func));
        for (_, f) in &info.attachments {
            super::out(&disasm(p, *f));
        }
    }
    for l in &p.policies()[target.policy].lets {
        super::out(&disasm(p, p.lets()[*l].func));
    }
    EXIT_OK
}

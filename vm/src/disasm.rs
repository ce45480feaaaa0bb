//! A readable listing of a function's bytecode (`sentrie disasm`, golden tests).

use std::fmt::Write;

use crate::bytecode::Instr;
use crate::program::{Const, FuncId};
use crate::verified::VerifiedProgram;

fn const_text(c: &Const) -> String {
    match c {
        Const::Num(n) => crate::value::number_text(*n),
        Const::Str(s) => format!("{s:?}"),
        Const::Bool(b) => b.to_string(),
        Const::Unknown => "unknown".to_string(),
        Const::Null => "null".to_string(),
        Const::List(items) => format!(
            "[{}]",
            items.iter().map(const_text).collect::<Vec<_>>().join(", ")
        ),
        Const::Map(entries) => format!(
            "{{{}}}",
            entries
                .iter()
                .map(|(k, v)| format!("{k:?}: {}", const_text(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// Lists one function: a header with its register and builder counts, then one line per pc.
pub fn disasm(vp: &VerifiedProgram, func: FuncId) -> String {
    let p = &vp.program;
    let f = &p.funcs[func];
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{func} {} (regs {}, builders {})",
        f.name, f.n_regs, f.n_builders
    );
    for (pc, ins) in f.code.iter().enumerate() {
        let note = match ins {
            Instr::LoadConst { k, .. } | Instr::Fail { k } => p
                .consts
                .get(*k as usize)
                .map(|c| format!("  ; {}", const_text(c))),
            Instr::GetField { name, .. } | Instr::GetFieldLenient { name, .. } => {
                p.names.get(*name as usize).map(|n| format!("  ; .{n}"))
            }
            Instr::GetFactField { idx, name, .. } => {
                let fact = p.policies[f.policy].facts.get(usize::from(*idx));
                let field = p.names.get(usize::from(*name));
                fact.zip(field)
                    .map(|(fact, field)| format!("  ; {}.{field}", fact.exposed))
            }
            Instr::LoadAdhoc { name, .. } => {
                p.names.get(*name as usize).map(|n| format!("  ; fact {n}"))
            }
            Instr::LoadRule { rule, .. }
            | Instr::InlineRule { rule, .. }
            | Instr::StoreRule { rule, .. } => p
                .rules
                .get(crate::program::RuleId::from_u32(*rule))
                .map(|r| format!("  ; rule {}", r.name)),
            Instr::LoadLet { let_id, .. }
            | Instr::InlineLet { let_id, .. }
            | Instr::StoreLet { let_id, .. } => p
                .lets
                .get(crate::program::LetId::from_u32(*let_id))
                .map(|l| format!("  ; let {}", l.name)),
            Instr::CallModule { site, .. } => p
                .module_sites
                .get(*site as usize)
                .map(|m| format!("  ; {}.{}", m.key, m.export)),
            Instr::CallNative { site, .. } => p
                .natives
                .get(*site as usize)
                .map(|n| format!("  ; @sentrie/{}.{}", n.module, n.export)),
            Instr::CallBuiltin { site, .. } => p
                .calls
                .get(*site as usize)
                .map(|c| format!("  ; {:?}", c.builtin)),
            Instr::IndexProbe { index, .. }
            | Instr::IndexGuard { index, .. }
            | Instr::IndexElem { index, .. }
            | Instr::IndexRule { index, .. }
            | Instr::ContainsConst { index, .. } => {
                index_note(vp, *index as usize).map(|n| format!("  ; {n}"))
            }
            Instr::MatchesConst { regex, .. } => {
                p.regexes.get(*regex as usize).map(|r| format!("  ; /{r}/"))
            }
            _ => None,
        };
        let _ = writeln!(
            out,
            "  {pc:4}  {}{}",
            fmt_instr(ins),
            note.unwrap_or_default()
        );
    }
    out
}

/// `index 0 (any grants as g, 10000 elements, levels .tenant == then .action ==)`.
fn index_note(vp: &VerifiedProgram, i: usize) -> Option<String> {
    let spec = vp.program.indexes.get(i)?;
    let ix = vp.indexes.get(i)?;
    let levels = spec
        .levels
        .iter()
        .take(ix.depth())
        .map(|l| {
            let path: String = l.path.iter().map(|s| format!(".{s}")).collect();
            // `s matches M[elem]`: the patterns are looked up in a constant map.
            let base = if spec.via.is_some() {
                "map[elem]"
            } else {
                "elem"
            };
            format!(
                "{} {}",
                if path.is_empty() { base } else { &path },
                l.op.text()
            )
        })
        .collect::<Vec<_>>()
        .join(" then ");
    let state = if ix.usable() {
        format!("levels {levels}")
    } else {
        "not usable: scans".to_string()
    };
    Some(format!(
        "index {i} ({}, {} elements, {state})",
        spec.what,
        ix.len()
    ))
}

fn fmt_instr(ins: &Instr) -> String {
    // `Add { dst: Reg(0), lhs: Reg(1), rhs: Reg(2) }` becomes `Add dst=r0 lhs=r1 rhs=r2`.
    let text = format!("{ins:?}")
        .replace("Reg(", "r")
        .replace([')', '{', '}', ','], "")
        .replace(": ", "=");
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

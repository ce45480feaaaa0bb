//! The verifier: checks that every register, constant, name, table id and jump target of a
//! `Program` is in bounds before it runs, so the dispatch loop can index without `Result`s.

use crate::bytecode::{Instr, Reg};
use crate::program::{Func, FuncId, PolicyId, Program, TypeKind};

/// Checks the whole program; the error names the function and instruction.
pub fn verify(p: &Program) -> Result<(), String> {
    for (id, f) in p.funcs.iter() {
        verify_func(p, f).map_err(|e| format!("{id} ({}): {e}", f.name))?;
    }
    verify_tables(p)?;
    verify_types(p)?;
    if p.imports
        .iter()
        .any(|site| p.rules.get(site.rule).is_none())
    {
        return Err("import site refers to a missing rule".to_string());
    }
    if p.compiled_natives.len() != p.natives.len() {
        return Err("native functions were not prepared".to_string());
    }
    if p.compiled_regexes.len() != p.regexes.len() {
        return Err("regular expressions were not prepared".to_string());
    }
    Ok(())
}

/// Rules, lets and facts: every function runs in the context of the policy that owns it, and
/// cache slots match positions in the policy's tables.
fn verify_tables(p: &Program) -> Result<(), String> {
    let func_of = |f: FuncId, pol: PolicyId| p.funcs.get(f).is_some_and(|x| x.policy == pol);
    for (_, r) in p.rules.iter() {
        let funcs_ok =
            func_of(r.func, r.policy) && r.attachments.iter().all(|(_, f)| func_of(*f, r.policy));
        let slot_ok = p
            .policies
            .get(r.policy)
            .is_some_and(|pol| pol.rules.get(r.slot as usize).is_some());
        if !funcs_ok || !slot_ok {
            return Err(format!("rule {} is malformed", r.name));
        }
    }
    for (pid, pol) in p.policies.iter() {
        let rules_ok = pol.rules.iter().enumerate().all(|(i, r)| {
            p.rules
                .get(*r)
                .is_some_and(|x| x.slot as usize == i && x.policy == pid)
        });
        let exports_ok = pol
            .exports
            .iter()
            .all(|r| p.rules.get(*r).is_some_and(|x| x.policy == pid));
        let lets_ok = pol.lets.iter().enumerate().all(|(i, l)| {
            p.lets
                .get(*l)
                .is_some_and(|x| x.slot as usize == i && x.policy == pid && func_of(x.func, pid))
        });
        let facts_ok = pol
            .facts
            .iter()
            .all(|f| p.types.get(f.ty).is_some() && f.default.is_none_or(|d| func_of(d, pid)));
        if !(rules_ok && exports_ok && lets_ok && facts_ok) {
            return Err(format!(
                "policy {}/{} is malformed",
                pol.namespace, pol.name
            ));
        }
    }
    if p.lets.iter().any(|(_, l)| {
        p.policies
            .get(l.policy)
            .is_none_or(|pol| pol.lets.len() <= l.slot as usize)
    }) {
        return Err("a let has a bad cache slot".to_string());
    }
    Ok(())
}

/// Type references are in bounds and alias chains end.
fn verify_types(p: &Program) -> Result<(), String> {
    for (id, t) in p.types.iter() {
        let ok = match &t.kind {
            TypeKind::List(x) | TypeKind::Map(x) | TypeKind::Alias(x) => p.types.get(*x).is_some(),
            TypeKind::Record(xs) => xs.iter().all(|x| p.types.get(*x).is_some()),
            TypeKind::Shape(fields) => fields.iter().all(|f| p.types.get(f.ty).is_some()),
            _ => true,
        };
        let regex_ok = t
            .constraints
            .iter()
            .all(|c| c.regex.is_none_or(|r| (r as usize) < p.regexes.len()));
        if !ok || !regex_ok {
            return Err(format!("type {} is malformed", t.name));
        }
        let mut cur = id;
        let mut steps = 0;
        while let TypeKind::Alias(next) = &p.types[cur].kind {
            cur = *next;
            steps += 1;
            if steps > 64 {
                return Err(format!(
                    "alias chain of type {} is too long or cyclic",
                    t.name
                ));
            }
        }
    }
    Ok(())
}

fn verify_func(p: &Program, f: &Func) -> Result<(), String> {
    let len = f.code.len();
    let Some(policy) = p.policies.get(f.policy) else {
        return Err("function of a missing policy".to_string());
    };
    let own_let = |l: u32| match p.lets.get(crate::program::LetId::from_u32(l)) {
        Some(info) if info.policy == f.policy => Ok(()),
        _ => Err(format!("let {l} is not a let of this function's policy")),
    };
    let own_rule = |r: u32| match p.rules.get(crate::program::RuleId::from_u32(r)) {
        Some(info) if info.policy == f.policy => Ok(()),
        _ => Err(format!("rule {r} is not a rule of this function's policy")),
    };
    let fact = |i: u16| {
        if (i as usize) < policy.facts.len() {
            Ok(())
        } else {
            Err(format!("fact {i} out of range"))
        }
    };
    let reg = |r: Reg| -> Result<(), String> {
        if r.0 < f.n_regs {
            Ok(())
        } else {
            Err(format!("register r{} out of range", r.0))
        }
    };
    let span = |r: Reg, n: usize| -> Result<(), String> {
        if r.0 as usize + n <= f.n_regs as usize {
            Ok(())
        } else {
            Err(format!("register range r{}+{n} out of range", r.0))
        }
    };
    let target = |t: u32| -> Result<(), String> {
        if (t as usize) < len {
            Ok(())
        } else {
            Err(format!("jump target {t} out of range"))
        }
    };
    let builder = |b: u16| -> Result<(), String> {
        if b < f.n_builders {
            Ok(())
        } else {
            Err(format!("builder {b} out of range"))
        }
    };
    let cnst = |k: u32| {
        if (k as usize) < p.consts.len() {
            Ok(())
        } else {
            Err(format!("constant {k} out of range"))
        }
    };
    let name = |n: u32| {
        if (n as usize) < p.names.len() {
            Ok(())
        } else {
            Err(format!("name {n} out of range"))
        }
    };
    let ty = |t: u16| {
        if (t as usize) < p.types.len() {
            Ok(())
        } else {
            Err(format!("type {t} out of range"))
        }
    };
    match f.code.last() {
        Some(Instr::Ret { .. } | Instr::Jump { .. } | Instr::Fail { .. } | Instr::RetSub) => {}
        _ => return Err("code does not end with a terminator".to_string()),
    }
    for (pc, ins) in f.code.iter().enumerate() {
        let res = match *ins {
            Instr::LoadConst { dst, k } => reg(dst).and(cnst(k)),
            Instr::LoadUndef { dst }
            | Instr::LoadNull { dst }
            | Instr::LoadBool { dst, .. }
            | Instr::LoadUnknown { dst } => reg(dst),
            Instr::Move { dst, src }
            | Instr::Not { dst, src }
            | Instr::Neg { dst, src }
            | Instr::Plus { dst, src }
            | Instr::Truthy { dst, src }
            | Instr::IsDefined { dst, src }
            | Instr::IsEmpty { dst, src }
            | Instr::Count { dst, src } => reg(dst).and(reg(src)),
            Instr::LoadFact { dst, idx } => reg(dst).and(fact(idx)),
            Instr::LoadAdhoc { dst, name: n } => reg(dst).and(name(n)),
            Instr::LoadLet { dst, let_id } => reg(dst).and(own_let(let_id)),
            Instr::LoadRule { dst, rule } => reg(dst).and(own_rule(rule)),
            Instr::Import { dst, site } => reg(dst).and(match p.imports.get(site as usize) {
                Some(s) => span(s.args, s.names.len()),
                None => Err("bad import site".into()),
            }),
            Instr::EnsureLocal { slot, target: t } => reg(slot).and(target(t)),
            Instr::ClearLocal { slot } => reg(slot),
            Instr::RetSub => Ok(()),
            Instr::CheckLet { src, site } => reg(src).and(match p.let_checks.get(site as usize) {
                Some(c) if p.types.get(c.ty).is_some() => Ok(()),
                _ => Err("bad let check".into()),
            }),
            Instr::GetField { dst, src, name: n }
            | Instr::GetFieldLenient { dst, src, name: n } => {
                reg(dst).and(reg(src)).and(name(n.into()))
            }
            Instr::GetIndex { dst, src, key } | Instr::GetIndexLenient { dst, src, key } => {
                reg(dst).and(reg(src)).and(reg(key))
            }
            Instr::Add { dst, lhs, rhs }
            | Instr::Sub { dst, lhs, rhs }
            | Instr::Mul { dst, lhs, rhs }
            | Instr::Div { dst, lhs, rhs }
            | Instr::Mod { dst, lhs, rhs }
            | Instr::Lt { dst, lhs, rhs }
            | Instr::Le { dst, lhs, rhs }
            | Instr::Gt { dst, lhs, rhs }
            | Instr::Ge { dst, lhs, rhs }
            | Instr::Eq { dst, lhs, rhs }
            | Instr::Ne { dst, lhs, rhs }
            | Instr::Contains { dst, lhs, rhs }
            | Instr::Matches { dst, lhs, rhs }
            | Instr::AndTri { dst, lhs, rhs }
            | Instr::OrTri { dst, lhs, rhs }
            | Instr::XorTri { dst, lhs, rhs } => reg(dst).and(reg(lhs)).and(reg(rhs)),
            Instr::MatchesConst { dst, src, regex } => {
                reg(dst)
                    .and(reg(src))
                    .and(if (regex as usize) < p.regexes.len() {
                        Ok(())
                    } else {
                        Err("bad regex".into())
                    })
            }
            Instr::IsType { dst, src, ty: t } | Instr::Cast { dst, src, ty: t } => {
                reg(dst).and(reg(src)).and(ty(t))
            }
            Instr::Jump { target: t } => target(t),
            Instr::JumpIfTrue { src, target: t }
            | Instr::JumpIfNotTrue { src, target: t }
            | Instr::JumpIfFalse { src, target: t }
            | Instr::JumpIfUndef { src, target: t } => reg(src).and(target(t)),
            Instr::MakeList { dst, src, n } => reg(dst).and(span(src, n.into())),
            Instr::MakeMap { dst, src, n } => reg(dst).and(span(src, 2 * n as usize)),
            Instr::IterCheck { src, .. } => reg(src),
            Instr::IterNext { list, idx, elem } => {
                let room = if pc + 2 < len {
                    Ok(())
                } else {
                    Err("IterNext needs a following jump".to_string())
                };
                reg(list).and(reg(idx)).and(reg(elem)).and(room)
            }
            Instr::Incr { reg: r } => reg(r),
            Instr::BuilderNew { b } => builder(b),
            Instr::BuilderPush { b, src } => builder(b).and(reg(src)),
            Instr::BuilderFinish { dst, b } | Instr::BuilderLen { dst, b } => {
                builder(b).and(reg(dst))
            }
            Instr::BuilderGet { dst, b, idx } => builder(b).and(reg(dst)).and(reg(idx)),
            Instr::CallBuiltin { dst, site } => reg(dst).and(match p.calls.get(site as usize) {
                Some(c) => span(c.args, c.argc.into()),
                None => Err("bad call site".into()),
            }),
            Instr::CallNative { dst, site } => reg(dst).and(match p.natives.get(site as usize) {
                Some(n) => span(n.args, n.argc.into()),
                None => Err("bad native call site".into()),
            }),
            Instr::CallModule { dst, site } => {
                reg(dst).and(match p.module_sites.get(site as usize) {
                    Some(m) if p.js_modules.iter().any(|(k, _)| *k == m.key) => {
                        span(m.args, m.argc.into())
                    }
                    _ => Err("bad module call site".into()),
                })
            }
            Instr::Fail { k } => cnst(k),
            Instr::Ret { src } => reg(src),
        };
        res.map_err(|e| format!("pc {pc}: {e}"))?;
    }
    Ok(())
}

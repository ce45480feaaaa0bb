//! The verifier: checks that every register, constant, name, table id and jump target of a
//! `Program` is in bounds before it runs, so the dispatch loop can index without `Result`s.
//! [`crate::verified::verify`] runs it and links the result; nothing else builds a
//! [`crate::VerifiedProgram`].

use crate::bytecode::{Instr, Reg};
use crate::program::{Func, FuncId, LetId, PolicyId, PolicyInfo, Program, RuleId, TypeKind};

/// Why a program was rejected.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum VerifyError {
    #[error("{func} ({name}): pc {pc}: {fault}")]
    Instr {
        func: FuncId,
        name: String,
        pc: u32,
        fault: Fault,
    },
    #[error("{func} ({name}): {fault}")]
    Func {
        func: FuncId,
        name: String,
        fault: Fault,
    },
    #[error("{0} is malformed")]
    Malformed(String),
    #[error("alias chain of type {0} is too long or cyclic")]
    AliasChain(String),
    #[error("import site refers to a missing rule")]
    ImportSite,
    #[error("invalid regular expression: {0}")]
    Regex(String),
    #[error("unknown native function @sentrie/{module}.{export}")]
    UnknownNative { module: String, export: String },
}

/// What is wrong with one function or instruction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Fault {
    #[error("function of a missing policy")]
    MissingPolicy,
    #[error("code does not end with a terminator")]
    NoTerminator,
    #[error("let {0} is not a let of this function's policy")]
    ForeignLet(u32),
    #[error("rule {0} is not a rule of this function's policy")]
    ForeignRule(u32),
    #[error("fact {0} out of range")]
    Fact(u16),
    #[error("register r{0} out of range")]
    Register(u16),
    #[error("register range r{0}+{1} out of range")]
    RegisterRange(u16, usize),
    #[error("jump target {0} out of range")]
    JumpTarget(u32),
    #[error("builder {0} out of range")]
    Builder(u16),
    #[error("constant {0} out of range")]
    Constant(u32),
    #[error("name {0} out of range")]
    Name(u32),
    #[error("type {0} out of range")]
    Type(u16),
    #[error("bad {0} site")]
    Site(&'static str),
    #[error("IterNext needs a following jump")]
    IterNextRoom,
    #[error("InlineLet and InlineRule need a following forward jump")]
    InlineJump,
    /// Only `Jump` and `EnsureLocal` (which charge fuel) may go backwards; a backward
    /// conditional jump could loop without spending fuel.
    #[error("backward transfer to {0} without charging fuel")]
    BackwardWithoutFuel(u32),
}

/// Checks the whole program; the error names the function and instruction.
pub fn check(p: &Program) -> Result<(), VerifyError> {
    for (id, f) in p.funcs.iter() {
        let checker = FuncCheck::new(p, f).map_err(|fault| VerifyError::Func {
            func: id,
            name: f.name.clone(),
            fault,
        })?;
        checker.check().map_err(|(pc, fault)| VerifyError::Instr {
            func: id,
            name: f.name.clone(),
            pc,
            fault,
        })?;
    }
    verify_tables(p)?;
    verify_types(p)?;
    verify_indexes(p)?;
    if p.imports
        .iter()
        .any(|site| p.rules.get(site.rule).is_none())
    {
        return Err(VerifyError::ImportSite);
    }
    Ok(())
}

/// Rules, lets and facts: every function runs in the context of the policy that owns it, and
/// cache slots match positions in the policy's tables.
fn verify_tables(p: &Program) -> Result<(), VerifyError> {
    let func_of = |f: FuncId, pol: PolicyId| p.funcs.get(f).is_some_and(|x| x.policy == pol);
    for (_, r) in p.rules.iter() {
        let funcs_ok =
            func_of(r.func, r.policy) && r.attachments.iter().all(|(_, f)| func_of(*f, r.policy));
        let slot_ok = p
            .policies
            .get(r.policy)
            .is_some_and(|pol| pol.rules.get(r.slot as usize).is_some());
        if !funcs_ok || !slot_ok {
            return Err(VerifyError::Malformed(format!("rule {}", r.name)));
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
        let facts_ok = pol.facts.iter().all(|f| {
            p.types.get(f.ty).is_some()
                && f.default.is_none_or(|d| func_of(d, pid))
                && f.default_const
                    .is_none_or(|k| (k as usize) < p.consts.len())
        });
        if !(rules_ok && exports_ok && lets_ok && facts_ok) {
            return Err(VerifyError::Malformed(format!(
                "policy {}/{}",
                pol.namespace, pol.name
            )));
        }
    }
    if p.lets.iter().any(|(_, l)| {
        p.policies
            .get(l.policy)
            .is_none_or(|pol| pol.lets.len() <= l.slot as usize)
    }) {
        return Err(VerifyError::Malformed("a let's cache slot".to_string()));
    }
    Ok(())
}

/// Most levels an index may have.
pub const MAX_INDEX_LEVELS: usize = 8;

/// Index descriptions name a constant list, have a few levels, and rules that exist.
fn verify_indexes(p: &Program) -> Result<(), VerifyError> {
    for spec in &p.indexes {
        let ok = matches!(
            p.consts.get(spec.list as usize),
            Some(crate::program::Const::List(_))
        ) && (1..=MAX_INDEX_LEVELS).contains(&spec.levels.len())
            && spec.rules.iter().all(|r| p.rules.get(*r).is_some())
            && spec.typed_let.is_none_or(|(l, ty)| {
                p.lets.get(LetId::from_u32(l)).is_some() && p.types.get(ty).is_some()
            })
            && spec.via.is_none_or(|m| {
                matches!(
                    p.consts.get(m as usize),
                    Some(crate::program::Const::Map(_))
                )
            });
        if !ok {
            return Err(VerifyError::Malformed(format!("index {}", spec.what)));
        }
    }
    Ok(())
}

/// Type references are in bounds and alias chains end.
fn verify_types(p: &Program) -> Result<(), VerifyError> {
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
            return Err(VerifyError::Malformed(format!("type {}", t.name)));
        }
        let mut cur = id;
        let mut steps = 0;
        while let TypeKind::Alias(next) = &p.types[cur].kind {
            cur = *next;
            steps += 1;
            if steps > 64 {
                return Err(VerifyError::AliasChain(t.name.clone()));
            }
        }
    }
    Ok(())
}

/// Bounds checks for the instructions of one function.
struct FuncCheck<'p> {
    p: &'p Program,
    f: &'p Func,
    policy: &'p PolicyInfo,
}

type Check = Result<(), Fault>;

fn ok_if(cond: bool, fault: Fault) -> Check {
    if cond {
        Ok(())
    } else {
        Err(fault)
    }
}

impl<'p> FuncCheck<'p> {
    fn new(p: &'p Program, f: &'p Func) -> Result<FuncCheck<'p>, Fault> {
        let policy = p.policies.get(f.policy).ok_or(Fault::MissingPolicy)?;
        match f.code.last() {
            Some(Instr::Ret { .. } | Instr::Jump { .. } | Instr::Fail { .. } | Instr::RetSub) => {}
            _ => return Err(Fault::NoTerminator),
        }
        Ok(FuncCheck { p, f, policy })
    }

    fn check(&self) -> Result<(), (u32, Fault)> {
        for (pc, ins) in self.f.code.iter().enumerate() {
            self.instr(pc, *ins).map_err(|fault| (pc as u32, fault))?;
        }
        for probe in &self.f.probes {
            self.probe(probe).map_err(|fault| (probe.pc, fault))?;
        }
        Ok(())
    }

    /// A probe (read only by explaining evaluations) names an instruction of the function
    /// and registers of its frame.
    fn probe(&self, probe: &crate::program::Probe) -> Check {
        use crate::program::ProbeKind;
        self.target(probe.pc)?;
        match &probe.kind {
            ProbeKind::When { reg } | ProbeKind::Cond { reg } => self.reg(*reg),
            ProbeKind::FormDecided { list, idx, .. } => {
                self.reg(*list)?;
                self.reg(*idx)
            }
            ProbeKind::FormDone { list, .. } => self.reg(*list),
            ProbeKind::BlockLet { slot, .. } => self.reg(*slot),
            ProbeKind::Default | ProbeKind::FormUndefined { .. } => Ok(()),
        }
    }

    fn own_let(&self, l: u32) -> Check {
        let own = self.p.lets.get(LetId::from_u32(l));
        ok_if(
            own.is_some_and(|i| i.policy == self.f.policy),
            Fault::ForeignLet(l),
        )
    }

    fn own_rule(&self, r: u32) -> Check {
        let own = self.p.rules.get(RuleId::from_u32(r));
        ok_if(
            own.is_some_and(|i| i.policy == self.f.policy),
            Fault::ForeignRule(r),
        )
    }

    fn fact(&self, i: u16) -> Check {
        ok_if((i as usize) < self.policy.facts.len(), Fault::Fact(i))
    }

    fn reg(&self, r: Reg) -> Check {
        ok_if(r.0 < self.f.n_regs, Fault::Register(r.0))
    }

    fn regs(&self, r: Reg, n: usize) -> Check {
        ok_if(
            r.0 as usize + n <= self.f.n_regs as usize,
            Fault::RegisterRange(r.0, n),
        )
    }

    fn target(&self, t: u32) -> Check {
        ok_if((t as usize) < self.f.code.len(), Fault::JumpTarget(t))
    }

    /// A transfer that does not charge fuel: in bounds and strictly forward.
    fn forward(&self, pc: usize, t: u32) -> Check {
        self.target(t)
            .and(ok_if(t as usize > pc, Fault::BackwardWithoutFuel(t)))
    }

    fn builder(&self, b: u16) -> Check {
        ok_if(b < self.f.n_builders, Fault::Builder(b))
    }

    fn konst(&self, k: u32) -> Check {
        ok_if((k as usize) < self.p.consts.len(), Fault::Constant(k))
    }

    fn name(&self, n: u32) -> Check {
        ok_if((n as usize) < self.p.names.len(), Fault::Name(n))
    }

    fn ty(&self, t: u16) -> Check {
        ok_if((t as usize) < self.p.types.len(), Fault::Type(t))
    }

    fn index(&self, i: u16) -> Check {
        ok_if((i as usize) < self.p.indexes.len(), Fault::Site("index"))
    }

    fn instr(&self, pc: usize, ins: Instr) -> Check {
        match ins {
            Instr::LoadConst { dst, k } => self.reg(dst).and(self.konst(k)),
            Instr::LoadUndef { dst }
            | Instr::LoadNull { dst }
            | Instr::LoadBool { dst, .. }
            | Instr::LoadUnknown { dst } => self.reg(dst),
            Instr::Move { dst, src }
            | Instr::Not { dst, src }
            | Instr::Neg { dst, src }
            | Instr::Plus { dst, src }
            | Instr::Truthy { dst, src }
            | Instr::IsDefined { dst, src }
            | Instr::IsEmpty { dst, src }
            | Instr::Count { dst, src } => self.reg(dst).and(self.reg(src)),
            Instr::LoadFact { dst, idx } => self.reg(dst).and(self.fact(idx)),
            Instr::LoadAdhoc { dst, name } => self.reg(dst).and(self.name(name)),
            Instr::LoadLet { dst, let_id } => self.reg(dst).and(self.own_let(let_id)),
            Instr::InlineLet { dst, let_id } => {
                self.reg(dst)
                    .and(self.own_let(let_id))
                    .and(match self.f.code.get(pc + 1) {
                        Some(Instr::Jump { target }) => self.forward(pc + 1, *target),
                        _ => Err(Fault::InlineJump),
                    })
            }
            Instr::StoreLet { src, let_id } => self.reg(src).and(self.own_let(let_id)),
            Instr::LoadRule { dst, rule } => self.reg(dst).and(self.own_rule(rule)),
            Instr::InlineRule { dst, rule } => {
                self.reg(dst)
                    .and(self.own_rule(rule))
                    .and(match self.f.code.get(pc + 1) {
                        Some(Instr::Jump { target }) => self.forward(pc + 1, *target),
                        _ => Err(Fault::InlineJump),
                    })
            }
            Instr::StoreRule { src, rule } => self.reg(src).and(self.own_rule(rule)),
            // A subroutine call: it charges fuel when taken, so it may go backwards.
            Instr::EnsureLocal { slot, target } => self.reg(slot).and(self.target(target)),
            Instr::ClearLocal { slot } => self.reg(slot),
            Instr::RetSub => Ok(()),
            Instr::GetField { dst, src, name } | Instr::GetFieldLenient { dst, src, name } => {
                self.reg(dst).and(self.reg(src)).and(self.name(name.into()))
            }
            Instr::GetFactField { dst, idx, name, .. } => self
                .reg(dst)
                .and(self.fact(idx))
                .and(self.name(name.into())),
            Instr::GetIndex { dst, src, key } | Instr::GetIndexLenient { dst, src, key } => {
                self.reg(dst).and(self.reg(src)).and(self.reg(key))
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
            | Instr::XorTri { dst, lhs, rhs } => {
                self.reg(dst).and(self.reg(lhs)).and(self.reg(rhs))
            }
            Instr::MatchesConst { dst, src, regex } => self.reg(dst).and(self.reg(src)).and(ok_if(
                (regex as usize) < self.p.regexes.len(),
                Fault::Site("regex"),
            )),
            Instr::IsType { dst, src, ty } | Instr::Cast { dst, src, ty } => {
                self.reg(dst).and(self.reg(src)).and(self.ty(ty))
            }
            Instr::Jump { target } => self.target(target),
            Instr::JumpIfTrue { src, target }
            | Instr::JumpIfNotTrue { src, target }
            | Instr::JumpIfFalse { src, target }
            | Instr::JumpIfUndef { src, target }
            | Instr::OrJump { reg: src, target }
            | Instr::AndJump { reg: src, target } => self.reg(src).and(self.forward(pc, target)),
            Instr::MakeList { dst, src, n } => self.reg(dst).and(self.regs(src, n.into())),
            Instr::MakeMap { dst, src, n } => self.reg(dst).and(self.regs(src, 2 * n as usize)),
            Instr::IterCheck { src, .. } => self.reg(src),
            Instr::IterNext { list, idx, elem } => self
                .reg(list)
                .and(self.reg(idx))
                .and(self.reg(elem))
                .and(ok_if(pc + 2 < self.f.code.len(), Fault::IterNextRoom)),
            Instr::Incr { reg } => self.reg(reg),
            Instr::BuilderNew { b } => self.builder(b),
            Instr::BuilderPush { b, src } => self.builder(b).and(self.reg(src)),
            Instr::BuilderFinish { dst, b } | Instr::BuilderLen { dst, b } => {
                self.builder(b).and(self.reg(dst))
            }
            Instr::BuilderGet { dst, b, idx } => {
                self.builder(b).and(self.reg(dst)).and(self.reg(idx))
            }
            Instr::IndexProbe { node, key, index } => {
                self.reg(node).and(self.reg(key)).and(self.index(index))
            }
            Instr::IndexDone { node, target } => self.reg(node).and(self.forward(pc, target)),
            Instr::IndexGuard { dst, index } => {
                self.reg(dst).and(self.index(index))?;
                match self.p.indexes[index as usize].typed_let {
                    Some((let_id, _)) => self.own_let(let_id),
                    None => Ok(()),
                }
            }
            Instr::IndexElem { dst, pos, index }
            | Instr::ContainsConst {
                dst,
                src: pos,
                index,
            } => self.reg(dst).and(self.reg(pos)).and(self.index(index)),
            Instr::IndexRule { dst, pos, index } => {
                self.reg(dst).and(self.reg(pos)).and(self.index(index))?;
                for r in &self.p.indexes[index as usize].rules {
                    self.own_rule(r.as_u32())?;
                }
                Ok(())
            }
            Instr::Fail { k } => self.konst(k),
            Instr::Ret { src } => self.reg(src),
            Instr::Import { .. }
            | Instr::CheckLet { .. }
            | Instr::CallBuiltin { .. }
            | Instr::CallNative { .. }
            | Instr::CallModule { .. } => self.site(ins),
        }
    }

    /// Instructions that index a side table of the program.
    fn site(&self, ins: Instr) -> Check {
        let p = self.p;
        match ins {
            Instr::Import { dst, site } => self.reg(dst).and(match p.imports.get(site as usize) {
                Some(s) => self.regs(s.args, s.names.len()),
                None => Err(Fault::Site("import")),
            }),
            Instr::CheckLet { src, site } => {
                let c = p.let_checks.get(site as usize);
                self.reg(src).and(ok_if(
                    c.is_some_and(|c| p.types.get(c.ty).is_some()),
                    Fault::Site("let check"),
                ))
            }
            Instr::CallBuiltin { dst, site } => {
                self.reg(dst).and(match p.calls.get(site as usize) {
                    Some(c) => self.regs(c.args, c.argc.into()),
                    None => Err(Fault::Site("call")),
                })
            }
            Instr::CallNative { dst, site } => {
                self.reg(dst).and(match p.natives.get(site as usize) {
                    Some(n) => self.regs(n.args, n.argc.into()),
                    None => Err(Fault::Site("native call")),
                })
            }
            Instr::CallModule { dst, site } => {
                self.reg(dst).and(match p.module_sites.get(site as usize) {
                    Some(m) if p.js_modules.iter().any(|(k, _)| *k == m.key) => {
                        self.regs(m.args, m.argc.into())
                    }
                    _ => Err(Fault::Site("module call")),
                })
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::program::{Func, PolicyInfo};

    fn program(code: Vec<Instr>) -> Program {
        let mut p = Program::default();
        let policy = p.policies.push(PolicyInfo {
            namespace: "t".into(),
            name: "p".into(),
            facts: Vec::new(),
            lets: Vec::new(),
            rules: Vec::new(),
            exports: Vec::new(),
            error: None,
        });
        p.funcs.push(Func {
            name: "f".into(),
            policy,
            code,
            n_regs: 2,
            n_builders: 0,
            locs: Vec::new(),
            decl: None,
            probes: Vec::new(),
        });
        p
    }

    #[test]
    fn only_fuel_charging_transfers_go_backwards() {
        let r = Reg(0);
        let looping = |jump: Instr| {
            program(vec![
                Instr::LoadBool {
                    dst: r,
                    value: true,
                },
                jump,
                Instr::Ret { src: r },
            ])
        };
        for jump in [
            Instr::JumpIfTrue { src: r, target: 0 },
            Instr::JumpIfNotTrue { src: r, target: 1 },
            Instr::JumpIfFalse { src: r, target: 0 },
            Instr::JumpIfUndef { src: r, target: 1 },
            Instr::OrJump { reg: r, target: 1 },
            Instr::AndJump { reg: r, target: 0 },
        ] {
            let err = check(&looping(jump)).unwrap_err();
            assert!(
                matches!(
                    err,
                    VerifyError::Instr {
                        fault: Fault::BackwardWithoutFuel(_),
                        ..
                    }
                ),
                "{err}"
            );
        }
        // Forward conditionals, and a backward `Jump` (it charges fuel), are fine.
        assert!(check(&looping(Instr::JumpIfTrue { src: r, target: 2 })).is_ok());
        assert!(check(&looping(Instr::Jump { target: 0 })).is_ok());
    }
}

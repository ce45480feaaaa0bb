//! Coverage of a test run (`sentrie test --coverage`): a [`Trace`] that notes which functions
//! (rules, lets, attachments) ran, which sides of each `when` guard were taken, which default
//! branches and which block lets were evaluated. [`Coverage::items`] lists everything that
//! could have been covered, so a report can name what no case reached.

use std::collections::HashSet;

use crate::bytecode::IterOp;
use crate::program::{FuncId, ProbeKind, SrcLoc};
use crate::trace::{CallKind, Trace};
use crate::value::{Tri, Value};
use crate::VerifiedProgram;

/// What was reached, accumulated over any number of evaluations.
#[derive(Default, Debug)]
pub struct Coverage {
    funcs: HashSet<FuncId>,
    /// `(func, pc, side)`: `side` is 1 for a guard that held, 0 for one that did not, 2 for
    /// any other probe that was passed.
    probes: HashSet<(FuncId, u32, u8)>,
}

/// One thing a test suite can reach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// `rule`, `let`, `attachment`, `when true`, `when false`, `default`, `block let`, or
    /// a side of an `any`/`all`/`first`.
    pub what: &'static str,
    /// The rule or let it belongs to (`namespace/policy/rule`, `namespace/policy.let`).
    pub name: String,
    pub loc: SrcLoc,
    pub covered: bool,
}

impl Coverage {
    pub fn new() -> Coverage {
        Coverage::default()
    }

    /// Every item of `p` (rules, lets, attachments, both sides of each guard, defaults, block
    /// lets) and whether it was reached.
    pub fn items(&self, p: &VerifiedProgram) -> Vec<Item> {
        let prog = p.program();
        let mut kinds: Vec<(FuncId, &'static str)> = Vec::new();
        for (_, r) in prog.rules.iter() {
            kinds.push((r.func, "rule"));
            kinds.extend(r.attachments.iter().map(|(_, f)| (*f, "attachment")));
        }
        kinds.extend(prog.lets.iter().map(|(_, l)| (l.func, "let")));
        let mut out = Vec::new();
        for (func, what) in kinds {
            let f = &prog.funcs[func];
            let Some(decl) = f.decl else { continue };
            out.push(Item {
                what,
                name: f.name.clone(),
                loc: decl,
                covered: self.funcs.contains(&func),
            });
            for probe in &f.probes {
                let reached = |side: u8| self.probes.contains(&(func, probe.pc, side));
                let mut push = |what: &'static str, covered: bool| {
                    out.push(Item {
                        what,
                        name: f.name.clone(),
                        loc: probe.loc,
                        covered,
                    });
                };
                match &probe.kind {
                    ProbeKind::When { .. } => {
                        push("when true", reached(1));
                        push("when false", reached(0));
                    }
                    ProbeKind::Cond { .. } => {
                        push("condition true", reached(1));
                        push("condition false", reached(0));
                    }
                    ProbeKind::Default => push("default", reached(2)),
                    ProbeKind::BlockLet { .. } => push("block let", reached(2)),
                    // `any`, `all` and `first` branch: one element decided, or none did.
                    ProbeKind::FormDecided { form, .. } => push(decided(*form), reached(2)),
                    ProbeKind::FormDone { form, .. } if early_exit(*form) => {
                        push(undecided(*form), reached(2));
                    }
                    ProbeKind::FormDone { .. } | ProbeKind::FormUndefined { .. } => {}
                }
            }
        }
        out.sort_by(|a, b| {
            (a.loc.file, a.loc.line, a.loc.col).cmp(&(b.loc.file, b.loc.line, b.loc.col))
        });
        out
    }
}

fn early_exit(form: IterOp) -> bool {
    matches!(form, IterOp::Any | IterOp::All | IterOp::First)
}

fn decided(form: IterOp) -> &'static str {
    match form {
        IterOp::All => "all: an element failed",
        IterOp::First => "first: an element matched",
        _ => "any: an element matched",
    }
}

fn undecided(form: IterOp) -> &'static str {
    match form {
        IterOp::All => "all: every element held",
        IterOp::First => "first: no element matched",
        _ => "any: no element matched",
    }
}

impl Trace for Coverage {
    const ON: bool = true;

    fn enter(&mut self, _p: &VerifiedProgram, func: FuncId, _kind: CallKind) {
        self.funcs.insert(func);
    }

    fn step(&mut self, p: &VerifiedProgram, func: FuncId, pc: u32, regs: &[Value<'_>]) {
        let probes = &p.program().funcs[func].probes;
        let first = probes.partition_point(|x| x.pc < pc);
        for probe in probes[first..].iter().take_while(|x| x.pc == pc) {
            let side = match &probe.kind {
                ProbeKind::When { reg } | ProbeKind::Cond { reg } => {
                    let v = regs
                        .get(reg.0 as usize)
                        .copied()
                        .unwrap_or(Value::Undefined);
                    u8::from(v.truthy() == Tri::True)
                }
                _ => 2,
            };
            self.probes.insert((func, pc, side));
        }
    }
}

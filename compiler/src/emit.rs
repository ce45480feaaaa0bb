//! `FnBuilder`: emits one function's bytecode. Registers are allocated as a stack (locals
//! first, temporaries above), builders likewise; the high-water marks size the frame.

use sentrie_vm::bytecode::{Instr, Reg};
use sentrie_vm::program::{Func, PolicyId, Probe, ProbeKind, SrcLoc};

pub struct FnBuilder {
    pub name: String,
    pub policy: PolicyId,
    pub code: Vec<Instr>,
    next_reg: u32,
    max_reg: u32,
    next_builder: u32,
    max_builder: u32,
    locs: Vec<(u32, SrcLoc)>,
    probes: Vec<Probe>,
    pub decl: Option<SrcLoc>,
    pub overflow: bool,
}

/// A point in a function's code to go back to ([`FnBuilder::rewind`]).
#[derive(Clone, Copy)]
pub struct CodeMark {
    code: usize,
    locs: usize,
    probes: usize,
}

/// A forward jump waiting for its target.
#[derive(Clone, Copy)]
pub struct Patch(usize);

impl FnBuilder {
    pub fn new(name: String, policy: PolicyId) -> FnBuilder {
        FnBuilder {
            name,
            policy,
            code: Vec::new(),
            next_reg: 0,
            max_reg: 0,
            next_builder: 0,
            max_builder: 0,
            locs: Vec::new(),
            probes: Vec::new(),
            decl: None,
            overflow: false,
        }
    }

    pub fn alloc(&mut self) -> Reg {
        self.alloc_n(1)
    }

    /// Allocates `n` consecutive registers and returns the first.
    pub fn alloc_n(&mut self, n: u32) -> Reg {
        let r = self.next_reg;
        self.next_reg += n;
        self.max_reg = self.max_reg.max(self.next_reg);
        if self.next_reg > u32::from(u16::MAX) {
            self.overflow = true;
            return Reg(0);
        }
        Reg(r as u16)
    }

    pub fn mark(&self) -> u32 {
        self.next_reg
    }

    pub fn free_to(&mut self, mark: u32) {
        self.next_reg = mark;
    }

    /// Moves the temporary stack above every register used so far (for subroutines that may
    /// run while any of them is live).
    pub fn above_high_water(&mut self) {
        self.next_reg = self.max_reg;
    }

    pub fn alloc_builder(&mut self) -> u16 {
        let b = self.next_builder;
        self.next_builder += 1;
        self.max_builder = self.max_builder.max(self.next_builder);
        if b > u32::from(u16::MAX) {
            self.overflow = true;
            return 0;
        }
        b as u16
    }

    pub fn free_builder(&mut self) {
        self.next_builder = self.next_builder.saturating_sub(1);
    }

    pub fn pc(&self) -> u32 {
        self.code.len() as u32
    }

    /// Where the code, its locations and probes end now (see [`Self::rewind`]).
    pub fn code_mark(&self) -> CodeMark {
        CodeMark {
            code: self.code.len(),
            locs: self.locs.len(),
            probes: self.probes.len(),
        }
    }

    /// Drops everything emitted since `mark` (registers stay allocated).
    pub fn rewind(&mut self, mark: CodeMark) {
        self.code.truncate(mark.code);
        self.locs.truncate(mark.locs);
        self.probes.truncate(mark.probes);
    }

    pub fn emit(&mut self, i: Instr) -> usize {
        self.code.push(i);
        self.code.len() - 1
    }

    pub fn set_loc(&mut self, loc: SrcLoc) {
        let pc = self.pc();
        match self.locs.last_mut() {
            Some((p, l)) if *p == pc => *l = loc,
            Some((_, l)) if *l == loc => {}
            _ => self.locs.push((pc, loc)),
        }
    }

    /// Records a probe before the next instruction (see [`ProbeKind`]).
    pub fn probe(&mut self, loc: SrcLoc, kind: ProbeKind) {
        let pc = self.pc();
        self.probes.push(Probe { pc, loc, kind });
    }

    /// Emits a jump-like instruction whose target is patched later.
    pub fn emit_fwd(&mut self, i: Instr) -> Patch {
        Patch(self.emit(i))
    }

    pub fn patch_here(&mut self, p: Patch) {
        let here = self.pc();
        self.patch_to(p, here);
    }

    pub fn patch_to(&mut self, p: Patch, target: u32) {
        match &mut self.code[p.0] {
            Instr::Jump { target: t }
            | Instr::JumpIfTrue { target: t, .. }
            | Instr::JumpIfNotTrue { target: t, .. }
            | Instr::JumpIfFalse { target: t, .. }
            | Instr::JumpIfUndef { target: t, .. }
            | Instr::OrJump { target: t, .. }
            | Instr::AndJump { target: t, .. }
            | Instr::IndexDone { target: t, .. }
            | Instr::EnsureLocal { target: t, .. } => *t = target,
            _ => {}
        }
    }

    pub fn finish(self) -> Func {
        Func {
            name: self.name,
            policy: self.policy,
            code: self.code,
            n_regs: self.max_reg.max(1).min(u32::from(u16::MAX)) as u16,
            n_builders: self.max_builder.min(u32::from(u16::MAX)) as u16,
            locs: self.locs,
            decl: self.decl,
            probes: {
                let mut probes = self.probes;
                probes.sort_by_key(|p| p.pc);
                probes
            },
        }
    }
}

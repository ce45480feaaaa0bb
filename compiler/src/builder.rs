//! [`Builder`]: what the passes produce, under construction. It holds the program being
//! built (tables filled by index, types and lower), the interning tables for names,
//! constants and regexes, the dependency graph lowering records, and the diagnostics. Passes
//! read the pack through their own inputs (the index, the resolved names) and write only here.

use rustc_hash::FxHashMap;
use sentrie_grammar::{SourceMap, Span};
use sentrie_vm::program::{Const, PolicyId, SrcLoc};
use sentrie_vm::Program;

use crate::deps::Graph;
use crate::error::{Diag, Diags};

pub struct Builder<'p> {
    pub program: Program,
    pub graph: Graph,
    pub diags: Diags,
    /// `(path, SHA-256 hex)` of the user module files the pack loads (content hash).
    pub module_digests: Vec<(String, String)>,
    pub(crate) sources: &'p SourceMap,
    /// Build indexes over constant lists (`lower/index.rs`); off only to compare with scans.
    pub index: bool,
    /// Lower small lets where they are read (`lower/names.rs`); off only to compare.
    pub inline: bool,
    /// The constant of each let whose value folds to one, shared by every place it is
    /// lowered inline (list and map constants are not interned otherwise).
    pub let_consts: FxHashMap<u32, u32>,
    names: FxHashMap<String, u32>,
    consts: FxHashMap<ConstKey, u32>,
    block_lets: u32,
}

/// Interning key of a scalar constant (lists and maps are not shared).
#[derive(PartialEq, Eq, Hash)]
enum ConstKey {
    Num(u64),
    Str(String),
}

impl<'p> Builder<'p> {
    pub fn new(sources: &'p SourceMap) -> Builder<'p> {
        Builder {
            program: Program::default(),
            graph: Graph::default(),
            diags: Diags::default(),
            module_digests: Vec::new(),
            sources,
            index: true,
            inline: true,
            let_consts: FxHashMap::default(),
            names: FxHashMap::default(),
            consts: FxHashMap::default(),
            block_lets: 0,
        }
    }

    /// Records a policy error: the first one becomes the policy's run-time failure.
    pub fn policy_error(&mut self, policy: PolicyId, d: Diag) {
        let info = &mut self.program.policies[policy];
        if info.error.is_none() {
            let at = d
                .span
                .map(|s| format!(" (at {})", self.sources.location(s)))
                .unwrap_or_default();
            info.error = Some(format!("{}{at}", d.error));
        }
        self.diags.policy(d);
    }

    /// The `(file, line, column)` of a span, for a function's location table.
    pub fn loc(&self, span: Span) -> SrcLoc {
        let (line, col) = self
            .sources
            .get(span.file)
            .map_or((0, 0), |f| f.line_col(span.start));
        SrcLoc {
            file: span.file.0,
            line,
            col,
        }
    }

    /// The index of an interned field name.
    pub fn name_id(&mut self, name: &str) -> u32 {
        if let Some(i) = self.names.get(name) {
            return *i;
        }
        self.program.names.push(name.to_string());
        let i = (self.program.names.len() - 1) as u32;
        self.names.insert(name.to_string(), i);
        i
    }

    /// The index of a constant; numbers and strings are shared.
    pub fn const_id(&mut self, c: Const) -> u32 {
        let key = match &c {
            Const::Num(n) => Some(ConstKey::Num(n.to_bits())),
            Const::Str(s) => Some(ConstKey::Str(s.clone())),
            _ => None,
        };
        if let Some(i) = key.as_ref().and_then(|k| self.consts.get(k)) {
            return *i;
        }
        self.program.consts.push(c);
        let i = (self.program.consts.len() - 1) as u32;
        if let Some(k) = key {
            self.consts.insert(k, i);
        }
        i
    }

    /// The index of a regex pattern in the program's table.
    pub fn intern_regex(&mut self, p: &str) -> u16 {
        if let Some(i) = self.program.regexes.iter().position(|r| r == p) {
            return i as u16;
        }
        self.program.regexes.push(p.to_string());
        (self.program.regexes.len() - 1).min(u16::MAX as usize) as u16
    }

    /// A fresh number for a block-level let's node in the dependency graph.
    pub fn next_block_let(&mut self) -> u32 {
        self.block_lets += 1;
        self.block_lets
    }
}

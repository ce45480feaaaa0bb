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
    /// lowered inline (so the let's value is folded and interned once).
    pub let_consts: FxHashMap<u32, u32>,
    /// Membership indexes (`x in LIST`) by list constant, typed let and description: every
    /// site testing the same constant list shares one index.
    pub membership: FxHashMap<MembershipKey, u16>,
    names: FxHashMap<String, u32>,
    consts: FxHashMap<ConstKey, u32>,
    block_lets: u32,
}

/// A membership index's identity: its list constant, the typed let holding the list if any,
/// and its description (`in a list of 3`).
pub type MembershipKey = (u32, Option<(u32, sentrie_vm::program::TypeId)>, String);

/// Interning key of a constant: numbers by their bits, strings by their text, lists and maps
/// by an exact encoding of their contents (a let inlined into many rules, or one list
/// written in many places, is stored once).
#[derive(PartialEq, Eq, Hash)]
enum ConstKey {
    Num(u64),
    Str(String),
    Composite(Vec<u8>),
}

/// The bytes of `c` for [`ConstKey::Composite`]: a tag per value, numbers by their bits,
/// strings and lengths prefixed, so two constants have the same bytes exactly when they are
/// the same constant (`-0` and `0` differ, as they would when written out). Iterative, so a
/// deeply nested constant cannot exhaust the stack.
fn composite_key(c: &Const) -> Vec<u8> {
    let mut out = Vec::new();
    let mut stack = vec![c];
    while let Some(c) = stack.pop() {
        match c {
            Const::Num(n) => {
                out.push(0);
                out.extend_from_slice(&n.to_bits().to_le_bytes());
            }
            Const::Str(s) => {
                out.push(1);
                push_text(&mut out, s);
            }
            Const::Bool(b) => out.push(if *b { 2 } else { 3 }),
            Const::Unknown => out.push(4),
            Const::Null => out.push(5),
            Const::List(items) => {
                out.push(6);
                out.extend_from_slice(&(items.len() as u64).to_le_bytes());
                stack.extend(items.iter().rev());
            }
            Const::Map(entries) => {
                out.push(7);
                out.extend_from_slice(&(entries.len() as u64).to_le_bytes());
                for (k, _) in entries {
                    push_text(&mut out, k);
                }
                stack.extend(entries.iter().rev().map(|(_, v)| v));
            }
        }
    }
    out
}

fn push_text(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u64).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
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
            membership: FxHashMap::default(),
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

    /// The index of a constant; equal constants are stored once.
    pub fn const_id(&mut self, c: Const) -> u32 {
        let key = match &c {
            Const::Num(n) => ConstKey::Num(n.to_bits()),
            Const::Str(s) => ConstKey::Str(s.clone()),
            composite => ConstKey::Composite(composite_key(composite)),
        };
        if let Some(i) = self.consts.get(&key) {
            return *i;
        }
        self.program.consts.push(c);
        let i = (self.program.consts.len() - 1) as u32;
        self.consts.insert(key, i);
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

//! `sentrie-vm`: the bytecode, the immutable `Program`, its verifier, runtime values and the
//! interpreter that evaluates one decision in a per-request bumpalo arena.
//!
//! It knows nothing about source text or parsing: source positions arrive as plain
//! `(file, line, column)` numbers filled in by the compiler.
//!
//! It links no JavaScript engine, parser or hash library: native functions and user modules
//! are reached through [`host::Host`], which `sentrie-modules` implements.
//!
//! Invariants: only [`verify()`] makes a [`VerifiedProgram`], the only form [`evaluate`]
//! accepts, and nothing can change it afterwards; the dispatch loop never recurses in Rust
//! for rule, let or import calls (an explicit frame stack with a depth limit).

pub mod builtins;
pub mod bytecode;
pub mod cast;
pub mod conform;
pub mod coverage;
pub mod disasm;
pub mod error;
pub mod host;
pub mod index;
pub mod interp;
pub mod json;
pub mod ops;
pub mod program;
pub mod regex_cache;
pub mod regex_needed;
pub mod target;
pub mod trace;
pub mod value;
pub mod verified;
pub mod verify;
pub mod work;

/// Recursion bound for value walks (equality, conformance, output).
pub const MAX_VALUE_DEPTH: u32 = 512;

pub use bytecode::{Instr, Reg};
pub use error::{ErrorKind, EvalError};
pub use interp::{evaluate, evaluate_explained, evaluate_with, Limits, Outcome, Outcomes};
pub use program::Program;
pub use value::{DecisionVal, Tri, Value};
pub use verified::{verify, VerifiedProgram};

#[cfg(test)]
mod tests {
    #[test]
    fn instr_and_value_sizes_are_locked() {
        assert!(std::mem::size_of::<crate::Instr>() <= 8);
        assert_eq!(std::mem::size_of::<crate::Value<'_>>(), 24);
    }
}

//! Run-time errors as data. Every failure of an evaluation is an [`ErrorKind`] carrying what
//! it needs (names, operand kinds, limits); its message is produced here, by `Display`, and
//! nowhere else. A failure inside the dispatch loop is a [`Fault`]: the kind plus the function
//! and pc of the failing instruction. Its source location is looked up from the program's
//! debug table only when the error is reported ([`EvalError`]).

use crate::program::FuncId;

/// What went wrong, independent of where.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ErrorKind {
    /// The policy has a policy error (LANGUAGE.md §17.1): every evaluation fails with it.
    #[error("{0}")]
    Policy(String),
    #[error("fact '{0}' cannot be null")]
    NullFact(String),
    #[error("required fact not found: {0}")]
    MissingFact(String),
    #[error("invalid value for fact '{name}': {reason}")]
    InvalidFact { name: String, reason: String },
    #[error("invalid value for let '{name}': {reason}")]
    InvalidLet { name: String, reason: String },

    #[error("cannot access field '{field}' of {found}")]
    FieldOf { field: String, found: &'static str },
    #[error("cannot access list index with {0}")]
    IndexWith(&'static str),
    #[error("cannot access index of {0}")]
    IndexOf(&'static str),
    #[error("type error: cannot apply '{op}' to {lhs} and {rhs}")]
    Operands {
        op: &'static str,
        lhs: &'static str,
        rhs: &'static str,
    },
    #[error("type error: cannot compare {lhs} and {rhs} with '{op}'")]
    Compare {
        op: &'static str,
        lhs: &'static str,
        rhs: &'static str,
    },
    #[error("type error: cannot apply unary '{op}' to {found}")]
    Unary { op: char, found: &'static str },
    #[error("type error: matches expects strings, found {lhs} and {rhs}")]
    MatchOperands {
        lhs: &'static str,
        rhs: &'static str,
    },
    #[error("type error: matches expects strings, found {0}")]
    MatchSubject(&'static str),
    #[error("divide by zero")]
    DivideByZero,
    #[error("map key is not a string: found {0}")]
    MapKey(&'static str),
    #[error("{form} expects a list, found {found}")]
    NotAList {
        form: &'static str,
        found: &'static str,
    },
    #[error("string too long: concatenation would exceed {0} MiB")]
    StringTooLong(usize),
    /// A pattern given at run time (`x matches y`) does not compile.
    #[error("{0}")]
    BadPattern(String),

    #[error("cannot cast `{0}` to number")]
    CastText(String),
    #[error("cannot cast {found} to {to}")]
    CastKind { found: &'static str, to: String },
    #[error("cannot cast to {to}: {reason}")]
    CastShape { to: String, reason: String },

    /// A builtin function rejected its arguments.
    #[error("{0}")]
    Builtin(&'static str),
    /// `error(...)` or a failure the compiler placed in the code (its message is a constant).
    #[error("{0}")]
    Raised(String),
    /// A native `@sentrie/*` function failed; the message is the module's.
    #[error("{0}")]
    Native(String),
    /// A user module failed; the message is the module runtime's.
    #[error("{0}")]
    Module(String),

    #[error("infinite recursion: evaluation nested too deeply")]
    Recursion,
    #[error("evaluation budget exceeded: too much work for one decision")]
    Fuel,
    #[error("evaluation deadline exceeded")]
    Deadline,
    #[error("{}", crate::work::EXHAUSTED)]
    Work,
    #[error("evaluation budget exceeded: the decision used more than {0} MiB of memory")]
    Memory(usize),
    /// A broken invariant of the VM itself (a verified program never triggers one).
    #[error("internal error: {0}")]
    Internal(&'static str),
}

impl ErrorKind {
    /// The error of a walk that ran out of its budget (or past the deadline during a walk).
    pub fn walk_exhausted() -> ErrorKind {
        if crate::work::exhausted_message() == crate::work::EXHAUSTED {
            ErrorKind::Work
        } else {
            ErrorKind::Deadline
        }
    }
}

/// A failure inside the dispatch loop: the kind and the failing instruction.
#[derive(Debug, Clone, PartialEq)]
pub struct Fault {
    pub kind: ErrorKind,
    pub func: FuncId,
    pub pc: u32,
}

/// A run-time error as reported: the kind and, when known, `file:line:col` of the failing
/// instruction.
#[derive(Clone, Debug, PartialEq)]
pub struct EvalError {
    pub kind: ErrorKind,
    pub location: Option<String>,
}

impl EvalError {
    /// An error with no instruction to point at (fact binding, limits between rules).
    pub fn plain(kind: ErrorKind) -> EvalError {
        EvalError {
            kind,
            location: None,
        }
    }

    /// The message, without the location.
    pub fn message(&self) -> String {
        self.kind.to_string()
    }
}

impl std::fmt::Display for EvalError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.location {
            Some(loc) => write!(f, "{} (at {loc})", self.kind),
            None => write!(f, "{}", self.kind),
        }
    }
}

impl std::error::Error for EvalError {}

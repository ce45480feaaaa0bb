//! `sentrie-grammar`: the front end of the Sentrie policy language.
//!
//! It owns the lexer (logos), the lalrpop grammar, the syntax tree with byte spans on every
//! node, the source map and the diagnostic type with its renderers. It does **not** resolve
//! names, check types or know about packs: that is `sentrie-compiler`'s job.
//!
//! Invariant: nothing here panics on any input; every problem becomes a [`Diagnostic`].

pub mod ast;
pub mod diagnostic;
pub mod format;
pub mod hints;
pub mod lexer;
mod parse_many;
pub mod parser;
pub mod span;

pub use diagnostic::{render_all, Diagnostic, ErrorFormat, Severity};
pub use parse_many::parse_files;
pub use parser::{parse_file, MAX_EXPR_DEPTH};
pub use span::{FileId, SourceFile, SourceMap, Span};

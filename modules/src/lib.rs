//! `sentrie-modules`: everything behind `use` (LANGUAGE.md §16). The native `@sentrie/*`
//! library ([`native`]), user TypeScript/JavaScript modules (transpiled by oxc at pack build
//! in [`transpile`], run sandboxed in QuickJS by [`quickjs`], errors mapped back to the lines
//! the user wrote by [`linemap`]) and the memo cache ([`memo`]).
//!
//! The VM reaches this crate only through [`sentrie_vm::host::Host`], which [`Runtime`]
//! implements: one runtime per loaded pack, owning that pack's memo cache. [`link`] verifies a
//! program against a fresh runtime.
//!
//! Transpiling needs oxc, which only building a pack from sources does: it sits behind the
//! `transpile` feature (on by default), so a build that only serves compiled packs can leave
//! it out.

pub mod linemap;
pub mod memo;
pub mod native;
#[cfg(feature = "transpile")]
pub mod nesting;
pub mod quickjs;
#[cfg(feature = "transpile")]
pub mod transpile;

use std::sync::Arc;

use bumpalo::Bump;
use sentrie_vm::host::{Host, NativeFn};
use sentrie_vm::program::{ModuleSite, Program};
use sentrie_vm::value::Value;
use sentrie_vm::verify::VerifyError;
use sentrie_vm::VerifiedProgram;

/// The module services of one loaded pack.
#[derive(Default)]
pub struct Runtime {
    memo: memo::Memo,
}

impl Runtime {
    pub fn new() -> Runtime {
        Runtime::default()
    }
}

impl Host for Runtime {
    fn native(&self, module: &str, export: &str) -> Option<NativeFn> {
        native::function(module, export)
    }

    fn call_module<'a>(
        &self,
        program: &VerifiedProgram,
        site: &ModuleSite,
        args: &[Value<'a>],
        bump: &'a Bump,
        deadline: Option<std::time::Instant>,
    ) -> Result<Value<'a>, String> {
        let pack = quickjs::JsPack::of(program);
        quickjs::invoke(
            pack,
            &site.key,
            &site.export,
            site.call,
            args,
            bump,
            deadline,
        )
    }

    fn memo_get<'a>(&self, key: &str, bump: &'a Bump) -> Option<Value<'a>> {
        self.memo.get(key, bump)
    }

    fn memo_put(&self, key: String, value: Value<'_>, ttl_secs: u32) {
        self.memo.put(key, value, ttl_secs);
    }
}

/// Verifies `program` and links it to a new [`Runtime`] of its own.
pub fn link(program: Program) -> Result<VerifiedProgram, VerifyError> {
    sentrie_vm::verify(program, Arc::new(Runtime::new()))
}

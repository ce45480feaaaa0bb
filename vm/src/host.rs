//! The narrow interface through which the VM reaches code it does not own: native
//! `@sentrie/*` functions (plain function pointers, resolved once when a program is
//! verified), user modules (a [`Host`] that runs them) and the cache behind memoized calls
//! (`f(x)!N`). `sentrie-modules` implements it; the VM never links a JavaScript engine or a
//! hash library itself.

use bumpalo::Bump;

use crate::program::ModuleSite;
use crate::value::Value;
use crate::verified::VerifiedProgram;

/// What a native function sees besides its arguments.
pub struct NativeEnv<'a> {
    pub bump: &'a Bump,
    /// Milliseconds since the Unix epoch at the start of the evaluation.
    pub now_ms: i64,
}

/// A native function: arguments in, a value in the same arena out, or an error message.
pub type NativeFn = for<'a> fn(&[Value<'a>], &NativeEnv<'a>) -> Result<Value<'a>, String>;

/// Services a loaded pack provides to its evaluations. One host belongs to one verified
/// program (so memoized results never leak between packs); it is shared by every worker.
pub trait Host: Send + Sync {
    /// The native function `export` of module `module` (`core` holds the builtins that need
    /// hashing or encoding: `crypto.hash`, `base64.encode`, ...).
    fn native(&self, module: &str, export: &str) -> Option<NativeFn>;

    /// Calls (or, when `site.call` is false, reads) an export of a user module. The call must
    /// stop by `deadline` (the decision's), whatever its own time limit.
    fn call_module<'a>(
        &self,
        program: &VerifiedProgram,
        site: &ModuleSite,
        args: &[Value<'a>],
        bump: &'a Bump,
        deadline: Option<std::time::Instant>,
    ) -> Result<Value<'a>, String>;

    /// A memoized result for `key`, decoded into `bump`, if one is live.
    fn memo_get<'a>(&self, key: &str, bump: &'a Bump) -> Option<Value<'a>>;

    /// Stores a successful result for `ttl_secs` seconds.
    fn memo_put(&self, key: String, value: Value<'_>, ttl_secs: u32);
}

/// A host with no natives, no user modules and no cache: for programs that use none of them
/// (unit tests of the VM). A program that needs more fails verification against it.
pub struct NoHost;

impl Host for NoHost {
    fn native(&self, _module: &str, _export: &str) -> Option<NativeFn> {
        None
    }

    fn call_module<'a>(
        &self,
        _program: &VerifiedProgram,
        site: &ModuleSite,
        _args: &[Value<'a>],
        _bump: &'a Bump,
        _deadline: Option<std::time::Instant>,
    ) -> Result<Value<'a>, String> {
        Err(format!("module `{}` is not available", site.key))
    }

    fn memo_get<'a>(&self, _key: &str, _bump: &'a Bump) -> Option<Value<'a>> {
        None
    }

    fn memo_put(&self, _key: String, _value: Value<'_>, _ttl_secs: u32) {}
}

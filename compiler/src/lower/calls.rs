//! Lowering of calls: builtins (LANGUAGE.md §15), native `@sentrie/*` functions and user
//! module functions (§16), memoization (`f(x)!N`, §14.14), and module constants.

use sentrie_grammar::ast::{Expr, ExprKind};
use sentrie_grammar::Span;
use sentrie_modules::native::Export;
use sentrie_vm::bytecode::{Instr, Reg};
use sentrie_vm::program::{CallSite, Const, ModuleSite, NativeSite};

use super::Lower;
use crate::error::CompileError;
use crate::modules::{ModuleKind, UsedModule};

/// `; did you mean `x`?` for the closest of `names`, or nothing.
fn suggest(name: &str, names: &[String]) -> String {
    crate::error::closest(name, names.iter().map(String::as_str))
        .map_or_else(String::new, |s| format!("; did you mean `{s}`?"))
}

/// Functions callable without a `use` (LANGUAGE.md §15), for suggestions.
const BUILTIN_NAMES: [&str; 12] = [
    "count",
    "merge",
    "error",
    "as_list",
    "flatten",
    "flatten_deep",
    "normalise_list",
    "uuid",
    "base64.encode",
    "base64.decode",
    "crypto.hash",
    "crypto.verify",
];

impl<'c, 'p> Lower<'c, 'p> {
    /// `!` means 300 seconds; `!N` must be a whole number of seconds.
    pub(super) fn memo_ttl(&mut self, memo: Option<Option<f64>>, span: Span) -> Option<u32> {
        match memo? {
            None => Some(300),
            Some(n) if n >= 0.0 && n.fract() == 0.0 => Some(n.min(f64::from(u32::MAX)) as u32),
            Some(n) => {
                self.b.diags.pack(CompileError::MemoTime(n).at(span));
                None
            }
        }
    }

    /// The module used under `alias`, unless a local or policy name shadows it.
    pub(super) fn module_alias(&self, alias: &str) -> Option<UsedModule> {
        if self.lookup_local(alias).is_some()
            || self.ix.policies[self.pid].values.contains_key(alias)
        {
            return None;
        }
        self.res.modules[self.pid]
            .iter()
            .find(|m| m.alias == alias)
            .cloned()
    }

    /// A failure known before evaluation (a function that is not imported, not exported or
    /// does not exist): a warning now (an error in strict mode), the same failure at run time.
    fn fail_static(&mut self, msg: String, span: Span, dst: Reg) {
        self.b
            .diags
            .warn(CompileError::StaticCall(msg.clone()).at(span));
        self.fail(msg, span, dst);
    }

    /// Emits a runtime failure with `msg` and leaves undefined in `dst`.
    fn fail(&mut self, msg: String, span: Span, dst: Reg) {
        let k = self.b.const_id(Const::Str(msg));
        self.loc(span);
        self.f.emit(Instr::Fail { k });
        self.f.emit(Instr::LoadUndef { dst });
    }

    /// `alias.NAME` without a call: an exported constant.
    pub(super) fn module_value(&mut self, m: &UsedModule, name: &str, span: Span, dst: Reg) {
        if let Some(why) = &m.failure {
            return self.fail(why.clone(), span, dst);
        }
        if !m.names.iter().any(|n| n == name) {
            let hint = suggest(name, &m.names);
            return self.fail_static(
                format!("'{name}' not imported from {}{hint}", m.alias),
                span,
                dst,
            );
        }
        match &m.kind {
            ModuleKind::Builtin(module) => match sentrie_modules::native::lookup(module, name) {
                Some(Export::Const(c)) => self.konst(c, dst),
                Some(Export::Function(_)) => self.fail_static(
                    format!("{}.{name} is a function: call it", m.alias),
                    span,
                    dst,
                ),
                None => self.fail_static(
                    format!("module @sentrie/{module} missing export {name}"),
                    span,
                    dst,
                ),
            },
            ModuleKind::Local(key) => {
                self.module_site(module_site(key, name, false, None), &[], span, dst)
            }
            ModuleKind::Broken => {
                self.fail(format!("module `{}` cannot be used", m.alias), span, dst)
            }
        }
    }

    /// Emits a user-module call (or export read, `site.call == false`) run in QuickJS. The
    /// site's `args`/`argc` are filled in here.
    fn module_site(&mut self, mut site: ModuleSite, args: &[Expr], span: Span, dst: Reg) {
        let start = self.f.alloc_n(args.len().max(1) as u32);
        for (i, a) in args.iter().enumerate() {
            self.expr(a, Reg(start.0 + i as u16));
        }
        site.args = start;
        site.argc = args.len() as u16;
        self.b.program.module_sites.push(site);
        let site = (self.b.program.module_sites.len() - 1) as u32;
        self.loc(span);
        self.f.emit(Instr::CallModule { dst, site });
    }

    /// A call of module function `name` of `m` with `args`.
    fn module_call(
        &mut self,
        m: &UsedModule,
        name: &str,
        args: &[Expr],
        span: Span,
        dst: Reg,
        memo: Option<u32>,
    ) {
        if let Some(why) = &m.failure {
            return self.fail(why.clone(), span, dst);
        }
        if !m.names.iter().any(|n| n == name) {
            let hint = suggest(name, &m.names);
            return self.fail_static(
                format!("function '{name}' not imported from {}{hint}", m.alias),
                span,
                dst,
            );
        }
        let module = match &m.kind {
            ModuleKind::Builtin(module) => module,
            ModuleKind::Local(key) => {
                return self.module_site(module_site(key, name, true, memo), args, span, dst)
            }
            ModuleKind::Broken => {
                return self.fail(format!("module `{}` cannot be used", m.alias), span, dst)
            }
        };
        match sentrie_modules::native::lookup(module, name) {
            Some(Export::Function(_)) => {}
            Some(Export::Const(_)) => {
                return self.fail_static(format!("{}.{name} is not a function", m.alias), span, dst)
            }
            None => {
                return self.fail_static(
                    format!("module @sentrie/{module} missing export {name}"),
                    span,
                    dst,
                )
            }
        }
        self.native_call(module, name, args, span, dst, memo);
    }

    /// Emits a call of native function `name` of builtin module `module`.
    fn native_call(
        &mut self,
        module: &str,
        name: &str,
        args: &[Expr],
        span: Span,
        dst: Reg,
        memo: Option<u32>,
    ) {
        let start = self.f.alloc_n(args.len().max(1) as u32);
        for (i, a) in args.iter().enumerate() {
            self.expr(a, Reg(start.0 + i as u16));
        }
        self.b.program.natives.push(NativeSite {
            module: module.to_string(),
            export: name.to_string(),
            args: start,
            argc: args.len() as u16,
            memo,
        });
        let site = (self.b.program.natives.len() - 1) as u32;
        self.loc(span);
        self.f.emit(Instr::CallNative { dst, site });
    }

    pub(super) fn call(
        &mut self,
        callee: &Expr,
        args: &[Expr],
        span: Span,
        dst: Reg,
        memo: Option<u32>,
    ) {
        let name = match &callee.kind {
            ExprKind::Ident(n) => n.clone(),
            ExprKind::Field(recv, f) => match &recv.kind {
                ExprKind::Ident(alias) => {
                    if let Some(m) = self.module_alias(alias) {
                        self.module_call(&m, &f.text, args, span, dst, memo);
                        return;
                    }
                    format!("{alias}.{}", f.text)
                }
                _ => {
                    self.invalid_call(span, dst);
                    return;
                }
            },
            _ => {
                self.invalid_call(span, dst);
                return;
            }
        };
        // An unqualified name imported by exactly one `use` is that module's function.
        let importing: Vec<UsedModule> = self.res.modules[self.pid]
            .iter()
            .filter(|m| m.names.contains(&name))
            .cloned()
            .collect();
        match importing.as_slice() {
            [m] => return self.module_call(m, &name, args, span, dst, memo),
            [] => {}
            _ => {
                self.policy_error(CompileError::AmbiguousFunction(name.clone()).at(span));
                self.f.emit(Instr::LoadUndef { dst });
                return;
            }
        }
        let core = sentrie_modules::native::core::lookup(&name).map(|(_, min, max)| (min, max));
        let (builtin, min, max) = match (sentrie_vm::builtins::lookup(&name), core) {
            (Some((b, min, max)), _) => (Some(b), min, max),
            (None, Some((min, max))) => (None, min, max),
            (None, None) => {
                let imported: Vec<String> = self.res.modules[self.pid]
                    .iter()
                    .flat_map(|m| m.names.iter().cloned())
                    .collect();
                let known = BUILTIN_NAMES
                    .iter()
                    .copied()
                    .chain(imported.iter().map(String::as_str));
                let hint = crate::error::closest(&name, known)
                    .map_or_else(String::new, |s| format!("; did you mean `{s}`?"));
                return self.fail_static(format!("unknown function: {name}{hint}"), span, dst);
            }
        };
        if args.len() < min || args.len() > max {
            let e = CompileError::Arity {
                name: name.clone(),
                want: sentrie_modules::native::arity_text(min, max),
                found: args.len(),
            };
            self.policy_error(e.at(span));
            self.f.emit(Instr::LoadUndef { dst });
            return;
        }
        let Some(builtin) = builtin else {
            let module = sentrie_modules::native::core::MODULE;
            return self.native_call(module, &name, args, span, dst, memo);
        };
        let start = self.f.alloc_n(args.len().max(1) as u32);
        for (i, a) in args.iter().enumerate() {
            self.expr(a, Reg(start.0 + i as u16));
        }
        self.b.program.calls.push(CallSite {
            builtin,
            args: start,
            argc: args.len() as u16,
            memo,
        });
        let site = (self.b.program.calls.len() - 1) as u32;
        self.loc(span);
        self.f.emit(Instr::CallBuiltin { dst, site });
    }

    fn invalid_call(&mut self, span: Span, dst: Reg) {
        self.policy_error(CompileError::InvalidCallTarget.at(span));
        self.f.emit(Instr::LoadUndef { dst });
    }
}

/// A module site before its argument registers are known.
fn module_site(key: &str, export: &str, call: bool, memo: Option<u32>) -> ModuleSite {
    ModuleSite {
        key: key.to_string(),
        export: export.to_string(),
        call,
        args: Reg(0),
        argc: 0,
        memo,
    }
}

//! [`VerifiedProgram`]: a [`Program`] that passed the verifier, linked to its host (native
//! functions resolved to pointers, regexes compiled). It is the only form the interpreter
//! accepts, and it offers no way to change the program: "immutable after verify" is kept by
//! the type, not by a convention.

use std::sync::Arc;

use cranelift_entity::PrimaryMap;

use crate::host::{Host, NativeFn};
use crate::program::{
    Const, Func, FuncId, LetId, LetInfo, PolicyId, PolicyInfo, Program, RuleId, RuleInfo, TypeDef,
    TypeId,
};
use crate::verify::VerifyError;

/// A verified, linked program; shared as `Arc` by every worker.
pub struct VerifiedProgram {
    pub(crate) program: Program,
    pub(crate) regexes: Vec<crate::regex_cache::Pattern>,
    pub(crate) natives: Vec<NativeFn>,
    pub(crate) indexes: Vec<crate::index::ListIndex>,
    pub(crate) host: Arc<dyn Host>,
    pub(crate) instance: u64,
}

impl std::fmt::Debug for VerifiedProgram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifiedProgram")
            .field("instance", &self.instance)
            .field("funcs", &self.program.funcs.len())
            .finish_non_exhaustive()
    }
}

/// Checks `program` (see [`crate::verify`]), resolves its native calls through `host` and
/// compiles its regexes. The host stays with the program for module calls and memoization.
pub fn verify(mut program: Program, host: Arc<dyn Host>) -> Result<VerifiedProgram, VerifyError> {
    crate::verify::check(&program)?;
    // Compiled packs do not carry resolved constraint checks (see `ConstraintDef::op`).
    for def in program.types.values_mut() {
        for c in &mut def.constraints {
            c.op = crate::program::ConstraintOp::from_name(&c.name);
        }
    }
    let regexes = program
        .regexes
        .iter()
        .map(|p| crate::regex_cache::build_pattern(p).map_err(VerifyError::Regex))
        .collect::<Result<_, _>>()?;
    let natives = program
        .natives
        .iter()
        .map(|n| {
            host.native(&n.module, &n.export)
                .ok_or_else(|| VerifyError::UnknownNative {
                    module: n.module.clone(),
                    export: n.export.clone(),
                })
        })
        .collect::<Result<_, _>>()?;
    let indexes = program
        .indexes
        .iter()
        .map(|spec| crate::index::ListIndex::build(spec, &program.consts))
        .collect();
    static INSTANCES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let mut vp = VerifiedProgram {
        program,
        regexes,
        natives,
        indexes,
        host,
        instance: INSTANCES.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
    };
    check_typed_lets(&mut vp);
    Ok(vp)
}

/// For each index over a typed let's constant, whether the constant conforms to the let's
/// type: checked once here, so that decisions only evaluate the let (and fail, as a scan
/// would) when it does not.
fn check_typed_lets(vp: &mut VerifiedProgram) {
    let failing: Vec<Option<u32>> = vp
        .program
        .indexes
        .iter()
        .map(|spec| {
            let (let_id, ty) = spec.typed_let?;
            let bump = bumpalo::Bump::new();
            let value = crate::json::const_value(vp.program.consts.get(spec.list as usize)?, &bump);
            // Checked outside any decision: the walk is bounded by the constant's size.
            (!crate::conform::conforms(vp, ty, value, 0)).then_some(let_id)
        })
        .collect();
    for (ix, f) in vp.indexes.iter_mut().zip(failing) {
        ix.failing_let = f;
    }
}

impl VerifiedProgram {
    /// The program as built, for serialization into a compiled pack. Read-only.
    pub fn program(&self) -> &Program {
        &self.program
    }

    /// The host this program was linked against.
    pub fn host(&self) -> &Arc<dyn Host> {
        &self.host
    }

    /// Identifies this loaded program (per-thread module runtimes are keyed by it).
    pub fn instance(&self) -> u64 {
        self.instance
    }

    pub fn policies(&self) -> &PrimaryMap<PolicyId, PolicyInfo> {
        &self.program.policies
    }

    pub fn rules(&self) -> &PrimaryMap<RuleId, RuleInfo> {
        &self.program.rules
    }

    pub fn lets(&self) -> &PrimaryMap<LetId, LetInfo> {
        &self.program.lets
    }

    /// The lookup tables of `program().indexes[i]`.
    pub fn index(&self, i: usize) -> Option<&crate::index::ListIndex> {
        self.indexes.get(i)
    }

    pub fn funcs(&self) -> &PrimaryMap<FuncId, Func> {
        &self.program.funcs
    }

    pub fn types(&self) -> &PrimaryMap<TypeId, TypeDef> {
        &self.program.types
    }

    pub fn consts(&self) -> &[Const] {
        &self.program.consts
    }

    /// Interned field names.
    pub fn names(&self) -> &[String] {
        &self.program.names
    }

    /// Source files by index (the `file` of a [`crate::program::SrcLoc`]).
    pub fn files(&self) -> &[String] {
        &self.program.files
    }

    /// Every declared namespace.
    pub fn namespaces(&self) -> &[String] {
        &self.program.namespaces
    }

    /// Transpiled user modules `(canonical key, JavaScript)`, sorted by key.
    pub fn js_modules(&self) -> &[(String, String)] {
        &self.program.js_modules
    }

    /// True when the program calls user module code (which may block for a while).
    pub fn calls_user_modules(&self) -> bool {
        !self.program.module_sites.is_empty()
    }

    /// Environment variables user modules may read.
    pub fn env_names(&self) -> &[String] {
        &self.program.env_names
    }

    /// `@sentrie/*` `(module, export)` pairs imported by user module code.
    pub fn js_builtin_imports(&self) -> &[(String, String)] {
        &self.program.js_builtin_imports
    }

    /// Finds a policy by namespace and name.
    pub fn policy(&self, namespace: &str, name: &str) -> Option<PolicyId> {
        self.program.policy(namespace, name)
    }

    pub fn rule_in(&self, policy: PolicyId, name: &str) -> Option<RuleId> {
        self.program.rule_in(policy, name)
    }

    /// `file:line:col` of the instruction at `pc` of `func`, from the debug table.
    pub fn location(&self, func: FuncId, pc: u32) -> Option<String> {
        let l = self.program.funcs.get(func)?.loc_at(pc)?;
        let file = self
            .program
            .files
            .get(l.file as usize)
            .map_or("<unknown>", String::as_str);
        Some(format!("{file}:{}:{}", l.line, l.col))
    }
}

//! User TypeScript/JavaScript modules, run in QuickJS (rquickjs). The compiler transpiles the
//! modules once and stores the JavaScript in the `Program`; here each thread keeps one QuickJS
//! runtime per program instance (a runtime is not `Send`), loads modules on first use, and calls
//! exported functions with JSON-like values.
//!
//! Sandbox: no file system, network, process or timer APIs exist in plain QuickJS; the only
//! added globals are `env` (the variables the manifest's `permissions.env` lists) and a
//! `console` whose output goes to stderr only when debugging is on. Every built-in object is
//! frozen before any module loads (`freeze.js`), so a module cannot change what another module
//! or a later request sees; a module's own top-level variables live as long as its runtime.
//! Each runtime has a memory limit and a native stack limit, and each call an interrupt-driven
//! time limit (reached in regular-expression backtracking too); a runtime that hit the memory
//! or time limit is discarded.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::time::{Duration, Instant};

use bumpalo::Bump;
use rquickjs::function::Args;
use rquickjs::loader::{Loader, Resolver};
use rquickjs::{CatchResultExt, Context, Ctx, Module, Object, Persistent, Runtime};
use sentrie_vm::value::Value;
use sentrie_vm::VerifiedProgram;

/// Time one call may run.
pub const CALL_TIME_LIMIT: Duration = Duration::from_secs(5);
/// Memory one runtime may use unless [`set_memory_limit`] says otherwise.
pub const MEMORY_LIMIT: usize = 64 * 1024 * 1024;
/// Native stack QuickJS may use below the point where a call enters it; deeper recursion
/// (in scripts, the parser, `JSON.stringify`) is a `RangeError`, never a process abort.
/// Callers run module code on threads with several times this much stack.
pub const STACK_LIMIT: usize = 1024 * 1024;

static RUNTIME_MEMORY: std::sync::atomic::AtomicUsize =
    std::sync::atomic::AtomicUsize::new(MEMORY_LIMIT);

/// Sets the memory limit of runtimes created from now on (the server divides its module
/// memory budget among its module threads, each of which keeps one runtime).
pub fn set_memory_limit(bytes: usize) {
    RUNTIME_MEMORY.store(bytes.max(1024 * 1024), std::sync::atomic::Ordering::Relaxed);
}

/// The memory limit new runtimes get.
pub fn memory_limit() -> usize {
    RUNTIME_MEMORY.load(std::sync::atomic::Ordering::Relaxed)
}

/// Freezes the built-ins of a new runtime (see the file's own comment).
const FREEZE_JS: &str = include_str!("freeze.js");

static CONSOLE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Lets `console.*` in modules print to stderr (the CLI turns this on at DEBUG level).
pub fn set_console_output(on: bool) {
    CONSOLE.store(on, std::sync::atomic::Ordering::Relaxed);
}

/// Normalises `/`-separated segments; `None` when climbing above the root.
pub fn normalise(path: &str) -> Option<String> {
    let mut out: Vec<&str> = Vec::new();
    for p in path.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                out.pop()?;
            }
            other => out.push(other),
        }
    }
    Some(out.join("/"))
}

/// Candidate canonical keys for an import `spec` made by the module `base` (itself a key
/// `@local/...`): the exact name, then `.ts`, then `.js` (LANGUAGE.md §16.2).
pub fn import_candidates(base: &str, spec: &str) -> Result<Vec<String>, String> {
    let rel = if let Some(p) = spec.strip_prefix("@local/") {
        normalise(p)
    } else if spec.starts_with("@sentrie/") {
        return Err(format!(
            "importing `{spec}` from a module is not supported yet"
        ));
    } else if spec.starts_with("./") || spec.starts_with("../") {
        let dir = base
            .strip_prefix("@local/")
            .and_then(|b| b.rsplit_once('/'))
            .map_or("", |(d, _)| d);
        normalise(&format!("{dir}/{spec}"))
    } else {
        return Err(format!(
            "unsupported import `{spec}`: use a relative path or @local/"
        ));
    };
    let rel = rel.ok_or_else(|| format!("import `{spec}` leaves the pack"))?;
    Ok(vec![
        format!("@local/{rel}"),
        format!("@local/{rel}.ts"),
        format!("@local/{rel}.js"),
    ])
}

/// Lines `wrap_commonjs` puts before the module's code.
pub const COMMONJS_PRELUDE_LINES: u32 = 3;

/// Wraps a CommonJS module as an ES module whose default export is `module.exports`. The
/// module object is registered before its body runs, so a cycle of `require`s sees the
/// partial exports, as in CommonJS.
pub fn wrap_commonjs(key: &str, code: &str) -> String {
    let k = serde_json::Value::String(key.to_string()).to_string();
    format!(
        "const __m = {{ exports: {{}} }};\nglobalThis.__sentrie_cjs[{k}] = __m;\n(function (module, exports, require) {{\n{code}\n}})(__m, __m.exports, (spec) => globalThis.__sentrie_require({k}, spec));\nexport default __m.exports;\n"
    )
}

/// `require(spec)` from module `base`: a CommonJS module's (possibly partial) exports, or an
/// ES module's namespace.
fn require_fn<'js>(
    ctx: Ctx<'js>,
    base: String,
    spec: String,
) -> rquickjs::Result<rquickjs::Value<'js>> {
    let keys: Vec<String> = ctx.globals().get("__sentrie_keys")?;
    let candidates = import_candidates(&base, &spec)
        .map_err(|e| rquickjs::Exception::throw_message(&ctx, &e))?;
    let Some(key) = candidates.into_iter().find(|k| keys.contains(k)) else {
        return Err(rquickjs::Exception::throw_message(
            &ctx,
            &format!("cannot find module `{spec}` from `{base}`"),
        ));
    };
    let cache: Object<'js> = ctx.globals().get("__sentrie_cjs")?;
    if let Ok(Some(m)) = cache.get::<_, Option<Object<'js>>>(key.as_str()) {
        return m.get("exports");
    }
    let ns: Object<'js> = Module::import(&ctx, key.as_str())?.finish()?;
    if let Ok(Some(m)) = cache.get::<_, Option<Object<'js>>>(key.as_str()) {
        return m.get("exports");
    }
    Ok(ns.into_value())
}

/// What a program provides to its module runtime.
#[derive(Clone, Copy)]
pub struct JsPack<'p> {
    pub instance: u64,
    /// Transpiled modules by canonical key.
    pub modules: &'p [(String, String)],
    /// Environment variables modules may read.
    pub env: &'p [String],
    /// `(module, export)` pairs of `@sentrie/*` imported by module code.
    pub builtins: &'p [(String, String)],
}

impl<'p> JsPack<'p> {
    pub fn of(p: &'p VerifiedProgram) -> JsPack<'p> {
        JsPack {
            instance: p.instance(),
            modules: p.js_modules(),
            env: p.env_names(),
            builtins: p.js_builtin_imports(),
        }
    }
}

/// ES module source for the imported exports of a builtin module: functions forward to the
/// native implementation through `__sentrie_native`, constants are inlined.
fn builtin_module_source(module: &str, builtins: &[(String, String)]) -> String {
    let mut src = String::new();
    for (m, name) in builtins.iter().filter(|(m, _)| m == module) {
        match crate::native::lookup(m, name) {
            Some(crate::native::Export::Function(_)) => src.push_str(&format!(
                "export const {name} = (...a) => globalThis.__sentrie_native({m:?}, {name:?}, ...a);\n"
            )),
            Some(crate::native::Export::Const(c)) => {
                let text = match c {
                    sentrie_vm::program::Const::Num(n) => sentrie_vm::value::number_text(n),
                    sentrie_vm::program::Const::Str(t) => serde_json::Value::String(t).to_string(),
                    _ => "null".to_string(),
                };
                src.push_str(&format!("export const {name} = {text};\n"));
            }
            None => {}
        }
    }
    src
}

struct KeyResolver {
    keys: Rc<Vec<String>>,
}

impl Resolver for KeyResolver {
    fn resolve<'js>(
        &mut self,
        _ctx: &Ctx<'js>,
        base: &str,
        name: &str,
        _attributes: Option<rquickjs::loader::ImportAttributes<'js>>,
    ) -> rquickjs::Result<String> {
        if name
            .strip_prefix("@sentrie/")
            .is_some_and(crate::native::module_exists)
        {
            return Ok(name.to_string());
        }
        let resolved = import_candidates(base, name)
            .ok()
            .and_then(|c| c.into_iter().find(|k| self.keys.contains(k)));
        resolved.ok_or_else(|| {
            rquickjs::Error::new_resolving_message(base, name, "module not found in the pack")
        })
    }
}

struct SourceLoader {
    modules: Rc<Vec<(String, String)>>,
    builtins: Rc<Vec<(String, String)>>,
}

impl Loader for SourceLoader {
    fn load<'js>(
        &mut self,
        ctx: &Ctx<'js>,
        name: &str,
        _attributes: Option<rquickjs::loader::ImportAttributes<'js>>,
    ) -> rquickjs::Result<Module<'js>> {
        if let Some(m) = name.strip_prefix("@sentrie/") {
            return Module::declare(ctx.clone(), name, builtin_module_source(m, &self.builtins));
        }
        let Some((_, js)) = self.modules.iter().find(|(k, _)| k == name) else {
            return Err(rquickjs::Error::new_loading_message(
                name,
                "module not found in the pack",
            ));
        };
        Module::declare(ctx.clone(), name, js.as_str())
    }
}

/// Fields drop in declaration order: handles into the runtime first, the runtime last.
struct Engine {
    namespaces: HashMap<String, Persistent<Object<'static>>>,
    ctx: Context,
    _rt: Runtime,
    instance: u64,
    deadline: Rc<Cell<Option<Instant>>>,
}

thread_local! {
    static ENGINE: RefCell<Option<Engine>> = const { RefCell::new(None) };
}

/// Calls a native `@sentrie/*` function on behalf of module code.
fn native_bridge<'js>(
    ctx: &Ctx<'js>,
    module: &str,
    name: &str,
    args: &[rquickjs::Value<'js>],
) -> Result<rquickjs::Value<'js>, String> {
    let f = crate::native::function(module, name)
        .ok_or_else(|| format!("@sentrie/{module} has no function {name}"))?;
    let bump = Bump::new();
    let values = args
        .iter()
        .map(|a| from_js(ctx, a.clone(), &bump))
        .collect::<Result<Vec<_>, _>>()?;
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let out = f(
        &values,
        &crate::native::Env {
            bump: &bump,
            now_ms,
        },
    )?;
    to_js(ctx, out).map_err(|e| caught(ctx, e))
}

fn bridge_fn<'js>(
    ctx: Ctx<'js>,
    module: String,
    name: String,
    args: rquickjs::function::Rest<rquickjs::Value<'js>>,
) -> rquickjs::Result<rquickjs::Value<'js>> {
    native_bridge(&ctx, &module, &name, &args.0)
        .map_err(|e| rquickjs::Exception::throw_message(&ctx, &e))
}

fn engine(pack: JsPack<'_>) -> Result<Engine, String> {
    let JsPack {
        instance,
        modules,
        env,
        builtins,
    } = pack;
    let rt = Runtime::new().map_err(|e| format!("module runtime: {e}"))?;
    rt.set_memory_limit(memory_limit());
    rt.set_max_stack_size(STACK_LIMIT);
    let deadline: Rc<Cell<Option<Instant>>> = Rc::new(Cell::new(None));
    let d = Rc::clone(&deadline);
    rt.set_interrupt_handler(Some(Box::new(move || {
        d.get().is_some_and(|t| Instant::now() > t)
    })));
    let modules = Rc::new(modules.to_vec());
    let key_list: Vec<String> = modules.iter().map(|(k, _)| k.clone()).collect();
    let keys = Rc::new(key_list.clone());
    let builtins = Rc::new(builtins.to_vec());
    rt.set_loader(KeyResolver { keys }, SourceLoader { modules, builtins });
    let ctx = Context::full(&rt).map_err(|e| format!("module runtime: {e}"))?;
    ctx.with(|ctx| -> rquickjs::Result<()> {
        let globals = ctx.globals();
        let env_obj = Object::new(ctx.clone())?;
        for name in env {
            if let Ok(v) = std::env::var(name) {
                env_obj.set(name.as_str(), v)?;
            }
        }
        globals.set("env", env_obj)?;
        let console = Object::new(ctx.clone())?;
        for level in ["log", "info", "warn", "error", "debug"] {
            let f = rquickjs::Function::new(
                ctx.clone(),
                move |args: rquickjs::function::Rest<rquickjs::Value<'_>>| {
                    if CONSOLE.load(std::sync::atomic::Ordering::Relaxed) {
                        let parts: Vec<String> = args
                            .0
                            .iter()
                            .map(|v| {
                                v.as_string()
                                    .and_then(|s| s.to_string().ok())
                                    .unwrap_or_else(|| format!("{v:?}"))
                            })
                            .collect();
                        eprintln!("module console.{level}: {}", parts.join(" "));
                    }
                },
            )?;
            console.set(level, f)?;
        }
        globals.set("console", console)?;
        let bridge = rquickjs::Function::new(ctx.clone(), bridge_fn)?;
        globals.set(
            "__sentrie_require",
            rquickjs::Function::new(ctx.clone(), require_fn)?,
        )?;
        globals.set("__sentrie_cjs", Object::new(ctx.clone())?)?;
        globals.set("__sentrie_keys", key_list.clone())?;
        globals.set("__sentrie_native", bridge)?;
        ctx.eval::<(), _>(FREEZE_JS)?;
        Ok(())
    })
    .map_err(|e| format!("module runtime: {e}"))?;
    Ok(Engine {
        namespaces: HashMap::new(),
        ctx,
        _rt: rt,
        instance,
        deadline,
    })
}

/// Describes a caught JavaScript error: its message, and its stack when it has one.
fn caught(ctx: &Ctx<'_>, err: rquickjs::Error) -> String {
    match Err::<(), _>(err).catch(ctx) {
        Err(e) => e.to_string().trim().to_string(),
        Ok(()) => "unknown error".to_string(),
    }
}

/// A failed call: its text, and whether the runtime may be unusable afterwards.
struct Failure {
    text: String,
    fatal: bool,
}

impl Failure {
    fn plain(text: String) -> Failure {
        Failure { text, fatal: false }
    }

    fn fatal(text: String) -> Failure {
        Failure { text, fatal: true }
    }
}

/// Like [`caught`], classifying the error: QuickJS raises an interrupt and running out of
/// memory as `InternalError` (and an allocation failure may surface as a Rust error), after
/// which the runtime is discarded. A stack overflow (`RangeError`) unwinds cleanly.
fn failure(ctx: &Ctx<'_>, err: rquickjs::Error) -> Failure {
    match Err::<(), _>(err).catch(ctx) {
        // QuickJS throws `null` when it cannot even allocate the error object.
        Err(rquickjs::CaughtError::Value(v)) if v.is_null() || v.is_undefined() => Failure::fatal(
            "the module ran out of memory or stack (a value too large or too deeply nested?)"
                .to_string(),
        ),
        Err(e) => {
            let fatal = match &e {
                rquickjs::CaughtError::Error(rquickjs::Error::Allocation) => true,
                rquickjs::CaughtError::Exception(x) => x
                    .get::<_, String>("name")
                    .is_ok_and(|name| name == "InternalError"),
                _ => false,
            };
            Failure {
                text: e.to_string().trim().to_string(),
                fatal,
            }
        }
        Ok(()) => Failure::plain("unknown error".to_string()),
    }
}

fn namespace<'js>(
    ctx: &Ctx<'js>,
    eng_ns: &mut HashMap<String, Persistent<Object<'static>>>,
    key: &str,
    modules: &[(String, String)],
) -> Result<Object<'js>, String> {
    if let Some(ns) = eng_ns.get(key) {
        return ns.clone().restore(ctx).map_err(|e| caught(ctx, e));
    }
    let Some((_, js)) = modules.iter().find(|(k, _)| k == key) else {
        return Err(format!("module `{key}` is not in the pack"));
    };
    let declared = Module::declare(ctx.clone(), key, js.as_str()).map_err(|e| caught(ctx, e))?;
    let (module, promise) = declared.eval().map_err(|e| caught(ctx, e))?;
    promise.finish::<()>().map_err(|e| caught(ctx, e))?;
    let ns = module.namespace().map_err(|e| caught(ctx, e))?;
    eng_ns.insert(key.to_string(), Persistent::save(ctx, ns.clone()));
    Ok(ns)
}

/// Export `name` of a module namespace; for CommonJS modules, a property of `module.exports`
/// (the default export).
fn export_of<'js>(ns: &Object<'js>, name: &str) -> rquickjs::Result<rquickjs::Value<'js>> {
    if ns.contains_key(name)? {
        return ns.get(name);
    }
    match ns.get::<_, Option<Object<'js>>>("default")? {
        Some(d) => d.get(name),
        None => Ok(rquickjs::Value::new_undefined(ns.ctx().clone())),
    }
}

/// Converts a VM value for a module call (LANGUAGE.md §16.3).
fn to_js<'js>(ctx: &Ctx<'js>, v: Value<'_>) -> rquickjs::Result<rquickjs::Value<'js>> {
    Ok(match v.plain() {
        Value::Undefined | Value::Pending => rquickjs::Value::new_undefined(ctx.clone()),
        Value::Null | Value::Unknown => rquickjs::Value::new_null(ctx.clone()),
        Value::Bool(b) => rquickjs::Value::new_bool(ctx.clone(), b),
        Value::Num(n) => rquickjs::Value::new_float(ctx.clone(), n),
        Value::Str(s) => rquickjs::String::from_str(ctx.clone(), s)?.into_value(),
        other => {
            let mut text = String::new();
            sentrie_vm::json::write_compact(&mut text, other);
            ctx.json_parse(text)?
        }
    })
}

/// Converts a module's result back: primitives directly, objects as `JSON.parse(JSON.stringify(v))`.
fn from_js<'a, 'js>(
    ctx: &Ctx<'js>,
    v: rquickjs::Value<'js>,
    bump: &'a Bump,
) -> Result<Value<'a>, String> {
    if v.is_undefined() {
        return Ok(Value::Undefined);
    }
    if v.is_null() {
        return Ok(Value::Null);
    }
    if let Some(b) = v.as_bool() {
        return Ok(Value::Bool(b));
    }
    if let Some(n) = v.as_number() {
        return Ok(Value::Num(n));
    }
    if let Some(s) = v.as_string() {
        let s = s.to_string().map_err(|e| caught(ctx, e))?;
        return Ok(Value::Str(bump.alloc_str(&s)));
    }
    if v.is_function() || !v.is_object() {
        return Err(format!("unsupported return type {}", v.type_name()));
    }
    let json = ctx.json_stringify(v).map_err(|e| caught(ctx, e))?;
    match json {
        None => Ok(Value::Undefined),
        Some(s) => {
            let s = s.to_string().map_err(|e| caught(ctx, e))?;
            sentrie_vm::json::decode(s.as_bytes(), bump)
        }
    }
}

/// Calls export `export` of module `key` (or reads it when `call` is false). The call is
/// interrupted at [`CALL_TIME_LIMIT`] or at `deadline` (the decision's), whichever is first.
pub fn invoke<'a>(
    pack: JsPack<'_>,
    key: &str,
    export: &str,
    call: bool,
    args: &[Value<'a>],
    bump: &'a Bump,
    deadline: Option<Instant>,
) -> Result<Value<'a>, String> {
    let modules = pack.modules;
    ENGINE.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.as_ref().is_none_or(|e| e.instance != pack.instance) {
            *slot = Some(engine(pack)?);
        }
        let Some(eng) = slot.as_mut() else {
            return Err("module runtime unavailable".to_string());
        };
        let own = Instant::now() + CALL_TIME_LIMIT;
        let decision_first = deadline.is_some_and(|d| d < own);
        eng.deadline.set(Some(deadline.map_or(own, |d| d.min(own))));
        let deadline = Rc::clone(&eng.deadline);
        let ctx = eng.ctx.clone();
        let namespaces = &mut eng.namespaces;
        let res = ctx.with(|ctx| -> Result<Value<'a>, Failure> {
            // A module that fails to load may have failed for lack of memory: start afresh.
            let ns = namespace(&ctx, namespaces, key, modules).map_err(Failure::fatal)?;
            let value = export_of(&ns, export).map_err(|e| failure(&ctx, e))?;
            if !call {
                return from_js(&ctx, value, bump).map_err(Failure::plain);
            }
            let Some(f) = value.as_function() else {
                return Err(Failure::plain(format!("`{export}` is not a function")));
            };
            let mut js_args = Args::new(ctx.clone(), args.len());
            for a in args {
                js_args
                    .push_arg(to_js(&ctx, *a).map_err(|e| failure(&ctx, e))?)
                    .map_err(|e| failure(&ctx, e))?;
            }
            let out: rquickjs::Value<'_> = f.call_arg(js_args).map_err(|e| failure(&ctx, e))?;
            from_js(&ctx, out, bump).map_err(Failure::plain)
        });
        let timed_out = deadline.get().is_some_and(|t| Instant::now() > t);
        deadline.set(None);
        match res {
            Ok(v) => Ok(v),
            Err(Failure { text: msg, fatal }) => {
                // After an interrupt or an allocation failure the runtime may be unusable.
                if timed_out || fatal {
                    *slot = None;
                }
                if timed_out && decision_first {
                    Err(format!(
                        "module `{key}`: `{export}` stopped at the decision deadline: evaluation deadline exceeded"
                    ))
                } else if timed_out {
                    Err(format!(
                        "module `{key}`: `{export}` ran longer than {} s",
                        CALL_TIME_LIMIT.as_secs()
                    ))
                } else {
                    Err(format!(
                        "module `{key}`: {}",
                        crate::linemap::remap(&msg, modules)
                    ))
                }
            }
        }
    })
}

/// Why [`check_exports`] failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExportError {
    /// The module (or one it imports) does not load or run.
    Load(String),
    /// It loads, but does not export `name`.
    Missing { key: String, name: String },
}

impl std::fmt::Display for ExportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExportError::Load(msg) => f.write_str(msg),
            ExportError::Missing { key, name } => write!(f, "module {key} missing export {name}"),
        }
    }
}

/// Loads `key` in a fresh runtime and checks that it exports every name (compile time).
pub fn check_exports(pack: JsPack<'_>, key: &str, names: &[String]) -> Result<(), ExportError> {
    let modules = pack.modules;
    let eng = engine(JsPack {
        instance: u64::MAX,
        env: &[],
        ..pack
    })
    .map_err(ExportError::Load)?;
    eng.deadline.set(Some(Instant::now() + CALL_TIME_LIMIT));
    let mut namespaces = HashMap::new();
    eng.ctx.with(|ctx| {
        let ns = namespace(&ctx, &mut namespaces, key, modules).map_err(|e| {
            ExportError::Load(format!(
                "module `{key}`: {}",
                crate::linemap::remap(&e, modules)
            ))
        })?;
        for n in names {
            if export_of(&ns, n).is_ok_and(|v| v.is_undefined()) {
                return Err(ExportError::Missing {
                    key: key.to_string(),
                    name: n.clone(),
                });
            }
        }
        Ok(())
    })
}

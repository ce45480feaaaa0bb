//! Explaining evaluations (`--explain`). The interpreter is generic over a [`Trace`]: plain
//! evaluation uses [`NoTrace`], whose hooks are compiled away (`Trace::ON` is a constant), so
//! the hot path pays nothing. [`Recorder`] builds, for each requested rule, a tree of what was
//! evaluated on the way: rules, lets, imports, attachments and fact defaults with their values
//! and declarations, the `when` guard and whether the body or the default decided, collection
//! forms summarised (elements, the one that decided), module calls with arguments and results,
//! and errors with their locations. Values are truncated beyond [`VALUE_LIMIT`] bytes of JSON
//! text, and a tree stops growing at [`NODE_LIMIT`] nodes (the rest is counted).

use serde_json::{json, Map, Value as Json};

use crate::bytecode::{IterOp, Reg};
use crate::error::ErrorKind;
use crate::program::{FuncId, ProbeKind, SrcLoc};
use crate::value::{Tri, Value};
use crate::VerifiedProgram;

/// JSON text of a value beyond which it is shown truncated.
pub const VALUE_LIMIT: usize = 1024;
/// Nodes one trace may hold.
pub const NODE_LIMIT: usize = 2000;

/// What a frame being entered was called as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallKind {
    Rule,
    Import,
    Let,
    Attachment,
    FactDefault,
}

impl CallKind {
    fn as_str(self) -> &'static str {
        match self {
            CallKind::Rule => "rule",
            CallKind::Import => "import",
            CallKind::Let => "let",
            CallKind::Attachment => "attachment",
            CallKind::FactDefault => "fact_default",
        }
    }
}

/// The interpreter's hooks. Every call site is guarded by `if T::ON`. `Default` is an empty
/// tracer (the machine hands its own back by swapping one in).
pub trait Trace: Default {
    const ON: bool;
    fn enter(&mut self, _p: &VerifiedProgram, _func: FuncId, _kind: CallKind) {}
    fn leave(&mut self, _value: Value<'_>) {}
    /// A frame left by an error (its node is closed without a value).
    fn abandon(&mut self) {}
    /// Before the instruction at `pc` of `func` runs; `regs` is the frame's registers.
    fn step(&mut self, _p: &VerifiedProgram, _func: FuncId, _pc: u32, _regs: &[Value<'_>]) {}
    fn module_call(
        &mut self,
        _module: &str,
        _export: &str,
        _args: &[Value<'_>],
        _result: &Result<Value<'_>, String>,
    ) {
    }
    fn fault(&mut self, _p: &VerifiedProgram, _func: FuncId, _pc: u32, _kind: &ErrorKind) {}
}

/// Plain evaluation: no hook does anything.
#[derive(Default)]
pub struct NoTrace;

impl Trace for NoTrace {
    const ON: bool = false;
}

/// An open node: its members so far and its children.
struct Open {
    node: Map<String, Json>,
    children: Vec<Json>,
}

/// Records the evaluation of one requested rule at a time (see the module docs).
#[derive(Default)]
pub struct Recorder {
    stack: Vec<Open>,
    /// Finished top-level nodes since the last [`Recorder::take`].
    done: Vec<Json>,
    nodes: usize,
    omitted: usize,
}

impl Recorder {
    pub fn new() -> Recorder {
        Recorder::default()
    }

    /// The trace of what was evaluated since the last call (one node per top-level frame),
    /// and starts afresh.
    pub fn take(&mut self) -> Json {
        while !self.stack.is_empty() {
            self.abandon();
        }
        let mut out = Map::new();
        out.insert("steps".into(), Json::Array(std::mem::take(&mut self.done)));
        if self.omitted > 0 {
            out.insert("omitted_steps".into(), Json::from(self.omitted));
        }
        self.nodes = 0;
        self.omitted = 0;
        Json::Object(out)
    }

    fn room(&mut self) -> bool {
        if self.nodes >= NODE_LIMIT {
            self.omitted += 1;
            return false;
        }
        self.nodes += 1;
        true
    }

    fn push_leaf(&mut self, leaf: Json) {
        if !self.room() {
            return;
        }
        match self.stack.last_mut() {
            Some(top) => top.children.push(leaf),
            None => self.done.push(leaf),
        }
    }

    fn close(&mut self) {
        let Some(Open { mut node, children }) = self.stack.pop() else {
            return;
        };
        if !children.is_empty() {
            node.insert("steps".into(), Json::Array(children));
        }
        let node = Json::Object(node);
        match self.stack.last_mut() {
            Some(top) => top.children.push(node),
            None => self.done.push(node),
        }
    }
}

/// `file:line:col` of a source location.
fn location(p: &VerifiedProgram, loc: SrcLoc) -> Json {
    let file = p
        .program()
        .files
        .get(loc.file as usize)
        .map_or("<unknown>", String::as_str);
    Json::String(format!("{file}:{}:{}", loc.line, loc.col))
}

/// A value as JSON, or a truncated preview of its JSON text.
pub fn shown(v: Value<'_>) -> Json {
    let mut text = String::new();
    crate::json::write_compact(&mut text, v.plain());
    if text.len() <= VALUE_LIMIT {
        return serde_json::from_str(&text).unwrap_or(Json::String(text));
    }
    let mut cut = VALUE_LIMIT;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    json!({"truncated": true, "bytes": text.len(), "preview": &text[..cut]})
}

fn form_name(op: IterOp) -> &'static str {
    match op {
        IterOp::Any => "any",
        IterOp::All => "all",
        IterOp::Filter => "filter",
        IterOp::First => "first",
        IterOp::Map => "map",
        IterOp::Distinct => "distinct",
        IterOp::Reduce => "reduce",
    }
}

fn list_len(v: Value<'_>) -> usize {
    match v.plain() {
        Value::List(items) => items.len(),
        _ => 0,
    }
}

fn reg(regs: &[Value<'_>], r: Reg) -> Value<'static> {
    // Only scalars are read this way (indices); other values go through `shown`.
    match regs.get(r.0 as usize).map(|v| v.plain()) {
        Some(Value::Num(n)) => Value::Num(n),
        _ => Value::Undefined,
    }
}

impl Trace for Recorder {
    const ON: bool = true;

    fn enter(&mut self, p: &VerifiedProgram, func: FuncId, kind: CallKind) {
        // Past the node limit, frames are still pushed (and popped) but not described.
        let counted = self.room();
        let f = &p.program().funcs[func];
        let mut node = Map::new();
        node.insert("kind".into(), Json::from(kind.as_str()));
        node.insert("name".into(), Json::from(f.name.as_str()));
        if let Some(d) = f.decl {
            node.insert("location".into(), location(p, d));
        }
        if !counted {
            node.insert("hidden".into(), Json::Bool(true));
        }
        self.stack.push(Open {
            node,
            children: Vec::new(),
        });
    }

    fn leave(&mut self, value: Value<'_>) {
        if let Some(top) = self.stack.last_mut() {
            let v = match value {
                Value::Decision(d) => d.value,
                other => other,
            };
            top.node.insert("value".into(), shown(v));
            let decides = matches!(
                top.node.get("kind").and_then(Json::as_str),
                Some("rule" | "import")
            );
            if decides && !top.node.contains_key("outcome") {
                top.node.insert("outcome".into(), Json::from("body"));
            }
        }
        self.close_visible();
    }

    fn abandon(&mut self) {
        self.close_visible();
    }

    fn step(&mut self, p: &VerifiedProgram, func: FuncId, pc: u32, regs: &[Value<'_>]) {
        let probes = &p.program().funcs[func].probes;
        let first = probes.partition_point(|x| x.pc < pc);
        for probe in probes[first..].iter().take_while(|x| x.pc == pc) {
            let at = location(p, probe.loc);
            match &probe.kind {
                ProbeKind::When { reg: r } => {
                    if let Some(top) = self.stack.last_mut() {
                        let v = regs.get(r.0 as usize).copied().unwrap_or(Value::Undefined);
                        top.node.insert(
                            "when".into(),
                            json!({"value": shown(v), "location": at, "holds": v.truthy() == Tri::True}),
                        );
                    }
                }
                // Conditions count for coverage; a trace shows their values through the
                // rules and lets they read.
                ProbeKind::Cond { .. } => {}
                ProbeKind::Default => {
                    if let Some(top) = self.stack.last_mut() {
                        top.node.insert("outcome".into(), Json::from("default"));
                        top.node.insert("default_location".into(), at);
                    }
                }
                ProbeKind::FormDecided { form, list, idx } => {
                    let n = regs.get(list.0 as usize).map_or(0, |v| list_len(*v));
                    let i = match reg(regs, *idx) {
                        Value::Num(i) => Json::from(i as u64),
                        _ => Json::Null,
                    };
                    self.push_leaf(json!({"kind": form_name(*form), "location": at, "elements": n, "decided_by": i}));
                }
                ProbeKind::FormDone { form, list } => {
                    let n = regs.get(list.0 as usize).map_or(0, |v| list_len(*v));
                    self.push_leaf(
                        json!({"kind": form_name(*form), "location": at, "elements": n}),
                    );
                }
                ProbeKind::FormUndefined { form } => {
                    self.push_leaf(json!({"kind": form_name(*form), "location": at, "collection": "undefined"}));
                }
                ProbeKind::BlockLet { slot, name } => {
                    let v = regs
                        .get(slot.0 as usize)
                        .copied()
                        .unwrap_or(Value::Undefined);
                    self.push_leaf(
                        json!({"kind": "let", "name": name, "location": at, "value": shown(v)}),
                    );
                }
            }
        }
    }

    fn module_call(
        &mut self,
        module: &str,
        export: &str,
        args: &[Value<'_>],
        result: &Result<Value<'_>, String>,
    ) {
        let mut node = json!({
            "kind": "module_call",
            "module": module,
            "function": export,
            "args": args.iter().map(|a| shown(*a)).collect::<Vec<_>>(),
        });
        if let Some(m) = node.as_object_mut() {
            match result {
                Ok(v) => m.insert("result".into(), shown(*v)),
                Err(e) => m.insert("error".into(), Json::from(e.as_str())),
            };
        }
        self.push_leaf(node);
    }

    fn fault(&mut self, p: &VerifiedProgram, func: FuncId, pc: u32, kind: &ErrorKind) {
        let mut node = json!({"kind": "error", "message": kind.to_string()});
        if let (Some(at), Some(m)) = (p.location(func, pc), node.as_object_mut()) {
            m.insert("location".into(), Json::from(at));
        }
        self.push_leaf(node);
    }
}

impl Recorder {
    /// Closes the innermost frame's node (a hidden one is dropped with its children).
    fn close_visible(&mut self) {
        let hidden = self
            .stack
            .last()
            .is_some_and(|o| o.node.contains_key("hidden"));
        if hidden {
            self.stack.pop();
        } else {
            self.close();
        }
    }
}

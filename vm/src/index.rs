//! Indexes over constant lists, built from an [`IndexSpec`] when a program is verified.
//!
//! An index answers "which elements could make the predicate TRUE" for the value the
//! predicate compares them with, and the loop that follows evaluates the predicate on those
//! candidates only, in list order. It is exact because it only leaves out elements whose
//! leading conjunct is provably not TRUE *without an error and without evaluating anything
//! else*: the element's field (a constant) differs from a scalar value, or is absent. Anything
//! it cannot decide that way gives every position, which is the scan itself:
//!
//! * an element that is not a map along the path (the scan would fail there), a string where
//!   `contains` means substring, or a list or map where a scalar field is expected makes the
//!   whole index unusable (every probe answers "all");
//! * a list or map as the compared value answers "all" (deep equality is left to the scan);
//! * an `undefined` compared value answers "none" (`==`, `in` and `contains` give undefined,
//!   which is not TRUE, and `and` stops there).
//!
//! Numbers are keyed by value (`-0` is `0`, NaN never matches), strings by their text.
//! Building is bounded: a trie whose nodes would hold more than [`BUDGET_FACTOR`] entries
//! per element drops its deepest levels.

use bumpalo::Bump;
use rustc_hash::FxHashMap;

use crate::program::{Const, IndexSpec, LevelOp};
use crate::value::Value;

/// A trie may hold at most this many (node, element) entries per element, plus a constant.
const BUDGET_FACTOR: usize = 16;
const BUDGET_BASE: usize = 1 << 16;

/// Lookup by scalar value. Strings and numbers by hash; the few other scalars in slots.
#[derive(Default)]
struct Keys {
    strs: FxHashMap<Box<str>, u32>,
    nums: FxHashMap<u64, u32>,
    /// `false`, `true`, `unknown`, `null`.
    fixed: [Option<u32>; 4],
}

/// A scalar key, borrowed.
#[derive(Clone, Copy)]
enum Key<'k> {
    Str(&'k str),
    Num(u64),
    Fixed(usize),
}

fn num_key(n: f64) -> Option<u64> {
    if n.is_nan() {
        None
    } else if n == 0.0 {
        Some(0f64.to_bits())
    } else {
        Some(n.to_bits())
    }
}

fn const_key(c: &Const) -> Option<Key<'_>> {
    match c {
        Const::Str(s) => Some(Key::Str(s)),
        Const::Num(n) => num_key(*n).map(Key::Num),
        Const::Bool(b) => Some(Key::Fixed(usize::from(*b))),
        Const::Unknown => Some(Key::Fixed(2)),
        Const::Null => Some(Key::Fixed(3)),
        Const::List(_) | Const::Map(_) => None,
    }
}

/// What a runtime value means to a lookup.
enum Probe<'v> {
    Key(Key<'v>),
    /// No element can match (undefined, or a NaN).
    Nothing,
    /// Only the scan can tell (a list or a map).
    Scan,
}

fn value_key(v: Value<'_>) -> Probe<'_> {
    match v.plain() {
        Value::Undefined | Value::Pending => Probe::Nothing,
        Value::Str(s) => Probe::Key(Key::Str(s)),
        Value::Num(n) => num_key(n).map_or(Probe::Nothing, |k| Probe::Key(Key::Num(k))),
        Value::Bool(b) => Probe::Key(Key::Fixed(usize::from(b))),
        Value::Unknown => Probe::Key(Key::Fixed(2)),
        Value::Null => Probe::Key(Key::Fixed(3)),
        Value::List(_) | Value::Map(_) | Value::Decision(_) => Probe::Scan,
    }
}

impl Keys {
    fn get(&self, k: Key<'_>) -> Option<u32> {
        match k {
            Key::Str(s) => self.strs.get(s).copied(),
            Key::Num(n) => self.nums.get(&n).copied(),
            Key::Fixed(i) => self.fixed[i],
        }
    }

    fn get_or_insert(&mut self, k: Key<'_>, next: u32) -> (u32, bool) {
        let slot = match k {
            Key::Str(s) => {
                if let Some(&v) = self.strs.get(s) {
                    return (v, false);
                }
                self.strs.insert(s.into(), next);
                return (next, true);
            }
            Key::Num(n) => self.nums.entry(n).or_insert(next),
            Key::Fixed(i) => self.fixed[i].get_or_insert(next),
        };
        (*slot, *slot == next)
    }
}

struct Node {
    keys: Keys,
    depth: u8,
    /// Candidate positions of a leaf (empty for inner nodes).
    positions: Box<[Value<'static>]>,
}

/// A `matches` level: the elements' patterns as one alternation (does any match?), for
/// longer lists also as a set (which match?), and the list position of each.
struct PatternSet {
    any: crate::regex_cache::Pattern,
    set: Option<regex::RegexSet>,
    positions: Box<[u32]>,
}

/// From this many patterns a set tells which ones match; below, a subject that matches any
/// pattern is left to the scan (measured: a set's pass costs far more than a few regexes).
const MIN_SET_PATTERNS: usize = 24;

/// At most this many patterns go into one set (beyond, the scan runs).
const MAX_SET_PATTERNS: usize = 1024;

/// The lookup tables of one [`IndexSpec`].
pub struct ListIndex {
    levels: Vec<LevelOp>,
    nodes: Vec<Node>,
    /// For an index whose only level is `matches`.
    patterns: Option<PatternSet>,
    /// Every position: the answer when only the scan can tell.
    all: Box<[Value<'static>]>,
    usable: bool,
    len: usize,
    /// The typed let holding the list when its constant does not conform to the let's type
    /// (set at verify; see [`crate::Instr::IndexGuard`]).
    pub(crate) failing_let: Option<u32>,
}

/// The keys an element offers at one level: a TRUE conjunct needs the probe's key to be one
/// of them. `Err` when the element makes the index unusable.
fn element_keys<'c>(elem: &'c Const, path: &[String], op: LevelOp) -> Result<Vec<Key<'c>>, ()> {
    let mut cur = Some(elem);
    for name in path {
        cur = match cur {
            Some(Const::Map(m)) => m.iter().find(|(k, _)| k == name).map(|(_, v)| v),
            // A field of a non-map (or of an absent field) is an error in the scan.
            _ => return Err(()),
        };
    }
    let Some(field) = cur else {
        // Absent: every comparison is undefined, never TRUE.
        return Ok(Vec::new());
    };
    match op {
        LevelOp::Eq => Ok(const_key(field).into_iter().collect()),
        LevelOp::FieldIn => match field {
            Const::List(_) | Const::Map(_) => Err(()),
            scalar => Ok(const_key(scalar).into_iter().collect()),
        },
        LevelOp::ElemIn => match field {
            Const::List(items) => Ok(items.iter().filter_map(const_key).collect()),
            Const::Map(m) => Ok(m.iter().map(|(k, _)| Key::Str(k)).collect()),
            Const::Str(_) => Err(()),
            _ => Ok(Vec::new()),
        },
        // Patterns are not keys: see `ListIndex::pattern_set`.
        LevelOp::Matches => Err(()),
    }
}

/// The pattern of an element at `path`: `Ok(None)` when absent (`s matches undefined` is not
/// TRUE), `Err` when the scan could fail there (a non-map on the path, a pattern that is not
/// a string).
fn element_pattern<'c>(elem: &'c Const, path: &[String]) -> Result<Option<&'c str>, ()> {
    let mut cur = Some(elem);
    for name in path {
        cur = match cur {
            Some(Const::Map(m)) => m.iter().find(|(k, _)| k == name).map(|(_, v)| v),
            _ => return Err(()),
        };
    }
    match cur {
        None => Ok(None),
        Some(Const::Str(p)) => Ok(Some(p)),
        Some(_) => Err(()),
    }
}

fn positions(ps: &[u32]) -> Box<[Value<'static>]> {
    ps.iter().map(|&p| Value::Num(f64::from(p))).collect()
}

impl ListIndex {
    /// Builds the tables; an index that cannot be exact answers "all" to every probe.
    pub fn build(spec: &IndexSpec, consts: &[Const]) -> ListIndex {
        let levels: Vec<LevelOp> = spec.levels.iter().map(|l| l.op).collect();
        let items: &[Const] = match consts.get(spec.list as usize) {
            Some(Const::List(items)) => items,
            _ => &[],
        };
        let len = items.len();
        let all = positions(&(0..len as u32).collect::<Vec<_>>());
        let unusable = |levels| ListIndex {
            levels,
            nodes: Vec::new(),
            patterns: None,
            all: all.clone(),
            usable: false,
            len,
            failing_let: None,
        };
        if levels.contains(&LevelOp::Matches) {
            return match (levels.as_slice(), Self::pattern_set(spec, items, consts)) {
                ([LevelOp::Matches], Some(patterns)) => ListIndex {
                    levels,
                    nodes: vec![Node {
                        keys: Keys::default(),
                        depth: 0,
                        positions: Box::new([]),
                    }],
                    patterns: Some(patterns),
                    all,
                    usable: true,
                    len,
                    failing_let: None,
                },
                _ => unusable(levels),
            };
        }
        let last_ok = spec.levels[..spec.levels.len().saturating_sub(1)]
            .iter()
            .all(|l| l.op != LevelOp::FieldIn);
        if spec.levels.is_empty() || !last_ok || !spec.rules.is_empty() && spec.rules.len() != len {
            return unusable(levels);
        }
        // Keys of every element at every level (or unusable).
        let mut keys: Vec<Vec<Vec<Key<'_>>>> = Vec::with_capacity(len);
        for elem in items {
            let mut per_level = Vec::with_capacity(spec.levels.len());
            for l in &spec.levels {
                match element_keys(elem, &l.path, l.op) {
                    Ok(k) => per_level.push(k),
                    Err(()) => return unusable(levels),
                }
            }
            keys.push(per_level);
        }
        let budget = BUDGET_FACTOR
            .saturating_mul(len)
            .saturating_add(BUDGET_BASE);
        let mut depth = levels.len();
        loop {
            if let Some(nodes) = Self::trie(&keys, depth, budget) {
                return ListIndex {
                    levels: levels[..depth].to_vec(),
                    nodes,
                    patterns: None,
                    all,
                    usable: true,
                    len,
                    failing_let: None,
                };
            }
            depth -= 1;
            if depth == 0 {
                return unusable(levels);
            }
        }
    }

    /// The set of a `matches` index, or `None` when it could not be exact (an element the scan
    /// would fail on, a pattern that does not compile) or would be too large.
    fn pattern_set(spec: &IndexSpec, items: &[Const], consts: &[Const]) -> Option<PatternSet> {
        let path = &spec.levels.first()?.path;
        // `s matches M[elem]`: the element must be a string key (anything else fails in the
        // scan); a key M lacks gives an undefined pattern, which never matches.
        let via = match spec.via {
            None => None,
            Some(m) => match consts.get(m as usize)? {
                Const::Map(entries) => Some(entries),
                _ => return None,
            },
        };
        let mut patterns = Vec::new();
        let mut positions = Vec::new();
        for (pos, elem) in items.iter().enumerate() {
            let target = match (via, elem) {
                (None, _) => Some(elem),
                (Some(entries), Const::Str(k)) => {
                    entries.iter().find(|(key, _)| key == k).map(|(_, v)| v)
                }
                (Some(_), _) => return None,
            };
            let Some(target) = target else {
                continue;
            };
            if let Some(p) = element_pattern(target, path).ok()? {
                patterns.push(p);
                positions.push(pos as u32);
            }
        }
        if patterns.len() > MAX_SET_PATTERNS {
            return None;
        }
        let any = crate::regex_cache::build_any(&patterns)?;
        let set = if patterns.len() >= MIN_SET_PATTERNS {
            Some(crate::regex_cache::build_set(&patterns)?)
        } else {
            None
        };
        Some(PatternSet {
            any,
            set,
            positions: positions.into_boxed_slice(),
        })
    }

    /// The trie over the first `depth` levels, or `None` past the budget.
    fn trie(keys: &[Vec<Vec<Key<'_>>>], depth: usize, budget: usize) -> Option<Vec<Node>> {
        let mut nodes = vec![Node {
            keys: Keys::default(),
            depth: 0,
            positions: Box::new([]),
        }];
        let mut leaves: FxHashMap<u32, Vec<u32>> = FxHashMap::default();
        let mut spent = 0usize;
        for (pos, levels) in keys.iter().enumerate() {
            let mut frontier = vec![0u32];
            for (d, level_keys) in levels.iter().take(depth).enumerate() {
                let mut next = Vec::new();
                for &node in &frontier {
                    for &k in level_keys {
                        spent += 1;
                        if spent > budget {
                            return None;
                        }
                        let fresh = nodes.len() as u32;
                        let (child, created) = nodes[node as usize].keys.get_or_insert(k, fresh);
                        if created {
                            nodes.push(Node {
                                keys: Keys::default(),
                                depth: (d + 1) as u8,
                                positions: Box::new([]),
                            });
                        }
                        if d + 1 == depth {
                            let at = leaves.entry(child).or_default();
                            if at.last() != Some(&(pos as u32)) {
                                at.push(pos as u32);
                            }
                        } else if !next.contains(&child) {
                            next.push(child);
                        }
                    }
                }
                frontier = next;
            }
        }
        for (leaf, ps) in leaves {
            nodes[leaf as usize].positions = positions(&ps);
        }
        Some(nodes)
    }

    /// Number of elements of the indexed list.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether lookups narrow anything (false: every probe answers every position).
    pub fn usable(&self) -> bool {
        self.usable
    }

    /// Levels in use (deep levels may have been dropped to bound the size).
    pub fn depth(&self) -> usize {
        if self.usable {
            self.levels.len()
        } else {
            0
        }
    }

    /// Every position, in order.
    pub fn all<'a>(&'a self) -> Value<'a> {
        Value::List(&self.all)
    }

    /// One step of [`crate::Instr::IndexProbe`]: from `node` (a node number, or already a
    /// candidate list) with the compared value `key`.
    pub fn probe<'a>(&'a self, node: Value<'a>, key: Value<'a>, bump: &'a Bump) -> Value<'a> {
        const NONE: Value<'static> = Value::List(&[]);
        let id = match node {
            Value::List(_) => return node,
            Value::Num(n) if self.usable && n >= 0.0 && (n as usize) < self.nodes.len() => {
                n as usize
            }
            _ => return self.all(),
        };
        let depth = usize::from(self.nodes[id].depth);
        let Some(&op) = self.levels.get(depth) else {
            return self.all();
        };
        let last = depth + 1 == self.levels.len();
        let step = |child: Option<u32>| match child {
            None => NONE,
            Some(c) if last => Value::List(&self.nodes[c as usize].positions),
            Some(c) => Value::Num(f64::from(c)),
        };
        let keys = &self.nodes[id].keys;
        if let (LevelOp::Matches, Some(p)) = (op, &self.patterns) {
            return match key.plain() {
                // One pass over the subject; usually nothing matches and nothing is
                // allocated. Otherwise the candidates, in list order, in the arena (the set
                // reports which patterns matched in a small buffer of its own); without a set
                // (a short list) the scan tells which.
                Value::Str(s) if !p.any.is_match(s) => NONE,
                Value::Str(s) => match &p.set {
                    None => self.all(),
                    Some(set) => {
                        let mut found = bumpalo::collections::Vec::new_in(bump);
                        found.extend(
                            set.matches(s)
                                .into_iter()
                                .map(|i| Value::Num(f64::from(p.positions[i]))),
                        );
                        Value::List(found.into_bump_slice())
                    }
                },
                // `undefined matches p` is undefined: never TRUE.
                Value::Undefined | Value::Pending => NONE,
                // Anything else fails in the scan, which must say so.
                _ => self.all(),
            };
        }
        if op == LevelOp::FieldIn {
            // The compared value is the haystack; the element's field the needle.
            // In the decision's arena, like every other per-decision value.
            let mut found = bumpalo::collections::Vec::<u32>::new_in(bump);
            let mut add = |k: Key<'_>| {
                if let Some(c) = keys.get(k) {
                    found.extend(self.nodes[c as usize].positions.iter().map(|v| match v {
                        Value::Num(n) => *n as u32,
                        _ => 0,
                    }));
                }
            };
            match key.plain() {
                Value::Undefined | Value::Pending => return NONE,
                Value::List(items) => {
                    for item in items {
                        if let Probe::Key(k) = value_key(*item) {
                            add(k);
                        }
                    }
                }
                Value::Map(m) => {
                    for (k, _) in m {
                        add(Key::Str(k));
                    }
                }
                // Substring tests: only the scan can tell.
                Value::Str(_) => return self.all(),
                // `x in <number, trinary, null>` is false.
                _ => return NONE,
            }
            found.sort_unstable();
            found.dedup();
            return Value::List(
                bump.alloc_slice_fill_iter(found.into_iter().map(|p| Value::Num(f64::from(p)))),
            );
        }
        match value_key(key) {
            Probe::Key(k) => step(keys.get(k)),
            Probe::Nothing => NONE,
            Probe::Scan => self.all(),
        }
    }

    /// `contains` for [`crate::Instr::ContainsConst`] with a scalar needle: `Some(found)`;
    /// `None` when only a scan can tell.
    pub fn contains_scalar(&self, needle: Value<'_>) -> Option<bool> {
        if !self.usable || self.levels.len() != 1 || self.levels[0] != LevelOp::Eq {
            return None;
        }
        match value_key(needle) {
            Probe::Key(k) => Some(self.nodes[0].keys.get(k).is_some()),
            // NaN equals nothing; undefined is the caller's (the answer is undefined).
            Probe::Nothing => Some(false),
            Probe::Scan => None,
        }
    }
}

//! The budget for work done outside the instruction loop. Deep walks over values (equality,
//! conformance, JSON text, module arguments, `flatten`, `merge`) visit every node, and a value
//! built by sharing — a list holding the same list ten times, ten levels deep — has
//! exponentially many nodes in a few hundred bytes. Fuel only counts instructions, so every
//! walk also spends from this per-thread budget of node visits, set at the start of each
//! requested rule. When it runs out, walks stop early with a neutral answer and the budget
//! stays exhausted: the rule being evaluated fails, and the interpreter drops every value it
//! cached meanwhile, so a cut-short walk can never produce a decision.

use std::cell::Cell;
use std::time::Instant;

use crate::value::Value;

/// Node visits allowed for one requested rule (a 10 MiB facts document has at most ~5 million
/// nodes, and checking it against its type visits each once).
pub const DEFAULT_BUDGET: u64 = 20_000_000;

/// The error of a decision that ran out of this budget.
pub const EXHAUSTED: &str =
    "evaluation budget exceeded: a value is too large or too deeply nested to process";

/// The budget outside decisions: walks there (writing out decisions that were measured
/// within their budget, decoded facts) are bounded by their input.
pub const UNLIMITED: u64 = u64::MAX;

/// The error of a decision whose deadline passed during a walk.
const TIMED_OUT: &str = "evaluation deadline exceeded";

thread_local! {
    static LEFT: Cell<u64> = const { Cell::new(UNLIMITED) };
    /// The decision's deadline, looked at every few tens of thousands of visits.
    static DEADLINE: Cell<Option<Instant>> = const { Cell::new(None) };
    static LATE: Cell<bool> = const { Cell::new(false) };
}

/// Sets the budget for the next requested rule on this thread.
pub fn reset(budget: u64) {
    LEFT.with(|c| c.set(budget));
    LATE.with(|c| c.set(false));
}

/// Sets the deadline walks on this thread respect (`None` outside decisions).
pub fn set_deadline(deadline: Option<Instant>) {
    DEADLINE.with(|c| c.set(deadline));
}

/// Spends one visit; false (and exhausted from now on) when nothing is left or the deadline
/// has passed. The common case is one thread-local read and write in the caller; the look at
/// the deadline (every 65,536 visits) and the empty budget take the slow path.
#[inline(always)]
pub fn visit() -> bool {
    let left = LEFT.with(Cell::get);
    if left & 0xffff == 0 {
        return visit_slow(left);
    }
    LEFT.with(|c| c.set(left - 1));
    true
}

#[cold]
#[inline(never)]
fn visit_slow(left: u64) -> bool {
    if left == 0 {
        return false;
    }
    LEFT.with(|c| c.set(left - 1));
    if past_deadline() {
        LATE.with(|c| c.set(true));
        LEFT.with(|c| c.set(0));
        return false;
    }
    true
}

#[cold]
fn past_deadline() -> bool {
    DEADLINE.with(Cell::get).is_some_and(|d| Instant::now() > d)
}

/// Why walks stopped: the budget or the deadline.
pub fn exhausted_message() -> &'static str {
    if LATE.with(Cell::get) {
        TIMED_OUT
    } else {
        EXHAUSTED
    }
}

/// Spends `n` visits at once (a walk over `n` scalars); false (and exhausted from now on)
/// when fewer are left or the deadline has passed.
#[inline(always)]
pub fn spend(n: usize) -> bool {
    let left = LEFT.with(Cell::get);
    let n = n as u64;
    // The deadline is looked at whenever the count crosses a multiple of 65,536.
    if left < n || left == 0 || (left >> 16) != ((left - n) >> 16) {
        return spend_slow(left, n);
    }
    LEFT.with(|c| c.set(left - n));
    true
}

#[cold]
#[inline(never)]
fn spend_slow(left: u64, n: u64) -> bool {
    if left < n || left == 0 {
        LEFT.with(|c| c.set(0));
        return false;
    }
    LEFT.with(|c| c.set(left - n));
    if past_deadline() {
        LATE.with(|c| c.set(true));
        LEFT.with(|c| c.set(0));
        return false;
    }
    true
}

/// Spends one visit for a node at nesting `depth`. Nesting beyond
/// [`crate::MAX_VALUE_DEPTH`] cannot be walked faithfully either, so it exhausts the budget.
#[inline]
pub fn enter(depth: u32) -> bool {
    if depth > crate::MAX_VALUE_DEPTH {
        exhaust();
        return false;
    }
    visit()
}

/// Marks the budget as spent (a walk that found its own limit exceeded).
pub fn exhaust() {
    LEFT.with(|c| c.set(0));
}

pub fn exhausted() -> bool {
    LEFT.with(Cell::get) == 0
}

/// Visits every node of `v` (what writing it as JSON would cost); false when the budget ran
/// out on the way.
#[inline]
pub fn measure(v: Value<'_>) -> bool {
    if !matches!(v, Value::List(_) | Value::Map(_) | Value::Decision(_)) {
        return visit();
    }
    measure_walk(v)
}

fn measure_walk(v: Value<'_>) -> bool {
    let mut stack: smallvec::SmallVec<[(Value<'_>, u32); 32]> = smallvec::smallvec![(v, 0)];
    while let Some((v, depth)) = stack.pop() {
        if !enter(depth) {
            return false;
        }
        match v {
            Value::List(items) => stack.extend(items.iter().map(|x| (*x, depth + 1))),
            Value::Map(entries) => stack.extend(entries.iter().map(|(_, x)| (*x, depth + 1))),
            Value::Decision(d) => stack.push((d.value, depth + 1)),
            _ => {}
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_values_exhaust_the_budget_and_it_stays_exhausted() {
        let leaf = [Value::Num(1.0); 10];
        let mut level: &[Value<'_>] = &leaf;
        let bump = bumpalo::Bump::new();
        for _ in 0..9 {
            level = bump.alloc_slice_fill_copy(10, Value::List(level));
        }
        // 10^10 leaves behind 90 allocated values.
        reset(1_000_000);
        assert!(!measure(Value::List(level)));
        assert!(exhausted());
        assert!(!visit());
        reset(1_000_000);
        assert!(measure(Value::List(&leaf)));
        assert!(!exhausted());
        assert_eq!(exhausted_message(), EXHAUSTED);
        // A passed deadline stops a walk as well, with its own message.
        set_deadline(Some(Instant::now()));
        reset(1 << 20);
        assert!(!measure(Value::List(level)));
        assert_eq!(exhausted_message(), "evaluation deadline exceeded");
        set_deadline(None);
        // Nesting beyond the walk limit is refused the same way.
        let mut deep = Value::Num(0.0);
        for _ in 0..=crate::MAX_VALUE_DEPTH {
            deep = Value::List(bump.alloc_slice_fill_copy(1, deep));
        }
        assert!(!measure(deep));
        assert!(exhausted());
        reset(UNLIMITED);
    }
}

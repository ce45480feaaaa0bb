//! Pass 5: the dependency graph of rules and lets (LANGUAGE.md §17), recorded by lowering,
//! and its cycle check.

use rustc_hash::FxHashMap;

use crate::error::{CompileError, Diags};
use sentrie_grammar::Span;

/// A node: a rule, a policy-level let or a block-level let, with a display name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Node {
    Rule(u32),
    Let(u32),
    BlockLet(u32),
    /// A fact default: it may refer to no rule or let, so it never has edges.
    FactDefault,
}

#[derive(Default)]
pub struct Graph {
    edges: FxHashMap<Node, Vec<Node>>,
    names: FxHashMap<Node, (String, Span)>,
}

impl Graph {
    pub fn name(&mut self, n: Node, name: String, span: Span) {
        self.names.insert(n, (name, span));
    }

    /// `from` reads `to`; `from == to` is a self-loop, which is a cycle.
    pub fn edge(&mut self, from: Node, to: Node) {
        self.edges.entry(from).or_default().push(to);
    }

    /// Every cycle found (one per strongly connected group), as names and the span of its
    /// first node. Iterative depth-first search: no recursion on large packs.
    pub fn cycles(&self) -> Vec<(Vec<String>, Span)> {
        #[derive(Clone, Copy, PartialEq)]
        enum Color {
            White,
            Grey,
            Black,
        }
        let mut color: FxHashMap<Node, Color> = FxHashMap::default();
        let mut out = Vec::new();
        let mut roots: Vec<Node> = self.edges.keys().copied().collect();
        roots.sort_by_key(|n| match n {
            Node::Rule(i) => (0, *i),
            Node::Let(i) => (1, *i),
            Node::BlockLet(i) => (2, *i),
            Node::FactDefault => (3, 0),
        });
        for root in roots {
            if color.get(&root).copied().unwrap_or(Color::White) != Color::White {
                continue;
            }
            let mut stack: Vec<(Node, usize)> = vec![(root, 0)];
            color.insert(root, Color::Grey);
            while let Some((node, i)) = stack.last().copied() {
                let next = self.edges.get(&node).and_then(|v| v.get(i)).copied();
                match next {
                    Some(child) => {
                        if let Some(top) = stack.last_mut() {
                            top.1 += 1;
                        }
                        match color.get(&child).copied().unwrap_or(Color::White) {
                            Color::White => {
                                color.insert(child, Color::Grey);
                                stack.push((child, 0));
                            }
                            Color::Grey => {
                                let start =
                                    stack.iter().position(|(n, _)| *n == child).unwrap_or(0);
                                let mut names: Vec<String> = stack[start..]
                                    .iter()
                                    .map(|(n, _)| self.display(*n))
                                    .collect();
                                names.push(self.display(child));
                                let span =
                                    self.names.get(&child).map(|(_, s)| *s).unwrap_or_default();
                                out.push((names, span));
                            }
                            Color::Black => {}
                        }
                    }
                    None => {
                        color.insert(node, Color::Black);
                        stack.pop();
                    }
                }
            }
        }
        out
    }

    fn display(&self, n: Node) -> String {
        self.names
            .get(&n)
            .map_or_else(|| format!("{n:?}"), |(name, _)| name.clone())
    }
}

/// Runs pass 5: every cycle is a pack error.
pub fn check(graph: &Graph, diags: &mut Diags) {
    for (names, span) in graph.cycles() {
        diags.pack(CompileError::Cycle(names).at(span));
    }
}

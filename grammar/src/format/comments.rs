//! The comments of a source file, found in the gaps between tokens (the lexer drops them), and
//! the questions the printer asks about them: which come before a position, which share a
//! line with the end of an item, which lie inside a range.

use crate::lexer::tokenize;

/// One `--` or `//` comment: byte range of its text, without the line break.
#[derive(Clone, Copy, Debug)]
pub(super) struct Comment {
    pub start: usize,
    pub end: usize,
}

/// Every comment of `src`, in order.
pub(super) fn scan(src: &str) -> Vec<Comment> {
    let (tokens, _) = tokenize(src);
    let mut out = Vec::new();
    let mut from = 0;
    for (start, _, end) in tokens.iter().map(|(s, t, e)| (*s, t, *e)) {
        gap_comments(src, from, start, &mut out);
        from = from.max(end);
    }
    gap_comments(src, from, src.len(), &mut out);
    out
}

/// Comments in `src[from..to]`, a stretch that holds only white space and comments.
fn gap_comments(src: &str, from: usize, to: usize, out: &mut Vec<Comment>) {
    let bytes = src.as_bytes();
    let mut i = from;
    while i < to {
        let rest = &bytes[i..to];
        if rest.starts_with(b"--") || rest.starts_with(b"//") {
            let len = rest.iter().position(|b| *b == b'\n').unwrap_or(rest.len());
            let text = src[i..i + len].trim_end();
            out.push(Comment {
                start: i,
                end: i + text.len(),
            });
            i += len;
        } else {
            i += 1;
        }
    }
}

/// True when the white space just before `pos` holds an empty line.
pub(super) fn blank_line_before(src: &str, pos: usize) -> bool {
    let before = &src.as_bytes()[..pos.min(src.len())];
    let newlines = before
        .iter()
        .rev()
        .take_while(|b| b.is_ascii_whitespace())
        .filter(|b| **b == b'\n')
        .count();
    newlines >= 2
}

/// True when `src[from..to]` has no line break.
pub(super) fn same_line(src: &str, from: usize, to: usize) -> bool {
    from <= to && !src.as_bytes()[from..to.min(src.len())].contains(&b'\n')
}

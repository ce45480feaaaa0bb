//! Positions in user modules: the JavaScript QuickJS runs is not the text the user wrote
//! (TypeScript types are stripped, CommonJS code is wrapped), so each transpiled module carries
//! a trailing comment mapping generated positions back to the source, and error stacks are
//! rewritten with it before they reach the user.
//!
//! The comment is one line `//# sentrie-lines=GL:GC:SL:SC;...` of 1-based generated and source
//! lines and 0-based columns, sorted by generated position. A generated position maps through
//! the last entry at or before it on the same line; lines without an entry are left as they are.

/// Marker of the mapping comment.
const MARKER: &str = "\n//# sentrie-lines=";

/// One mapping point: generated (line, column) → source (line, column).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Point {
    pub gen_line: u32,
    pub gen_col: u32,
    pub src_line: u32,
    pub src_col: u32,
}

/// Appends the mapping comment for `points` to `js`, with every generated line moved down by
/// `line_offset` (the lines a wrapper adds before the code).
pub fn append(js: &mut String, points: &[Point], line_offset: u32) {
    if points.is_empty() {
        return;
    }
    js.push_str(MARKER);
    for (i, p) in points.iter().enumerate() {
        if i > 0 {
            js.push(';');
        }
        js.push_str(&format!(
            "{}:{}:{}:{}",
            p.gen_line + line_offset,
            p.gen_col,
            p.src_line,
            p.src_col
        ));
    }
    js.push('\n');
}

/// Points mapping every line of `source` to itself moved down by `line_offset` (plain
/// JavaScript inside a wrapper).
pub fn identity(source: &str) -> Vec<Point> {
    (1..=source.lines().count().max(1) as u32)
        .map(|line| Point {
            gen_line: line,
            gen_col: 0,
            src_line: line,
            src_col: 0,
        })
        .collect()
}

/// The mapping points of a module's JavaScript (empty when it has none).
fn points(js: &str) -> Vec<Point> {
    let Some(at) = js.rfind(MARKER) else {
        return Vec::new();
    };
    let text = js[at + MARKER.len()..].trim_end();
    text.split(';')
        .filter_map(|entry| {
            let mut it = entry.split(':').map(|n| n.parse::<u32>().ok());
            Some(Point {
                gen_line: it.next()??,
                gen_col: it.next()??,
                src_line: it.next()??,
                src_col: it.next()??,
            })
        })
        .collect()
}

/// The source position of generated (line, column), both 1-based as QuickJS reports them.
fn lookup(points: &[Point], line: u32, col: u32) -> Option<(u32, u32)> {
    let col0 = col.saturating_sub(1);
    let on_line = points.iter().filter(|p| p.gen_line == line);
    let best = on_line
        .clone()
        .rfind(|p| p.gen_col <= col0)
        .or_else(|| on_line.min_by_key(|p| p.gen_col))?;
    let delta = col0.saturating_sub(best.gen_col);
    Some((best.src_line, best.src_col + delta + 1))
}

/// Rewrites every `KEY:LINE:COL` of a known module in `text` (an error message with its stack)
/// to the position in the module's source.
pub fn remap(text: &str, modules: &[(String, String)]) -> String {
    let mut out = text.to_string();
    for (key, js) in modules {
        let needle = format!("{key}:");
        if !out.contains(&needle) {
            continue;
        }
        let pts = points(js);
        if pts.is_empty() {
            continue;
        }
        let mut rewritten = String::with_capacity(out.len());
        let mut rest = out.as_str();
        while let Some(i) = rest.find(&needle) {
            let after = &rest[i + needle.len()..];
            rewritten.push_str(&rest[..i + needle.len()]);
            match parse_position(after) {
                Some((line, col, used)) => {
                    let (l, c) = lookup(&pts, line, col).unwrap_or((line, col));
                    rewritten.push_str(&format!("{l}:{c}"));
                    rest = &after[used..];
                }
                None => rest = after,
            }
        }
        rewritten.push_str(rest);
        out = rewritten;
    }
    out
}

/// `LINE:COL` at the start of `s`, with the number of bytes it takes.
fn parse_position(s: &str) -> Option<(u32, u32, usize)> {
    let digits = |t: &str| t.bytes().take_while(u8::is_ascii_digit).count();
    let n1 = digits(s);
    let line = s[..n1].parse().ok()?;
    let rest = s[n1..].strip_prefix(':')?;
    let n2 = digits(rest);
    let col = rest[..n2].parse().ok()?;
    Some((line, col, n1 + 1 + n2))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(gen_line: u32, gen_col: u32, src_line: u32, src_col: u32) -> Point {
        Point {
            gen_line,
            gen_col,
            src_line,
            src_col,
        }
    }

    #[test]
    fn stack_positions_map_back_to_the_source() {
        let mut js = "function f() {\n  throw new Error('x');\n}\n".to_string();
        append(&mut js, &[p(1, 0, 4, 0), p(2, 2, 6, 4), p(2, 8, 6, 10)], 3);
        let modules = vec![("@local/m.ts".to_string(), js)];
        let text = "Error: x\n    at f (@local/m.ts:5:9)\n    at g (@local/other.ts:5:9)";
        assert_eq!(
            remap(text, &modules),
            "Error: x\n    at f (@local/m.ts:6:11)\n    at g (@local/other.ts:5:9)"
        );
        // A line without points, and text that is not a position, stay as they were.
        assert_eq!(
            remap("at (@local/m.ts:40:2) @local/m.ts:x", &modules),
            "at (@local/m.ts:40:2) @local/m.ts:x"
        );
    }

    #[test]
    fn identity_points_only_shift_lines() {
        let mut js = "a();\nb();\n".to_string();
        append(&mut js, &identity("a();\nb();\n"), 3);
        let modules = vec![("@local/c.js".to_string(), js)];
        assert_eq!(remap("at @local/c.js:5:3", &modules), "at @local/c.js:2:3");
    }

    #[test]
    fn modules_without_a_map_are_untouched() {
        let modules = vec![("@local/m.js".to_string(), "f();".to_string())];
        assert_eq!(remap("at @local/m.js:1:1", &modules), "at @local/m.js:1:1");
    }
}

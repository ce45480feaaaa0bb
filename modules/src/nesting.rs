//! A bound on how deeply a module's syntax nests, found before the source reaches oxc.
//!
//! oxc's parser, semantic analysis, transformer and code generator all recurse over the tree,
//! with no depth limit of their own: `[[[[…` or `a.b.b.b…` fifty thousand deep overflows the
//! native stack and aborts the process. This scan over-estimates the depth of the tree a
//! source would produce, without parsing it: brackets (`(`, `[`, `{`, `${`) open levels, and
//! within a level every operator (`+`, `.`, `=>`, `?`, `!`, `typeof`, a call's or an index's
//! bracket after a value, …) since the last `,` or
//! `;` (or a line break that must end a statement) may add one more, since chains of binary,
//! member, unary, arrow and conditional operators all nest. Strings, template text, comments
//! and regular-expression literals are skipped. Real code stays far below the limit; a source
//! above it is refused with its position.

/// Deepest estimated nesting accepted (the QuickJS parser itself gives up not far above it).
pub const MAX_NESTING: usize = 1000;

/// Where the estimate first went over [`MAX_NESTING`]: a byte offset into the source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooDeep {
    pub offset: usize,
}

/// One open level: a bracket or a template's `${`, and the operators chained in it so far.
struct Level {
    /// The byte that closes it (`)`, `]`, `}`), or 0 for a template substitution.
    closer: u8,
    chain: usize,
}

/// What the previous token was, for telling a regular expression from a division and a line
/// break that ends a statement from one inside an expression.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Prev {
    /// Start, an operator, an opening bracket, `,` or `;`: a value may follow.
    Operator,
    /// An identifier, literal or closing bracket: an expression may have ended.
    Value,
}

struct Scan<'s> {
    src: &'s [u8],
    i: usize,
    levels: Vec<Level>,
    /// Sum over `levels` of `1 + chain`, plus the top level's chain.
    depth: usize,
    top_chain: usize,
    prev: Prev,
    /// A line break was passed since the previous token.
    newline: bool,
}

/// Checks `source` against [`MAX_NESTING`].
pub fn check(source: &str) -> Result<(), TooDeep> {
    let mut s = Scan {
        src: source.as_bytes(),
        i: 0,
        levels: Vec::new(),
        depth: 0,
        top_chain: 0,
        prev: Prev::Operator,
        newline: false,
    };
    s.run()
}

impl Scan<'_> {
    fn too_deep(&self) -> Result<(), TooDeep> {
        if self.depth > MAX_NESTING {
            Err(TooDeep { offset: self.i })
        } else {
            Ok(())
        }
    }

    fn chain_mut(&mut self) -> &mut usize {
        match self.levels.last_mut() {
            Some(l) => &mut l.chain,
            None => &mut self.top_chain,
        }
    }

    fn reset_chain(&mut self) {
        let c = std::mem::take(self.chain_mut());
        self.depth -= c;
    }

    fn operator(&mut self) -> Result<(), TooDeep> {
        *self.chain_mut() += 1;
        self.depth += 1;
        self.prev = Prev::Operator;
        self.too_deep()
    }

    fn open(&mut self, closer: u8) -> Result<(), TooDeep> {
        self.levels.push(Level { closer, chain: 0 });
        self.depth += 1;
        self.prev = Prev::Operator;
        self.too_deep()
    }

    /// Closes the innermost level if `closer` closes it; returns whether it was a template
    /// substitution (whose text then continues).
    fn close(&mut self, closer: u8) -> bool {
        let Some(top) = self.levels.last() else {
            return false;
        };
        let template = top.closer == 0 && closer == b'}';
        if top.closer == closer || template {
            let chain = top.chain;
            self.levels.pop();
            self.depth -= 1 + chain;
        }
        self.prev = Prev::Value;
        template
    }

    /// A token that starts a value: on a new line after a complete expression, it starts a
    /// new statement (automatic semicolon insertion), which ends the chain.
    fn value(&mut self) {
        if self.newline && self.prev == Prev::Value {
            self.reset_chain();
        }
        self.prev = Prev::Value;
    }

    fn run(&mut self) -> Result<(), TooDeep> {
        while let Some(&c) = self.src.get(self.i) {
            if c == b'\n' {
                self.newline = true;
                self.i += 1;
                continue;
            }
            if c.is_ascii_whitespace() {
                self.i += 1;
                continue;
            }
            if c == b'/' && self.comment() {
                continue;
            }
            self.step(c)?;
            self.newline = false;
        }
        Ok(())
    }

    fn step(&mut self, c: u8) -> Result<(), TooDeep> {
        match c {
            b'(' | b'[' | b'{' => {
                // A call or an index after a value chains like a member access (`a()()()`).
                if c != b'{' && self.prev == Prev::Value {
                    *self.chain_mut() += 1;
                    self.depth += 1;
                }
                self.i += 1;
                self.open(match c {
                    b'(' => b')',
                    b'[' => b']',
                    _ => b'}',
                })
            }
            b')' | b']' | b'}' => {
                self.i += 1;
                if self.close(c) {
                    self.template_text()?;
                }
                Ok(())
            }
            b',' | b';' => {
                self.i += 1;
                self.reset_chain();
                self.prev = Prev::Operator;
                Ok(())
            }
            b'"' | b'\'' => {
                self.value();
                self.string(c);
                Ok(())
            }
            b'`' => {
                self.value();
                self.i += 1;
                self.template_text()
            }
            b'/' if self.prev == Prev::Operator => {
                self.value();
                self.regex();
                Ok(())
            }
            c if c.is_ascii_alphanumeric() || c == b'_' || c == b'$' || c >= 0x80 => self.word(),
            _ => {
                // A run of operator characters is one operator (`===`, `=>`, `?.`, `...`); any
                // other character counts as one too.
                let start = self.i;
                while self
                    .src
                    .get(self.i)
                    .is_some_and(|b| b"+-*/%=<>&|^!~?:.@#".contains(b))
                {
                    self.i += 1;
                }
                if self.i == start {
                    self.i += 1;
                }
                self.operator()
            }
        }
    }

    /// An identifier, keyword or number. Keywords that take an operand chain like operators.
    fn word(&mut self) -> Result<(), TooDeep> {
        let start = self.i;
        while self
            .src
            .get(self.i)
            .is_some_and(|&b| b.is_ascii_alphanumeric() || b == b'_' || b == b'$' || b >= 0x80)
        {
            self.i += 1;
        }
        let word = &self.src[start..self.i];
        const CHAINING: [&[u8]; 9] = [
            b"typeof",
            b"void",
            b"delete",
            b"await",
            b"new",
            b"yield",
            b"in",
            b"instanceof",
            b"return",
        ];
        if CHAINING.contains(&word) {
            self.operator()
        } else {
            self.value();
            Ok(())
        }
    }

    /// Skips a `//` or `/* */` comment at the cursor; false when `/` starts something else.
    fn comment(&mut self) -> bool {
        match self.src.get(self.i + 1) {
            Some(b'/') => {
                while self.src.get(self.i).is_some_and(|&b| b != b'\n') {
                    self.i += 1;
                }
                true
            }
            Some(b'*') => {
                self.i += 2;
                while self.i < self.src.len() && !self.src[self.i..].starts_with(b"*/") {
                    if self.src[self.i] == b'\n' {
                        self.newline = true;
                    }
                    self.i += 1;
                }
                self.i = (self.i + 2).min(self.src.len());
                true
            }
            _ => false,
        }
    }

    fn string(&mut self, quote: u8) {
        self.i += 1;
        while let Some(&b) = self.src.get(self.i) {
            self.i += 1;
            match b {
                b'\\' => self.i += 1,
                b'\n' => return,
                b if b == quote => return,
                _ => {}
            }
        }
    }

    /// Template text up to its closing backtick, or into a `${` substitution.
    fn template_text(&mut self) -> Result<(), TooDeep> {
        while let Some(&b) = self.src.get(self.i) {
            self.i += 1;
            match b {
                b'\\' => self.i += 1,
                b'`' => {
                    self.prev = Prev::Value;
                    return Ok(());
                }
                b'$' if self.src.get(self.i) == Some(&b'{') => {
                    self.i += 1;
                    return self.open(0);
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// A regular-expression literal, classes (`[/]`) and escapes included, then its flags.
    fn regex(&mut self) {
        self.i += 1;
        let mut class = false;
        while let Some(&b) = self.src.get(self.i) {
            self.i += 1;
            match b {
                b'\\' => self.i += 1,
                b'[' => class = true,
                b']' => class = false,
                b'\n' => return,
                b'/' if !class => break,
                _ => {}
            }
        }
        while self
            .src
            .get(self.i)
            .is_some_and(|b| b.is_ascii_alphanumeric())
        {
            self.i += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deep(open: &str, mid: &str, close: &str, n: usize) -> String {
        format!(
            "export const x = {}{mid}{};\n",
            open.repeat(n),
            close.repeat(n)
        )
    }

    #[test]
    fn ordinary_code_passes() {
        let code = "import { a } from './a';\n\
                    // a comment with (((( and `\n\
                    /* and [[[[ */\n\
                    const s = '(((' + \"[[[\" + `${'{'}` + /[(]+\\/[/]/g.source;\n\
                    export function f(xs: number[]): number {\n\
                      return xs.map((x) => x * 2).filter((x) => x > 1).reduce((a, b) => a + b, 0) / 2;\n\
                    }\n\
                    let y = 1\n\
                    let z = y\n";
        assert_eq!(check(code), Ok(()));
        // Many statements without semicolons do not add up.
        let lines: String = (0..5000).map(|i| format!("let v{i} = a + b\n")).collect();
        assert_eq!(check(&lines), Ok(()));
        // Long lists are flat.
        let list = format!("export const l = [{}];\n", vec!["1 + 2"; 5000].join(", "));
        assert_eq!(check(&list), Ok(()));
    }

    #[test]
    fn every_kind_of_deep_nesting_is_refused() {
        let n = 2 * MAX_NESTING;
        for src in [
            deep("(", "1", ")", n),
            deep("[", "", "]", n),
            deep("{a:", "1", "}", n),
            deep("`${", "1", "}`", n),
            format!("export const x = {}1;\n", "a => ".repeat(n)),
            format!("export const x = a{};\n", ".b".repeat(n)),
            format!("export const x = a{};\n", "()".repeat(n)),
            format!("export const x = a{};\n", "[0]".repeat(n)),
            format!("export const x = 1{};\n", " + 1".repeat(n)),
            format!("export const x = {}1;\n", "- ".repeat(n)),
            format!("export const x = {}1;\n", "typeof ".repeat(n)),
            format!("export const x = {}1;\n", "a ? 1 : ".repeat(n)),
            format!("export const x = a{};\n", "\n.b".repeat(n)),
            format!("export const x = 1{};\n", "\n+ function () {}".repeat(n)),
        ] {
            assert!(check(&src).is_err(), "{}", &src[..60.min(src.len())]);
        }
    }
}

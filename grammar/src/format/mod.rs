//! `sentrie fmt`: one canonical layout for `.sentrie` files, printed from the syntax tree.
//!
//! - Two spaces per level; one declaration per line; one blank line between top-level
//!   declarations; inside policies and blocks, a blank line is kept where the author left one
//!   (never more than one).
//! - Expressions are printed on one line when they fit in [`WIDTH`] columns; otherwise `and`/
//!   `or`/`xor` chains and `? :` chains put each operand on its own line, and lists, maps and
//!   call arguments one element per line. Rule and `let` bodies written as blocks are always
//!   broken over lines.
//! - Parentheses are printed only where the grammar needs them; `!` is printed as `not`,
//!   optional `;` and `of` after `import decision` are dropped. Literals keep their source text.
//! - Comments stay where they were written: before a declaration, at the end of its line, or
//!   before a closing brace. A declaration with a comment inside it (or a heredoc) is kept
//!   exactly as written, since moving that comment would change what it describes.
//!
//! The printed file parses to the same tree as the original (checked by property tests over
//! every pack in the repository and over generated expressions), and formatting is idempotent.

mod comments;
mod expr;

use crate::ast::{
    BaseType, ConstArg, ExportDecl, Expr, FactDecl, FactMarker, Field, File, Fqn, ImportClause,
    LetDecl, ModuleSource, Policy, PolicyStmt, RuleBody, RuleDecl, ShapeBody, ShapeDecl, TopDecl,
    TypeRef, UseDecl,
};
use crate::diagnostic::{Diagnostic, Severity};
use crate::parser::parse_file;
use crate::span::{FileId, Span};
use comments::Comment;

/// Preferred line width.
pub const WIDTH: usize = 100;

/// Stack for the formatting thread: printing and dropping a tree of the deepest expression the
/// parser accepts ([`crate::MAX_EXPR_DEPTH`]) recurses once per level, and debug builds use large
/// frames, so formatting never runs on a caller's (possibly small) stack.
const FORMAT_STACK: usize = 64 * 1024 * 1024;

/// Formats one `.sentrie` source. A file that does not parse is returned as its errors.
pub fn format_source(src: &str) -> Result<String, Vec<Diagnostic>> {
    std::thread::scope(|s| {
        let spawned = std::thread::Builder::new()
            .name("sentrie-fmt".to_string())
            .stack_size(FORMAT_STACK)
            .spawn_scoped(s, || format_on_this_stack(src));
        let failed = |what: String| Err(vec![Diagnostic::error(what, Span::new(FileId(0), 0, 0))]);
        match spawned {
            Ok(h) => h
                .join()
                .unwrap_or_else(|_| failed("internal error: the formatter crashed".to_string())),
            Err(e) => failed(format!("cannot start the formatter thread: {e}")),
        }
    })
}

fn format_on_this_stack(src: &str) -> Result<String, Vec<Diagnostic>> {
    let (tree, diags) = parse_file(FileId(0), src);
    let errors: Vec<Diagnostic> = diags
        .into_iter()
        .filter(|d| d.severity == Severity::Error)
        .collect();
    match tree {
        Some(tree) if errors.is_empty() => Ok(Printer::new(src).file(&tree)),
        _ => Err(errors),
    }
}

pub(crate) struct Printer<'s> {
    src: &'s str,
    comments: Vec<Comment>,
    /// The first comment not yet printed.
    next: usize,
    /// Leave out the parentheses kept only for the reader (`(a and b) or c`): set while a rule
    /// body after `default`/`when` is printed again because it would start with one.
    plain_parens: bool,
}

fn pad(level: usize) -> String {
    "  ".repeat(level)
}

impl<'s> Printer<'s> {
    fn new(src: &'s str) -> Printer<'s> {
        Printer {
            src,
            comments: comments::scan(src),
            next: 0,
            plain_parens: false,
        }
    }

    fn file(mut self, file: &File) -> String {
        let mut buf = String::new();
        let out = &mut buf;
        if let Some(ns) = &file.namespace {
            self.leading(out, ns.span.start as usize, 0);
            out.push_str(&format!("namespace {}", fqn(ns)));
            self.trailing(out, ns.span.end as usize);
            out.push('\n');
        }
        let mut prev_big = true;
        for decl in &file.decls {
            let span = top_span(decl);
            // A blank line around policies and shape models; elsewhere where the author left one.
            let big = matches!(decl, TopDecl::Policy(_))
                || matches!(decl, TopDecl::Shape(s) if is_model(s));
            if big || prev_big || comments::blank_line_before(self.src, self.item_start(span)) {
                out.push('\n');
            }
            prev_big = big;
            self.leading(out, span.start as usize, 0);
            // Policies and shape models place the comments between their members; other
            // declarations are kept as written when a comment sits inside them.
            match decl {
                TopDecl::Policy(p) => self.policy(out, p),
                TopDecl::Shape(s) if is_model(s) => self.shape(out, s, 0),
                _ if self.verbatim_if_needed(out, span, &[]) => {}
                TopDecl::Shape(s) => self.shape(out, s, 0),
                TopDecl::ExportShape(n) => out.push_str(&format!("export shape {}", n.text)),
                TopDecl::Namespace(ns) => out.push_str(&format!("namespace {}", fqn(ns))),
            }
            self.trailing(out, span.end as usize);
            out.push('\n');
        }
        // Comments after the last declaration (or a file of comments only).
        if let Some(c) = self.comments.get(self.next) {
            if !out.is_empty() && comments::blank_line_before(self.src, c.start) {
                out.push('\n');
            }
            self.leading(out, self.src.len() + 1, 0);
        }
        buf
    }

    // ---- comments ----

    fn text(&self, c: Comment) -> &'s str {
        &self.src[c.start..c.end]
    }

    /// Prints, one per line at `level`, the comments that start before `pos`; keeps one empty
    /// line between them, and before `pos`, where the source had one.
    fn leading(&mut self, out: &mut String, pos: usize, level: usize) {
        let mut first = true;
        while let Some(c) = self.comments.get(self.next).copied() {
            if c.start >= pos {
                break;
            }
            if !first && comments::blank_line_before(self.src, c.start) {
                out.push('\n');
            }
            first = false;
            out.push_str(&pad(level));
            out.push_str(self.text(c));
            out.push('\n');
            self.next += 1;
        }
        if !first && pos <= self.src.len() && comments::blank_line_before(self.src, pos) {
            out.push('\n');
        }
    }

    /// A comment on the same line right after `end` is kept at the end of that line.
    fn trailing(&mut self, out: &mut String, end: usize) {
        if let Some(c) = self.comments.get(self.next).copied() {
            if c.start >= end && comments::same_line(self.src, end, c.start) {
                out.push(' ');
                out.push_str(self.text(c));
                self.next += 1;
            }
        }
    }

    /// True when a comment not yet printed starts inside `span`.
    fn has_comment_in(&self, span: Span) -> bool {
        self.comments[self.next..]
            .iter()
            .take_while(|c| c.start < span.end as usize)
            .any(|c| c.start >= span.start as usize)
    }

    /// Prints the item spanning `span` exactly as written when it holds a heredoc or a comment
    /// outside the blocks of `exprs` (blocks place their own comments). Returns whether it did.
    fn verbatim_if_needed(&mut self, out: &mut String, span: Span, exprs: &[&Expr]) -> bool {
        let (start, end) = (span.start as usize, span.end as usize);
        let mut blocks = Vec::new();
        for e in exprs {
            expr::outer_blocks(e, &mut blocks);
        }
        let loose = self.comments[self.next..]
            .iter()
            .take_while(|c| c.start < end)
            .any(|c| {
                c.start >= start
                    && !blocks
                        .iter()
                        .any(|b| c.start > b.start as usize && c.start < b.end as usize)
            });
        let heredoc = exprs.iter().any(|e| expr::has_heredoc(e, self.src));
        if !loose && !heredoc {
            return false;
        }
        out.push_str(&self.src[start..end]);
        while self.comments.get(self.next).is_some_and(|c| c.start < end) {
            self.next += 1;
        }
        true
    }

    // ---- declarations ----

    fn policy(&mut self, out: &mut String, p: &Policy) {
        out.push_str(&format!("policy {} {{\n", p.name.text));
        let mut first = true;
        for stmt in &p.stmts {
            let span = stmt.span();
            if !first && comments::blank_line_before(self.src, self.item_start(span)) {
                out.push('\n');
            }
            self.leading(out, span.start as usize, 1);
            first = false;
            out.push_str(&pad(1));
            let model = matches!(stmt, PolicyStmt::Shape(s) if is_model(s));
            if model || !self.verbatim_if_needed(out, span, &stmt_exprs(stmt)) {
                self.stmt(out, stmt, 1);
            }
            self.trailing(out, span.end as usize);
            out.push('\n');
        }
        self.leading(out, p.span.end as usize, 1);
        out.push('}');
    }

    /// Where an item's run of leading comments begins (for blank-line decisions).
    fn item_start(&self, span: Span) -> usize {
        match self.comments.get(self.next) {
            Some(c) if c.start < span.start as usize => c.start,
            _ => span.start as usize,
        }
    }

    fn stmt(&mut self, out: &mut String, stmt: &PolicyStmt, level: usize) {
        match stmt {
            PolicyStmt::Fact(f) => self.fact(out, f, level),
            PolicyStmt::Use(u) => self.use_decl(out, u),
            PolicyStmt::Let(l) => self.let_decl(out, l, level),
            PolicyStmt::Rule(r) => self.rule(out, r, level),
            PolicyStmt::Export(e) => self.export(out, e, level),
            PolicyStmt::Shape(s) => self.shape(out, s, level),
        }
    }

    fn fact(&mut self, out: &mut String, f: &FactDecl, level: usize) {
        let marker = match f.marker {
            FactMarker::None => "",
            FactMarker::Required => "!",
            FactMarker::Optional => "?",
        };
        let mut head = format!("fact {}{marker}: {}", f.name.text, type_ref(&f.ty));
        if let Some(alias) = &f.alias {
            head.push_str(&format!(" as {}", alias.text));
        }
        if let Some(d) = &f.default {
            head.push_str(" default ");
            let col = level * 2 + head.chars().count();
            let v = self.expr(d, level, col);
            head.push_str(&v);
        }
        out.push_str(&head);
    }

    fn use_decl(&mut self, out: &mut String, u: &UseDecl) {
        let names: Vec<&str> = u.names.iter().map(|n| n.text.as_str()).collect();
        let source = match &u.source {
            ModuleSource::At(segments) => {
                let parts: Vec<&str> = segments.iter().map(|n| n.text.as_str()).collect();
                format!("@{}", parts.join("/"))
            }
            ModuleSource::Quoted(s) => quote(s),
        };
        out.push_str(&format!("use {{ {} }} from {source}", names.join(", ")));
        if let Some(alias) = &u.alias {
            out.push_str(&format!(" as {}", alias.text));
        }
    }

    fn let_decl(&mut self, out: &mut String, l: &LetDecl, level: usize) {
        let mut head = format!("let {}", l.name.text);
        if let Some(ty) = &l.ty {
            head.push_str(&format!(": {}", type_ref(ty)));
        }
        head.push_str(" = ");
        let col = level * 2 + head.chars().count();
        let v = self.body_expr(&l.value, level, col);
        out.push_str(&head);
        out.push_str(&v);
    }

    fn rule(&mut self, out: &mut String, r: &RuleDecl, level: usize) {
        let mut head = format!("rule {} = ", r.name.text);
        if let Some(d) = &r.default {
            head.push_str("default ");
            let col = level * 2 + head.chars().count();
            let v = self.expr(d, level, col);
            head.push_str(&v);
            head.push(' ');
        }
        if let Some(w) = &r.when {
            head.push_str("when ");
            let col = last_line_len(&head, level);
            let v = self.expr(w, level, col);
            head.push_str(&v);
            head.push(' ');
        }
        let col = last_line_len(&head, level);
        match &r.body {
            RuleBody::Expr(e) => {
                let mut v = self.body_expr(e, level, col);
                // After `default`/`when` a body may not start with `(`: print it again without
                // the parentheses that are there only for the reader.
                if (r.default.is_some() || r.when.is_some()) && v.starts_with('(') {
                    self.plain_parens = true;
                    v = self.body_expr(e, level, col);
                    self.plain_parens = false;
                }
                head.push_str(&v);
            }
            RuleBody::Import(i) => {
                let v = self.import(i, level, col);
                head.push_str(&v);
            }
        }
        out.push_str(&head);
    }

    fn import(&mut self, i: &ImportClause, level: usize, col: usize) -> String {
        let mut out = format!("import decision {} from {}", i.rule.text, fqn(&i.from));
        let withs: Vec<String> = i
            .with
            .iter()
            .map(|(n, e)| {
                let head = format!("with {} as ", n.text);
                let v = self.expr(e, level + 1, (level + 1) * 2 + head.len());
                format!("{head}{v}")
            })
            .collect();
        let one_line: usize = col + out.len() + withs.iter().map(|w| w.len() + 1).sum::<usize>();
        if one_line <= WIDTH && withs.iter().all(|w| !w.contains('\n')) {
            for w in withs {
                out.push(' ');
                out.push_str(&w);
            }
        } else {
            for w in withs {
                out.push('\n');
                out.push_str(&pad(level + 1));
                out.push_str(&w);
            }
        }
        out
    }

    fn export(&mut self, out: &mut String, e: &ExportDecl, level: usize) {
        out.push_str(&format!("export decision of {}", e.rule.text));
        for (name, value) in &e.attachments {
            let head = format!("attach {} as ", name.text);
            let v = self.expr(value, level + 1, (level + 1) * 2 + head.len());
            out.push('\n');
            out.push_str(&pad(level + 1));
            out.push_str(&head);
            out.push_str(&v);
        }
    }

    fn shape(&mut self, out: &mut String, s: &ShapeDecl, level: usize) {
        match &s.body {
            ShapeBody::Alias(ty) => {
                out.push_str(&format!("shape {} {}", s.name.text, type_ref(ty)))
            }
            ShapeBody::Model { with, fields } => {
                out.push_str(&format!("shape {} ", s.name.text));
                if let Some(base) = with {
                    out.push_str(&format!("with {} ", fqn(base)));
                }
                if fields.is_empty() && !self.has_comment_in(s.span) {
                    out.push_str("{}");
                    return;
                }
                out.push_str("{\n");
                let mut first = true;
                for f in fields {
                    if !first && comments::blank_line_before(self.src, self.item_start(f.span)) {
                        out.push('\n');
                    }
                    self.leading(out, f.span.start as usize, level + 1);
                    first = false;
                    out.push_str(&pad(level + 1));
                    if !self.verbatim_if_needed(out, f.span, &[]) {
                        out.push_str(&field(f));
                    }
                    self.trailing(out, f.span.end as usize);
                    out.push('\n');
                }
                self.leading(out, s.span.end as usize, level + 1);
                out.push_str(&pad(level));
                out.push('}');
            }
        }
    }
}

fn last_line_len(s: &str, level: usize) -> usize {
    match s.rfind('\n') {
        Some(i) => s[i + 1..].chars().count(),
        None => level * 2 + s.chars().count(),
    }
}

fn top_span(d: &TopDecl) -> Span {
    match d {
        TopDecl::Policy(p) => p.span,
        TopDecl::Shape(s) => s.span,
        TopDecl::ExportShape(n) => n.span,
        TopDecl::Namespace(f) => f.span,
    }
}

fn is_model(s: &ShapeDecl) -> bool {
    matches!(s.body, ShapeBody::Model { .. })
}

fn stmt_exprs(stmt: &PolicyStmt) -> Vec<&Expr> {
    match stmt {
        PolicyStmt::Fact(f) => f.default.iter().collect(),
        PolicyStmt::Use(_) | PolicyStmt::Shape(_) => Vec::new(),
        PolicyStmt::Let(l) => vec![&l.value],
        PolicyStmt::Rule(r) => {
            let mut v: Vec<&Expr> = Vec::new();
            v.extend(r.default.as_deref());
            v.extend(r.when.as_deref());
            match &r.body {
                RuleBody::Expr(e) => v.push(e),
                RuleBody::Import(i) => v.extend(i.with.iter().map(|(_, e)| e)),
            }
            v
        }
        PolicyStmt::Export(e) => e.attachments.iter().map(|(_, e)| e).collect(),
    }
}

fn fqn(f: &Fqn) -> String {
    f.joined()
}

fn field(f: &Field) -> String {
    let marks = match (f.bang, f.question) {
        (true, true) => "!?",
        (true, false) => "!",
        (false, true) => "?",
        (false, false) => "",
    };
    format!("{}{marks}: {}", f.name.text, type_ref(&f.ty))
}

pub(crate) fn type_ref(t: &TypeRef) -> String {
    let mut out = match &t.base {
        BaseType::Number => "number".to_string(),
        BaseType::String => "string".to_string(),
        BaseType::Boolean => "boolean".to_string(),
        BaseType::Trinary => "trinary".to_string(),
        BaseType::Document => "document".to_string(),
        BaseType::List(inner) => format!("list[{}]", type_ref(inner)),
        BaseType::Map(inner) => format!("map[{}]", type_ref(inner)),
        BaseType::Record(items) => {
            let parts: Vec<String> = items.iter().map(type_ref).collect();
            format!("record[{}]", parts.join(", "))
        }
        BaseType::Named(f) => fqn(f),
    };
    for c in &t.constraints {
        out.push_str(&format!(" @{}", c.name.text));
        if !c.args.is_empty() {
            let args: Vec<String> = c.args.iter().map(const_arg).collect();
            out.push_str(&format!("({})", args.join(", ")));
        }
    }
    out
}

fn const_arg(a: &ConstArg) -> String {
    match a {
        ConstArg::Number(n) => number(*n),
        ConstArg::String(s) => quote(s),
        ConstArg::Bool(b) => b.to_string(),
        ConstArg::Unknown => "unknown".to_string(),
        ConstArg::Null => "null".to_string(),
        ConstArg::List(items) => {
            let parts: Vec<String> = items.iter().map(const_arg).collect();
            format!("[{}]", parts.join(", "))
        }
        ConstArg::Map(entries) => {
            let parts: Vec<String> = entries
                .iter()
                .map(|(k, v)| format!("{}: {}", quote(k), const_arg(v)))
                .collect();
            format!("{{{}}}", parts.join(", "))
        }
    }
}

/// A number as source text that reads back as the same value.
pub(crate) fn number(n: f64) -> String {
    if n < 0.0 || (n == 0.0 && n.is_sign_negative()) {
        return format!("-{}", number(-n));
    }
    if n.fract() == 0.0 && n < 1e15 {
        format!("{}", n as u64)
    } else {
        format!("{n}")
    }
}

/// A string literal for `s`, escaped so that the lexer reads back exactly `s`.
pub(crate) fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

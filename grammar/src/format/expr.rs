//! Expressions: precedence-aware printing (parentheses only where the grammar needs them) and
//! the choice between one line and a broken layout.

use super::{comments, number, pad, quote, type_ref, Printer, WIDTH};
use crate::ast::{BinOp, Block, Expr, ExprKind, MapKey, Quant, UnOp};
use crate::span::Span;

/// Binding strength of an expression's outermost form (higher binds tighter).
fn prec(e: &Expr) -> u8 {
    match &e.kind {
        ExprKind::Cond { .. } => 0,
        ExprKind::Binary(op, _, _) => op_level(*op),
        ExprKind::IsDefined { .. } | ExprKind::IsEmpty { .. } => 4,
        ExprKind::Unary(..)
        | ExprKind::Count(_)
        | ExprKind::Quant(_)
        | ExprKind::Distinct(_)
        | ExprKind::Reduce(_)
        | ExprKind::Cast(..) => 8,
        ExprKind::Field(..) | ExprKind::Index(..) | ExprKind::Call { .. } => 9,
        _ => 10,
    }
}

fn op_level(op: BinOp) -> u8 {
    match op {
        BinOp::Or => 1,
        BinOp::Xor => 2,
        BinOp::And => 3,
        BinOp::Eq | BinOp::Ne | BinOp::Is | BinOp::IsNot => 4,
        BinOp::Lt
        | BinOp::Le
        | BinOp::Gt
        | BinOp::Ge
        | BinOp::In
        | BinOp::NotIn
        | BinOp::Contains
        | BinOp::NotContains
        | BinOp::Matches
        | BinOp::NotMatches => 5,
        BinOp::Add | BinOp::Sub => 6,
        BinOp::Mul | BinOp::Div | BinOp::Mod => 7,
    }
}

/// The prefix forms that end with a body or a type (`any … as x (…)`, `cast … as T`).
fn is_form(e: &Expr) -> bool {
    matches!(
        e.kind,
        ExprKind::Quant(_) | ExprKind::Distinct(_) | ExprKind::Reduce(_) | ExprKind::Cast(..)
    )
}

/// An atom followed by field, index and call suffixes: the only thing that can be called.
fn atom_rooted(e: &Expr) -> bool {
    match &e.kind {
        ExprKind::Field(b, _) | ExprKind::Index(b, _) => atom_rooted(b),
        ExprKind::Call { callee, .. } => atom_rooted(callee),
        _ => prec(e) == 10,
    }
}

/// Parentheses kept for the reader although precedence makes them redundant: `and` or `xor`
/// inside `or`, `and` inside `xor`.
fn clarify(op: BinOp, operand: &Expr) -> bool {
    match (&operand.kind, op) {
        (ExprKind::Binary(inner, _, _), BinOp::Or) => matches!(inner, BinOp::And | BinOp::Xor),
        (ExprKind::Binary(inner, _, _), BinOp::Xor) => *inner == BinOp::And,
        _ => false,
    }
}

/// True when the printed expression ends with a cast's type name, which a following `/` and
/// name would extend.
fn ends_with_cast(e: &Expr) -> bool {
    match &e.kind {
        ExprKind::Cast(..) => true,
        ExprKind::Unary(_, x) | ExprKind::Count(x) => ends_with_cast(x),
        ExprKind::Binary(_, _, b) => ends_with_cast(b),
        ExprKind::Cond { other, .. } => ends_with_cast(other),
        _ => false,
    }
}

/// True when `text` starts with a word that would continue a cast's type name after `/`.
fn starts_type_word(text: &str) -> bool {
    const OPERAND_WORDS: [&str; 13] = [
        "not", "true", "false", "unknown", "null", "cast", "any", "all", "filter", "first", "map",
        "distinct", "reduce",
    ];
    let word: String = text
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    word.chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && !OPERAND_WORDS.contains(&word.as_str())
}

fn starts_with_word(text: &str, word: &str) -> bool {
    text.strip_prefix(word)
        .is_some_and(|rest| !rest.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_'))
}

fn paren(text: String, yes: bool) -> String {
    if yes {
        format!("({text})")
    } else {
        text
    }
}

fn quant_word(q: Quant) -> &'static str {
    match q {
        Quant::Any => "any",
        Quant::All => "all",
        Quant::Filter => "filter",
        Quant::First => "first",
        Quant::Map => "map",
    }
}

fn last_line_width(s: &str, col: usize) -> usize {
    match s.rfind('\n') {
        Some(i) => s[i + 1..].chars().count(),
        None => col + s.chars().count(),
    }
}

/// The outermost blocks inside `e` (they print the comments between their items).
pub(super) fn outer_blocks(e: &Expr, out: &mut Vec<Span>) {
    if let ExprKind::Block(b) = &e.kind {
        out.push(b.span);
        return;
    }
    each_child(e, &mut |c| outer_blocks(c, out));
}

/// True when a string literal inside `e` is a heredoc (kept as written).
pub(super) fn has_heredoc(e: &Expr, src: &str) -> bool {
    if let ExprKind::String(_) = e.kind {
        return src
            .get(e.span.start as usize..)
            .is_some_and(|s| s.starts_with("<<<"));
    }
    let mut found = false;
    each_child(e, &mut |c| found = found || has_heredoc(c, src));
    found
}

fn each_child(e: &Expr, f: &mut dyn FnMut(&Expr)) {
    match &e.kind {
        ExprKind::List(items) => items.iter().for_each(f),
        ExprKind::Map(entries) => {
            for (k, v) in entries {
                if let MapKey::Expr(k) = k {
                    f(k);
                }
                f(v);
            }
        }
        ExprKind::Block(b) => {
            b.lets.iter().for_each(|l| f(&l.value));
            f(&b.yield_expr);
        }
        ExprKind::Field(x, _)
        | ExprKind::Unary(_, x)
        | ExprKind::Count(x)
        | ExprKind::Cast(x, _)
        | ExprKind::IsDefined { expr: x, .. }
        | ExprKind::IsEmpty { expr: x, .. } => f(x),
        ExprKind::Index(a, b) | ExprKind::Binary(_, a, b) => {
            f(a);
            f(b);
        }
        ExprKind::Call { callee, args, .. } => {
            f(callee);
            args.iter().for_each(f);
        }
        ExprKind::Cond { cond, then, other } => {
            f(cond);
            if let Some(t) = then {
                f(t);
            }
            f(other);
        }
        ExprKind::Quant(q) => {
            f(&q.coll);
            f(&q.body);
        }
        ExprKind::Distinct(d) => {
            f(&d.coll);
            f(&d.body);
        }
        ExprKind::Reduce(r) => {
            f(&r.coll);
            f(&r.init);
            f(&r.body);
        }
        _ => {}
    }
}

impl Printer<'_> {
    /// `e` printed starting at column `col` of a line indented `level` times: on one line when
    /// it fits and holds no comment, else broken.
    pub(super) fn expr(&mut self, e: &Expr, level: usize, col: usize) -> String {
        if !self.has_comment_in(e.span) {
            let flat = self.render(e, level, col, true);
            if !flat.contains('\n') && col + flat.chars().count() <= WIDTH {
                return flat;
            }
        }
        self.render(e, level, col, false)
    }

    /// A rule body or `let` value: a block there is always broken over lines.
    /// [`clarify`], unless the optional parentheses are left out (see `plain_parens`).
    fn clarify(&self, op: BinOp, operand: &Expr) -> bool {
        !self.plain_parens && clarify(op, operand)
    }

    pub(super) fn body_expr(&mut self, e: &Expr, level: usize, col: usize) -> String {
        match &e.kind {
            ExprKind::Block(b) => self.block(b, level),
            _ => self.expr(e, level, col),
        }
    }

    /// A sub-expression: flat when the parent is flat, else laid out on its own.
    fn sub(&mut self, e: &Expr, level: usize, col: usize, flat: bool) -> String {
        if flat {
            self.render(e, level, col, true)
        } else {
            self.expr(e, level, col)
        }
    }

    fn sub_paren(&mut self, e: &Expr, yes: bool, level: usize, col: usize, flat: bool) -> String {
        let inner = self.sub(e, level, col + usize::from(yes), flat);
        paren(inner, yes)
    }

    fn render(&mut self, e: &Expr, level: usize, col: usize, flat: bool) -> String {
        match &e.kind {
            ExprKind::Number(_) | ExprKind::String(_) => self
                .src
                .get(e.span.start as usize..e.span.end as usize)
                .unwrap_or_default()
                .to_string(),
            ExprKind::Bool(b) => b.to_string(),
            ExprKind::Unknown => "unknown".into(),
            ExprKind::Null => "null".into(),
            ExprKind::Ident(name) => name.clone(),
            ExprKind::Error => "unknown".into(),
            ExprKind::List(items) => {
                let parts: Vec<&Expr> = items.iter().collect();
                self.sequence("[", "]", &parts, &[], level, col, flat)
            }
            ExprKind::Map(entries) => {
                let keys: Vec<String> = entries
                    .iter()
                    .map(|(k, _)| match k {
                        MapKey::Name(n) => quote(n),
                        MapKey::Expr(k) => format!("[{}]", self.sub(k, level + 1, col, flat)),
                    })
                    .map(|k| format!("{k}: "))
                    .collect();
                let values: Vec<&Expr> = entries.iter().map(|(_, v)| v).collect();
                self.sequence("{", "}", &values, &keys, level, col, flat)
            }
            ExprKind::Block(b) => {
                if !flat {
                    self.block(b, level)
                } else if b.lets.is_empty() {
                    let y = self.render(&b.yield_expr, level, col + 8, true);
                    format!("{{ yield {y} }}")
                } else {
                    // A block with lets never fits on one line; trial renderings stay pure
                    // (they must not take comments), so only say that it is several lines.
                    "{\n}".to_string()
                }
            }
            ExprKind::Field(base, name) => {
                let p = !(prec(base) >= 9 || is_form(base));
                let b = self.sub_paren(base, p, level, col, flat);
                format!("{b}.{}", name.text)
            }
            ExprKind::Index(base, index) => {
                let p = !(prec(base) >= 9 || is_form(base));
                let b = self.sub_paren(base, p, level, col, flat);
                let c = last_line_width(&b, col) + 1;
                let i = self.sub(index, level, c, flat);
                format!("{b}[{i}]")
            }
            ExprKind::Call { callee, args, memo } => {
                let p = !atom_rooted(callee);
                let c = self.sub_paren(callee, p, level, col, flat);
                let at = last_line_width(&c, col);
                let parts: Vec<&Expr> = args.iter().collect();
                let a = self.sequence("(", ")", &parts, &[], level, at, flat);
                let m = match memo {
                    None => String::new(),
                    Some(None) => "!".into(),
                    Some(Some(n)) => format!("!{}", number(*n)),
                };
                format!("{c}{a}{m}")
            }
            ExprKind::Unary(op, x) => {
                let word = match op {
                    UnOp::Not => "not ",
                    UnOp::Neg => "-",
                    UnOp::Plus => "+",
                };
                let inner = self.sub_paren(x, prec(x) < 8, level, col + word.len(), flat);
                let space = if *op != UnOp::Not && inner.starts_with(['-', '+']) {
                    " "
                } else {
                    ""
                };
                format!("{word}{space}{inner}")
            }
            ExprKind::Count(x) => {
                let inner = self.sub(x, level, col + 6, flat);
                format!("count {inner}")
            }
            ExprKind::IsDefined { expr, negated } | ExprKind::IsEmpty { expr, negated } => {
                let inner = self.sub_paren(expr, prec(expr) < 4, level, col, flat);
                let not = if *negated { " not" } else { "" };
                let what = if matches!(e.kind, ExprKind::IsDefined { .. }) {
                    "defined"
                } else {
                    "empty"
                };
                format!("{inner} is{not} {what}")
            }
            ExprKind::Binary(op, a, b) => self.binary(*op, a, b, level, col, flat),
            ExprKind::Cond { .. } => self.cond(e, level, col, flat),
            ExprKind::Quant(q) => {
                let mut head = format!("{} ", quant_word(q.kind));
                head.push_str(&self.sub_paren(&q.coll, is_form(&q.coll), level, col, flat));
                head.push_str(&format!(" as {}", q.var.text));
                if let Some(i) = &q.index {
                    head.push_str(&format!(", {}", i.text));
                }
                self.with_body(head, &q.body, level, col, flat)
            }
            ExprKind::Distinct(d) => {
                let mut head = "distinct ".to_string();
                head.push_str(&self.sub_paren(&d.coll, is_form(&d.coll), level, col, flat));
                head.push_str(&format!(" as {}, {}", d.left.text, d.right.text));
                self.with_body(head, &d.body, level, col, flat)
            }
            ExprKind::Reduce(r) => {
                let mut head = "reduce ".to_string();
                head.push_str(&self.sub_paren(&r.coll, is_form(&r.coll), level, col, flat));
                head.push_str(" from ");
                let at = last_line_width(&head, col);
                head.push_str(&self.sub_paren(&r.init, is_form(&r.init), level, at, flat));
                head.push_str(&format!(" as {}, {}", r.acc.text, r.var.text));
                if let Some(i) = &r.index {
                    head.push_str(&format!(", {}", i.text));
                }
                self.with_body(head, &r.body, level, col, flat)
            }
            ExprKind::Cast(x, ty) => {
                let inner = self.sub_paren(x, is_form(x), level, col + 5, flat);
                format!("cast {inner} as {}", type_ref(ty))
            }
        }
    }

    /// `head BODY`: a block, or an expression in parentheses.
    fn with_body(
        &mut self,
        head: String,
        body: &Expr,
        level: usize,
        col: usize,
        flat: bool,
    ) -> String {
        let at = last_line_width(&head, col) + 1;
        let b = match &body.kind {
            ExprKind::Block(_) => self.sub(body, level, at, flat),
            _ => {
                let inline = self.render(body, level + 1, at + 1, true);
                let fits = !inline.contains('\n') && at + inline.chars().count() + 2 <= WIDTH;
                if flat || (fits && !self.has_comment_in(body.span)) {
                    format!("({inline})")
                } else {
                    // The body on its own lines: `(`, the expression one level in, `)`.
                    let inner = self.expr(body, level + 1, (level + 1) * 2);
                    format!("(\n{}{inner}\n{})", pad(level + 1), pad(level))
                }
            }
        };
        format!("{head} {b}")
    }

    fn binary(
        &mut self,
        op: BinOp,
        a: &Expr,
        b: &Expr,
        level: usize,
        col: usize,
        flat: bool,
    ) -> String {
        let lv = op_level(op);
        // The right side first: whether the left needs parentheses can depend on it.
        let right_flat = self.render(b, level + 1, 0, true);
        // After a cast's type name, `/ name` would extend the name: the right operand is put
        // in parentheses (not the left one, whose parenthesis could open a rule body, where
        // a body may not start with `(`).
        let right_paren = prec(b) <= lv
            || self.clarify(op, b)
            || (op == BinOp::Is && starts_with_word(&right_flat, "not"))
            || (op == BinOp::Div && ends_with_cast(a) && starts_type_word(&right_flat));
        let left_paren = prec(a) < lv || self.clarify(op, a);
        let word = op.symbol();
        let logical = matches!(op, BinOp::And | BinOp::Or | BinOp::Xor);
        if !flat && logical {
            // One operand per line: flatten the left-leaning chain of the same operator.
            let mut operands = vec![b];
            let mut first = a;
            while let ExprKind::Binary(inner, x, y) = &first.kind {
                if *inner != op {
                    break;
                }
                operands.push(y);
                first = x;
            }
            operands.reverse();
            let p = prec(first) < lv || self.clarify(op, first);
            let mut out = self.sub_paren(first, p, level, col, false);
            for o in operands {
                let at = (level + 1) * 2 + word.len() + 1;
                let p = prec(o) <= lv || self.clarify(op, o);
                let text = self.sub_paren(o, p, level + 1, at, false);
                out.push('\n');
                out.push_str(&pad(level + 1));
                out.push_str(&format!("{word} {text}"));
            }
            return out;
        }
        let left = self.sub_paren(a, left_paren, level, col, flat);
        let at = last_line_width(&left, col) + word.len() + 2;
        let first_line = right_flat.lines().next().map_or(0, |l| l.chars().count());
        if flat || at + first_line + 2 * usize::from(right_paren) <= WIDTH {
            let right = self.sub_paren(b, right_paren, level, at, flat);
            return format!("{left} {word} {right}");
        }
        let at = (level + 1) * 2 + word.len() + 1;
        let right = self.sub_paren(b, right_paren, level + 1, at, false);
        format!("{left}\n{}{word} {right}", pad(level + 1))
    }

    /// `c ? a : b`; broken, a chain of conditions puts each `: c ? a` on its own line.
    fn cond(&mut self, e: &Expr, level: usize, col: usize, flat: bool) -> String {
        let mut arms: Vec<(&Expr, Option<&Expr>)> = Vec::new();
        let mut cur = e;
        while let ExprKind::Cond { cond, then, other } = &cur.kind {
            arms.push((cond, then.as_deref()));
            cur = other;
        }
        let mut pieces: Vec<String> = Vec::with_capacity(arms.len() + 1);
        let mut sep = "";
        for (i, (c, t)) in arms.iter().enumerate() {
            let (lvl, start) = if i == 0 {
                (level, col)
            } else {
                (level + 1, (level + 1) * 2)
            };
            let mut piece = sep.to_string();
            let at = start + sep.len();
            piece.push_str(&self.sub_paren(c, prec(c) < 1, lvl, at, flat));
            match t {
                Some(t) => {
                    let at = last_line_width(&piece, start) + 3;
                    piece.push_str(" ? ");
                    piece.push_str(&self.sub(t, level + 1, at, flat));
                    sep = ": ";
                }
                None => sep = "?: ",
            }
            pieces.push(piece);
        }
        let mut last = sep.to_string();
        last.push_str(&self.sub(cur, level + 1, (level + 1) * 2 + sep.len(), flat));
        pieces.push(last);
        if flat {
            pieces.join(" ")
        } else {
            pieces.join(&format!("\n{}", pad(level + 1)))
        }
    }

    /// `open a, b, c close` on one line, or one element per line with trailing commas.
    #[allow(clippy::too_many_arguments)]
    fn sequence(
        &mut self,
        open: &str,
        close: &str,
        items: &[&Expr],
        prefixes: &[String],
        level: usize,
        col: usize,
        flat: bool,
    ) -> String {
        let prefix = |i: usize| prefixes.get(i).map_or("", String::as_str);
        if flat || items.is_empty() {
            let mut parts = Vec::with_capacity(items.len());
            let mut at = col + open.len();
            for (i, item) in items.iter().enumerate() {
                let text = format!("{}{}", prefix(i), self.sub(item, level, at, flat));
                at = last_line_width(&text, at) + 2;
                parts.push(text);
            }
            return format!("{open}{}{close}", parts.join(", "));
        }
        let mut out = format!("{open}\n");
        for (i, item) in items.iter().enumerate() {
            let p = prefix(i);
            let at = (level + 1) * 2 + p.chars().count();
            let text = self.expr(item, level + 1, at);
            out.push_str(&pad(level + 1));
            out.push_str(p);
            out.push_str(&text);
            out.push_str(",\n");
        }
        out.push_str(&pad(level));
        out.push_str(close);
        out
    }

    /// A block over several lines, with the comments between its items.
    pub(super) fn block(&mut self, b: &Block, level: usize) -> String {
        let mut out = String::from("{\n");
        let inner = level + 1;
        let mut first = true;
        for l in &b.lets {
            self.block_item_start(&mut out, l.span, inner, first);
            first = false;
            let exprs = [&l.value];
            if !self.verbatim_if_needed(&mut out, l.span, &exprs) {
                let mut head = format!("let {}", l.name.text);
                if let Some(ty) = &l.ty {
                    head.push_str(&format!(": {}", type_ref(ty)));
                }
                head.push_str(" = ");
                let col = inner * 2 + head.chars().count();
                let v = self.body_expr(&l.value, inner, col);
                out.push_str(&head);
                out.push_str(&v);
            }
            self.trailing(&mut out, l.span.end as usize);
            out.push('\n');
        }
        let y = &b.yield_expr;
        // The yield item starts at its keyword, the nearest `yield` before the expression.
        let at = self.src[..y.span.start as usize]
            .rfind("yield")
            .unwrap_or(y.span.start as usize);
        let item = Span::new(y.span.file, at, y.span.end as usize);
        self.block_item_start(&mut out, item, inner, first);
        if !self.verbatim_if_needed(&mut out, item, &[y]) {
            let v = self.expr(y, inner, inner * 2 + 6);
            out.push_str("yield ");
            out.push_str(&v);
        }
        self.trailing(&mut out, y.span.end as usize);
        out.push('\n');
        self.leading(&mut out, b.span.end as usize, inner);
        out.push_str(&pad(level));
        out.push('}');
        out
    }

    fn block_item_start(&mut self, out: &mut String, span: Span, level: usize, first: bool) {
        if !first && comments::blank_line_before(self.src, self.item_start(span)) {
            out.push('\n');
        }
        self.leading(out, span.start as usize, level);
        out.push_str(&pad(level));
    }
}

//! The syntax tree produced by the parser. Every node carries a byte [`Span`].
//!
//! The tree is deliberately close to the source: names are plain strings, nothing is
//! resolved. The compiler turns it into ids.

use crate::span::Span;

/// An identifier or keyword used as a name, with its span.
#[derive(Clone, Debug, PartialEq)]
pub struct Name {
    pub text: String,
    pub span: Span,
}

/// A `/`-separated fully qualified name such as `com/example/auth`.
#[derive(Clone, Debug, PartialEq)]
pub struct Fqn {
    pub segments: Vec<Name>,
    pub span: Span,
}

impl Fqn {
    pub fn joined(&self) -> String {
        let parts: Vec<&str> = self.segments.iter().map(|n| n.text.as_str()).collect();
        parts.join("/")
    }
}

/// One parsed `.sentrie` file. `namespace` is `None` only for empty or comment-only files.
#[derive(Clone, Debug, PartialEq)]
pub struct File {
    pub namespace: Option<Fqn>,
    pub decls: Vec<TopDecl>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum TopDecl {
    Policy(Policy),
    Shape(ShapeDecl),
    ExportShape(Name),
    /// A second `namespace` declaration (rejected by the checker with a clear message).
    Namespace(Fqn),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Policy {
    pub name: Name,
    pub stmts: Vec<PolicyStmt>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum PolicyStmt {
    Fact(Box<FactDecl>),
    Use(Box<UseDecl>),
    Let(Box<LetDecl>),
    Rule(Box<RuleDecl>),
    Export(Box<ExportDecl>),
    Shape(Box<ShapeDecl>),
}

impl PolicyStmt {
    pub fn span(&self) -> Span {
        match self {
            PolicyStmt::Fact(f) => f.span,
            PolicyStmt::Use(u) => u.span,
            PolicyStmt::Let(l) => l.span,
            PolicyStmt::Rule(r) => r.span,
            PolicyStmt::Export(e) => e.span,
            PolicyStmt::Shape(s) => s.span,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FactMarker {
    None,
    Required,
    Optional,
}

#[derive(Clone, Debug, PartialEq)]
pub struct FactDecl {
    pub name: Name,
    pub marker: FactMarker,
    pub ty: TypeRef,
    pub alias: Option<Name>,
    pub default: Option<Expr>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ModuleSource {
    /// `@a/b/c` written without quotes: the segments after `@`.
    At(Vec<Name>),
    /// A quoted source string.
    Quoted(String),
}

#[derive(Clone, Debug, PartialEq)]
pub struct UseDecl {
    pub names: Vec<Name>,
    pub source: ModuleSource,
    pub source_span: Span,
    pub alias: Option<Name>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct LetDecl {
    pub name: Name,
    pub ty: Option<TypeRef>,
    pub value: Expr,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct RuleDecl {
    pub name: Name,
    pub default: Option<Box<Expr>>,
    pub when: Option<Box<Expr>>,
    pub body: RuleBody,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum RuleBody {
    Expr(Box<Expr>),
    Import(Box<ImportClause>),
}

#[derive(Clone, Debug, PartialEq)]
pub struct ImportClause {
    pub rule: Name,
    pub from: Fqn,
    pub with: Vec<(Name, Expr)>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ExportDecl {
    pub rule: Name,
    pub attachments: Vec<(Name, Expr)>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ShapeDecl {
    pub name: Name,
    pub body: ShapeBody,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ShapeBody {
    Alias(TypeRef),
    Model {
        with: Option<Fqn>,
        fields: Vec<Field>,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub struct Field {
    pub name: Name,
    /// `!` present: the field may not be `null`.
    pub bang: bool,
    /// `?` present: the field may be absent.
    pub question: bool,
    pub ty: TypeRef,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct TypeRef {
    pub base: BaseType,
    pub constraints: Vec<Constraint>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum BaseType {
    Number,
    String,
    Boolean,
    Trinary,
    Document,
    List(Box<TypeRef>),
    Map(Box<TypeRef>),
    Record(Vec<TypeRef>),
    Named(Fqn),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Constraint {
    pub name: Name,
    pub args: Vec<ConstArg>,
    pub span: Span,
}

/// A literal argument of a constraint.
#[derive(Clone, Debug, PartialEq)]
pub enum ConstArg {
    Number(f64),
    String(String),
    Bool(bool),
    Unknown,
    Null,
    List(Vec<ConstArg>),
    Map(Vec<(String, ConstArg)>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
    /// `is` when the right side is not a shape: equality.
    Is,
    IsNot,
    In,
    NotIn,
    Contains,
    NotContains,
    Matches,
    NotMatches,
    And,
    Or,
    Xor,
}

impl BinOp {
    pub fn symbol(self) -> &'static str {
        match self {
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::Mod => "%",
            BinOp::Lt => "<",
            BinOp::Le => "<=",
            BinOp::Gt => ">",
            BinOp::Ge => ">=",
            BinOp::Eq => "==",
            BinOp::Ne => "!=",
            BinOp::Is => "is",
            BinOp::IsNot => "is not",
            BinOp::In => "in",
            BinOp::NotIn => "not in",
            BinOp::Contains => "contains",
            BinOp::NotContains => "not contains",
            BinOp::Matches => "matches",
            BinOp::NotMatches => "not matches",
            BinOp::And => "and",
            BinOp::Or => "or",
            BinOp::Xor => "xor",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnOp {
    Not,
    Neg,
    Plus,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Quant {
    Any,
    All,
    Filter,
    First,
    Map,
}

#[derive(Clone, Debug, PartialEq)]
pub enum MapKey {
    Name(String),
    Expr(Expr),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Block {
    pub lets: Vec<LetDecl>,
    pub yield_expr: Box<Expr>,
    pub span: Span,
}

/// `any|all|filter|first|map COLL as VAR[, INDEX] BODY`.
#[derive(Clone, Debug, PartialEq)]
pub struct QuantExpr {
    pub kind: Quant,
    pub coll: Expr,
    pub var: Name,
    pub index: Option<Name>,
    pub body: Expr,
}

/// `distinct COLL as LEFT, RIGHT BODY`.
#[derive(Clone, Debug, PartialEq)]
pub struct DistinctExpr {
    pub coll: Expr,
    pub left: Name,
    pub right: Name,
    pub body: Expr,
}

/// `reduce COLL from INIT as ACC, VAR[, INDEX] BODY`.
#[derive(Clone, Debug, PartialEq)]
pub struct ReduceExpr {
    pub coll: Expr,
    pub init: Expr,
    pub acc: Name,
    pub var: Name,
    pub index: Option<Name>,
    pub body: Expr,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
    /// Height of this node's tree (1 for a leaf); bounded by the parser.
    pub depth: u32,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ExprKind {
    Number(f64),
    String(String),
    Bool(bool),
    Unknown,
    Null,
    Ident(String),
    List(Vec<Expr>),
    Map(Vec<(MapKey, Expr)>),
    Block(Block),
    Field(Box<Expr>, Name),
    Index(Box<Expr>, Box<Expr>),
    Call {
        callee: Box<Expr>,
        args: Vec<Expr>,
        memo: Option<Option<f64>>,
    },
    Unary(UnOp, Box<Expr>),
    Binary(BinOp, Box<Expr>, Box<Expr>),
    IsDefined {
        expr: Box<Expr>,
        negated: bool,
    },
    IsEmpty {
        expr: Box<Expr>,
        negated: bool,
    },
    Cond {
        cond: Box<Expr>,
        then: Option<Box<Expr>>,
        other: Box<Expr>,
    },
    Quant(Box<QuantExpr>),
    Distinct(Box<DistinctExpr>),
    Reduce(Box<ReduceExpr>),
    Cast(Box<Expr>, Box<TypeRef>),
    Count(Box<Expr>),
    /// A placeholder left where a parse error was recovered.
    Error,
}

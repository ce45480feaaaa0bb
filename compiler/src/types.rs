//! Pass 3: types. Resolving type names (LANGUAGE.md §7.6), building shapes with `with`
//! composition, and validating constraints (§8.3–8.8), into `TypeDef`s of the program's type
//! table. [`build`] builds every declared shape and returns [`Types`], the build state of
//! each shape; lowering keeps resolving the type references of facts, lets and casts through
//! a [`TypeResolver`].

use cranelift_entity::SecondaryMap;
use sentrie_grammar::ast::{self, BaseType, ConstArg, ShapeBody};
use sentrie_vm::program::{Const, ConstraintDef, FieldDef, PolicyId, TypeDef, TypeId, TypeKind};

use crate::builder::Builder;
use crate::error::{CompileError, Diag};
use crate::index::{Index, NsId, ShapeId};

/// Where a type name is resolved from.
#[derive(Clone, Copy)]
pub struct TypeCtx {
    pub ns: NsId,
    pub policy: Option<PolicyId>,
}

/// Errors found while resolving one type reference, split by kind (LANGUAGE.md §17.1).
#[derive(Default)]
pub struct TypeErrors {
    /// Name resolution failures: policy errors.
    pub names: Vec<Diag>,
    /// Constraint definition errors: pack errors.
    pub pack: Vec<Diag>,
}

#[derive(Clone, Copy, PartialEq, Default)]
pub enum BuildState {
    #[default]
    Unbuilt,
    Building,
    Built,
}

/// How far one shape got.
#[derive(Clone, Default)]
pub struct ShapeBuild {
    pub state: BuildState,
    /// The first name error in the shape (or in a shape it uses): uses of it fail with it.
    pub error: Option<Diag>,
    /// Shapes it is defined in terms of.
    pub deps: Vec<ShapeId>,
    pub cycle_reported: bool,
}

/// The result of pass 3: the build state of every shape.
#[derive(Default)]
pub struct Types {
    pub shapes: SecondaryMap<ShapeId, ShapeBuild>,
}

/// Runs pass 3: builds every declared shape.
pub fn build<'p>(ix: &Index<'p>, b: &mut Builder<'p>) -> Types {
    let mut types = Types::default();
    TypeResolver {
        ix,
        types: &mut types,
        b,
    }
    .build_shapes();
    types
}

/// Type resolution over the index, writing types into the program under construction.
pub struct TypeResolver<'a, 'p> {
    pub ix: &'a Index<'p>,
    pub types: &'a mut Types,
    pub b: &'a mut Builder<'p>,
}

/// The primitive family a constraint applies to.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Family {
    Number,
    String,
    Trinary,
    List,
    None,
}

impl Family {
    /// The constraints defined for this family (for did-you-mean suggestions).
    fn constraints(self) -> &'static [&'static str] {
        match self {
            Family::Number => &[
                "min",
                "max",
                "gt",
                "lt",
                "gte",
                "lte",
                "eq",
                "neq",
                "in",
                "not_in",
                "range",
                "multiple_of",
                "even",
                "odd",
                "positive",
                "negative",
                "non_negative",
                "non_positive",
                "finite",
                "infinite",
                "nan",
            ],
            Family::String => &[
                "length",
                "minlength",
                "maxlength",
                "not_empty",
                "regexp",
                "starts_with",
                "ends_with",
                "has_substring",
                "not_has_substring",
                "email",
                "url",
                "uuid",
                "alphanumeric",
                "alpha",
                "numeric",
                "lowercase",
                "uppercase",
                "trimmed",
                "one_of",
                "not_one_of",
            ],
            Family::Trinary => &["not_unknown", "is_true", "is_false", "eq", "neq"],
            Family::List => &["length", "minlength", "maxlength", "not_empty"],
            Family::None => &[],
        }
    }

    fn name(self) -> &'static str {
        match self {
            Family::Number => "number",
            Family::String => "string",
            Family::Trinary => "trinary",
            Family::List => "list",
            Family::None => "none",
        }
    }
}

impl<'p> TypeResolver<'_, 'p> {
    /// Resolves a shape name to a shape.
    pub fn resolve_shape(&self, fqn: &ast::Fqn, ctx: TypeCtx) -> Result<ShapeId, Diag> {
        resolve_shape(self.ix, fqn, ctx)
    }

    fn new_type(&mut self, kind: TypeKind, name: String) -> TypeId {
        self.b.program.types.push(TypeDef {
            kind,
            constraints: Vec::new(),
            name,
            declared: None,
        })
    }

    /// Resolves a type reference to a type id, recording errors.
    pub fn type_ref(&mut self, t: &ast::TypeRef, ctx: TypeCtx, errs: &mut TypeErrors) -> TypeId {
        let (base, name) = match &t.base {
            BaseType::Number => (
                self.new_type(TypeKind::Number, "number".into()),
                "number".to_string(),
            ),
            BaseType::String => (
                self.new_type(TypeKind::String, "string".into()),
                "string".to_string(),
            ),
            BaseType::Boolean => (
                self.new_type(TypeKind::Boolean, "boolean".into()),
                "boolean".to_string(),
            ),
            BaseType::Trinary => (
                self.new_type(TypeKind::Trinary, "trinary".into()),
                "trinary".to_string(),
            ),
            BaseType::Document => (
                self.new_type(TypeKind::Document, "document".into()),
                "document".to_string(),
            ),
            BaseType::List(inner) => {
                let i = self.type_ref(inner, ctx, errs);
                let n = format!("list[{}]", self.b.program.types[i].name);
                (self.new_type(TypeKind::List(i), n.clone()), n)
            }
            BaseType::Map(inner) => {
                let i = self.type_ref(inner, ctx, errs);
                let n = format!("map[{}]", self.b.program.types[i].name);
                (self.new_type(TypeKind::Map(i), n.clone()), n)
            }
            BaseType::Record(items) => {
                let ids: Vec<TypeId> = items.iter().map(|x| self.type_ref(x, ctx, errs)).collect();
                let n = format!(
                    "record[{}]",
                    ids.iter()
                        .map(|i| self.b.program.types[*i].name.clone())
                        .collect::<Vec<_>>()
                        .join(", ")
                );
                (self.new_type(TypeKind::Record(ids), n.clone()), n)
            }
            BaseType::Named(fqn) if fqn.segments.len() == 1 && fqn.segments[0].text == "bool" => (
                self.new_type(TypeKind::Boolean, "boolean".into()),
                "boolean".to_string(),
            ),
            BaseType::Named(fqn) => match self.resolve_shape(fqn, ctx) {
                Ok(idx) => {
                    if let Some(e) = self.types.shapes[idx].error.clone() {
                        errs.names.push(e);
                    }
                    self.build_shape(idx);
                    let sty = self.ix.shapes[idx].ty;
                    if t.constraints.is_empty() {
                        return sty;
                    }
                    let n = self.b.program.types[sty].name.clone();
                    (self.new_type(TypeKind::Alias(sty), n.clone()), n)
                }
                Err(d) => {
                    errs.names.push(d);
                    (self.new_type(TypeKind::Any, fqn.joined()), fqn.joined())
                }
            },
        };
        if t.constraints.is_empty() {
            return base;
        }
        let family = self.family(base);
        let is_model = matches!(self.underlying(base), TypeKind::Shape(_));
        let mut defs = Vec::new();
        for c in &t.constraints {
            if is_model {
                let e = CompileError::ConstraintOnShape {
                    constraint: c.name.text.clone(),
                    shape: name.clone(),
                };
                errs.names.push(e.at(c.span));
                continue;
            }
            match self.constraint(family, c) {
                Ok(def) => defs.push(def),
                Err(e) => {
                    let d = e.at(c.span);
                    if matches!(t.base, BaseType::Named(_)) {
                        errs.names.push(d);
                    } else {
                        errs.pack.push(d);
                    }
                }
            }
        }
        self.b.program.types[base].constraints = defs;
        base
    }

    fn underlying(&self, mut t: TypeId) -> &TypeKind {
        for _ in 0..64 {
            match &self.b.program.types[t].kind {
                TypeKind::Alias(x) => t = *x,
                other => return other,
            }
        }
        &TypeKind::Any
    }

    fn family(&self, t: TypeId) -> Family {
        match self.underlying(t) {
            TypeKind::Number => Family::Number,
            TypeKind::String => Family::String,
            TypeKind::Boolean | TypeKind::Trinary => Family::Trinary,
            TypeKind::List(_) => Family::List,
            _ => Family::None,
        }
    }

    /// Validates one constraint for a family of base types.
    fn constraint(
        &mut self,
        family: Family,
        c: &ast::Constraint,
    ) -> Result<ConstraintDef, CompileError> {
        let name = c.name.text.as_str();
        let args: Vec<Const> = c.args.iter().map(const_arg).collect();
        let bad = |why: &'static str| {
            Err(CompileError::InvalidConstraint {
                name: name.to_string(),
                why,
            })
        };
        let nums = |n: usize| args.len() == n && args.iter().all(|a| matches!(a, Const::Num(_)));
        let strs = |n: usize| args.len() == n && args.iter().all(|a| matches!(a, Const::Str(_)));
        let list_of = |f: fn(&Const) -> bool| match args.as_slice() {
            [Const::List(items)] => !items.is_empty() && items.iter().all(f),
            other => !other.is_empty() && other.iter().all(f),
        };
        let mut regex = None;
        let ok = match (family, name) {
            (Family::Number, "min" | "max" | "gt" | "lt" | "gte" | "lte" | "eq" | "neq") => nums(1),
            (Family::Number, "in" | "not_in") => list_of(|a| matches!(a, Const::Num(_))),
            (Family::Number, "range") => {
                if !nums(2) {
                    false
                } else if let (Const::Num(a), Const::Num(b)) = (&args[0], &args[1]) {
                    if a > b {
                        return bad("the lower bound is greater than the upper bound");
                    }
                    true
                } else {
                    false
                }
            }
            (Family::Number, "multiple_of") => {
                if matches!(args.as_slice(), [Const::Num(d)] if *d == 0.0) {
                    return bad("the divisor cannot be 0");
                }
                nums(1)
            }
            (
                Family::Number,
                "even" | "odd" | "positive" | "negative" | "non_negative" | "non_positive"
                | "finite" | "infinite" | "nan",
            ) => args.is_empty(),
            (Family::String | Family::List, "length" | "minlength" | "maxlength") => {
                let one = name != "length";
                if !(nums(1) || (!one && nums(2))) {
                    false
                } else if !args.iter().all(is_count) {
                    return bad("lengths must be non-negative whole numbers");
                } else if let [Const::Num(a), Const::Num(b)] = args.as_slice() {
                    if a > b {
                        return bad("the lower bound is greater than the upper bound");
                    }
                    true
                } else {
                    true
                }
            }
            (Family::String | Family::List, "not_empty") => args.is_empty(),
            (Family::String, "regexp") => {
                if !strs(1) {
                    false
                } else {
                    let Const::Str(p) = &args[0] else {
                        return bad("expects a pattern");
                    };
                    sentrie_vm::regex_cache::build(p).map_err(|error| {
                        CompileError::InvalidConstraintPattern {
                            name: name.to_string(),
                            error,
                        }
                    })?;
                    regex = Some(self.b.intern_regex(p));
                    true
                }
            }
            (
                Family::String,
                "starts_with" | "ends_with" | "has_substring" | "not_has_substring",
            ) => strs(1),
            (
                Family::String,
                "email" | "url" | "uuid" | "alphanumeric" | "alpha" | "numeric" | "lowercase"
                | "uppercase" | "trimmed",
            ) => args.is_empty(),
            (Family::String, "one_of" | "not_one_of") => list_of(|a| matches!(a, Const::Str(_))),
            (Family::Trinary, "not_unknown" | "is_true" | "is_false") => args.is_empty(),
            (Family::Trinary, "eq" | "neq") => {
                args.len() == 1 && matches!(args[0], Const::Bool(_) | Const::Unknown)
            }
            (Family::None, _) => return Err(CompileError::ConstraintUndefined(name.to_string())),
            _ => {
                return Err(CompileError::ConstraintFamily {
                    name: name.to_string(),
                    family: family.name(),
                    suggestion: crate::error::closest(name, family.constraints().iter().copied()),
                })
            }
        };
        if !ok {
            return bad("wrong number or kind of arguments");
        }
        Ok(ConstraintDef::new(name, args, regex))
    }

    /// Builds every shape (pass run once before lowering).
    fn build_shapes(&mut self) {
        for idx in self.ix.shapes.keys() {
            self.build_shape(idx);
        }
        // A shape whose field types fail makes every shape using it fail too.
        let mut changed = true;
        while changed {
            changed = false;
            for idx in self.ix.shapes.keys() {
                if self.types.shapes[idx].error.is_some() {
                    continue;
                }
                let shapes = &self.types.shapes;
                if let Some(e) = shapes[idx]
                    .deps
                    .iter()
                    .find_map(|d| shapes[*d].error.clone())
                {
                    self.types.shapes[idx].error = Some(e);
                    changed = true;
                }
            }
        }
    }

    fn absorb_shape_errors(&mut self, idx: ShapeId, errs: TypeErrors) {
        for d in errs.pack {
            self.b.diags.pack(d);
        }
        if let Some(first) = errs.names.into_iter().next() {
            if self.types.shapes[idx].error.is_none() {
                self.types.shapes[idx].error = Some(first.clone());
                self.b.diags.policy.push(first);
            }
        }
    }

    pub fn build_shape(&mut self, idx: ShapeId) {
        match self.types.shapes[idx].state {
            BuildState::Built => return,
            BuildState::Building => {
                if !self.types.shapes[idx].cycle_reported {
                    self.types.shapes[idx].cycle_reported = true;
                    let d = self.ix.shapes[idx].decl;
                    let e = CompileError::ShapeCycle(d.name.text.clone());
                    self.b.diags.pack(e.at(d.name.span));
                }
                return;
            }
            BuildState::Unbuilt => {}
        }
        self.types.shapes[idx].state = BuildState::Building;
        let shape = &self.ix.shapes[idx];
        let decl = shape.decl;
        let ctx = TypeCtx {
            ns: shape.ns,
            policy: shape.policy,
        };
        let ty = shape.ty;
        let mut errs = TypeErrors::default();
        match &decl.body {
            ShapeBody::Alias(t) => {
                let target = self.type_ref(t, ctx, &mut errs);
                self.note_shape_deps(idx, target);
                self.b.program.types[ty].kind = TypeKind::Alias(target);
            }
            ShapeBody::Model { with, fields } => {
                let mut all: Vec<FieldDef> = Vec::new();
                if let Some(base) = with {
                    match self.resolve_shape(base, ctx) {
                        Ok(bidx) => {
                            self.build_shape(bidx);
                            let bty = self.ix.shapes[bidx].ty;
                            match &self.b.program.types[bty].kind {
                                TypeKind::Shape(fs) => all.extend(fs.iter().cloned()),
                                TypeKind::Alias(_) => {
                                    let e = CompileError::ComposeWithAlias(base.joined());
                                    self.b.diags.pack(e.at(base.span));
                                }
                                _ => {}
                            }
                            self.types.shapes[idx].deps.push(bidx);
                        }
                        Err(d) => self.b.diags.pack(d),
                    }
                }
                let inherited = all.len();
                for f in fields {
                    if all[..inherited].iter().any(|x| x.name == f.name.text) {
                        let e = CompileError::ComposeOverride(f.name.text.clone());
                        self.b.diags.pack(e.at(f.name.span));
                        continue;
                    }
                    if all[inherited..].iter().any(|x| x.name == f.name.text) {
                        self.b.diags.pack(crate::index::conflict(
                            &format!("field `{}`", f.name.text),
                            f.name.span,
                        ));
                        continue;
                    }
                    let fty = self.field_type(&f.ty, ctx, &mut errs);
                    self.note_shape_deps(idx, fty);
                    // Markers: none → required, nullable; `!` → required, not nullable;
                    // `?` → optional, nullable; `!?`/`?!` → optional, not nullable.
                    let (required, nullable) = match (f.bang, f.question) {
                        (false, false) => (true, true),
                        (true, false) => (true, false),
                        (false, true) => (false, true),
                        (true, true) => (false, false),
                    };
                    all.push(FieldDef {
                        name: f.name.text.clone(),
                        required,
                        nullable,
                        ty: fty,
                    });
                }
                self.b.program.types[ty].kind = TypeKind::Shape(all);
            }
        }
        self.types.shapes[idx].state = BuildState::Built;
        self.absorb_shape_errors(idx, errs);
    }

    /// Field types may refer to shapes recursively, so named fields are not built here.
    fn field_type(&mut self, t: &ast::TypeRef, ctx: TypeCtx, errs: &mut TypeErrors) -> TypeId {
        if let BaseType::Named(fqn) = &t.base {
            if t.constraints.is_empty()
                && !(fqn.segments.len() == 1 && fqn.segments[0].text == "bool")
            {
                return match self.resolve_shape(fqn, ctx) {
                    Ok(idx) => self.ix.shapes[idx].ty,
                    Err(d) => {
                        errs.names.push(d);
                        self.new_type(TypeKind::Any, fqn.joined())
                    }
                };
            }
        }
        self.type_ref(t, ctx, errs)
    }

    fn note_shape_deps(&mut self, idx: ShapeId, t: TypeId) {
        let mut stack = vec![t];
        let mut steps = 0;
        while let Some(t) = stack.pop() {
            steps += 1;
            if steps > 10_000 {
                break;
            }
            if let Some((s, _)) = self.ix.shapes.iter().find(|(_, s)| s.ty == t) {
                if s != idx {
                    self.types.shapes[idx].deps.push(s);
                }
                continue;
            }
            match &self.b.program.types[t].kind {
                TypeKind::List(x) | TypeKind::Map(x) | TypeKind::Alias(x) => stack.push(*x),
                TypeKind::Record(xs) => stack.extend(xs.iter().copied()),
                _ => {}
            }
        }
    }
}

/// A length argument: a non-negative whole number.
fn is_count(c: &Const) -> bool {
    matches!(c, Const::Num(n) if *n >= 0.0 && n.fract() == 0.0)
}

pub fn const_arg(a: &ConstArg) -> Const {
    match a {
        ConstArg::Number(n) => Const::Num(*n),
        ConstArg::String(s) => Const::Str(s.clone()),
        ConstArg::Bool(b) => Const::Bool(*b),
        ConstArg::Unknown => Const::Unknown,
        ConstArg::Null => Const::Null,
        ConstArg::List(items) => Const::List(items.iter().map(const_arg).collect()),
        ConstArg::Map(entries) => {
            let mut v: Vec<(String, Const)> = entries
                .iter()
                .map(|(k, x)| (k.clone(), const_arg(x)))
                .collect();
            v.sort_by(|a, b| a.0.cmp(&b.0));
            v.dedup_by(|a, b| a.0 == b.0);
            Const::Map(v)
        }
    }
}

/// Resolves a shape name seen from `ctx` (LANGUAGE.md §7.6).
pub fn resolve_shape(ix: &Index<'_>, fqn: &ast::Fqn, ctx: TypeCtx) -> Result<ShapeId, Diag> {
    let segs: Vec<&str> = fqn.segments.iter().map(|s| s.text.as_str()).collect();
    let name = *segs.last().unwrap_or(&"");
    if segs.len() > 1 {
        let ns_name = segs[..segs.len() - 1].join("/");
        let Some(ns) = ix.ns(&ns_name) else {
            return Err(CompileError::ShapeNotFound(fqn.joined()).at(fqn.span));
        };
        let Some(&idx) = ix.namespaces[ns].shapes.get(name) else {
            return Err(CompileError::ShapeNotFound(fqn.joined()).at(fqn.span));
        };
        let cur = &ix.namespaces[ctx.ns].name;
        let visible = *cur == ns_name || cur.starts_with(&format!("{ns_name}/"));
        if !visible && !ix.namespaces[ns].exported.contains(name) {
            return Err(CompileError::ShapeNotExported(fqn.joined()).at(fqn.span));
        }
        return Ok(idx);
    }
    if let Some(p) = ctx.policy {
        if let Some(&idx) = ix.policies[p].local_shapes.get(name) {
            return Ok(idx);
        }
    }
    let mut ns_name = ix.namespaces[ctx.ns].name.clone();
    loop {
        if let Some(ns) = ix.ns(&ns_name) {
            if let Some(&idx) = ix.namespaces[ns].shapes.get(name) {
                return Ok(idx);
            }
        }
        match ns_name.rsplit_once('/') {
            Some((parent, _)) => ns_name = parent.to_string(),
            None => break,
        }
    }
    let exported: Vec<ShapeId> = ix
        .namespaces
        .values()
        .filter(|n| n.exported.contains(name))
        .filter_map(|n| n.shapes.get(name).copied())
        .collect();
    match exported.len() {
        1 => Ok(exported[0]),
        0 => {
            let mut known: Vec<&str> = ix
                .namespaces
                .values()
                .flat_map(|n| n.shapes.keys().map(String::as_str))
                .collect();
            if let Some(p) = ctx.policy {
                known.extend(ix.policies[p].local_shapes.keys().map(String::as_str));
            }
            let suggestion = crate::error::closest(name, known);
            Err(CompileError::ShapeNotFound(name.to_string())
                .at(fqn.span)
                .suggest(suggestion))
        }
        _ => Err(CompileError::AmbiguousShape(name.to_string())
            .at(fqn.span)
            .with_help("qualify the name with its namespace")),
    }
}

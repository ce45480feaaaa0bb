//! TypeScript to JavaScript with oxc (parse → semantic → transform → codegen), once at pack
//! build. Also reports the module's import specifiers so the compiler can load its graph.

use std::path::Path;

use crate::linemap::Point;
use oxc_allocator::Allocator;
use oxc_codegen::{Codegen, CodegenOptions};
use oxc_parser::Parser;
use oxc_semantic::SemanticBuilder;
use oxc_span::SourceType;
use oxc_transformer::{TransformOptions, Transformer};

pub struct Transpiled {
    pub js: String,
    /// Import specifiers of local modules, sorted.
    pub imports: Vec<String>,
    /// Names imported from builtin modules: `(module name after @sentrie/, export name)`.
    pub builtin_imports: Vec<(String, String)>,
    /// A CommonJS module (`module.exports` / `require`, no ES module syntax).
    pub commonjs: bool,
    /// Positions of `js` mapped to `source` (empty when `js` is the source itself).
    pub points: Vec<Point>,
}

/// `require("spec")` calls with a literal specifier.
fn required(js: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = js;
    while let Some(i) = rest.find("require(") {
        rest = &rest[i + "require(".len()..];
        let t = rest.trim_start();
        if let Some(q) = t.chars().next().filter(|c| *c == '"' || *c == '\'') {
            if let Some(end) = t[1..].find(q) {
                out.push(t[1..1 + end].to_string());
            }
        }
    }
    out
}

/// 1-based line and column of a byte offset.
fn line_col(src: &str, offset: usize) -> (usize, usize) {
    let mut end = offset.min(src.len());
    while !src.is_char_boundary(end) {
        end -= 1;
    }
    let upto = &src[..end];
    let line = upto.matches('\n').count() + 1;
    let col = upto.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

fn describe(src: &str, path: &str, e: &oxc_diagnostics::OxcDiagnostic) -> String {
    let at = e.labels.as_ref().and_then(|l| l.first()).map(|l| {
        let (line, col) = line_col(src, l.offset());
        format!("{path}:{line}:{col}: ")
    });
    format!("{}{}", at.unwrap_or_default(), e.message)
}

/// Transpiles one module. `.js` files are parsed (for their imports) and passed through.
pub fn transpile(path: &str, source: &str) -> Result<Transpiled, String> {
    if let Err(deep) = crate::nesting::check(source) {
        let (line, col) = line_col(source, deep.offset);
        return Err(format!(
            "transpile error: {path}:{line}:{col}: the code nests more than {} levels deep (brackets and chained operators); split it into smaller expressions or functions",
            crate::nesting::MAX_NESTING
        ));
    }
    let allocator = Allocator::default();
    let source_type = SourceType::from_path(path)
        .map_err(|e| format!("{path}: {e}"))?
        .with_module(true);
    let parsed = Parser::new(&allocator, source, source_type).parse();
    if let Some(e) = parsed.errors.first() {
        return Err(format!("transpile error: {}", describe(source, path, e)));
    }
    let mut imports: Vec<String> = parsed
        .module_record
        .requested_modules
        .keys()
        .map(|k| k.to_string())
        .filter(|k| !k.starts_with("@sentrie/"))
        .collect();
    imports.sort();
    let mut builtin_imports = Vec::new();
    for entry in &parsed.module_record.import_entries {
        let Some(module) = entry.module_request.name.as_str().strip_prefix("@sentrie/") else {
            continue;
        };
        match &entry.import_name {
            oxc_syntax::module_record::ImportImportName::Name(n) => {
                builtin_imports.push((module.to_string(), n.name.to_string()));
            }
            _ => {
                return Err(format!(
                    "transpile error: {path}: only named imports (`import {{ f }} from \"@sentrie/{module}\"`) are supported from builtin modules"
                ))
            }
        }
    }
    builtin_imports.sort();
    builtin_imports.dedup();
    let commonjs = !parsed.module_record.has_module_syntax
        && (source.contains("module.exports")
            || source.contains("exports.")
            || source.contains("require("));
    if commonjs {
        imports.extend(
            required(source)
                .into_iter()
                .filter(|s| !s.starts_with("@sentrie/")),
        );
        imports.sort();
        imports.dedup();
    }
    if !source_type.is_typescript() {
        return Ok(Transpiled {
            js: source.to_string(),
            imports,
            builtin_imports,
            commonjs,
            points: Vec::new(),
        });
    }
    let mut program = parsed.program;
    let scoping = SemanticBuilder::new()
        .build(&program)
        .semantic
        .into_scoping();
    let options = TransformOptions::default();
    let ret = Transformer::new(&allocator, Path::new(path), &options)
        .build_with_scoping(scoping, &mut program);
    if let Some(e) = ret.errors.first() {
        return Err(format!("transpile error: {}", describe(source, path, e)));
    }
    let out = Codegen::new()
        .with_options(CodegenOptions {
            source_map_path: Some(Path::new(path).to_path_buf()),
            ..CodegenOptions::default()
        })
        .build(&program);
    let points = out.map.map_or_else(Vec::new, |map| {
        map.get_tokens()
            .map(|t| Point {
                gen_line: t.get_dst_line() + 1,
                gen_col: t.get_dst_col(),
                src_line: t.get_src_line() + 1,
                src_col: t.get_src_col(),
            })
            .collect()
    });
    Ok(Transpiled {
        js: out.code,
        imports,
        builtin_imports,
        commonjs,
        points,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_types_and_lists_imports() {
        let t = transpile(
            "m.ts",
            "import { a } from './a';\ninterface X { y: number }\nexport function f(s: string): string { return s + a; }\n",
        )
        .unwrap();
        assert!(
            !t.js.contains("interface") && !t.js.contains(": string"),
            "{}",
            t.js
        );
        assert!(t.js.contains("export function f(s)"), "{}", t.js);
        assert_eq!(t.imports, vec!["./a".to_string()]);
        let err = transpile("bad.ts", "export function f( {").err().unwrap();
        assert!(err.contains("transpile error: bad.ts:1:"), "{err}");
    }
}

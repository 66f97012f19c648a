//! The front end: source text to parse tree, and syntax diagnostics.
//!
//! Owns: lexing (logos), parsing (lalrpop), the parse tree with spans, and the rendering of
//! syntax errors as `file:line:column`, message and caret. Must never: touch the runtime.

mod actions;
pub mod ast;
mod diagnostics;
mod lexer;
pub mod number;
pub mod printer;

lalrpop_util::lalrpop_mod!(
    #[allow(clippy::all, unused_parens, unused_imports, dead_code)]
    grammar,
    "/syntax/grammar.rs"
);

pub use diagnostics::SyntaxError;

/// Parses one class file.
pub fn parse_class(source: &str) -> Result<ast::ClassDef, SyntaxError> {
    grammar::ClassDefParser::new()
        .parse(lexer::Lexer::new(source))
        .map_err(|error| diagnostics::from_parse_error(error, source))
}

#[cfg(test)]
mod tests;

//! Syntax errors: their messages and their rendering for the terminal.
//!
//! Owns: [`SyntaxError`], turning LALRPOP's parse errors into sentences a SOM programmer reads
//! (naming what was found and summarising what was expected), and the `file:line:column` +
//! source line + caret rendering through codespan-reporting. Must never: change what is
//! accepted or try to recover — it only describes the first error the lexer or parser
//! stopped at (re-lexing the text before it to know where it is).

use std::fmt;

use codespan_reporting::diagnostic::{Diagnostic, Label};
use codespan_reporting::files::SimpleFile;
use codespan_reporting::term::termcolor::NoColor;
use codespan_reporting::term::{self, Chars, Config};
use lalrpop_util::ParseError;

use super::ast::Span;
use super::lexer::{Lexer, Tok};

/// The first syntax error in a source file.
#[derive(Clone, Debug, PartialEq)]
pub struct SyntaxError {
    pub message: String,
    pub span: Span,
}

impl SyntaxError {
    /// Renders as text for the terminal (no colour): the message, `file:line:column`, the
    /// offending source line and a caret under the error position.
    pub fn render(&self, file_name: &str, source: &str) -> String {
        let file = SimpleFile::new(file_name, source);
        let (start, end) = self.clamped_range(source);
        let diagnostic = Diagnostic::error()
            .with_message(&self.message)
            .with_labels(vec![Label::primary((), start..end)]);
        let config = Config {
            chars: Chars::ascii(),
            ..Config::default()
        };
        let mut out = NoColor::new(Vec::new());
        if term::emit(&mut out, &config, &file, &diagnostic).is_err() {
            // Cannot happen with a clamped span on the file it came from; still, a diagnostic
            // must never panic, so fall back to the essentials.
            let (line, col) = self.line_col(source);
            return format!("error: {}\n  --> {file_name}:{line}:{col}\n", self.message);
        }
        String::from_utf8_lossy(&out.into_inner()).into_owned()
    }

    /// (line, column), both 1-based, column in characters.
    pub fn line_col(&self, source: &str) -> (usize, usize) {
        let (at, _) = self.clamped_range(source);
        let before = &source[..at];
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        (
            before.matches('\n').count() + 1,
            before[line_start..].chars().count() + 1,
        )
    }

    /// The span as a byte range that lies inside `source` and on character boundaries, so a
    /// span from another version of the file cannot make rendering panic.
    fn clamped_range(&self, source: &str) -> (usize, usize) {
        let floor = |mut i: usize| {
            i = i.min(source.len());
            while !source.is_char_boundary(i) {
                i -= 1;
            }
            i
        };
        let start = floor(self.span.start as usize);
        (start, floor(self.span.end as usize).max(start))
    }
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for SyntaxError {}

/// Turns LALRPOP's error into a [`SyntaxError`] with a readable message.
pub(super) fn from_parse_error(
    error: ParseError<usize, Tok<'_>, SyntaxError>,
    source: &str,
) -> SyntaxError {
    match error {
        ParseError::User { error } => error,
        ParseError::UnrecognizedToken {
            token: (start, tok, end),
            expected,
        } => {
            let context = Context::at(source, start);
            let found = describe_token(&tok);
            let message = match context.expected_phrase(&expected, false) {
                Some(phrase) => format!("unexpected {found} — expected {phrase}"),
                None => format!(
                    "unexpected {found} after the end of {}: a file holds one class",
                    context.class()
                ),
            };
            SyntaxError {
                message,
                span: Span::new(start, end),
            }
        }
        ParseError::ExtraToken {
            token: (start, tok, end),
        } => {
            let context = Context::at(source, start);
            SyntaxError {
                message: format!(
                    "unexpected {} after the end of {}: a file holds one class",
                    describe_token(&tok),
                    context.class()
                ),
                span: Span::new(start, end),
            }
        }
        ParseError::UnrecognizedEof { location, expected } => {
            let context = Context::at(source, source.len());
            let phrase = context
                .expected_phrase(&expected, true)
                .unwrap_or_else(|| "more input".into());
            SyntaxError {
                message: format!("unexpected end of file — expected {phrase}"),
                span: Span::new(location, location),
            }
        }
        ParseError::InvalidToken { location } => {
            // Only LALRPOP's built-in lexer produces this; kept for completeness.
            SyntaxError {
                message: "invalid token".into(),
                span: Span::new(location, location),
            }
        }
    }
}

/// What a token is called in a message.
fn describe_token(tok: &Tok<'_>) -> String {
    match tok {
        Tok::Ident(name) => format!("identifier '{name}'"),
        Tok::Primitive => "'primitive'".into(),
        Tok::Keyword(k) => format!("keyword '{k}'"),
        Tok::KeywordSeq(k) => {
            format!("keyword sequence '{k}' (only valid after '#' or in a literal array)")
        }
        Tok::Integer(n) | Tok::Double(n) => format!("number {n}"),
        Tok::String(_) => "string literal".into(),
        Tok::Symbol(s) => format!("symbol #{s}"),
        Tok::ArrayStart => "'#('".into(),
        Tok::Op(op) => format!("'{op}'"),
        Tok::Bar => "'|'".into(),
        Tok::Equal => "'='".into(),
        Tok::NegMinus => "'-'".into(),
        Tok::Separator => "separator '----'".into(),
        Tok::Assign => "':='".into(),
        Tok::Colon => "':'".into(),
        Tok::LParen => "'('".into(),
        Tok::RParen => "')'".into(),
        Tok::LBracket => "'['".into(),
        Tok::RBracket => "']'".into(),
        Tok::Period => "'.'".into(),
        Tok::Caret => "'^'".into(),
    }
}

/// An opening delimiter that is still open at the error position.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Open {
    /// The `(` after `Name = [Super]`.
    Class,
    /// A `(` directly inside the class body: a method body.
    Method,
    Paren,
    Block,
    /// `#(` or a `(` nested inside a literal array.
    Array,
}

/// Where in the file an error happened, found by re-lexing the source up to the error. The
/// parser's list of expected tokens alone cannot tell a class body from a method body, and the
/// right words differ.
struct Context {
    class_name: Option<String>,
    /// Innermost last; each with the line it was opened on.
    open: Vec<(Open, usize)>,
    /// Tokens before the error position.
    tokens_before: usize,
    class_closed: bool,
}

impl Context {
    fn at(source: &str, position: usize) -> Context {
        let mut context = Context {
            class_name: None,
            open: Vec::new(),
            tokens_before: 0,
            class_closed: false,
        };
        // Lines are counted incrementally: rescanning the prefix per token would make a file
        // of many delimiters quadratic.
        let (mut line, mut counted_to) = (1, 0);
        for item in Lexer::new(source) {
            let Ok((start, tok, _)) = item else { break };
            if start >= position {
                break;
            }
            line += source[counted_to..start].matches('\n').count();
            counted_to = start;
            if context.tokens_before == 0 {
                match tok {
                    Tok::Ident(name) => context.class_name = Some(name.to_string()),
                    Tok::Primitive => context.class_name = Some("primitive".to_string()),
                    _ => {}
                }
            }
            context.tokens_before += 1;
            let top = context.open.last().map(|&(kind, _)| kind);
            match tok {
                Tok::LParen => context.open.push((
                    match top {
                        None => Open::Class,
                        Some(Open::Class) => Open::Method,
                        Some(Open::Array) => Open::Array,
                        Some(_) => Open::Paren,
                    },
                    line,
                )),
                Tok::ArrayStart => context.open.push((Open::Array, line)),
                Tok::LBracket => context.open.push((Open::Block, line)),
                Tok::RParen | Tok::RBracket => {
                    let closed = context.open.pop();
                    context.class_closed |= matches!(closed, Some((Open::Class, _)));
                }
                _ => {}
            }
        }
        context
    }

    fn class(&self) -> String {
        match &self.class_name {
            Some(name) => format!("class {name}"),
            None => "the class".into(),
        }
    }

    /// Summarises LALRPOP's expected terminals in words; `None` when nothing more may follow.
    fn expected_phrase(&self, expected: &[String], at_eof: bool) -> Option<String> {
        let set: Vec<&str> = expected.iter().map(|t| t.trim_matches('"')).collect();
        if set.is_empty() || self.class_closed {
            return None;
        }
        let has = |t: &str| set.contains(&t);
        let innermost = self.open.last().copied();

        // At the end of the file the useful hint is which delimiter is still open.
        if at_eof {
            if let Some((kind, line)) = innermost {
                let closer = if kind == Open::Block { "]" } else { ")" };
                if has(closer) {
                    return Some(match kind {
                        Open::Class => format!("')' to close {}", self.class()),
                        Open::Method => {
                            format!("')' to close the method body opened on line {line}")
                        }
                        Open::Paren => format!("')' to close the '(' opened on line {line}"),
                        Open::Block => format!("']' to close the block opened on line {line}"),
                        Open::Array => {
                            format!("')' to close the literal array opened on line {line}")
                        }
                    });
                }
            }
        }

        let only = |allowed: &[&str]| set.iter().all(|t| allowed.contains(t));
        if innermost.is_none() {
            // The class header, `Name = [Super] (`: the position says more than the parser's
            // expected set, which LALRPOP may compute in a state shared with other contexts.
            return Some(match self.tokens_before {
                0 => "the class name".to_string(),
                1 => match &self.class_name {
                    Some(name) => format!("'=' after the class name '{name}'"),
                    None => "'=' after the class name".to_string(),
                },
                2 => "the superclass name or '(' to start the class body".to_string(),
                _ => "'(' to start the class body".to_string(),
            });
        }
        if has("=") && only(&["=", "keyword"]) {
            return Some("'=' after the method pattern".into());
        }
        if only(&["primitive", "("]) {
            return Some("'(' to start the method body, or 'primitive'".into());
        }

        let mut phrases: Vec<String> = Vec::new();
        let covered: &[&str] = match innermost {
            Some((Open::Array, _)) if has("integer") => {
                phrases.push("a literal array element".into());
                &[
                    "identifier",
                    "primitive",
                    "keyword",
                    "keyword sequence",
                    "integer",
                    "double",
                    "string",
                    "symbol",
                    "#(",
                    "(",
                    "op",
                    "|",
                    "=",
                    "neg-",
                ]
            }
            Some((Open::Class, _)) if has("identifier") && has("keyword") && has("op") => {
                phrases.push("a method definition".into());
                &["identifier", "primitive", "keyword", "op", "|", "="]
            }
            _ if has("integer") => {
                phrases.push("an expression".into());
                &[
                    "identifier",
                    "primitive",
                    "integer",
                    "double",
                    "string",
                    "symbol",
                    "#(",
                    "(",
                    "[",
                    "neg-",
                    "^",
                    "|",
                    ":",
                ]
            }
            _ if has("identifier") && has("keyword") && has("op") => {
                phrases.push("a message".into());
                &["identifier", "primitive", "keyword", "op", "|", "=", "neg-"]
            }
            _ => &[],
        };
        let mut rest: Vec<&str> = set
            .iter()
            .copied()
            .filter(|t| !covered.contains(t))
            .collect();
        rest.sort_by_key(|t| READING_ORDER.iter().position(|o| o == t));
        phrases.extend(generic_names(&rest));
        Some(join(&phrases))
    }
}

/// The order in which expected terminals are listed: things that continue the construct
/// first, then the closing delimiters, which is how a reader scans the sentence.
const READING_ORDER: &[&str] = &[
    "identifier",
    "primitive",
    "keyword",
    "op",
    "neg-",
    "integer",
    "double",
    "string",
    "symbol",
    "#(",
    "(",
    "[",
    ":",
    ":=",
    "=",
    "|",
    "^",
    ".",
    "----",
    ")",
    "]",
];

/// Names for terminals not covered by a summary phrase, folding the pairs that read as one.
fn generic_names(set: &[&str]) -> Vec<String> {
    let has = |t: &str| set.contains(&t);
    let mut names = Vec::new();
    for &t in set {
        let name = match t {
            "identifier" => "an identifier",
            "primitive" if has("identifier") => continue,
            "primitive" => "'primitive'",
            "keyword" => "a keyword",
            "keyword sequence" => continue,
            "integer" => "a number",
            "double" if has("integer") => continue,
            "double" => "a number",
            "string" => "a string",
            "symbol" => "a symbol",
            "op" => "a binary operator",
            "neg-" | "|" | "=" if has("op") => continue,
            "neg-" => "'-'",
            "----" => "the separator '----'",
            other => {
                names.push(format!("'{other}'"));
                continue;
            }
        };
        names.push(name.to_string());
    }
    names
}

/// `a`, `a or b`, `a, b or c`.
fn join(phrases: &[String]) -> String {
    match phrases {
        [] => "nothing".into(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_characters() {
        let source = "ab\n€x yz\n";
        let at = |offset: usize| SyntaxError {
            message: String::new(),
            span: Span::new(offset, offset),
        };
        assert_eq!(at(0).line_col(source), (1, 1));
        assert_eq!(at(3).line_col(source), (2, 1));
        // `x` comes after the three bytes of `€`: column 2, not 4.
        assert_eq!(at(6).line_col(source), (2, 2));
        assert_eq!(at(source.len()).line_col(source), (3, 1));
        // Out of range or inside a character: clamped, never a panic.
        assert_eq!(at(4).line_col(source), (2, 1));
        assert_eq!(at(999).line_col(source), (3, 1));
    }

    #[test]
    fn join_reads_as_a_sentence() {
        let s = |v: &[&str]| join(&v.iter().map(|x| x.to_string()).collect::<Vec<_>>());
        assert_eq!(s(&["a"]), "a");
        assert_eq!(s(&["a", "b"]), "a or b");
        assert_eq!(s(&["a", "b", "c"]), "a, b or c");
    }
}

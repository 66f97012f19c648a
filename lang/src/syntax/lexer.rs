//! The SOM lexer: source text to a stream of tokens carrying byte offsets.
//!
//! Owns: the lexical rules of SOM.md (comments, identifiers, keywords, numbers, strings and
//! their escapes, symbols, operators, the separator) and the lexical errors with their own
//! messages (unterminated string or comment, unknown escape, radix/exponent numbers, `$a`,
//! `;`, `{}`, stray characters). Must never: make a decision that needs grammatical context —
//! whether `-5` is a literal or a send is the grammar's call, the lexer only reports that the
//! `-` touches a digit.

use logos::Logos;

use super::ast::{Span, MAX_NESTING};
use super::diagnostics::SyntaxError;

/// A token as the grammar sees it. Text-carrying tokens borrow the source; strings and
/// symbols own their text because escapes have been resolved.
#[derive(Clone, Debug, PartialEq)]
pub enum Tok<'a> {
    Ident(&'a str),
    /// `primitive`: a method body marker, but also usable wherever an identifier is.
    Primitive,
    /// `foo:` including the colon.
    Keyword(&'a str),
    /// `at:put:` written without `#`; only meaningful inside a literal array.
    KeywordSeq(&'a str),
    Integer(&'a str),
    Double(&'a str),
    String(String),
    /// `#foo`, `#at:put:`, `#+`, `#'with space'` — the text without `#` and quotes.
    Symbol(String),
    /// `#(`
    ArrayStart,
    /// A binary operator other than the three that have a second role below.
    Op(&'a str),
    /// `|` delimits fields and locals as well as being an operator.
    Bar,
    /// `=` separates a class name or method pattern from its definition as well.
    Equal,
    /// A lone `-` immediately followed by a digit: a negative literal in primary position, a
    /// binary `-` after a receiver (`3-1`).
    NegMinus,
    /// Four or more `-`: between the instance side and the class side.
    Separator,
    Assign,
    Colon,
    LParen,
    RParen,
    LBracket,
    RBracket,
    Period,
    Caret,
}

/// What went wrong inside a logos callback or match. Logos needs a `Default` for input that
/// matches no rule; the wrapper turns that into a message naming the character.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum RawError {
    #[default]
    NoMatch,
    UnterminatedString,
    UnterminatedComment,
    UnknownEscape {
        at: usize,
        ch: char,
    },
}

/// Scans the body of a string after its opening quote (the quote is already consumed), resolving
/// escapes. Hand-written because a regex cannot both find the closing quote and validate escapes.
fn lex_string(lex: &mut logos::Lexer<'_, Raw>) -> Result<String, RawError> {
    let rest = lex.remainder();
    let base = lex.span().end;
    let mut out = String::new();
    let mut chars = rest.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\'' => {
                lex.bump(i + 1);
                return Ok(out);
            }
            '\\' => {
                let Some((_, e)) = chars.next() else { break };
                out.push(match e {
                    't' => '\t',
                    'b' => '\u{8}',
                    'n' => '\n',
                    'r' => '\r',
                    'f' => '\u{c}',
                    '0' => '\0',
                    '\'' => '\'',
                    '\\' => '\\',
                    other => {
                        return Err(RawError::UnknownEscape {
                            at: base + i,
                            ch: other,
                        })
                    }
                });
            }
            _ => out.push(c),
        }
    }
    Err(RawError::UnterminatedString)
}

/// Skips a comment after its opening `"`. A callback rather than a regex so that a missing
/// closing quote is reported at the opening one.
fn lex_comment(lex: &mut logos::Lexer<'_, Raw>) -> logos::FilterResult<(), RawError> {
    match lex.remainder().find('"') {
        Some(i) => {
            lex.bump(i + 1);
            logos::FilterResult::Skip
        }
        None => logos::FilterResult::Error(RawError::UnterminatedComment),
    }
}

/// The raw logos tokens: only patterns that logos matches without backtracking. Whatever needs
/// more than one token's worth of lookahead (keywords vs. `x:=`, `1.` vs. `1.5`, `#at:put:`)
/// is finished by [`Lexer`], which scans on from where logos stopped.
#[derive(Logos, Clone, Debug, PartialEq)]
#[logos(error = RawError)]
#[logos(skip r"[ \t\r\n\x0C]+")]
enum Raw {
    #[token("\"", lex_comment)]
    Comment,

    #[regex(r"[a-zA-Z][a-zA-Z0-9_]*")]
    Ident,
    #[token("primitive")]
    Primitive,
    #[regex(r"[0-9]+")]
    Integer,

    #[token("'", lex_string)]
    String(String),
    #[token("#'", lex_string)]
    QuotedSymbol(String),
    #[token("#(")]
    ArrayStart,
    #[token("#")]
    Hash,

    #[regex(r"[~&|*/\\+=><,@%-]+")]
    Operator,

    #[token(":=")]
    Assign,
    #[token(":")]
    Colon,
    #[token("(")]
    LParen,
    #[token(")")]
    RParen,
    #[token("[")]
    LBracket,
    #[token("]")]
    RBracket,
    #[token(".")]
    Period,
    #[token("^")]
    Caret,

    #[token(";")]
    Cascade,
    #[token("$")]
    Dollar,
    #[token("{")]
    #[token("}")]
    Brace,
}

const OPERATOR_CHARS: &str = "~&|*/\\+=><,@%-";

/// Length of the identifier at the start of `s`, 0 if there is none.
fn ident_len(s: &str) -> usize {
    let b = s.as_bytes();
    if !b.first().is_some_and(u8::is_ascii_alphabetic) {
        return 0;
    }
    1 + b[1..]
        .iter()
        .take_while(|c| c.is_ascii_alphanumeric() || **c == b'_')
        .count()
}

/// Length of the `ident:` at the start of `s`, 0 if there is none. `x:=` is not a keyword.
fn keyword_len(s: &str) -> usize {
    let n = ident_len(s);
    let rest = &s.as_bytes()[n..];
    if n > 0 && rest.first() == Some(&b':') && rest.get(1) != Some(&b'=') {
        n + 1
    } else {
        0
    }
}

/// Length of the run of `ident:` at the start of `s` and how many keywords it holds.
fn keywords_len(s: &str) -> (usize, usize) {
    let (mut len, mut count) = (0, 0);
    loop {
        match keyword_len(&s[len..]) {
            0 => return (len, count),
            n => {
                len += n;
                count += 1;
            }
        }
    }
}

/// Length of a `.digits` fraction at the start of `s`, 0 if there is none (`1.` ends a
/// statement).
fn fraction_len(s: &str) -> usize {
    let b = s.as_bytes();
    if b.first() != Some(&b'.') {
        return 0;
    }
    match b[1..].iter().take_while(|c| c.is_ascii_digit()).count() {
        0 => 0,
        n => n + 1,
    }
}

/// Length of a radix (`r1F`) or exponent (`e10`, `e-3`) suffix at the start of `s`, which SOM
/// does not have; 0 if there is none, so `3 rem: 2` and `1 each` are untouched.
fn radix_or_exponent_len(s: &str) -> usize {
    let b = s.as_bytes();
    match b.first() {
        Some(b'r') => match b[1..]
            .iter()
            .take_while(|c| c.is_ascii_alphanumeric())
            .count()
        {
            0 => 0,
            n if b[1].is_ascii_digit() || b[1].is_ascii_uppercase() => n + 1,
            _ => 0,
        },
        Some(b'e' | b'E') => {
            let sign = usize::from(b.get(1) == Some(&b'-'));
            match b[1 + sign..]
                .iter()
                .take_while(|c| c.is_ascii_digit())
                .count()
            {
                0 => 0,
                n => 1 + sign + n,
            }
        }
        _ => 0,
    }
}

/// A spanned token as LALRPOP's external-lexer interface wants it.
pub type Spanned<'a> = (usize, Tok<'a>, usize);

/// The token stream: logos output, finished where logos cannot look far enough (keywords,
/// doubles, `#` symbols), with the separator split off the front of an operator run and `-`
/// before a digit marked, and lexical errors turned into [`SyntaxError`]s. Stops after the
/// first error.
pub struct Lexer<'a> {
    source: &'a str,
    raw: logos::Lexer<'a, Raw>,
    /// A second token produced by splitting one raw token.
    pending: Option<Spanned<'a>>,
    failed: bool,
    /// Brackets (`(`, `#(`, `[`) open at this point, bounded by `MAX_NESTING`: literal arrays
    /// nest only through brackets, and the parse tree must stay shallow enough to recurse over.
    open_brackets: u32,
}

impl<'a> Lexer<'a> {
    pub fn new(source: &'a str) -> Lexer<'a> {
        Lexer {
            source,
            raw: Raw::lexer(source),
            pending: None,
            failed: false,
            open_brackets: 0,
        }
    }

    fn error(
        &mut self,
        message: String,
        start: usize,
        end: usize,
    ) -> Option<Result<Spanned<'a>, SyntaxError>> {
        self.failed = true;
        Some(Err(SyntaxError {
            message,
            span: Span::new(start, end),
        }))
    }

    /// The end of the character starting at `at`, so an error span never splits a character.
    fn char_end(&self, at: usize) -> usize {
        at + self.source[at..].chars().next().map_or(0, char::len_utf8)
    }

    /// Extends the current token by `n` bytes that logos did not consume.
    fn take(&mut self, n: usize) -> usize {
        self.raw.bump(n);
        self.raw.span().end
    }
}

impl<'a> Iterator for Lexer<'a> {
    type Item = Result<Spanned<'a>, SyntaxError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        if let Some(tok) = self.pending.take() {
            return Some(Ok(tok));
        }
        let raw = self.raw.next()?;
        let std::ops::Range { start, mut end } = self.raw.span();
        let source = self.source;
        let tok = match raw {
            Ok(Raw::Comment) => unreachable!("comments are skipped"),
            Ok(Raw::Ident | Raw::Primitive) => {
                let (len, count) = keywords_len(&source[start..]);
                match count {
                    0 if raw == Ok(Raw::Primitive) => Tok::Primitive,
                    0 => Tok::Ident(&source[start..end]),
                    1 => Tok::Keyword(&source[start..self.take(len - (end - start))]),
                    _ => Tok::KeywordSeq(&source[start..self.take(len - (end - start))]),
                }
            }
            Ok(Raw::Integer) => {
                let fraction = fraction_len(&source[end..]);
                end = self.take(fraction);
                let bad = radix_or_exponent_len(&source[end..]);
                if bad > 0 {
                    let end = self.take(bad);
                    let text = &source[start..end];
                    return self.error(
                        format!("'{text}' is not a SOM number: numbers have no radix (16r1F) or exponent (1e10) in SOM"),
                        start,
                        end,
                    );
                }
                if fraction > 0 {
                    Tok::Double(&source[start..end])
                } else {
                    Tok::Integer(&source[start..end])
                }
            }
            Ok(Raw::String(s)) => Tok::String(s),
            Ok(Raw::QuotedSymbol(s)) => Tok::Symbol(s),
            Ok(Raw::ArrayStart) if self.open_brackets >= MAX_NESTING => {
                return self.error(
                    format!("brackets nested too deeply (more than {MAX_NESTING} levels)"),
                    start,
                    end,
                );
            }
            Ok(Raw::ArrayStart) => {
                self.open_brackets += 1;
                Tok::ArrayStart
            }
            Ok(Raw::Hash) => {
                let rest = &source[end..];
                let len = match keywords_len(rest) {
                    (0, _) => match ident_len(rest) {
                        0 => rest.chars().take_while(|c| OPERATOR_CHARS.contains(*c)).count(),
                        n => n,
                    },
                    (n, _) => n,
                };
                if len == 0 {
                    return self.error(
                        "'#' must be followed by a symbol name, an operator, a string or '(' without a space".into(),
                        start,
                        end,
                    );
                }
                let end = self.take(len);
                Tok::Symbol(source[start + 1..end].to_string())
            }
            Ok(Raw::Operator) => {
                let text = &source[start..end];
                let dashes = text.len() - text.trim_start_matches('-').len();
                if dashes >= 4 {
                    // The separator wins over operator lexing, even when more operator
                    // characters follow without a space.
                    let sep_end = start + dashes;
                    if sep_end < end {
                        let rest = classify_operator(&text[dashes..], source, end);
                        self.pending = Some((sep_end, rest, end));
                    }
                    return Some(Ok((start, Tok::Separator, sep_end)));
                }
                classify_operator(text, source, end)
            }
            Ok(Raw::Assign) => Tok::Assign,
            Ok(Raw::Colon) => Tok::Colon,
            Ok(Raw::LParen | Raw::LBracket) if self.open_brackets >= MAX_NESTING => {
                return self.error(
                    format!("brackets nested too deeply (more than {MAX_NESTING} levels)"),
                    start,
                    end,
                );
            }
            Ok(Raw::LParen) => {
                self.open_brackets += 1;
                Tok::LParen
            }
            Ok(Raw::LBracket) => {
                self.open_brackets += 1;
                Tok::LBracket
            }
            Ok(Raw::RParen) => {
                self.open_brackets = self.open_brackets.saturating_sub(1);
                Tok::RParen
            }
            Ok(Raw::RBracket) => {
                self.open_brackets = self.open_brackets.saturating_sub(1);
                Tok::RBracket
            }
            Ok(Raw::Period) => Tok::Period,
            Ok(Raw::Caret) => Tok::Caret,

            Ok(Raw::Cascade) => {
                return self.error(
                    "cascades (`;`) are not part of SOM: send each message in its own statement".into(),
                    start,
                    end,
                )
            }
            Ok(Raw::Dollar) => {
                let end = self.char_end(end);
                return self.error(
                    "character literals (`$a`) are not part of SOM: use a one-character string 'a'".into(),
                    start,
                    end,
                );
            }
            Ok(Raw::Brace) => {
                return self.error(
                    "brace arrays (`{}`) are not part of SOM: use `Array new: n` or a literal array `#(...)`".into(),
                    start,
                    end,
                )
            }
            // The spans of unterminated strings and comments stay at the opening quote: the
            // end of the file says nothing useful.
            Err(RawError::UnterminatedComment) => {
                return self.error("unterminated comment: this '\"' has no closing '\"'".into(), start, start + 1)
            }
            Err(RawError::UnterminatedString) => {
                let quote_len = if source[start..].starts_with('#') { 2 } else { 1 };
                return self.error(
                    "unterminated string: this quote has no closing quote".into(),
                    start,
                    start + quote_len,
                );
            }
            Err(RawError::UnknownEscape { at, ch }) => {
                let end = at + 1 + ch.len_utf8();
                return self.error(
                    format!("unknown escape '\\{ch}' in string; SOM knows \\t \\b \\n \\r \\f \\0 \\' \\\\"),
                    at,
                    end,
                );
            }
            Err(RawError::NoMatch) => {
                let ch = source[start..].chars().next().unwrap_or(' ');
                let end = self.char_end(start);
                return self.error(format!("unexpected character {ch:?} in SOM source"), start, end);
            }
        };
        Some(Ok((start, tok, self.raw.span().end)))
    }
}

/// `|`, `=` and a `-` touching a digit get their own tokens; every other run is `Op`.
fn classify_operator<'a>(text: &'a str, source: &str, end: usize) -> Tok<'a> {
    match text {
        "|" => Tok::Bar,
        "=" => Tok::Equal,
        "-" if source.as_bytes().get(end).is_some_and(u8::is_ascii_digit) => Tok::NegMinus,
        _ => Tok::Op(text),
    }
}

#[cfg(test)]
mod tests {
    use super::Tok::{self, *};
    use super::*;

    fn toks(source: &str) -> Vec<Tok<'_>> {
        Lexer::new(source).map(|t| t.expect("lexes").1).collect()
    }

    fn err(source: &str) -> SyntaxError {
        Lexer::new(source)
            .find_map(Result::err)
            .expect("a lexical error")
    }

    #[test]
    fn token_table() {
        let table: Vec<(&str, Vec<Tok>)> = vec![
            ("foo", vec![Ident("foo")]),
            ("foo_bar2 X", vec![Ident("foo_bar2"), Ident("X")]),
            ("primitive", vec![Primitive]),
            ("primitives", vec![Ident("primitives")]),
            ("at: put:", vec![Keyword("at:"), Keyword("put:")]),
            ("at:put:", vec![KeywordSeq("at:put:")]),
            ("x:=3", vec![Ident("x"), Assign, Integer("3")]),
            ("x := 3", vec![Ident("x"), Assign, Integer("3")]),
            ("a:b", vec![Keyword("a:"), Ident("b")]),
            (
                "[:a :b|",
                vec![LBracket, Colon, Ident("a"), Colon, Ident("b"), Bar],
            ),
            ("42", vec![Integer("42")]),
            (
                "100000000000000000000000000",
                vec![Integer("100000000000000000000000000")],
            ),
            ("2.5", vec![Double("2.5")]),
            ("1.", vec![Integer("1"), Period]),
            ("1.foo", vec![Integer("1"), Period, Ident("foo")]),
            ("3-1", vec![Integer("3"), NegMinus, Integer("1")]),
            ("3 - 1", vec![Integer("3"), Op("-"), Integer("1")]),
            (
                "3 - -1",
                vec![Integer("3"), Op("-"), NegMinus, Integer("1")],
            ),
            ("-x", vec![Op("-"), Ident("x")]),
            ("--1", vec![Op("--"), Integer("1")]),
            ("'abc'", vec![Tok::String("abc".into())]),
            ("''", vec![Tok::String("".into())]),
            ("'a\nb'", vec![Tok::String("a\nb".into())]),
            ("#foo", vec![Symbol("foo".into())]),
            ("#at:put:", vec![Symbol("at:put:".into())]),
            ("#+", vec![Symbol("+".into())]),
            ("#'a string'", vec![Symbol("a string".into())]),
            ("#(1)", vec![ArrayStart, Integer("1"), RParen]),
            ("<= >= == ~= <> // << >>> && || -->", {
                [
                    "<=", ">=", "==", "~=", "<>", "//", "<<", ">>>", "&&", "||", "-->",
                ]
                .map(Op)
                .to_vec()
            }),
            (
                "~ & * / \\ + > < , @ %",
                ["~", "&", "*", "/", "\\", "+", ">", "<", ",", "@", "%"]
                    .map(Op)
                    .to_vec(),
            ),
            ("| = -", vec![Bar, Equal, Op("-")]),
            ("----", vec![Separator]),
            ("------------", vec![Separator]),
            ("---", vec![Op("---")]),
            ("a --> b", vec![Ident("a"), Op("-->"), Ident("b")]),
            ("---->", vec![Separator, Op(">")]),
            (
                "( ) [ ] . ^ :",
                vec![LParen, RParen, LBracket, RBracket, Period, Caret, Colon],
            ),
            ("\"a comment\nover lines\" x", vec![Ident("x")]),
            ("\"\"", vec![]),
            ("thisContext", vec![Ident("thisContext")]),
        ];
        for (source, expected) in table {
            assert_eq!(toks(source), expected, "lexing {source:?}");
        }
    }

    #[test]
    fn spans_are_byte_offsets() {
        let spanned: Vec<_> = Lexer::new("x:=  'é' #(").map(Result::unwrap).collect();
        assert_eq!(
            spanned,
            vec![
                (0, Ident("x"), 1),
                (1, Assign, 3),
                (5, Tok::String("é".into()), 9),
                (10, ArrayStart, 12)
            ]
        );
    }

    #[test]
    fn every_escape() {
        assert_eq!(
            toks(r"'\t\b\n\r\f\0\'\\'"),
            vec![Tok::String("\t\u{8}\n\r\u{c}\0'\\".into())]
        );
    }

    #[test]
    fn unicode_strings_keep_their_characters() {
        let [Tok::String(s)] = &toks("'häßlich €'")[..] else {
            panic!()
        };
        assert_eq!(s.chars().count(), 9);
    }

    #[test]
    fn lexical_errors() {
        let cases: &[(&str, &str, (u32, u32))] = &[
            ("x 'abc", "unterminated string", (2, 3)),
            ("\"abc", "unterminated comment", (0, 1)),
            (r"'a\qb'", "unknown escape '\\q'", (2, 4)),
            ("16r1F", "no radix", (0, 5)),
            ("1e10", "exponent", (0, 4)),
            ("2.5e3", "exponent", (0, 5)),
            ("$a", "character literals", (0, 2)),
            ("a; b", "cascades", (1, 2)),
            ("{1}", "brace arrays", (0, 1)),
            ("a ! b", "unexpected character '!'", (2, 3)),
            ("é", "unexpected character 'é'", (0, 2)),
            ("# foo", "'#' must be followed", (0, 1)),
        ];
        for (source, needle, (start, end)) in cases {
            let e = err(source);
            assert!(e.message.contains(needle), "{source:?}: {}", e.message);
            assert_eq!((e.span.start, e.span.end), (*start, *end), "{source:?}");
        }
    }
}

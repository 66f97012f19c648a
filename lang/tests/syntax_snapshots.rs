//! Snapshot tests of the front end: printed parse trees of representative classes and the
//! rendered message of every kind of syntax error.
//!
//! Owns: pinning what `som -d` shows and what a SOM programmer reads on a syntax error. Must
//! never: accept a snapshot unread — each one was checked by hand against SOM.md before it
//! was accepted.

use lang::syntax::{parse_class, printer};

fn tree(source: &str) -> String {
    match parse_class(source) {
        Ok(class) => printer::dump(&class),
        Err(e) => panic!("expected to parse:\n{}", e.render("Test.som", source)),
    }
}

fn rendered_error(file_name: &str, source: &str) -> String {
    match parse_class(source) {
        Ok(class) => panic!(
            "expected a syntax error, parsed:\n{}",
            printer::dump(&class)
        ),
        Err(e) => {
            let (line, column) = e.line_col(source);
            let rendered = e.render(file_name, source);
            // The location must appear as plain `file:line:column`.
            assert!(
                rendered.contains(&format!("{file_name}:{line}:{column}")),
                "{rendered}"
            );
            rendered
        }
    }
}

// ---------------------------------------------------------------- parse trees

#[test]
fn tree_counter_with_both_sides() {
    let source = r#"
"A counter: fields, the three pattern kinds, a primitive, and a class side."
Counter = Object (
    | count step |

    count = ( ^ count )
    increment = ( count := count + step )
    + other = ( ^ Counter new count: count + other count )
    at: index put: value = ( ^ self error: 'read-only' )
    hashcode = primitive

    ----------------------------
    | instances |

    new = ( instances := instances + 1. ^ super new setStep: 1 )
    instances = ( ^ instances )
)
"#;
    insta::assert_snapshot!("tree_counter", tree(source));
}

#[test]
fn tree_literals() {
    let source = r"
Literals = (
    numbers = ( ^ #(0 42 -7 2.5 -0.25 100000000000000000000000000 -100000000000000000000000000) )
    negatives = ( | x | x := -5. x := 3 - -1. x := 3-1. x := 3 - 1. self foo: -2. ^-3 )
    strings = ( ^ #('' 'plain' 'it\'s' 'tab\there' 'two
lines' 'häßlich €' '\b\n\r\f\0\\') )
    symbols = ( ^ #(#foo #at:put: #+ #'with space' #-> #primitive) )
    arrays = ( ^ #(1 #(2 3) foo bar: at:put: + | = 'str' -4 2.5 (nested (deeper)) true false nil) )
)
";
    insta::assert_snapshot!("tree_literals", tree(source));
}

#[test]
fn tree_blocks_and_returns() {
    let source = r#"
Blocks = (
    empty = ( ^ [] )
    emptyWithParam = ( ^ [:x | ] )
    full = ( ^ [:a :b | | t u | t := a. u := b. t + u] )
    nested = ( ^ [:x | [:y | [ x + y ] ] ] )
    nonLocal = ( #(1 2 3) do: [:e | e > 1 ifTrue: [ ^ e ] ]. ^ nil )
    trailingPeriods = ( self foo. self bar. ^ self. )
    loop = ( | i | i := 0. [ i < 10 ] whileTrue: [ i := i + 1 ]. ^ i )
)
"#;
    insta::assert_snapshot!("tree_blocks", tree(source));
}

#[test]
fn tree_precedence_and_assignment() {
    let source = r"
Precedence = (
    mixed = ( ^ a b + c d foo: e f - g bar: h )
    parens = ( ^ (a foo: b) bar + (c + d) )
    chained = ( a := b := 3 + 4 )
    operators = ( ^ a <= b >= c == d ~= e <> f // g << h >>> i && j || k --> l , m @ n % o \ p )
    pipeEquals = ( ^ (a | b) = (c & d) )
    primitive = ( | primitive | primitive := 1. ^ primitive )
)
";
    insta::assert_snapshot!("tree_precedence", tree(source));
}

#[test]
fn tree_root_class() {
    let source = r"
Object = nil (
    class = primitive
    = other = ( ^ self == other )
    == other = primitive
    isNil = ( ^ false )
    ifNil: nilBlock ifNotNil: notNilBlock = ( ^ notNilBlock value: self )
)
";
    insta::assert_snapshot!("tree_root_class", tree(source));
}

// ---------------------------------------------------------------- errors

#[test]
fn error_unexpected_token() {
    let source = "Foo = (\n    bar = (\n        ^ 3 + )\n    )\n)\n";
    insta::assert_snapshot!("error_unexpected_token", rendered_error("Foo.som", source));
}

#[test]
fn error_missing_equals_after_pattern() {
    let source = "Foo = (\n    at: index put: value ( ^ value )\n)\n";
    insta::assert_snapshot!("error_missing_equals", rendered_error("Foo.som", source));
}

#[test]
fn error_unexpected_end_of_file() {
    let source = "Foo = (\n    bar = ( ^ 1 )\n";
    insta::assert_snapshot!("error_unexpected_eof", rendered_error("Foo.som", source));
}

#[test]
fn error_unclosed_block_at_end_of_file() {
    let source = "Foo = (\n    bar = ( ^ [:x | x + 1\n";
    insta::assert_snapshot!("error_unclosed_block", rendered_error("Foo.som", source));
}

#[test]
fn error_text_after_the_class() {
    let source = "Foo = (\n    bar = ( ^ 1 )\n)\nBaz = ( )\n";
    insta::assert_snapshot!("error_after_class", rendered_error("Foo.som", source));
}

#[test]
fn error_cascade() {
    let source = "Foo = (\n    bar = ( Transcript show: 'a'; cr )\n)\n";
    insta::assert_snapshot!("error_cascade", rendered_error("Foo.som", source));
}

#[test]
fn error_character_literal() {
    let source = "Foo = (\n    bar = ( ^ $a )\n)\n";
    insta::assert_snapshot!("error_character_literal", rendered_error("Foo.som", source));
}

#[test]
fn error_brace_array() {
    let source = "Foo = (\n    bar = ( ^ { 1. 2 } )\n)\n";
    insta::assert_snapshot!("error_brace_array", rendered_error("Foo.som", source));
}

#[test]
fn error_radix_number() {
    let source = "Foo = (\n    bar = ( ^ 16r1F )\n)\n";
    insta::assert_snapshot!("error_radix_number", rendered_error("Foo.som", source));
}

#[test]
fn error_exponent_number() {
    let source = "Foo = (\n    bar = ( ^ 2.5e3 )\n)\n";
    insta::assert_snapshot!("error_exponent_number", rendered_error("Foo.som", source));
}

#[test]
fn error_unterminated_string() {
    let source = "Foo = (\n    bar = ( ^ 'never\n    closed )\n)\n";
    insta::assert_snapshot!(
        "error_unterminated_string",
        rendered_error("Foo.som", source)
    );
}

#[test]
fn error_unterminated_comment() {
    let source = "Foo = (\n    \"never closed\n    bar = ( ^ 1 )\n)\n";
    insta::assert_snapshot!(
        "error_unterminated_comment",
        rendered_error("Foo.som", source)
    );
}

#[test]
fn error_unknown_escape() {
    let source = "Foo = (\n    bar = ( ^ 'tab\\qx' )\n)\n";
    insta::assert_snapshot!("error_unknown_escape", rendered_error("Foo.som", source));
}

#[test]
fn error_return_not_last() {
    let source = "Foo = (\n    bar = (\n        ^ 1.\n        2\n    )\n)\n";
    insta::assert_snapshot!("error_return_not_last", rendered_error("Foo.som", source));
}

#[test]
fn error_unexpected_character() {
    let source = "Foo = (\n    bar = ( ^ 1 ! 2 )\n)\n";
    insta::assert_snapshot!(
        "error_unexpected_character",
        rendered_error("Foo.som", source)
    );
}

#[test]
fn error_column_counts_characters() {
    // Multi-byte characters before the error: the column is 22 (characters), not 27 (bytes).
    let source = "Foo = (\n    bar = ( 'äöü€' + )\n)\n";
    insta::assert_snapshot!(
        "error_column_in_characters",
        rendered_error("Foo.som", source)
    );
}

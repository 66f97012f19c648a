//! Parser edge cases, checked against hand-written expectations in the printer's notation.
//!
//! Owns: the unit tests of `parse_class` (shapes, spans, depth, error messages). Must never:
//! take an expected value from the parser's own output without checking it by hand.

use num_bigint::BigInt;

use super::ast::*;
use super::printer::{dump, dump_method};
use super::{parse_class, SyntaxError};

/// Parses `Test = ( m = ( <body> ) )` and prints the one method.
fn method(body: &str) -> String {
    let source = format!("Test = ( m = ( {body} ) )");
    let class = parse_class(&source)
        .unwrap_or_else(|e| panic!("{body:?}: {}", e.render("Test.som", &source)));
    dump_method(&class.instance_methods[0])
}

/// The statements of `method(body)` without the `(method m` wrapper.
fn stmts(body: &str) -> String {
    let printed = method(body);
    printed
        .strip_prefix("(method m ")
        .and_then(|s| s.strip_suffix(')'))
        .unwrap_or(&printed)
        .to_string()
}

fn error(source: &str) -> SyntaxError {
    parse_class(source).expect_err("a syntax error")
}

fn first_statement(source_body: &str) -> (String, Expr) {
    let source = format!("Test = ( m = ( {source_body} ) )");
    let class = parse_class(&source).unwrap();
    let MethodBody::Code(body) = &class.instance_methods[0].body else {
        panic!()
    };
    (source, body.statements[0].clone())
}

fn text(source: &str, span: Span) -> &str {
    &source[span.start as usize..span.end as usize]
}

#[test]
fn negative_literals_where_a_literal_may_stand() {
    assert_eq!(stmts("x := -5"), "(:= x -5)");
    assert_eq!(stmts("^ #(-1 2.5)"), "(^ #(-1 2.5))");
    assert_eq!(stmts("^ 3 - -1"), "(^ (- 3 -1))");
    assert_eq!(stmts("self foo: -2"), "(foo: self -2)");
    assert_eq!(stmts("^-3"), "(^ -3)");
    assert_eq!(stmts("^ -2.5"), "(^ -2.5)");
    assert_eq!(stmts("^ (-7)"), "(^ -7)");
    assert_eq!(stmts("^ x at: 1 put: -1"), "(^ (at:put: x 1 -1))");
}

#[test]
fn minus_after_a_receiver_is_a_send() {
    assert_eq!(stmts("^ 3-1"), "(^ (- 3 1))");
    assert_eq!(stmts("^ 3 - 1"), "(^ (- 3 1))");
    assert_eq!(stmts("^ x -1"), "(^ (- x 1))");
    assert_eq!(stmts("^ x-y"), "(^ (- x y))");
    // A space after `-` makes it an operator in array position too: the symbol `-`.
    assert_eq!(stmts("^ #(- 1)"), "(^ #(#- 1))");
}

#[test]
fn period_after_an_integer_ends_the_statement() {
    assert_eq!(stmts("x := 1. y := 2"), "(:= x 1) (:= y 2)");
    assert_eq!(stmts("^ 1."), "(^ 1)");
    assert_eq!(stmts("x := 1.5. ^ x"), "(:= x 1.5) (^ x)");
}

#[test]
fn separator_and_dash_operators() {
    assert_eq!(stmts("^ a --> b"), "(^ (--> a b))");
    assert_eq!(stmts("^ a -- b"), "(^ (-- a b))");
    assert_eq!(stmts("^ a --- b"), "(^ (--- a b))");
    let class = parse_class("A = ( a = ( ) ---- b = ( ) )").unwrap();
    assert_eq!(class.instance_methods[0].selector, "a");
    assert_eq!(class.class_methods[0].selector, "b");
    let class = parse_class("A = ( a = ( ) ------------------------ | x y | b = ( ) )").unwrap();
    assert_eq!(
        dump(&class),
        "class A\n  (method a)\n  ----\n  |x y|\n  (method b)\n"
    );
}

#[test]
fn binary_operators_including_bar_and_equal() {
    assert_eq!(stmts("^ a | b"), "(^ (| a b))");
    assert_eq!(stmts("^ a = b"), "(^ (= a b))");
    assert_eq!(stmts("^ a || b && c"), "(^ (&& (|| a b) c))");
    assert_eq!(
        stmts("^ a <= b >= c ~= d <> e"),
        "(^ (<> (~= (>= (<= a b) c) d) e))"
    );
    assert_eq!(
        stmts("^ a // b \\ c , d @ e % f >>> g << h"),
        "(^ (<< (>>> (% (@ (, (\\ (// a b) c) d) e) f) g) h))"
    );
}

#[test]
fn precedence_unary_binary_keyword() {
    assert_eq!(
        stmts("^ a b + c d foo: e f - g bar: h"),
        "(^ (foo:bar: (+ (b a) (d c)) (- (f e) g) h))"
    );
    assert_eq!(stmts("^ (a foo: b) bar"), "(^ (bar (foo: a b)))");
    assert_eq!(stmts("^ a foo: (b bar: c)"), "(^ (foo: a (bar: b c)))");
}

#[test]
fn chained_assignment() {
    assert_eq!(stmts("a := b := 3 + 4"), "(:= a b (+ 3 4))");
    let (source, e) = first_statement("a := b := 3 + 4");
    let ExprKind::Assign { targets, value } = &e.kind else {
        panic!()
    };
    assert_eq!(
        targets
            .iter()
            .map(|t| text(&source, t.span))
            .collect::<Vec<_>>(),
        ["a", "b"]
    );
    assert_eq!(text(&source, value.span), "3 + 4");
    assert_eq!(text(&source, e.span), "a := b := 3 + 4");
    assert_eq!(stmts("x:=y:=1"), "(:= x y 1)");
}

#[test]
fn blocks() {
    assert_eq!(
        stmts("^ [:a :b | | t | t := a. t]"),
        "(^ (block [a b] |t| (:= t a) t))"
    );
    assert_eq!(stmts("^ [:x | ]"), "(^ (block [x]))");
    assert_eq!(stmts("^ []"), "(^ (block))");
    assert_eq!(stmts("^ [ | t | ]"), "(^ (block |t|))");
    assert_eq!(stmts("^ [:x | ^ x]"), "(^ (block [x] (^ x)))");
    assert_eq!(stmts("^ [ 1. 2. ]"), "(^ (block 1 2))");
}

#[test]
fn literals() {
    assert_eq!(
        stmts("^ #(1 #(2 3) foo #bar 'str' -4 2.5 at:put: + )"),
        "(^ #(1 #(2 3) #foo #bar 'str' -4 2.5 #at:put: #+))"
    );
    assert_eq!(
        stmts("^ #(true false nil primitive at: | = (a) ())"),
        "(^ #(#true #false #nil #primitive #at: #| #= #(#a) #()))"
    );
    assert_eq!(stmts("^ #foo"), "(^ #foo)");
    assert_eq!(stmts("^ #at:put:"), "(^ #at:put:)");
    assert_eq!(stmts("^ #+"), "(^ #+)");
    assert_eq!(stmts("^ #'a string symbol'"), "(^ #'a string symbol')");
    assert_eq!(stmts("^ #()"), "(^ #())");
}

#[test]
fn big_integers() {
    let (_, e) = first_statement("^ 100000000000000000000000000");
    let ExprKind::Return(value) = e.kind else {
        panic!()
    };
    let expected: BigInt = "100000000000000000000000000".parse().unwrap();
    assert_eq!(
        value.kind,
        ExprKind::Literal(Literal::Integer(expected.clone()))
    );
    let (_, e) = first_statement("^ -100000000000000000000000000");
    let ExprKind::Return(value) = e.kind else {
        panic!()
    };
    assert_eq!(value.kind, ExprKind::Literal(Literal::Integer(-expected)));
}

#[test]
fn strings_hold_unicode_and_resolve_escapes() {
    let (_, e) = first_statement("^ 'häßlich €'");
    let ExprKind::Return(value) = e.kind else {
        panic!()
    };
    let ExprKind::Literal(Literal::String(s)) = value.kind else {
        panic!()
    };
    assert_eq!(s, "häßlich €");
    assert_eq!(s.chars().count(), 9);

    let (_, e) = first_statement(r"^ '\t\b\n\r\f\0\'\\'");
    let ExprKind::Return(value) = e.kind else {
        panic!()
    };
    assert_eq!(
        value.kind,
        ExprKind::Literal(Literal::String("\t\u{8}\n\r\u{c}\0'\\".into()))
    );

    let (_, e) = first_statement("^ 'two\nlines'");
    let ExprKind::Return(value) = e.kind else {
        panic!()
    };
    assert_eq!(
        value.kind,
        ExprKind::Literal(Literal::String("two\nlines".into()))
    );
}

#[test]
fn primitive_is_also_an_identifier() {
    assert_eq!(
        stmts("| primitive | primitive := 3. ^ primitive primitive"),
        "|primitive| (:= primitive 3) (^ (primitive primitive))"
    );
    let class =
        parse_class("A = ( primitive = primitive  foo: primitive = ( ^ primitive ) )").unwrap();
    assert_eq!(
        dump(&class),
        "class A\n  (method primitive primitive)\n  (method foo: [primitive] (^ primitive))\n"
    );
}

#[test]
fn class_headers_and_sides() {
    let class = parse_class("Object = nil ( )").unwrap();
    assert_eq!(
        class.superclass.as_ref().map(|s| s.name.as_str()),
        Some("nil")
    );
    let class = parse_class("Foo = ( )").unwrap();
    assert_eq!(class.superclass, None);
    let class = parse_class("Foo = Bar ( | a b | | c = ( ^ a ) ---- | d | e = ( ^ d ) )").unwrap();
    assert_eq!(
        dump(&class),
        "class Foo < Bar\n  |a b|\n  (method | [c] (^ a))\n  ----\n  |d|\n  (method e (^ d))\n"
    );
    // Without fields, a leading `| name =` is the binary method `|`, not a field list.
    let class = parse_class("Foo = ( | other = ( ^ other ) ---- | x = ( ) )").unwrap();
    assert_eq!(
        dump(&class),
        "class Foo\n  (method | [other] (^ other))\n  ----\n  (method | [x])\n"
    );
    let class = parse_class("Foo = ( | | ---- | | )").unwrap();
    assert!(class.instance_fields.is_empty() && class.class_fields.is_empty());
}

#[test]
fn method_patterns() {
    let class =
        parse_class("A = ( foo = ( ) + x = ( ) = x = ( ) - x = ( ) at: i put: v = ( ) )").unwrap();
    let shapes: Vec<_> = class
        .instance_methods
        .iter()
        .map(|m| {
            (
                m.selector.as_str(),
                m.kind,
                m.params.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(),
            )
        })
        .collect();
    assert_eq!(
        shapes,
        vec![
            ("foo", PatternKind::Unary, vec![]),
            ("+", PatternKind::Binary, vec!["x"]),
            ("=", PatternKind::Binary, vec!["x"]),
            ("-", PatternKind::Binary, vec!["x"]),
            ("at:put:", PatternKind::Keyword, vec!["i", "v"]),
        ]
    );
}

#[test]
fn spans() {
    let source = "A = (\n  at: i put: v = ( ^ self foo: i + 1 bar: v )\n  x = primitive\n)";
    let class = parse_class(source).unwrap();
    assert_eq!(class.span, Span::new(0, source.len()));
    assert_eq!(text(source, class.name.span), "A");
    let m = &class.instance_methods[0];
    assert_eq!(
        text(source, m.span),
        "at: i put: v = ( ^ self foo: i + 1 bar: v )"
    );
    assert_eq!(text(source, m.params[1].span), "v");
    let MethodBody::Code(body) = &m.body else {
        panic!()
    };
    assert_eq!(text(source, body.span), " ^ self foo: i + 1 bar: v ");
    let ret = &body.statements[0];
    assert_eq!(text(source, ret.span), "^ self foo: i + 1 bar: v");
    let ExprKind::Return(send) = &ret.kind else {
        panic!()
    };
    let ExprKind::Send {
        receiver,
        selector,
        selector_span,
        args,
    } = &send.kind
    else {
        panic!()
    };
    assert_eq!(selector, "foo:bar:");
    assert_eq!(text(source, *selector_span), "foo: i + 1 bar:");
    assert_eq!(text(source, send.span), "self foo: i + 1 bar: v");
    assert_eq!(text(source, receiver.span), "self");
    assert_eq!(text(source, args[0].span), "i + 1");
    let ExprKind::Send { selector_span, .. } = &args[0].kind else {
        panic!()
    };
    assert_eq!(text(source, *selector_span), "+");
    assert_eq!(
        text(source, class.instance_methods[1].span),
        "x = primitive"
    );

    let (source, e) = first_statement("^ (a + b) foo");
    let ExprKind::Return(send) = &e.kind else {
        panic!()
    };
    let ExprKind::Send {
        receiver,
        selector_span,
        ..
    } = &send.kind
    else {
        panic!()
    };
    assert_eq!(text(&source, receiver.span), "(a + b)");
    assert_eq!(text(&source, *selector_span), "foo");
    assert_eq!(text(&source, send.span), "(a + b) foo");

    let (source, e) = first_statement("[:x | | t | x] value: -3");
    let ExprKind::Send { receiver, args, .. } = &e.kind else {
        panic!()
    };
    assert_eq!(text(&source, receiver.span), "[:x | | t | x]");
    let ExprKind::Block(block) = &receiver.kind else {
        panic!()
    };
    assert_eq!(text(&source, block.span), "[:x | | t | x]");
    assert_eq!(text(&source, block.body.span), " | t | x");
    assert_eq!(text(&source, args[0].span), "-3");
}

#[test]
fn comments_anywhere() {
    let source = "\"head\" A \"x\" = \"y\" ( \"z\" foo \"p\" = ( \"multi\nline\" ^ 1 \"after\" ) \"end\" ) \"tail\"";
    assert_eq!(
        dump(&parse_class(source).unwrap()),
        "class A\n  (method foo (^ 1))\n"
    );
}

/// Deep nesting must not overflow the stack: the parser is LR with a heap stack. Run on a
/// thread with a small stack so the test proves it rather than relying on a big default.
fn on_small_stack<F: FnOnce() + Send + 'static>(f: F) {
    on_stack(1 << 20, f)
}

fn on_stack<F: FnOnce() + Send + 'static>(bytes: usize, f: F) {
    std::thread::Builder::new()
        .stack_size(bytes)
        .spawn(f)
        .unwrap()
        .join()
        .unwrap();
}

#[test]
fn deeply_nested_parentheses() {
    on_small_stack(|| {
        let depth = 5000;
        let source = format!(
            "A = ( m = ( ^ {}1{} ) )",
            "(".repeat(depth),
            ")".repeat(depth)
        );
        let class = parse_class(&source).unwrap();
        assert_eq!(dump(&class), "class A\n  (method m (^ 1))\n");
    });
}

#[test]
fn deeply_nested_blocks() {
    on_small_stack(|| {
        let depth = 2000;
        let source = format!(
            "A = ( m = ( ^ {}1{} ) )",
            "[".repeat(depth),
            "]".repeat(depth)
        );
        let class = parse_class(&source).unwrap();
        let MethodBody::Code(body) = &class.instance_methods[0].body else {
            panic!()
        };
        let ExprKind::Return(mut e) = body.statements[0].kind.clone() else {
            panic!()
        };
        let mut levels = 0;
        while let ExprKind::Block(block) = e.kind {
            levels += 1;
            *e = block.body.statements.into_iter().next().unwrap();
        }
        assert_eq!(levels, depth);
        // Dropping the deep tree happens on this small stack too.
        drop(class);
    });
}

#[test]
fn deeply_nested_sends_in_parentheses() {
    on_small_stack(|| {
        let depth = 5000;
        let source = format!(
            "A = ( m = ( ^ {}1{} ) )",
            "(".repeat(depth),
            " + 1)".repeat(depth)
        );
        assert!(parse_class(&source).is_ok());
    });
}

/// Beyond `MAX_NESTING` levels the parser stops with a syntax error at the node that crossed
/// the limit, before a deeper tree exists: everything after the parser (lowering, engines,
/// printing, dropping) recurses over the tree. A million levels of every shape that nests,
/// on a small stack.
#[test]
fn nesting_beyond_the_limit_is_a_syntax_error() {
    // A tree at the limit takes a few MiB of stack to drop (the parser drops what it built
    // when it stops); a tree as deep as the input would take hundreds.
    on_stack(4 << 20, || {
        let n = 1_000_000;
        let cases: Vec<(String, &str, &str)> = vec![
            ("1 + ".repeat(n) + "1", "expression nested too deeply", "+"),
            (
                "1".to_string() + &" abs".repeat(n),
                "expression nested too deeply",
                "abs",
            ),
            (
                "x := (".repeat(n) + "1" + &")".repeat(n),
                "brackets nested too deeply",
                "(",
            ),
            (
                "[".repeat(n) + &"]".repeat(n),
                "brackets nested too deeply",
                "[",
            ),
            (
                "#".to_string() + &"(".repeat(n),
                "brackets nested too deeply",
                "(",
            ),
            (
                "^ ".to_string() + &"#(".repeat(n),
                "brackets nested too deeply",
                "#(",
            ),
            // Within the bracket limit, but each block adds two levels (block, send).
            (
                "[:a | a value: ".repeat(6000) + "1" + &"]".repeat(6000),
                "expression nested too deeply",
                "[",
            ),
        ];
        for (body, message, at) in cases {
            let source = format!("A = ( m = ( {body} ) )");
            let Err(e) = parse_class(&source) else {
                panic!("{message}: accepted");
            };
            assert!(e.message.contains(message), "{}", e.message);
            assert!(e.message.contains("10000"), "{}", e.message);
            let found = &source[e.span.start as usize..e.span.end as usize];
            assert!(found.starts_with(at), "{found:?} for {message}");
            assert!(e.render("A.som", &source).contains("A.som:1:"));
        }
    });
}

/// The limit is exact: a chain of 10 000 levels parses, one more does not, and the error
/// points at the send that added the level.
#[test]
fn nesting_up_to_the_limit_is_accepted() {
    on_stack(4 << 20, || {
        let at_limit = "1".to_string() + &" + 1".repeat(MAX_NESTING as usize - 1);
        let source = format!("A = ( m = ( {at_limit} ) )");
        let class = parse_class(&source).expect("10 000 levels are allowed");
        let MethodBody::Code(body) = &class.instance_methods[0].body else {
            panic!()
        };
        assert_eq!(body.statements[0].depth, MAX_NESTING);

        let source = format!("A = ( m = ( {at_limit} + 1 ) )");
        let Err(e) = parse_class(&source) else {
            panic!("one level too many was accepted");
        };
        let last_plus = source.rfind('+').unwrap() as u32;
        assert_eq!((e.span.start, e.span.end), (last_plus, last_plus + 1));
    });
}

#[test]
fn error_messages_and_positions() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "A = ( m = ( ^ ) )",
            "unexpected ')' — expected an expression",
            ")",
        ),
        (
            "A = ( m ^ )",
            "unexpected '^' — expected '=' after the method pattern",
            "^",
        ),
        (
            "A = ( at: x foo )",
            "unexpected identifier 'foo' — expected '=' after the method pattern",
            "foo",
        ),
        (
            "A = ( m = ( ^ 1 )",
            "unexpected end of file — expected ')' to close class A",
            "",
        ),
        (
            "A = ( m = ( x foo; bar ) )",
            "cascades (`;`) are not part of SOM",
            ";",
        ),
        (
            "A = ( m = ( ^ $a ) )",
            "character literals (`$a`) are not part of SOM",
            "$a",
        ),
        (
            "A = ( m = ( ^ {1} ) )",
            "brace arrays (`{}`) are not part of SOM",
            "{",
        ),
        (
            "A = ( m = ( ^ 16r1F ) )",
            "'16r1F' is not a SOM number: numbers have no radix (16r1F) or exponent (1e10) in SOM",
            "16r1F",
        ),
        (
            "A = ( m = ( ^ 2.5e3 ) )",
            "'2.5e3' is not a SOM number",
            "2.5e3",
        ),
        (
            "A = ( m = ( ^ 1e-5 ) )",
            "'1e-5' is not a SOM number",
            "1e-5",
        ),
        ("A = ( m = ( ^ 'abc ) )", "unterminated string", "'"),
        ("A = ( m = ( ^ 1 ) ) \"abc", "unterminated comment", "\""),
        (
            "A = ( m = ( ^ 'a\\qb' ) )",
            "unknown escape '\\q' in string; SOM knows \\t \\b \\n \\r \\f \\0 \\' \\\\",
            "\\q",
        ),
        (
            "A = ( m = ( ^ 1. 2 ) )",
            "a return (`^`) must be the last statement of a body",
            "^",
        ),
        (
            "A = ( m = ( [ ^ 1. 2 ] ) )",
            "a return (`^`) must be the last statement of a body",
            "^",
        ),
        ("A = ( m = ( ^ 1 ! ) )", "unexpected character '!'", "!"),
        (
            "A = ( m = ( ^ 1 ) ) B",
            "unexpected identifier 'B' after the end of class A: a file holds one class",
            "B",
        ),
        (
            "A ( )",
            "unexpected '(' — expected '=' after the class name 'A'",
            "(",
        ),
        (
            "A = ( m = ( 3 4 ) )",
            "unexpected number 4 — expected a message, '.' or ')'",
            "4",
        ),
        (
            "A = ( m = [ ] )",
            "unexpected '[' — expected '(' to start the method body, or 'primitive'",
            "[",
        ),
        (
            "A = ( m = ( ^ #(1 :=) ) )",
            "unexpected ':=' — expected a literal array element or ')'",
            ":=",
        ),
        (
            "A = ( m = ( [ ^ 1 ) )",
            "unexpected ')' — expected ']'",
            ")",
        ),
        (
            "A = ( m = ( ^ [:x ) )",
            "unexpected ')' — expected ':' or '|'",
            ")",
        ),
        (
            "A = ( 3 )",
            "unexpected number 3 — expected a method definition, the separator '----' or ')'",
            "3",
        ),
        (
            "A = ( m = ( ^ [1",
            "unexpected end of file — expected ']' to close the block opened on line 1",
            "",
        ),
    ];
    for (source, message, at) in cases {
        let e = error(source);
        assert!(
            e.message.starts_with(message),
            "{source:?}: got {:?}",
            e.message
        );
        assert_eq!(
            text(source, e.span),
            *at,
            "{source:?}: span of {:?}",
            e.message
        );
    }
}

#[test]
fn line_and_column_of_an_error() {
    let source = "A = (\n  m = (\n    ^ €€ )\n)";
    let e = error(source);
    // The `€` is three bytes; columns count characters.
    assert_eq!(e.line_col(source), (3, 7));
}

/// Pseudo-random inputs built from SOM fragments and odd characters: every one must give a
/// tree or a `SyntaxError` whose rendering works — never a panic.
#[test]
fn random_input_never_panics() {
    const FRAGMENTS: &[&str] = &[
        "A",
        "=",
        "(",
        ")",
        "[",
        "]",
        "#(",
        "#",
        "#foo",
        "#at:put:",
        "#'s'",
        "'str'",
        "'",
        "\"c\"",
        "\"",
        "x",
        "foo:",
        "at:put:",
        ":",
        ":=",
        "x:=",
        "^",
        ".",
        "|",
        "||",
        "-",
        "-1",
        "1.5",
        "1.",
        "16r1F",
        "1e5",
        "----",
        "+",
        "<=",
        "primitive",
        "$",
        ";",
        "{",
        "}",
        "!",
        "€",
        "é",
        "\\",
        "'\\q'",
        "'\\n'",
        " ",
        "\n",
        "\t",
        "-->",
        "--",
        "3",
    ];
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for _ in 0..20_000 {
        let len = next() % 40;
        let mut source = String::from(if next() % 2 == 0 { "A = ( m = ( " } else { "" });
        for _ in 0..len {
            source.push_str(FRAGMENTS[(next() % FRAGMENTS.len() as u64) as usize]);
            if next() % 3 == 0 {
                source.push(' ');
            }
        }
        if let Err(e) = parse_class(&source) {
            let (line, column) = e.line_col(&source);
            let rendered = e.render("R.som", &source);
            assert!(
                rendered.contains(&format!("R.som:{line}:{column}")),
                "{source:?}\n{rendered}"
            );
        }
    }
}

//! A compact text form of the parse tree, for `som -d` and for snapshot tests.
//!
//! Owns: the printed notation — a header per class and one S-expression per method, sends
//! as `(selector receiver args…)`, blocks as `(block [params] |locals| statements…)`. Must
//! never: print spans or anything not in the tree, so the output only changes when the parse
//! changes.

use std::fmt::Write;

use super::ast::*;

/// The whole class: header, fields, one method per line, then the class side after `----`.
pub fn dump(class: &ClassDef) -> String {
    let mut out = format!("class {}", class.name.name);
    if let Some(superclass) = &class.superclass {
        let _ = write!(out, " < {}", superclass.name);
    }
    out.push('\n');
    dump_side(&mut out, &class.instance_fields, &class.instance_methods);
    if !class.class_fields.is_empty() || !class.class_methods.is_empty() {
        out.push_str("  ----\n");
        dump_side(&mut out, &class.class_fields, &class.class_methods);
    }
    out
}

fn dump_side(out: &mut String, fields: &[Ident], methods: &[MethodDef]) {
    if !fields.is_empty() {
        let _ = writeln!(out, "  {}", names_between_bars(fields));
    }
    for method in methods {
        let _ = writeln!(out, "  {}", dump_method(method));
    }
}

/// One method on one line: `(method at:put: [i v] |t| statements…)`.
pub fn dump_method(method: &MethodDef) -> String {
    let mut out = format!("(method {}", method.selector);
    if !method.params.is_empty() {
        let _ = write!(out, " {}", names_in_brackets(&method.params));
    }
    match &method.body {
        MethodBody::Primitive => out.push_str(" primitive"),
        MethodBody::Code(body) => write_body(&mut out, body),
    }
    out.push(')');
    out
}

/// One expression, as it appears inside [`dump_method`].
pub fn dump_expr(expr: &Expr) -> String {
    let mut out = String::new();
    write_expr(&mut out, expr);
    out
}

fn write_body(out: &mut String, body: &Body) {
    if !body.locals.is_empty() {
        let _ = write!(out, " {}", names_between_bars(&body.locals));
    }
    for statement in &body.statements {
        out.push(' ');
        write_expr(out, statement);
    }
}

fn write_expr(out: &mut String, expr: &Expr) {
    match &expr.kind {
        ExprKind::Variable(name) => out.push_str(name),
        ExprKind::Assign { targets, value } => {
            out.push_str("(:=");
            for target in targets {
                let _ = write!(out, " {}", target.name);
            }
            out.push(' ');
            write_expr(out, value);
            out.push(')');
        }
        ExprKind::Send {
            receiver,
            selector,
            args,
            ..
        } => {
            let _ = write!(out, "({selector} ");
            write_expr(out, receiver);
            for arg in args {
                out.push(' ');
                write_expr(out, arg);
            }
            out.push(')');
        }
        ExprKind::Block(block) => {
            out.push_str("(block");
            if !block.params.is_empty() {
                let _ = write!(out, " {}", names_in_brackets(&block.params));
            }
            write_body(out, &block.body);
            out.push(')');
        }
        ExprKind::Literal(literal) => write_literal(out, literal),
        ExprKind::Return(value) => {
            out.push_str("(^ ");
            write_expr(out, value);
            out.push(')');
        }
    }
}

fn write_literal(out: &mut String, literal: &Literal) {
    match literal {
        Literal::Integer(n) => {
            let _ = write!(out, "{n}");
        }
        // `{:?}` keeps the `.0` of integral doubles, so `2.0` never reads as an integer.
        Literal::Double(d) => {
            let _ = write!(out, "{d:?}");
        }
        Literal::String(s) => write_quoted(out, s),
        Literal::Symbol(s) => {
            out.push('#');
            if is_bare_symbol(s) {
                out.push_str(s);
            } else {
                write_quoted(out, s);
            }
        }
        Literal::Array(elements) => {
            out.push_str("#(");
            for (i, element) in elements.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                write_literal(out, element);
            }
            out.push(')');
        }
    }
}

/// A string in SOM notation, escaped so the output reads back to the same string.
fn write_quoted(out: &mut String, s: &str) {
    out.push('\'');
    for c in s.chars() {
        match c {
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\u{c}' => out.push_str("\\f"),
            '\0' => out.push_str("\\0"),
            '\'' => out.push_str("\\'"),
            '\\' => out.push_str("\\\\"),
            c => out.push(c),
        }
    }
    out.push('\'');
}

/// Whether `#s` lexes back as this symbol without quotes: a name, a keyword sequence or an
/// operator.
fn is_bare_symbol(s: &str) -> bool {
    let is_name = |part: &str| {
        let mut chars = part.chars();
        chars.next().is_some_and(|c| c.is_ascii_alphabetic())
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
    };
    if let Some(keywords) = s.strip_suffix(':') {
        return keywords.split(':').all(is_name);
    }
    is_name(s) || (!s.is_empty() && s.chars().all(|c| "~&|*/\\+=><,@%-".contains(c)))
}

fn names_between_bars(names: &[Ident]) -> String {
    let names: Vec<&str> = names.iter().map(|n| n.name.as_str()).collect();
    format!("|{}|", names.join(" "))
}

fn names_in_brackets(names: &[Ident]) -> String {
    let names: Vec<&str> = names.iter().map(|n| n.name.as_str()).collect();
    format!("[{}]", names.join(" "))
}

//! Shared set-up for the bytecode engine's integration tests: a universe over
//! `tests/programs` with the core classes loaded, and compiling methods to `BcMethod`s.

#![allow(dead_code)]

use std::path::PathBuf;

use bc_interp::bytecode::Op;
use bc_interp::method::BcMethod;
use bc_interp::{compiler, BcEngine};
use lang::gc::GcConfig;
use lang::gc::Kind;
use lang::runtime::class::Class;
use lang::runtime::engine::Unwind;
use lang::runtime::method::Method;
use lang::runtime::object;
use lang::runtime::universe::{Options, Universe};

pub fn programs_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/programs"))
}

/// An engine over a universe whose classpath is `tests/programs`, bootstrap classes loaded.
pub fn engine() -> BcEngine {
    engine_with(vec![programs_dir()])
}

/// An engine over a universe with `classpath`, bootstrap classes loaded.
pub fn engine_with(classpath: Vec<PathBuf>) -> BcEngine {
    let u = Universe::new(classpath, GcConfig::default(), Options::default());
    let mut e = BcEngine::new(u);
    e.u.load_bootstrap_classes()
        .unwrap_or_else(|err| panic!("bootstrap: {}", describe(&err)));
    e
}

pub fn describe(err: &Unwind) -> String {
    match err {
        Unwind::Error(e) => e.report(),
        other => format!("{other:?}"),
    }
}

pub fn load(e: &mut BcEngine, name: &str) -> &'static Class {
    e.u.load_class(name)
        .unwrap_or_else(|err| panic!("loading {name}: {}", describe(&err)))
        .unwrap_or_else(|| panic!("no class {name}"))
}

/// The method `selector` defined in `holder` itself.
pub fn method(e: &mut BcEngine, holder: &'static Class, selector: &str) -> &'static Method {
    let sym = e.u.intern(selector);
    holder
        .local_method(sym)
        .unwrap_or_else(|| panic!("{} has no method {selector}", holder.name_str()))
}

/// A fresh compilation of `m` (not the engine's cached one: the tests may mutate it).
pub fn compile(e: &mut BcEngine, m: &'static Method) -> BcMethod {
    let code = m.code().expect("a method with code");
    compiler::compile(&mut e.u, m, code)
        .unwrap_or_else(|err| panic!("compiling {}: {err:?}", m.display_name()))
}

/// The block methods among a compiled method's literals, in literal order.
pub fn blocks(bc: &BcMethod) -> Vec<&'static Method> {
    bc.literals
        .iter()
        .filter(|v| v.is_ref() && object::kind(**v) == Kind::Method)
        .map(|v| Method::from_value(*v))
        .collect()
}

/// The instructions of compiled code: (pc, op, operands).
pub fn instructions(bc: &BcMethod) -> Vec<(usize, Op, Vec<usize>)> {
    bc.code
        .iter()
        .enumerate()
        .map(|(pc, i)| (pc, i.op, i.operands()))
        .collect()
}

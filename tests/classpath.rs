//! Class loading follows the classpath strictly in order, with the embedded core library last
//! (SOM.md): programs and directories can shadow library and bootstrap classes.

mod common;

use common::som;

#[test]
fn a_classpath_class_shadows_the_core_library() {
    let run = som(&[
        "-cp",
        "tests/classpath/shadow",
        "tests/classpath/ShadowMain.som",
    ]);
    assert_eq!(
        (run.status, run.stdout.as_str()),
        (0, "shadow Vector from the classpath\n"),
        "{}",
        run.stderr
    );
}

#[test]
fn without_the_directory_the_core_library_class_is_used() {
    let run = som(&["tests/classpath/ShadowMain.som"]);
    assert_eq!(run.status, 1);
    assert!(
        run.stdout
            .contains("Method origin not found in class Vector"),
        "{}",
        run.stdout
    );
}

#[test]
fn a_classpath_directory_supplies_bootstrap_class_methods() {
    let run = som(&[
        "-cp",
        "tests/classpath/bootstrap",
        "tests/classpath/BootstrapMain.som",
    ]);
    assert_eq!(
        (run.status, run.stdout.as_str()),
        (0, "42\n"),
        "{}",
        run.stderr
    );
}

#[test]
fn the_core_library_directory_can_be_named_on_the_classpath() {
    let run = som(&["-cp", "lang/core-lib", "examples/Hello.som"]);
    assert_eq!(
        (run.status, run.stdout.as_str()),
        (0, "Hello, World!\n"),
        "{}",
        run.stderr
    );
}

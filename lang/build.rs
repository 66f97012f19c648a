//! Build steps of `lang`: the lalrpop parser and the table of embedded core-library files.

use std::fmt::Write;
use std::path::Path;

fn main() {
    embed_core_lib();
    lalrpop::Configuration::new()
        .use_cargo_dir_conventions()
        // Only the grammar's own changes should re-run the generator, not every source edit.
        .emit_rerun_directives(true)
        .process()
        .expect("LALRPOP failed to generate the SOM parser");
}

/// Writes `core_lib_files.rs`: `CORE_LIB_FILES`, a (class name, source) pair per `.som` file
/// in `core-lib/`, so the binary carries its library and needs no path to find it.
fn embed_core_lib() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("core-lib");
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .expect("lang/core-lib exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "som"))
        .collect();
    entries.sort();
    let mut out = String::from("pub static CORE_LIB_FILES: &[(&str, &str)] = &[\n");
    for path in entries {
        println!("cargo:rerun-if-changed={}", path.display());
        let name = path.file_stem().unwrap().to_string_lossy();
        writeln!(
            out,
            "    ({name:?}, include_str!({:?})),",
            path.display().to_string()
        )
        .unwrap();
    }
    out.push_str("];\n");
    let target = Path::new(&std::env::var("OUT_DIR").unwrap()).join("core_lib_files.rs");
    std::fs::write(target, out).unwrap();
}

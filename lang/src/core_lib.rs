//! The core library's SOM source, embedded in the binary at build time from `lang/core-lib/`.
//!
//! Owns: access to the embedded sources by class name. Must never: parse or load them.

include!(concat!(env!("OUT_DIR"), "/core_lib_files.rs"));

/// The embedded source of class `name`, if the core library has it.
pub fn source(name: &str) -> Option<&'static str> {
    CORE_LIB_FILES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, s)| *s)
}

/// The class names the embedded library defines.
pub fn class_names() -> impl Iterator<Item = &'static str> {
    CORE_LIB_FILES.iter().map(|(n, _)| *n)
}

/// The directory of the core library in this repository (usable on a classpath).
pub fn source_dir() -> &'static str {
    concat!(env!("CARGO_MANIFEST_DIR"), "/core-lib")
}

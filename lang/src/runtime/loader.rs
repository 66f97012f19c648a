//! Class loading: finding a class's source on the classpath (the embedded core library
//! last), parsing it, and building the class, its metaclass and its methods.
//!
//! Owns: the search order, bootstrap loading of the core classes into the classes that exist
//! from the start, superclass resolution, field layouts and binding `primitive` methods.
//! Must never: run SOM code.

use std::path::Path;

use crate::compile::{lower_method, ClassScope, LineIndex};
use crate::core_lib;
use crate::primitives;
use crate::runtime::class::Class;
use crate::runtime::engine::{RuntimeError, Unwind};
use crate::runtime::method::MethodBody;
use crate::runtime::universe::{Universe, BOOTSTRAP_CLASSES};
use crate::syntax::{self, ast, SyntaxError};

/// A class's source and the name to show for it in messages.
pub struct ClassSource {
    pub display_path: String,
    pub text: String,
}

fn compile_error(rendered: String) -> Unwind {
    Unwind::Error(Box::new(RuntimeError {
        message: rendered,
        backtrace: Vec::new(),
        is_compile_error: true,
    }))
}

impl Universe {
    /// The source of class `name`: the first classpath directory that has `name.som`, else
    /// the embedded core library.
    /// A class file that exists but cannot be read (not UTF-8, no permission) is an error:
    /// skipping it would silently load a class from further down the classpath.
    pub fn find_class_source(&self, name: &str) -> Result<Option<ClassSource>, Unwind> {
        let file = format!("{name}.som");
        for dir in &self.classpath {
            let path = dir.join(&file);
            if path.is_file() {
                return match std::fs::read_to_string(&path) {
                    Ok(text) => Ok(Some(ClassSource {
                        display_path: path.display().to_string(),
                        text,
                    })),
                    Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                        Err(self.error(format!(
                            "cannot load class {name}: {} is not UTF-8 text",
                            path.display()
                        )))
                    }
                    Err(e) => Err(self.error(format!(
                        "cannot load class {name}: cannot read {}: {e}",
                        path.display()
                    ))),
                };
            }
        }
        Ok(core_lib::source(name).map(|text| ClassSource {
            display_path: format!("core-lib/{file}"),
            text: text.to_string(),
        }))
    }

    /// Loads the core classes into the classes created at start-up.
    pub fn load_bootstrap_classes(&mut self) -> Result<(), Unwind> {
        for name in BOOTSTRAP_CLASSES {
            let sym = self.intern(name);
            let class = Class::from_value(self.global(sym).expect("bootstrap class global"));
            if !class.loaded.get() {
                self.load_into(name, Some(class))?;
            }
        }
        Ok(())
    }

    /// Loads class `name` from the classpath and defines it as a global. `Ok(None)`: no source.
    pub fn load_class(&mut self, name: &str) -> Result<Option<&'static Class>, Unwind> {
        let sym = self.intern(name);
        if let Some(v) = self.global(sym) {
            if let Some(c) = Class::try_from_value(v) {
                if c.loaded.get() {
                    return Ok(Some(c));
                }
                return self.load_into(name, Some(c)).map(Some);
            }
        }
        match self.find_class_source(name)? {
            Some(source) => self.load_from(name, source, None).map(Some),
            None => Ok(None),
        }
    }

    fn load_into(
        &mut self,
        name: &str,
        existing: Option<&'static Class>,
    ) -> Result<&'static Class, Unwind> {
        let source = self.find_class_source(name)?.ok_or_else(|| {
            self.error(format!(
                "cannot load class {name}: no {name}.som on the classpath"
            ))
        })?;
        self.load_from(name, source, existing)
    }

    fn load_from(
        &mut self,
        name: &str,
        source: ClassSource,
        existing: Option<&'static Class>,
    ) -> Result<&'static Class, Unwind> {
        let def = syntax::parse_class(&source.text)
            .map_err(|e| compile_error(e.render(&source.display_path, &source.text)))?;
        if def.name.name != name {
            let e = SyntaxError {
                message: format!("the file for class {name} defines class {} (a class file's name must match its class)", def.name.name),
                span: def.name.span,
            };
            return Err(compile_error(e.render(&source.display_path, &source.text)));
        }
        self.define_class(&def, &source, existing)
    }

    fn resolve_superclass(
        &mut self,
        def: &ast::ClassDef,
        source: &ClassSource,
    ) -> Result<Option<&'static Class>, Unwind> {
        let name = def
            .superclass
            .as_ref()
            .map(|i| i.name.as_str())
            .unwrap_or("Object");
        // Errors point at the superclass name (or the class name when it is implicit).
        let at_superclass = |message: String| {
            let span = def
                .superclass
                .as_ref()
                .map(|i| i.span)
                .unwrap_or(def.name.span);
            compile_error(SyntaxError { message, span }.render(&source.display_path, &source.text))
        };
        if name == "nil" {
            return Ok(None);
        }
        if name == def.name.name {
            return Err(at_superclass(format!(
                "class {name} cannot be its own superclass"
            )));
        }
        if self.loading.contains(name) {
            return Err(at_superclass(format!(
                "cyclic superclass chain through {name}"
            )));
        }
        match self.load_class(name)? {
            Some(c) => Ok(Some(c)),
            None => Err(at_superclass(format!(
                "superclass {name} not found on the classpath"
            ))),
        }
    }

    fn define_class(
        &mut self,
        def: &ast::ClassDef,
        source: &ClassSource,
        existing: Option<&'static Class>,
    ) -> Result<&'static Class, Unwind> {
        let name = def.name.name.clone();
        self.loading.insert(name.clone());
        let result = self.define_class_inner(def, source, existing);
        self.loading.remove(&name);
        result
    }

    fn define_class_inner(
        &mut self,
        def: &ast::ClassDef,
        source: &ClassSource,
        existing: Option<&'static Class>,
    ) -> Result<&'static Class, Unwind> {
        let superclass = self.resolve_superclass(def, source)?;
        let class = match existing {
            Some(c) => c,
            None => self.new_class_pair(&def.name.name),
        };
        let meta = class.class();
        class.superclass.set(superclass);
        meta.superclass.set(Some(
            superclass.map(|s| s.class()).unwrap_or(self.core.class),
        ));
        let render = |e: SyntaxError| compile_error(e.render(&source.display_path, &source.text));

        let mut instance_fields: Vec<String> = superclass
            .map(|s| {
                s.instance_fields
                    .borrow()
                    .iter()
                    .map(|f| crate::runtime::object::str(*f).to_string())
                    .collect()
            })
            .unwrap_or_default();
        let meta_super = meta.superclass.get().unwrap();
        let mut class_fields: Vec<String> = meta_super
            .instance_fields
            .borrow()
            .iter()
            .map(|f| crate::runtime::object::str(*f).to_string())
            .collect();
        for (fields, own) in [
            (&mut instance_fields, &def.instance_fields),
            (&mut class_fields, &def.class_fields),
        ] {
            for f in own {
                if fields.contains(&f.name) {
                    return Err(render(SyntaxError {
                        message: format!(
                            "field '{}' is already declared (here or in a superclass)",
                            f.name
                        ),
                        span: f.span,
                    }));
                }
                fields.push(f.name.clone());
            }
        }
        if existing.is_some() && !instance_fields.is_empty() {
            // A bootstrap class: its instances (nil, true, numbers, strings, arrays, blocks,
            // methods, classes…) are made by the runtime with a fixed layout, and methods
            // that read fields would read past it. Inherited fields count too.
            let (message, span) = match def.instance_fields.first() {
                Some(own) => (format!("class {} cannot declare instance fields: its instances are made by the runtime", def.name.name), own.span),
                None => (
                    format!(
                        "class {} cannot have instance fields (it would inherit '{}'): its instances are made by the runtime",
                        def.name.name, instance_fields[0]
                    ),
                    def.superclass.as_ref().map_or(def.name.span, |s| s.span),
                ),
            };
            return Err(render(SyntaxError { message, span }));
        }
        let syms: Vec<_> = instance_fields.iter().map(|f| self.intern(f)).collect();
        *class.instance_fields.borrow_mut() = syms;
        let syms: Vec<_> = class_fields.iter().map(|f| self.intern(f)).collect();
        *meta.instance_fields.borrow_mut() = syms;
        *class.class_side_values.borrow_mut() = vec![self.nil; class_fields.len()];
        *class.source_name.borrow_mut() = Path::new(&source.display_path)
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_else(|| source.display_path.clone());
        *meta.source_name.borrow_mut() = class.source_name.borrow().clone();

        let lines = LineIndex::new(&source.text);
        for (holder, fields, methods) in [
            (class, &instance_fields, &def.instance_methods),
            (meta, &class_fields, &def.class_methods),
        ] {
            let scope = ClassScope {
                fields,
                lines: &lines,
                holder,
            };
            for m in methods {
                let body = match &m.body {
                    ast::MethodBody::Primitive => {
                        match primitives::lookup(holder.name_str(), &m.selector) {
                            Some((f, index)) => MethodBody::Primitive(f, index),
                            None => MethodBody::MissingPrimitive,
                        }
                    }
                    ast::MethodBody::Code(body) => {
                        MethodBody::Code(lower_method(self, &scope, m, body).map_err(render)?)
                    }
                };
                let sig = self.intern(&m.selector);
                let method = self.new_method(sig, m.params.len(), body);
                self.install_method(holder, method);
            }
        }
        class.loaded.set(true);
        meta.loaded.set(true);
        let sym = class.name;
        self.set_global(sym, class.as_value());
        Ok(class)
    }
}

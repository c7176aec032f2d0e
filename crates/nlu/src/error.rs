//! The one error type of the crate.

use std::path::PathBuf;

/// Everything that can go wrong while building a model or reading an input file.
#[derive(Debug, thiserror::Error)]
pub enum NluError {
    /// A file could not be opened or read.
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Writing the output stream failed (the reader went away, disk full...).
    #[error("cannot write output: {0}")]
    Output(#[source] std::io::Error),
    /// One line of a JSON Lines input file is malformed.
    #[error("{path}:{line}: {message}")]
    BadLine {
        path: PathBuf,
        line: usize,
        message: String,
    },
    /// A keyword/regex rule cannot be compiled.
    #[error("intent rule for {intent:?}: {message}")]
    BadRule { intent: String, message: String },
    /// The training data or knowledge base cannot produce a model.
    #[error("{0}")]
    Invalid(String),
    /// A serialized model file is malformed.
    #[error("model {path}: {message}")]
    BadModel { path: PathBuf, message: String },
}

//! Errors an operator or integrator sees: each names the file and, where
//! known, the line and node, and says what to change.

use std::fmt;

/// One problem found while checking a script.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Issue {
    /// The script file as given.
    pub file: String,
    /// 1-based line, 0 when unknown.
    pub line: usize,
    /// The node the problem is in, if any.
    pub node: Option<String>,
    /// Machine-readable kind, e.g. `unknown_target`, `unreachable`, `loop_without_input`.
    pub kind: String,
    /// What is wrong and what to do (Chinese first).
    pub message: String,
}

impl fmt::Display for Issue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: ", self.file, self.line)?;
        if let Some(n) = &self.node {
            write!(f, "节点 node '{n}': ")?;
        }
        write!(f, "[{}] {}", self.kind, self.message)
    }
}

/// Everything wrong with a script; it loads only when `errors` is empty.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ValidationReport {
    pub file: String,
    pub errors: Vec<Issue>,
    pub warnings: Vec<Issue>,
}

impl ValidationReport {
    pub fn is_ok(&self) -> bool {
        self.errors.is_empty()
    }
}

impl fmt::Display for ValidationReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for e in &self.errors {
            writeln!(f, "错误 error: {e}")?;
        }
        for w in &self.warnings {
            writeln!(f, "警告 warning: {w}")?;
        }
        if self.errors.is_empty() {
            write!(
                f,
                "{}: 校验通过 OK ({} warnings)",
                self.file,
                self.warnings.len()
            )
        } else {
            write!(f, "{}: {} 个错误 errors", self.file, self.errors.len())
        }
    }
}

/// Errors of this crate.
#[derive(Debug, thiserror::Error)]
pub enum DialogError {
    /// A file could not be read.
    #[error("无法读取文件 cannot read {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// A file is not valid YAML/JSON or has an unknown/missing field.
    #[error("{file}:{line}:{column}: 格式错误 syntax error: {message}")]
    Parse {
        file: String,
        line: usize,
        column: usize,
        message: String,
    },
    /// The script parsed but failed validation.
    #[error("{0}")]
    Invalid(ValidationReport),
    /// The knowledge base or intent rules could not be built.
    #[error("{file}: {message}")]
    Model { file: String, message: String },
    /// A simulate case file is wrong.
    #[error("{file}: 测试用例错误 bad test case: {message}")]
    Cases { file: String, message: String },
    /// Writing the output failed.
    #[error("输出失败 write failed: {0}")]
    Output(#[from] std::io::Error),
}

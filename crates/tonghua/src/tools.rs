//! Operator tools that need no server: talking to a script in the terminal,
//! running a script's test conversations, validating a script, and the NLU
//! evaluation contract (JSON Lines in, JSON Lines out).

use std::io::Write;
use std::path::PathBuf;

use clap::Subcommand;

use crate::Failure;

#[derive(Debug, Subcommand)]
pub enum NluCommand {
    /// FAQ retrieval: {"query"} lines in, {"query","match","score","top"} lines out.
    Faq {
        /// Knowledge base, JSON Lines: {"id","question","answer"} (+ "similar", "category").
        #[arg(long, value_name = "KB.jsonl")]
        kb: PathBuf,
    },
    /// Intent classification: {"text"} lines in, {"text","intent","score"} lines out.
    Intent {
        /// Training examples, JSON Lines: {"text","intent": name or null}.
        #[arg(long, value_name = "T.jsonl")]
        train: PathBuf,
    },
    /// Emotion: {"text"} lines in, {"text","negative","score"} lines out.
    Emotion {
        /// A model trained on your own data (default: the shipped model).
        #[arg(long, value_name = "FILE")]
        model: Option<PathBuf>,
    },
}

fn io() -> (std::io::StdinLock<'static>, std::io::StdoutLock<'static>) {
    (std::io::stdin().lock(), std::io::stdout().lock())
}

pub fn nlu(cmd: &NluCommand) -> Result<(), Failure> {
    let (mut input, mut output) = io();
    let result = match cmd {
        NluCommand::Faq { kb } => nlu::cli::faq(kb, &mut input, &mut output),
        NluCommand::Intent { train } => nlu::cli::intent(train, &mut input, &mut output),
        NluCommand::Emotion { model } => {
            nlu::cli::emotion(model.as_deref(), &mut input, &mut output)
        }
    };
    result.map_err(|e| Failure::runtime(e.to_string()))
}

/// `k=v` for `--contact`.
pub fn parse_pair(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .filter(|(k, _)| !k.is_empty())
        .ok_or_else(|| format!("'{s}' is not KEY=VALUE (e.g. name=王先生)"))
}

pub fn chat(
    script: PathBuf,
    kb: Option<PathBuf>,
    contact: Vec<(String, String)>,
    verbose: bool,
) -> Result<(), Failure> {
    let opts = dialog::cli::ChatOptions {
        script,
        kb,
        contact,
        verbose,
    };
    let (mut input, mut output) = io();
    dialog::cli::chat(&opts, &mut input, &mut output).map_err(|e| Failure::runtime(e.to_string()))
}

pub fn simulate(script: PathBuf, cases: PathBuf, kb: Option<PathBuf>) -> Result<(), Failure> {
    let mut output = std::io::stdout().lock();
    let summary = dialog::cli::simulate(&script, &cases, kb.as_deref(), &mut output)
        .map_err(|e| Failure::runtime(e.to_string()))?;
    let _ = output.flush();
    if summary.failed > 0 {
        return Err(Failure::runtime(format!(
            "{} of {} cases failed: {}",
            summary.failed,
            summary.total,
            summary.failures.join(", ")
        )));
    }
    Ok(())
}

pub fn validate(script: PathBuf) -> Result<(), Failure> {
    match dialog::cli::validate(&script) {
        Ok(report) => {
            println!("{report}");
            if report.is_ok() {
                Ok(())
            } else {
                Err(Failure::runtime(format!(
                    "{} is not valid",
                    script.display()
                )))
            }
        }
        Err(e) => Err(Failure::runtime(e.to_string())),
    }
}

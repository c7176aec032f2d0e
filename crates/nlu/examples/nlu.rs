//! Runs the evaluation contract of `tonghua nlu ...` (see `nlu::cli`) on
//! stdin/stdout, so that it can be measured exactly as the server binary
//! will call it.
//!
//! ```text
//! cargo run --release -p nlu --example nlu -- faq --kb KB.jsonl < queries.jsonl
//! cargo run --release -p nlu --example nlu -- intent --train TRAIN.jsonl < texts.jsonl
//! cargo run --release -p nlu --example nlu -- emotion [--model FILE] < texts.jsonl
//! ```

use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

fn usage() -> ExitCode {
    eprintln!(
        "usage: nlu faq --kb FILE | nlu intent --train FILE | nlu emotion [--model FILE]  (JSON Lines on stdin)"
    );
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(cmd) = args.first() else {
        return usage();
    };
    let flag = |name: &str| -> Option<PathBuf> {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .map(PathBuf::from)
    };
    let stdin = std::io::stdin();
    let mut input = stdin.lock();
    let stdout = std::io::stdout();
    let mut output = BufWriter::new(stdout.lock());
    let result = match cmd.as_str() {
        "faq" => match flag("--kb") {
            Some(kb) => nlu::cli::faq(&kb, &mut input, &mut output),
            None => return usage(),
        },
        "intent" => match flag("--train") {
            Some(train) => nlu::cli::intent(&train, &mut input, &mut output),
            None => return usage(),
        },
        "emotion" => nlu::cli::emotion(flag("--model").as_deref(), &mut input, &mut output),
        _ => return usage(),
    };
    let _ = output.flush();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("nlu {cmd}: {e}");
            ExitCode::FAILURE
        }
    }
}

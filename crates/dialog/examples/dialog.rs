//! A small runner for the script tools:
//!
//! ```text
//! cargo run -p dialog --example dialog -- validate SCRIPT
//! cargo run -p dialog --example dialog -- simulate SCRIPT CASES [--kb KB]
//! cargo run -p dialog --example dialog -- chat SCRIPT [--kb KB] [--contact name=王先生] [-v]
//! ```

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use dialog::cli::{ChatOptions, chat, simulate, validate};

fn usage() -> ExitCode {
    eprintln!(
        "用法 usage:\n  dialog validate SCRIPT\n  dialog simulate SCRIPT CASES [--kb KB]\n  dialog chat SCRIPT [--kb KB] [--contact key=value]... [-v]"
    );
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut positional = Vec::new();
    let mut kb = None;
    let mut contact = Vec::new();
    let mut verbose = false;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--kb" => kb = it.next().map(PathBuf::from),
            "--contact" => {
                if let Some((k, v)) = it.next().and_then(|kv| kv.split_once('=')) {
                    contact.push((k.to_string(), v.to_string()));
                }
            }
            "-v" | "--verbose" => verbose = true,
            _ => positional.push(a.clone()),
        }
    }
    let mut out = std::io::stdout();
    let result = match positional.first().map(String::as_str) {
        Some("validate") if positional.len() == 2 => {
            validate(&PathBuf::from(&positional[1])).map(|r| {
                // A closed pipe (`| head`) is not an error worth a panic.
                let _ = writeln!(out, "{r}");
                r.is_ok()
            })
        }
        Some("simulate") if positional.len() == 3 => simulate(
            &PathBuf::from(&positional[1]),
            &PathBuf::from(&positional[2]),
            kb.as_deref(),
            &mut out,
        )
        .map(|s| s.failed == 0),
        Some("chat") if positional.len() == 2 => {
            let opts = ChatOptions {
                script: PathBuf::from(&positional[1]),
                kb,
                contact,
                verbose,
            };
            let stdin = std::io::stdin();
            chat(&opts, &mut stdin.lock(), &mut out).map(|_| true)
        }
        _ => return usage(),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

//! Where installed model files live, and checking them before use.
//!
//! `scripts/install-voice-models.sh` unpacks each model into its own folder
//! under [`models_dir`] and writes a `.verified` manifest (`sha256sum` format)
//! of its files. Engines call [`check_model`] when they load: a folder that is
//! missing, incomplete or altered gives one [`EngineError::ModelMissing`]
//! naming the command that installs it, instead of a cryptic runtime error.

use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::engine::EngineError;

/// The install script, relative to the repository root.
pub const INSTALL_SCRIPT: &str = "scripts/install-voice-models.sh";

/// Whisper base, CTranslate2 format.
pub const WHISPER_BASE: &str = "whisper-base-ct2";
/// Kokoro-82M v1.0 int8 with the Mandarin voices.
pub const KOKORO: &str = "kokoro-82m-v1.0-int8";
/// GTCRN speech enhancement (`gtcrn_simple.onnx`).
pub const GTCRN: &str = "gtcrn-simple";
/// The ONNX Runtime shared library Kokoro runs on.
pub const ONNXRUNTIME: &str = "onnxruntime-1.32.0";

/// `$TONGHUA_MODELS`, else `$HOME/.cache/tonghua/models` (else `./models`):
/// the same rule as the install scripts.
pub fn models_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("TONGHUA_MODELS").filter(|d| !d.is_empty()) {
        return PathBuf::from(d);
    }
    match std::env::var_os("HOME").filter(|d| !d.is_empty()) {
        Some(h) => PathBuf::from(h).join(".cache/tonghua/models"),
        None => PathBuf::from("models"),
    }
}

/// The install command for one model folder (the script's part names).
pub fn install_command(model: &str) -> String {
    let part = match model {
        WHISPER_BASE => " whisper",
        KOKORO => " kokoro",
        ONNXRUNTIME => " onnxruntime",
        GTCRN => " gtcrn",
        m if m.starts_with("ctranslate2") => " ctranslate2",
        _ => "",
    };
    format!("{INSTALL_SCRIPT}{part}")
}

fn missing(model: &str, detail: String) -> EngineError {
    EngineError::ModelMissing {
        what: model.to_string(),
        detail,
        install: install_command(model),
    }
}

/// Checks `base/model` against its `.verified` manifest: every listed file
/// present with the listed SHA-256, and every file in `required` listed.
/// Returns the folder.
pub fn check_model(base: &Path, model: &str, required: &[&str]) -> Result<PathBuf, EngineError> {
    let dir = base.join(model);
    if !dir.is_dir() {
        return Err(missing(model, format!("{} does not exist", dir.display())));
    }
    let manifest_path = dir.join(".verified");
    let manifest = std::fs::read_to_string(&manifest_path).map_err(|e| {
        missing(
            model,
            format!("{}: {e} (interrupted install?)", manifest_path.display()),
        )
    })?;
    let mut listed = Vec::new();
    for line in manifest.lines().filter(|l| !l.trim().is_empty()) {
        let Some((hash, name)) = line.split_once("  ") else {
            return Err(missing(model, format!("malformed manifest line {line:?}")));
        };
        let name = name.trim_start_matches("./");
        let path = dir.join(name);
        let actual =
            sha256_file(&path).map_err(|e| missing(model, format!("{}: {e}", path.display())))?;
        if !actual.eq_ignore_ascii_case(hash.trim()) {
            return Err(missing(
                model,
                format!("{} is damaged (SHA-256 mismatch)", path.display()),
            ));
        }
        listed.push(name.to_string());
    }
    for r in required {
        if !listed.iter().any(|l| l == r) {
            return Err(missing(
                model,
                format!("{} is missing", dir.join(r).display()),
            ));
        }
    }
    Ok(dir)
}

/// Lowercase hex SHA-256 of a file.
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(buf.get(..n).unwrap_or_default());
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn install_fake(base: &Path) -> PathBuf {
        let dir = base.join(WHISPER_BASE);
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::write(dir.join("model.bin"), b"weights").expect("write");
        std::fs::write(dir.join("config.json"), b"{}").expect("write");
        let manifest = format!(
            "{}  ./config.json\n{}  ./model.bin\n",
            sha256_file(&dir.join("config.json")).expect("hash"),
            sha256_file(&dir.join("model.bin")).expect("hash"),
        );
        std::fs::write(dir.join(".verified"), manifest).expect("manifest");
        dir
    }

    #[test]
    fn a_complete_model_passes() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = install_fake(tmp.path());
        let found = check_model(tmp.path(), WHISPER_BASE, &["model.bin", "config.json"]);
        assert_eq!(found.expect("ok"), dir);
    }

    #[test]
    fn a_missing_model_names_the_install_command() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let e = check_model(tmp.path(), WHISPER_BASE, &["model.bin"]).expect_err("missing");
        let msg = e.to_string();
        assert!(matches!(e, EngineError::ModelMissing { .. }));
        assert!(
            msg.contains("scripts/install-voice-models.sh whisper"),
            "{msg}"
        );
        assert!(msg.contains("does not exist"), "{msg}");
    }

    #[test]
    fn a_damaged_or_incomplete_model_is_refused() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = install_fake(tmp.path());
        std::fs::write(dir.join("model.bin"), b"weightz").expect("corrupt");
        let e = check_model(tmp.path(), WHISPER_BASE, &["model.bin"]).expect_err("damaged");
        assert!(e.to_string().contains("damaged"), "{e}");
        assert!(e.to_string().contains("install-voice-models.sh"), "{e}");

        let dir = install_fake(tmp.path());
        std::fs::remove_file(dir.join("config.json")).expect("rm");
        assert!(check_model(tmp.path(), WHISPER_BASE, &["model.bin"]).is_err());

        install_fake(tmp.path());
        let e = check_model(tmp.path(), WHISPER_BASE, &["tokenizer.json"]).expect_err("req");
        assert!(e.to_string().contains("tokenizer.json is missing"), "{e}");

        std::fs::remove_file(dir.join(".verified")).expect("rm");
        let e = check_model(tmp.path(), WHISPER_BASE, &[]).expect_err("manifest");
        assert!(e.to_string().contains("interrupted install"), "{e}");
    }

    #[test]
    fn install_commands_per_model() {
        assert_eq!(
            install_command(KOKORO),
            "scripts/install-voice-models.sh kokoro"
        );
        assert_eq!(
            install_command(ONNXRUNTIME),
            "scripts/install-voice-models.sh onnxruntime"
        );
        assert_eq!(install_command("other"), INSTALL_SCRIPT);
    }
}

//! With feature `local-voice`, the binary links the `libctranslate2` that
//! `scripts/install-voice-models.sh` installed (the `voice` crate's build
//! script finds it); record its folder as an rpath so the binary finds it at
//! run time without `LD_LIBRARY_PATH`. The rule for the folder is the same as
//! the installer's: `$TONGHUA_MODELS`, else `$HOME/.cache/tonghua/models`.

fn main() {
    println!("cargo:rerun-if-env-changed=TONGHUA_MODELS");
    println!("cargo:rerun-if-env-changed=HOME");
    if std::env::var_os("CARGO_FEATURE_LOCAL_VOICE").is_none() {
        return;
    }
    let models = match std::env::var_os("TONGHUA_MODELS").filter(|d| !d.is_empty()) {
        Some(d) => std::path::PathBuf::from(d),
        None => std::path::PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
            .join(".cache/tonghua/models"),
    };
    let lib = models.join("ctranslate2-4.8.5");
    println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib.display());
}

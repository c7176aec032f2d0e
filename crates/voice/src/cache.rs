//! A content-addressed cache of synthesised prompts.
//!
//! Local synthesis runs at roughly real time on a small CPU, far too slow to
//! render a scripted greeting while the caller waits, so every prompt is
//! rendered once and stored as a WAV file named by the SHA-256 of
//! (engine id, voice, speed, text). Writes go to a temporary file in the same
//! directory and are renamed into place, so readers never see half a file and
//! concurrent writers of the same prompt simply race to an identical result.
//! A damaged entry is treated as a miss and rewritten.

use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::audio::Audio;
use crate::engine::{AudioStream, EngineError, Tts, TtsRequest};
use crate::wav::{read_wav, wav_bytes};

/// Cache IO failed (the directory is not writable, the disk is full).
#[derive(Debug, thiserror::Error)]
#[error("TTS cache at {path}: {source}")]
pub struct CacheError {
    /// The file or directory involved.
    pub path: String,
    /// The underlying error.
    pub source: std::io::Error,
}

/// A directory of rendered prompts.
#[derive(Debug, Clone)]
pub struct TtsCache {
    dir: PathBuf,
}

/// The cache key of a request for an engine: lowercase hex SHA-256.
///
/// The text is trimmed and the speed rounded to 1/100 so that equivalent
/// requests share an entry; the version prefix lets a future format change
/// invalidate everything at once.
pub fn cache_key(engine_id: &str, request: &TtsRequest) -> String {
    let mut h = Sha256::new();
    h.update(b"tonghua-tts-cache-v1\0");
    for part in [
        engine_id,
        request.voice.as_deref().unwrap_or(""),
        &format!("{:.2}", request.speed),
        request.text.trim(),
    ] {
        h.update(part.as_bytes());
        h.update(b"\0");
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

impl TtsCache {
    /// Opens (creating if needed) a cache directory.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self, CacheError> {
        let dir = dir.as_ref().to_path_buf();
        std::fs::create_dir_all(&dir).map_err(|source| CacheError {
            path: dir.display().to_string(),
            source,
        })?;
        Ok(Self { dir })
    }

    /// The cache directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the entry for `key` lives (two-level fan-out keeps directories small).
    pub fn path_for(&self, key: &str) -> PathBuf {
        let prefix = key.get(..2).unwrap_or("xx");
        self.dir.join(prefix).join(format!("{key}.wav"))
    }

    /// The cached audio for a request, if present and readable.
    pub fn get(&self, engine_id: &str, request: &TtsRequest) -> Option<Audio> {
        let path = self.path_for(&cache_key(engine_id, request));
        if !path.exists() {
            return None;
        }
        match read_wav(&path) {
            Ok(audio) if !audio.samples.is_empty() => Some(audio),
            // Damaged or empty: drop it so the next put rewrites it.
            _ => {
                let _ = std::fs::remove_file(&path);
                None
            }
        }
    }

    /// Stores audio for a request atomically; returns the entry's path.
    pub fn put(
        &self,
        engine_id: &str,
        request: &TtsRequest,
        audio: &Audio,
    ) -> Result<PathBuf, CacheError> {
        let path = self.path_for(&cache_key(engine_id, request));
        let err = |p: &Path| {
            let p = p.display().to_string();
            move |source| CacheError { path: p, source }
        };
        let parent = path.parent().unwrap_or(&self.dir);
        std::fs::create_dir_all(parent).map_err(err(parent))?;
        let bytes = wav_bytes(audio).map_err(|e| CacheError {
            path: path.display().to_string(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()),
        })?;
        let mut tmp = tempfile::NamedTempFile::new_in(parent).map_err(err(parent))?;
        tmp.write_all(&bytes).map_err(err(tmp.path()))?;
        tmp.as_file().sync_all().map_err(err(tmp.path()))?;
        tmp.persist(&path).map_err(|e| CacheError {
            path: path.display().to_string(),
            source: e.error,
        })?;
        Ok(path)
    }

    /// The cached audio, or synthesises, stores and returns it. The flag is
    /// true for a cache hit.
    pub fn get_or_synthesize(
        &self,
        tts: &mut dyn Tts,
        request: &TtsRequest,
    ) -> Result<(Audio, bool), EngineError> {
        let id = tts.id().to_string();
        let request = &with_default_voice(&*tts, request);
        if let Some(a) = self.get(&id, request) {
            return Ok((a, true));
        }
        let audio = tts.synthesize_all(request)?;
        self.put(&id, request, &audio)
            .map_err(|e| EngineError::Failed {
                engine: id,
                message: e.to_string(),
            })?;
        Ok((audio, false))
    }

    /// Pre-renders prompts (`tonghua tts warm`): renders what is missing,
    /// keeps going past failures, and reports what happened.
    pub fn warm(
        &self,
        tts: &mut dyn Tts,
        requests: impl IntoIterator<Item = TtsRequest>,
    ) -> WarmReport {
        let mut report = WarmReport::default();
        for r in requests {
            if r.text.trim().is_empty() {
                continue;
            }
            match self.get_or_synthesize(tts, &r) {
                Ok((_, true)) => report.already_cached += 1,
                Ok((audio, false)) => {
                    report.rendered += 1;
                    report.rendered_secs += audio.duration_secs();
                }
                Err(e) => report.failed.push((r.text.clone(), e.to_string())),
            }
        }
        report
    }
}

/// The cache file name under the data directory: prompts rendered by
/// `tonghua tts warm` live in `DATA_DIR/tts-cache`.
pub const DATA_DIR_CACHE: &str = "tts-cache";

/// The request with the engine's default voice filled in, so "no voice" and
/// "the default voice, by name" share one cache entry.
fn with_default_voice(tts: &dyn Tts, request: &TtsRequest) -> TtsRequest {
    let mut r = request.clone();
    if r.voice.is_none() {
        r.voice = tts.voices().into_iter().next();
    }
    r
}

/// The outcome of [`TtsCache::warm`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WarmReport {
    /// Prompts synthesised now.
    pub rendered: usize,
    /// Prompts that were already cached.
    pub already_cached: usize,
    /// Seconds of audio synthesised now.
    pub rendered_secs: f64,
    /// (text, error) for prompts that failed.
    pub failed: Vec<(String, String)>,
}

/// A [`Tts`] that serves repeated requests from a [`TtsCache`]: hits come
/// back as one chunk at once; misses stream from the inner engine as usual
/// and are stored when the stream completes without error.
pub struct CachedTts {
    inner: Box<dyn Tts>,
    cache: TtsCache,
}

impl std::fmt::Debug for CachedTts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachedTts")
            .field("inner", &self.inner.id())
            .field("cache", &self.cache)
            .finish()
    }
}

impl CachedTts {
    /// Wraps an engine.
    pub fn new(inner: Box<dyn Tts>, cache: TtsCache) -> Self {
        Self { inner, cache }
    }

    /// The cache.
    pub fn cache(&self) -> &TtsCache {
        &self.cache
    }
}

impl Tts for CachedTts {
    fn id(&self) -> &str {
        self.inner.id()
    }

    fn sample_rate(&self) -> u32 {
        self.inner.sample_rate()
    }

    fn voices(&self) -> Vec<String> {
        self.inner.voices()
    }

    fn synthesize(&mut self, request: &TtsRequest) -> Result<AudioStream<'_>, EngineError> {
        let id = self.inner.id().to_string();
        let request = &with_default_voice(&*self.inner, request);
        if let Some(hit) = self.cache.get(&id, request) {
            return Ok(Box::new(std::iter::once(Ok(hit))));
        }
        let rate = self.inner.sample_rate();
        let stream = self.inner.synthesize(request)?;
        Ok(Box::new(Recording {
            stream,
            cache: &self.cache,
            engine_id: id,
            request: request.clone(),
            collected: Some(Audio::new(rate, Vec::new())),
        }))
    }
}

/// Passes chunks through while collecting them; stores the whole on success.
struct Recording<'a> {
    stream: AudioStream<'a>,
    cache: &'a TtsCache,
    engine_id: String,
    request: TtsRequest,
    /// `None` once a chunk failed or did not match the rate: nothing is stored.
    collected: Option<Audio>,
}

impl Iterator for Recording<'_> {
    type Item = Result<Audio, EngineError>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.stream.next() {
            Some(Ok(chunk)) => {
                if let Some(all) = self.collected.as_mut() {
                    if all.sample_rate == chunk.sample_rate {
                        all.samples.extend_from_slice(&chunk.samples);
                    } else {
                        self.collected = None;
                    }
                }
                Some(Ok(chunk))
            }
            Some(Err(e)) => {
                self.collected = None;
                Some(Err(e))
            }
            None => {
                if let Some(all) = self.collected.take()
                    && !all.samples.is_empty()
                {
                    // A failed store only costs a re-render next time.
                    let _ = self.cache.put(&self.engine_id, &self.request, &all);
                }
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake engine: one chunk per character, counting its calls.
    struct Counting {
        calls: usize,
        fail_on: Option<String>,
    }

    impl Tts for Counting {
        fn id(&self) -> &str {
            "counting"
        }
        fn sample_rate(&self) -> u32 {
            8000
        }
        fn voices(&self) -> Vec<String> {
            vec!["v1".into(), "v2".into()]
        }
        fn synthesize(&mut self, r: &TtsRequest) -> Result<AudioStream<'_>, EngineError> {
            self.calls += 1;
            if self.fail_on.as_deref() == Some(r.text.as_str()) {
                return Err(EngineError::InvalidInput("boom".into()));
            }
            let level = 0.1 * r.speed;
            let chunks: Vec<Result<Audio, EngineError>> = r
                .text
                .chars()
                .map(|_| Ok(Audio::new(8000, vec![level; 80])))
                .collect();
            Ok(Box::new(chunks.into_iter()))
        }
    }

    fn counting() -> Counting {
        Counting {
            calls: 0,
            fail_on: None,
        }
    }

    #[test]
    fn keys_separate_engine_voice_speed_and_text() {
        let base = TtsRequest::new("您好");
        let k = cache_key("e", &base);
        assert_eq!(k.len(), 64);
        assert_eq!(k, cache_key("e", &TtsRequest::new("  您好 ")));
        assert_eq!(k, cache_key("e", &base.clone().speed(1.0001)));
        assert_ne!(k, cache_key("f", &base));
        assert_ne!(k, cache_key("e", &base.clone().voice("zf_xiaoxiao")));
        assert_ne!(k, cache_key("e", &base.clone().speed(1.2)));
        assert_ne!(k, cache_key("e", &TtsRequest::new("您好！")));
    }

    #[test]
    fn second_request_is_served_from_disk() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cache = TtsCache::open(dir.path().join("tts")).expect("open");
        let mut tts = counting();
        let r = TtsRequest::new("你好").voice("v1");
        let (a, hit) = cache.get_or_synthesize(&mut tts, &r).expect("first");
        assert!(!hit);
        assert_eq!(a.samples.len(), 160);
        let (b, hit) = cache.get_or_synthesize(&mut tts, &r).expect("second");
        assert!(hit);
        assert_eq!(tts.calls, 1);
        assert_eq!(b.samples.len(), 160);
        assert!((b.samples[0] - 0.1).abs() < 1e-3);
        // Entries survive reopening the cache (that is the point).
        let reopened = TtsCache::open(dir.path().join("tts")).expect("reopen");
        assert!(reopened.get("counting", &r).is_some());
        assert!(reopened.get("counting", &r.clone().voice("v2")).is_none());
        // No temporary files are left behind.
        let key = cache_key("counting", &r);
        let files: Vec<_> = std::fs::read_dir(cache.path_for(&key).parent().expect("parent"))
            .expect("list")
            .collect();
        assert_eq!(files.len(), 1);
    }

    #[test]
    fn damaged_entries_are_misses_and_get_rewritten() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cache = TtsCache::open(dir.path()).expect("open");
        let mut tts = counting();
        let r = TtsRequest::new("喂").voice("v1");
        cache.get_or_synthesize(&mut tts, &r).expect("render");
        let path = cache.path_for(&cache_key("counting", &r));
        std::fs::write(&path, b"RIFF garbage").expect("corrupt");
        assert!(cache.get("counting", &r).is_none());
        let (_, hit) = cache.get_or_synthesize(&mut tts, &r).expect("rerender");
        assert!(!hit);
        assert_eq!(tts.calls, 2);
        assert!(cache.get("counting", &r).is_some());
    }

    #[test]
    fn warm_renders_missing_prompts_and_reports_failures() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cache = TtsCache::open(dir.path()).expect("open");
        let mut tts = Counting {
            calls: 0,
            fail_on: Some("坏".into()),
        };
        let prompts = ["您好", "再见", "坏", "  ", "您好"].map(TtsRequest::new);
        let report = cache.warm(&mut tts, prompts.clone());
        assert_eq!(report.rendered, 2);
        assert_eq!(report.already_cached, 1);
        assert_eq!(report.failed.len(), 1);
        assert_eq!(report.failed[0].0, "坏");
        assert!((report.rendered_secs - 0.04).abs() < 1e-9);
        let again = cache.warm(&mut tts, prompts);
        assert_eq!(again.rendered, 0);
        assert_eq!(again.already_cached, 3);
    }

    #[test]
    fn cached_tts_streams_misses_and_replays_hits() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cache = TtsCache::open(dir.path()).expect("open");
        let mut tts = CachedTts::new(Box::new(counting()), cache);
        let r = TtsRequest::new("三个字");
        let chunks: Vec<Audio> = tts
            .synthesize(&r)
            .expect("miss")
            .collect::<Result<_, _>>()
            .expect("chunks");
        assert_eq!(chunks.len(), 3, "a miss streams the engine's chunks");
        let chunks: Vec<Audio> = tts
            .synthesize(&r)
            .expect("hit")
            .collect::<Result<_, _>>()
            .expect("chunks");
        assert_eq!(chunks.len(), 1, "a hit is one stored clip");
        assert_eq!(chunks[0].samples.len(), 240);
        assert_eq!(tts.id(), "counting");
        assert_eq!(tts.voices().len(), 2);
        // Stored under the default voice's name: asking for it by name hits.
        assert!(tts.cache().get("counting", &r).is_none());
        assert!(
            tts.cache()
                .get("counting", &r.clone().voice("v1"))
                .is_some()
        );
        let named: Vec<Audio> = tts
            .synthesize(&r.clone().voice("v1"))
            .expect("hit by name")
            .collect::<Result<_, _>>()
            .expect("chunks");
        assert_eq!(named.len(), 1);
    }

    #[test]
    fn unwritable_cache_dir_is_a_clear_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("file");
        std::fs::write(&file, b"x").expect("write");
        let e = TtsCache::open(file.join("sub")).expect_err("not a dir");
        assert!(e.to_string().contains("TTS cache at"), "{e}");
    }
}

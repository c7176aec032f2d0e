//! The call recording: a stereo 8 kHz 16-bit WAV, caller left, robot right,
//! one sample pair per line sample on the call clock (so the two sides stay
//! aligned however the packets arrived).

use std::path::{Path, PathBuf};

/// Writes the two sides of a call, frame by frame.
pub struct Recorder {
    path: PathBuf,
    writer: Option<hound::WavWriter<std::io::BufWriter<std::fs::File>>>,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder")
            .field("path", &self.path)
            .finish()
    }
}

impl Recorder {
    /// Creates the file (and its folder).
    pub fn create(path: &Path) -> Result<Self, hound::Error> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let spec = hound::WavSpec {
            channels: 2,
            sample_rate: 8000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        Ok(Self {
            path: path.to_path_buf(),
            writer: Some(hound::WavWriter::create(path, spec)?),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one tick: caller and robot samples (the shorter is padded with silence).
    pub fn push(&mut self, caller: &[i16], robot: &[i16]) {
        let Some(w) = self.writer.as_mut() else {
            return;
        };
        let n = caller.len().max(robot.len());
        for i in 0..n {
            let l = caller.get(i).copied().unwrap_or(0);
            let r = robot.get(i).copied().unwrap_or(0);
            if w.write_sample(l).and_then(|_| w.write_sample(r)).is_err() {
                tracing::warn!(path = %self.path.display(), "recording write failed; recording stopped");
                self.writer = None;
                return;
            }
        }
    }

    /// Finishes the file (header lengths).
    pub fn finish(&mut self) {
        if let Some(w) = self.writer.take()
            && let Err(e) = w.finalize()
        {
            tracing::warn!(path = %self.path.display(), error = %e, "recording finalize failed");
        }
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.finish();
    }
}

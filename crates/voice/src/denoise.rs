//! Noise suppression with RNNoise (`nnnoiseless`, model compiled in).
//!
//! RNNoise works on 10 ms frames of 480 samples at 48 kHz, in 16-bit scale.
//! [`Rnnoise`] accepts any rate: it resamples to 48 kHz and back around the
//! network, buffering so callers may push pieces of any size.

use nnnoiseless::DenoiseState;

use crate::engine::Denoiser;
use crate::resample::{ResampleError, StreamResampler};

const RATE: u32 = 48_000;
const FRAME: usize = DenoiseState::FRAME_SIZE;

/// RNNoise behind the [`Denoiser`] trait.
pub struct Rnnoise {
    state: Box<DenoiseState<'static>>,
    sample_rate: u32,
    up: StreamResampler,
    down: StreamResampler,
    pending: Vec<f32>,
    scratch: Vec<f32>,
    last_vad: f32,
}

impl std::fmt::Debug for Rnnoise {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rnnoise")
            .field("sample_rate", &self.sample_rate)
            .finish()
    }
}

impl Rnnoise {
    /// A denoiser for a stream at `sample_rate` (any rate rubato handles).
    pub fn new(sample_rate: u32) -> Result<Self, ResampleError> {
        Ok(Self {
            state: DenoiseState::new(),
            sample_rate,
            up: StreamResampler::new(sample_rate, RATE)?,
            down: StreamResampler::new(RATE, sample_rate)?,
            pending: Vec::new(),
            scratch: vec![0.0; FRAME],
            last_vad: 0.0,
        })
    }

    /// RNNoise's own voice probability for the last 10 ms frame processed.
    pub fn last_voice_probability(&self) -> f32 {
        self.last_vad
    }
}

impl Denoiser for Rnnoise {
    fn sample_rate(&self) -> u32 {
        self.sample_rate
    }

    fn process(&mut self, samples: &[f32]) -> Vec<f32> {
        // A resampling error can only come from a rubato size mismatch (a bug);
        // passing audio through unchanged beats dropping the caller's words.
        let Ok(up) = self.up.push(samples) else {
            return samples.to_vec();
        };
        self.pending.extend(up.iter().map(|s| s * 32768.0));
        let whole = self.pending.len() / FRAME * FRAME;
        let mut clean = Vec::with_capacity(whole);
        for frame in self.pending[..whole].chunks_exact(FRAME) {
            self.last_vad = self.state.process_frame(&mut self.scratch, frame);
            clean.extend(self.scratch.iter().map(|s| s / 32768.0));
        }
        self.pending.drain(..whole);
        self.down.push(&clean).unwrap_or(clean)
    }

    fn reset(&mut self) {
        self.state = DenoiseState::new();
        self.up.reset();
        self.down.reset();
        self.pending.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::dbfs;
    use crate::testsignal::{speech_like, white_noise};

    fn run(d: &mut Rnnoise, input: &[f32]) -> Vec<f32> {
        let frame = crate::frame::frame_len(d.sample_rate());
        input.chunks(frame).flat_map(|c| d.process(c)).collect()
    }

    #[test]
    fn white_noise_is_strongly_attenuated_at_telephone_rates() {
        // Phone audio is band-limited; RNNoise removes such noise almost
        // completely at 8 kHz and well at 16 kHz (full-band 48 kHz white noise
        // is harder for it; see docs/voice.md).
        for (rate, min_drop) in [(8000, 30.0), (16000, 8.0)] {
            for rms in [0.01, 0.05, 0.2] {
                let mut d = Rnnoise::new(rate).expect("new");
                let noise = white_noise(rate, 3000, rms, 11);
                let out = run(&mut d, &noise);
                // Skip the first second while the network's state settles.
                let tail = &out[out.len() / 3..];
                let drop = dbfs(&noise) - dbfs(tail);
                assert!(drop > min_drop, "rate {rate} rms {rms}: only {drop:.1} dB");
            }
        }
    }

    #[test]
    fn voiced_signal_keeps_its_level() {
        let mut d = Rnnoise::new(8000).expect("new");
        let s = speech_like(8000, 10, 220, 60, 0.3);
        let out = run(&mut d, &s);
        assert!((dbfs(&s) - dbfs(&out)).abs() < 3.0);
    }

    #[test]
    fn output_length_tracks_input_and_reset_works() {
        let mut d = Rnnoise::new(8000).expect("new");
        let input = speech_like(8000, 5, 200, 100, 0.3);
        let out = run(&mut d, &input);
        let missing = input.len().abs_diff(out.len());
        // Latency of the two resamplers plus one RNNoise frame, well under 100 ms.
        assert!(missing < 800, "{missing}");
        d.reset();
        assert_eq!(d.sample_rate(), 8000);
        assert!(d.last_voice_probability() >= 0.0);
    }
}

//! Sample-rate conversion between the rates the voice path meets
//! (8 kHz telephony, 16 kHz ASR, 24 kHz TTS, 48 kHz denoise), and any other
//! rate a WAV file may have.
//!
//! Built on `rubato`'s synchronous FFT resampler: exact rational ratios, good
//! anti-aliasing, and cheap for the integer ratios that dominate here.

use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Resampler};

/// Resampling failed (a zero rate, or an internal size mismatch).
#[derive(Debug, thiserror::Error)]
pub enum ResampleError {
    /// A sample rate of zero, or a pair rubato cannot handle.
    #[error("cannot resample from {from} Hz to {to} Hz: {reason}")]
    Unsupported {
        /// Input rate.
        from: u32,
        /// Output rate.
        to: u32,
        /// What rubato said.
        reason: String,
    },
    /// Rubato rejected a buffer; a bug in this module rather than in the input.
    #[error("resampler failed: {0}")]
    Internal(String),
}

fn make(from: u32, to: u32, chunk: usize) -> Result<Fft<f32>, ResampleError> {
    if from == 0 || to == 0 {
        return Err(ResampleError::Unsupported {
            from,
            to,
            reason: "sample rate is zero".into(),
        });
    }
    Fft::<f32>::new(from as usize, to as usize, chunk, 1, FixedSync::Input).map_err(|e| {
        ResampleError::Unsupported {
            from,
            to,
            reason: e.to_string(),
        }
    })
}

/// Resamples a whole mono clip. The output is delay-compensated and has
/// `ceil(len * to / from)` samples. Equal rates return a copy.
pub fn resample(samples: &[f32], from: u32, to: u32) -> Result<Vec<f32>, ResampleError> {
    if from == to && from != 0 {
        return Ok(samples.to_vec());
    }
    let mut r = make(from, to, 1024)?;
    if samples.is_empty() {
        return Ok(Vec::new());
    }
    let input = InterleavedSlice::new(samples, 1, samples.len())
        .map_err(|e| ResampleError::Internal(e.to_string()))?;
    let out = r
        .process_all(&input, samples.len(), None)
        .map_err(|e| ResampleError::Internal(e.to_string()))?;
    // rubato sizes the output with a float ceil, which can overshoot by one
    // sample (24000/22050 * 6615 = 7200.000…1); use exact integer arithmetic.
    let want = (samples.len() as u64 * u64::from(to)).div_ceil(u64::from(from));
    let mut data = out.take_data();
    data.resize(usize::try_from(want).unwrap_or(data.len()), 0.0);
    Ok(data)
}

/// Resamples a stream pushed in pieces of any size (typically 20 ms frames).
///
/// Output lags input by [`StreamResampler::delay_samples`] output samples;
/// over a long stream the output length tracks `input * to / from`.
pub struct StreamResampler {
    inner: Option<Fft<f32>>,
    pending: Vec<f32>,
    from: u32,
    to: u32,
}

impl std::fmt::Debug for StreamResampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamResampler")
            .field("from", &self.from)
            .field("to", &self.to)
            .field("pending", &self.pending.len())
            .finish()
    }
}

impl StreamResampler {
    /// A streaming resampler; equal rates pass samples straight through.
    pub fn new(from: u32, to: u32) -> Result<Self, ResampleError> {
        let inner = if from == to && from != 0 {
            None
        } else {
            Some(make(from, to, crate::frame::frame_len(from).max(1))?)
        };
        Ok(Self {
            inner,
            pending: Vec::new(),
            from,
            to,
        })
    }

    /// Input rate.
    pub fn from_rate(&self) -> u32 {
        self.from
    }

    /// Output rate.
    pub fn to_rate(&self) -> u32 {
        self.to
    }

    /// Output samples of latency the filter adds.
    pub fn delay_samples(&self) -> usize {
        self.inner.as_ref().map_or(0, |r| r.output_delay())
    }

    /// Pushes input and returns all output that is ready.
    pub fn push(&mut self, samples: &[f32]) -> Result<Vec<f32>, ResampleError> {
        let Some(r) = self.inner.as_mut() else {
            return Ok(samples.to_vec());
        };
        self.pending.extend_from_slice(samples);
        let mut out = Vec::new();
        loop {
            let need = r.input_frames_next();
            if need == 0 || self.pending.len() < need {
                break;
            }
            let input = InterleavedSlice::new(&self.pending[..need], 1, need)
                .map_err(|e| ResampleError::Internal(e.to_string()))?;
            let chunk = r
                .process(&input, None)
                .map_err(|e| ResampleError::Internal(e.to_string()))?;
            out.extend(chunk.take_data());
            self.pending.drain(..need);
        }
        Ok(out)
    }

    /// Drops buffered input and filter state (after a barge-in flush).
    pub fn reset(&mut self) {
        self.pending.clear();
        if let Some(r) = self.inner.as_mut() {
            r.reset();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::f32::consts::PI;

    fn sine(freq: f32, rate: u32, secs: f32, amp: f32) -> Vec<f32> {
        let n = (rate as f32 * secs) as usize;
        (0..n)
            .map(|i| amp * (2.0 * PI * freq * i as f32 / rate as f32).sin())
            .collect()
    }

    /// Frequency estimate from positive-going zero crossings, ignoring edges.
    fn zero_crossing_freq(s: &[f32], rate: u32) -> f32 {
        let body = &s[s.len() / 10..s.len() * 9 / 10];
        let crossings = body
            .windows(2)
            .filter(|w| w[0] < 0.0 && w[1] >= 0.0)
            .count();
        crossings as f32 * rate as f32 / body.len() as f32
    }

    fn body_rms(s: &[f32]) -> f32 {
        crate::audio::rms(&s[s.len() / 10..s.len() * 9 / 10])
    }

    #[test]
    fn sine_keeps_frequency_length_and_level_between_all_rates() {
        let rates = [8000u32, 16000, 24000, 48000];
        for &from in &rates {
            for &to in &rates {
                let input = sine(440.0, from, 1.0, 0.5);
                let out = resample(&input, from, to).expect("resample");
                let expected_len = (input.len() as u64 * u64::from(to)).div_ceil(u64::from(from));
                assert_eq!(out.len() as u64, expected_len, "{from}->{to}");
                let f = zero_crossing_freq(&out, to);
                assert!((f - 440.0).abs() < 5.0, "{from}->{to}: {f} Hz");
                let gain = body_rms(&out) / body_rms(&input);
                assert!((gain - 1.0).abs() < 0.05, "{from}->{to}: gain {gain}");
            }
        }
    }

    #[test]
    fn downsampling_removes_content_above_the_new_nyquist() {
        // 6 kHz cannot exist at 8 kHz; it must be filtered, not aliased to 2 kHz.
        let input = sine(6000.0, 48000, 0.5, 0.5);
        let out = resample(&input, 48000, 8000).expect("resample");
        assert!(body_rms(&out) < 0.01, "aliasing: {}", body_rms(&out));
    }

    #[test]
    fn odd_rates_and_edge_cases() {
        let input = sine(440.0, 44100, 0.5, 0.5);
        let out = resample(&input, 44100, 16000).expect("44.1k");
        assert!((zero_crossing_freq(&out, 16000) - 440.0).abs() < 5.0);
        assert!(resample(&[], 8000, 16000).expect("empty").is_empty());
        assert_eq!(
            resample(&[0.5, 0.25], 8000, 8000).expect("same"),
            [0.5, 0.25]
        );
        assert!(matches!(
            resample(&[0.0], 0, 8000),
            Err(ResampleError::Unsupported { .. })
        ));
        assert!(StreamResampler::new(8000, 0).is_err());
    }

    #[test]
    fn streaming_matches_ratio_and_frequency() {
        let input = sine(300.0, 8000, 2.0, 0.5);
        let mut r = StreamResampler::new(8000, 16000).expect("new");
        let mut out = Vec::new();
        // Push odd-sized pieces: the resampler must buffer correctly.
        for piece in input.chunks(77) {
            out.extend(r.push(piece).expect("push"));
        }
        let lag = input.len() * 2 - out.len();
        assert!(lag <= 320 * 2, "too much held back: {lag}");
        let f = zero_crossing_freq(&out[r.delay_samples()..], 16000);
        assert!((f - 300.0).abs() < 5.0, "{f}");
        r.reset();
        assert!(r.push(&[0.0; 10]).expect("push").is_empty());
        let mut same = StreamResampler::new(16000, 16000).expect("same");
        assert_eq!(same.push(&[0.1, 0.2]).expect("push"), [0.1, 0.2]);
        assert_eq!(same.delay_samples(), 0);
    }
}

//! Mono PCM buffers and sample conversions.
//!
//! Processing (resampling, denoise, VAD, engines) works on `f32` samples in
//! `[-1.0, 1.0]`; `i16` appears only at the edges (G.711, WAV files).

/// A mono clip (or one chunk of a stream) at a stated sample rate.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Audio {
    /// Samples per second.
    pub sample_rate: u32,
    /// Mono samples in `[-1.0, 1.0]`.
    pub samples: Vec<f32>,
}

impl Audio {
    /// Wraps samples at a rate.
    pub fn new(sample_rate: u32, samples: Vec<f32>) -> Self {
        Self {
            sample_rate,
            samples,
        }
    }

    /// Duration in milliseconds (0 for a zero rate).
    pub fn duration_ms(&self) -> u64 {
        if self.sample_rate == 0 {
            return 0;
        }
        self.samples.len() as u64 * 1000 / u64::from(self.sample_rate)
    }

    /// Duration in seconds.
    pub fn duration_secs(&self) -> f64 {
        if self.sample_rate == 0 {
            return 0.0;
        }
        self.samples.len() as f64 / f64::from(self.sample_rate)
    }

    /// The samples as 16-bit PCM (clamped).
    pub fn to_i16(&self) -> Vec<i16> {
        f32_to_i16(&self.samples)
    }
}

/// Converts 16-bit PCM to `f32` in `[-1.0, 1.0)`.
pub fn i16_to_f32(pcm: &[i16]) -> Vec<f32> {
    pcm.iter().map(|&s| f32::from(s) / 32768.0).collect()
}

/// Converts `f32` samples to 16-bit PCM, clamping out-of-range values (and
/// mapping NaN to 0) rather than wrapping.
pub fn f32_to_i16(samples: &[f32]) -> Vec<i16> {
    samples
        .iter()
        .map(|&s| {
            let v = if s.is_nan() { 0.0 } else { s * 32768.0 };
            // Clamped into the i16 range first, so the cast is exact-or-rounded.
            v.round().clamp(-32768.0, 32767.0) as i16
        })
        .collect()
}

/// Root-mean-square level of a buffer (0 for an empty one).
pub fn rms(samples: &[f32]) -> f32 {
    if samples.is_empty() {
        return 0.0;
    }
    let sum: f64 = samples.iter().map(|&s| f64::from(s) * f64::from(s)).sum();
    (sum / samples.len() as f64).sqrt() as f32
}

/// Level in dB relative to full scale (a full-scale sine is about −3 dBFS);
/// silence is clamped to −120 dBFS instead of −∞.
pub fn dbfs(samples: &[f32]) -> f32 {
    let r = rms(samples);
    if r <= 1e-6 { -120.0 } else { 20.0 * r.log10() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions_round_trip_and_clamp() {
        let pcm = [0i16, 1, -1, 32767, -32768, 1234];
        assert_eq!(f32_to_i16(&i16_to_f32(&pcm)), pcm);
        assert_eq!(f32_to_i16(&[2.0, -2.0, f32::NAN]), [32767, -32768, 0]);
    }

    #[test]
    fn levels() {
        assert_eq!(dbfs(&[]), -120.0);
        assert_eq!(dbfs(&[0.0; 10]), -120.0);
        let square = [0.5f32, -0.5, 0.5, -0.5];
        assert!((rms(&square) - 0.5).abs() < 1e-6);
        assert!((dbfs(&square) + 6.02).abs() < 0.01);
        let a = Audio::new(8000, vec![0.0; 4000]);
        assert_eq!(a.duration_ms(), 500);
        assert_eq!(Audio::new(0, vec![0.0]).duration_ms(), 0);
    }
}

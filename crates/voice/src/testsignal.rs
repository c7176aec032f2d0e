//! Deterministic synthetic signals for tests, examples and benchmarks:
//! tones, seeded white noise, a crude "speech-like" voiced signal, and mixing
//! at a given signal-to-noise ratio. No randomness from the environment, so
//! every test that uses them is reproducible.

use std::f32::consts::PI;

/// A sine tone.
pub fn tone(freq: f32, rate: u32, ms: u32, amplitude: f32) -> Vec<f32> {
    let n = rate as usize * ms as usize / 1000;
    (0..n)
        .map(|i| amplitude * (2.0 * PI * freq * i as f32 / rate as f32).sin())
        .collect()
}

/// Digital silence.
pub fn silence(rate: u32, ms: u32) -> Vec<f32> {
    vec![0.0; rate as usize * ms as usize / 1000]
}

/// Uniform white noise with the given RMS level, from a fixed seed (xorshift).
pub fn white_noise(rate: u32, ms: u32, rms: f32, seed: u64) -> Vec<f32> {
    let n = rate as usize * ms as usize / 1000;
    let mut x = seed.max(1);
    // Uniform in [-1, 1] has RMS 1/sqrt(3).
    let scale = rms * 3f32.sqrt();
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let u = (x >> 40) as f32 / (1u64 << 24) as f32;
            (u * 2.0 - 1.0) * scale
        })
        .collect()
}

/// A voiced, speech-like signal: `syllables` harmonic bursts (pitch gliding
/// around 120–220 Hz, ten harmonics falling off like a vowel) of `syllable_ms`
/// each with a smooth envelope, separated by `gap_ms` of silence. Peak RMS is
/// roughly `amplitude / 2`.
pub fn speech_like(
    rate: u32,
    syllables: u32,
    syllable_ms: u32,
    gap_ms: u32,
    amplitude: f32,
) -> Vec<f32> {
    let mut out = Vec::new();
    let n = rate as usize * syllable_ms as usize / 1000;
    for s in 0..syllables {
        let f0 = 120.0 + 25.0 * (s % 5) as f32;
        let mut phase = 0.0f32;
        for i in 0..n {
            let t = i as f32 / n.max(1) as f32;
            // Pitch glides by ±15 % over the syllable, like a Mandarin tone.
            let f = f0 * (1.0 + 0.15 * (PI * t).sin() * if s % 2 == 0 { 1.0 } else { -1.0 });
            phase += 2.0 * PI * f / rate as f32;
            let env = (PI * t).sin().powi(2);
            let mut v = 0.0;
            for k in 1..=10 {
                let kf = k as f32;
                if f * kf < rate as f32 / 2.0 {
                    v += (kf * phase).sin() / kf;
                }
            }
            out.push(amplitude * 0.6 * env * v);
        }
        out.extend(silence(rate, gap_ms));
    }
    out
}

/// Mixes `noise` into `signal` so the result has the given SNR in dB (by RMS
/// over the whole signal); `noise` is repeated or cut to length.
pub fn mix_at_snr(signal: &[f32], noise: &[f32], snr_db: f32) -> Vec<f32> {
    let s = crate::audio::rms(signal);
    let n = crate::audio::rms(noise);
    if noise.is_empty() || n <= 0.0 {
        return signal.to_vec();
    }
    let gain = s / n / 10f32.powf(snr_db / 20.0);
    signal
        .iter()
        .zip(noise.iter().cycle())
        .map(|(&x, &y)| x + gain * y)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::rms;

    #[test]
    fn noise_level_and_determinism() {
        let a = white_noise(8000, 1000, 0.1, 7);
        assert!((rms(&a) - 0.1).abs() < 0.005);
        assert_eq!(a, white_noise(8000, 1000, 0.1, 7));
        assert_ne!(a, white_noise(8000, 1000, 0.1, 8));
    }

    #[test]
    fn snr_mixing() {
        let s = tone(300.0, 8000, 1000, 0.5);
        let n = white_noise(8000, 1000, 1.0, 3);
        let m = mix_at_snr(&s, &n, 10.0);
        let added: Vec<f32> = m.iter().zip(&s).map(|(a, b)| a - b).collect();
        let snr = 20.0 * (rms(&s) / rms(&added)).log10();
        assert!((snr - 10.0).abs() < 0.1, "{snr}");
        assert!(speech_like(8000, 3, 200, 100, 0.5).len() == 3 * (1600 + 800));
    }
}

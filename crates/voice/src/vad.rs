//! A pure-Rust voice-activity detector: frame energy against an adaptive
//! noise floor, gated by the zero-crossing rate.
//!
//! * The noise floor is the minimum frame energy over the last
//!   [`EnergyVadConfig::floor_window_ms`] ("minimum statistics"): speech has
//!   gaps between syllables, stationary noise does not, so the minimum follows
//!   the noise while ignoring speech. A steady hum becomes "floor" once the
//!   window has passed.
//! * A frame is speech when it is `margin_db` above that floor, above an
//!   absolute level, and not noise-like (white noise crosses zero about every
//!   other sample; voiced speech far less often).
//!
//! Deterministic and allocation-free per frame. It is deliberately simple;
//! a neural VAD (Silero) can be plugged in through [`crate::Vad`].

use std::collections::VecDeque;

use crate::audio::dbfs;
use crate::engine::Vad;
use crate::frame::FRAME_MS;

/// Tuning for [`EnergyVad`].
#[derive(Debug, Clone, PartialEq)]
pub struct EnergyVadConfig {
    /// How far above the noise floor a frame must be, in dB.
    pub margin_db: f32,
    /// Frames quieter than this (dBFS) are never speech.
    pub min_level_dbfs: f32,
    /// Frames whose zero-crossing rate (crossings per sample) exceeds this
    /// are treated as noise.
    pub max_zcr: f32,
    /// The window the noise floor is the minimum over.
    pub floor_window_ms: u32,
}

impl Default for EnergyVadConfig {
    fn default() -> Self {
        Self {
            margin_db: 10.0,
            min_level_dbfs: -50.0,
            max_zcr: 0.3,
            floor_window_ms: 1500,
        }
    }
}

/// Energy + zero-crossing VAD with an adaptive noise floor.
#[derive(Debug, Clone)]
pub struct EnergyVad {
    config: EnergyVadConfig,
    sample_rate: u32,
    history: VecDeque<f32>,
    window: usize,
}

impl EnergyVad {
    /// A detector for frames at `sample_rate` with default tuning.
    pub fn new(sample_rate: u32) -> Self {
        Self::with_config(sample_rate, EnergyVadConfig::default())
    }

    /// A detector with explicit tuning.
    pub fn with_config(sample_rate: u32, config: EnergyVadConfig) -> Self {
        let window = (config.floor_window_ms / FRAME_MS).max(1) as usize;
        Self {
            config,
            sample_rate,
            history: VecDeque::with_capacity(window),
            window,
        }
    }

    /// The current noise-floor estimate in dBFS (−120 before any frame).
    pub fn noise_floor_dbfs(&self) -> f32 {
        self.history
            .iter()
            .copied()
            .reduce(f32::min)
            .map_or(-120.0, |m| m.max(-120.0))
    }
}

/// Zero crossings per sample.
pub fn zero_crossing_rate(frame: &[f32]) -> f32 {
    if frame.len() < 2 {
        return 0.0;
    }
    let crossings = frame
        .windows(2)
        .filter(|w| (w[0] >= 0.0) != (w[1] >= 0.0))
        .count();
    crossings as f32 / (frame.len() - 1) as f32
}

impl Vad for EnergyVad {
    fn sample_rate(&self) -> u32 {
        self.sample_rate
    }

    fn speech_probability(&mut self, frame: &[f32]) -> f32 {
        if frame.is_empty() {
            return 0.0;
        }
        let level = dbfs(frame);
        if self.history.len() == self.window {
            self.history.pop_front();
        }
        self.history.push_back(level);
        let floor = self.noise_floor_dbfs();
        if level < self.config.min_level_dbfs || zero_crossing_rate(frame) > self.config.max_zcr {
            return 0.0;
        }
        // Logistic around the margin: 0.5 exactly at floor + margin, ~0.95 at +9 dB more.
        let x = (level - floor - self.config.margin_db) / 3.0;
        1.0 / (1.0 + (-x).exp())
    }

    fn reset(&mut self) {
        self.history.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::dbfs;
    use crate::frame::frames;
    use crate::testsignal::{mix_at_snr, silence, speech_like, tone, white_noise};

    fn decisions(vad: &mut EnergyVad, samples: &[f32]) -> Vec<bool> {
        let rate = vad.sample_rate();
        frames(samples, rate)
            .iter()
            .map(|f| vad.is_speech(f))
            .collect()
    }

    fn fraction(d: &[bool]) -> f32 {
        d.iter().filter(|&&b| b).count() as f32 / d.len().max(1) as f32
    }

    #[test]
    fn silence_is_never_speech() {
        for rate in [8000, 16000] {
            let mut v = EnergyVad::new(rate);
            assert_eq!(fraction(&decisions(&mut v, &silence(rate, 2000))), 0.0);
            assert_eq!(v.speech_probability(&[]), 0.0);
        }
    }

    #[test]
    fn stationary_white_noise_is_not_speech_at_any_level() {
        for rate in [8000, 16000] {
            for rms in [0.001, 0.01, 0.05, 0.2] {
                let mut v = EnergyVad::new(rate);
                let d = decisions(&mut v, &white_noise(rate, 3000, rms, 42));
                assert_eq!(fraction(&d), 0.0, "rate {rate} rms {rms}");
            }
        }
    }

    /// Frames where the clean signal is within 8 dB of its loudest frame
    /// (the body of each syllable) and frames where it is silent.
    fn labels(clean: &[f32], rate: u32) -> Vec<Option<bool>> {
        let levels: Vec<f32> = frames(clean, rate).iter().map(|f| dbfs(f)).collect();
        let peak = levels.iter().copied().fold(-120.0, f32::max);
        levels
            .iter()
            .map(|&l| {
                if l > peak - 8.0 {
                    Some(true)
                } else if l < -100.0 {
                    Some(false)
                } else {
                    None // fades: either answer is fine
                }
            })
            .collect()
    }

    /// (recall on loud frames, false-alarm rate on silent frames)
    fn score(decisions: &[bool], labels: &[Option<bool>]) -> (f32, f32) {
        let (mut hit, mut loud, mut fa, mut quiet) = (0, 0, 0, 0);
        for (d, l) in decisions.iter().zip(labels) {
            match l {
                Some(true) => {
                    loud += 1;
                    hit += usize::from(*d);
                }
                Some(false) => {
                    quiet += 1;
                    fa += usize::from(*d);
                }
                None => {}
            }
        }
        (
            hit as f32 / loud.max(1) as f32,
            fa as f32 / quiet.max(1) as f32,
        )
    }

    #[test]
    fn speech_like_signal_is_detected_in_silence_and_in_noise() {
        for rate in [8000, 16000] {
            let speech = speech_like(rate, 8, 220, 60, 0.3);
            let truth = labels(&speech, rate);
            for snr in [None, Some(20.0), Some(10.0)] {
                // A quiet lead-in so the floor is learnt first, as on a real call.
                let lead_in = white_noise(rate, 500, 0.003, 9);
                let body = match snr {
                    None => speech.clone(),
                    Some(db) => mix_at_snr(&speech, &white_noise(rate, 3000, 1.0, 5), db),
                };
                let mut v = EnergyVad::new(rate);
                assert_eq!(fraction(&decisions(&mut v, &lead_in)), 0.0);
                let (recall, false_alarms) = score(&decisions(&mut v, &body), &truth);
                assert!(recall > 0.9, "rate {rate} snr {snr:?}: recall {recall}");
                assert!(
                    false_alarms < 0.1,
                    "rate {rate} snr {snr:?}: fa {false_alarms}"
                );
            }
        }
    }

    #[test]
    fn steady_hum_fades_into_the_floor_but_speech_over_it_does_not() {
        let rate = 8000;
        let mut v = EnergyVad::new(rate);
        let hum = tone(100.0, rate, 4000, 0.02);
        let d = decisions(&mut v, &hum);
        // After the floor window (1.5 s) the hum is background.
        assert!(d[80..].iter().all(|&b| !b));
        let speech = speech_like(rate, 5, 220, 60, 0.4);
        let over: Vec<f32> = speech
            .iter()
            .zip(tone(100.0, rate, 2000, 0.02))
            .map(|(a, b)| a + b)
            .collect();
        let (recall, false_alarms) = score(&decisions(&mut v, &over), &labels(&speech, rate));
        assert!(recall > 0.9, "{recall}");
        assert_eq!(false_alarms, 0.0);
        v.reset();
        assert_eq!(v.noise_floor_dbfs(), -120.0);
    }

    #[test]
    fn zcr_of_tones_and_noise() {
        let low = tone(200.0, 8000, 20, 0.5);
        assert!(zero_crossing_rate(&low) < 0.1);
        assert!(zero_crossing_rate(&white_noise(8000, 20, 0.1, 1)) > 0.35);
        assert_eq!(zero_crossing_rate(&[1.0]), 0.0);
    }
}

//! Fixed 20 ms framing.
//!
//! RTP delivers 20 ms packets and every processor downstream (VAD, endpointer,
//! streaming ASR) thinks in frames, so arbitrary-sized chunks are cut into
//! exact frames here. Pure and allocation-light.

/// The frame length used throughout the voice path.
pub const FRAME_MS: u32 = 20;

/// Samples in one [`FRAME_MS`] frame at `sample_rate` (160 at 8 kHz).
pub fn frame_len(sample_rate: u32) -> usize {
    (sample_rate as usize * FRAME_MS as usize) / 1000
}

/// Cuts a stream of chunks of any size into exact frames, keeping the
/// remainder for the next push.
#[derive(Debug, Clone)]
pub struct Framer {
    frame_len: usize,
    pending: Vec<f32>,
}

impl Framer {
    /// A framer for 20 ms frames at `sample_rate`.
    pub fn new(sample_rate: u32) -> Self {
        Self::with_len(frame_len(sample_rate))
    }

    /// A framer for frames of `frame_len` samples (at least 1).
    pub fn with_len(frame_len: usize) -> Self {
        Self {
            frame_len: frame_len.max(1),
            pending: Vec::new(),
        }
    }

    /// Frame length in samples.
    pub fn frame_len(&self) -> usize {
        self.frame_len
    }

    /// Appends samples and returns every complete frame now available.
    pub fn push(&mut self, samples: &[f32]) -> Vec<Vec<f32>> {
        self.pending.extend_from_slice(samples);
        let whole = self.pending.len() / self.frame_len * self.frame_len;
        let frames = self
            .pending
            .chunks_exact(self.frame_len)
            .map(<[f32]>::to_vec)
            .collect();
        self.pending.drain(..whole);
        frames
    }

    /// Returns the partial last frame padded with zeros, if any samples wait.
    pub fn flush(&mut self) -> Option<Vec<f32>> {
        if self.pending.is_empty() {
            return None;
        }
        let mut last = std::mem::take(&mut self.pending);
        last.resize(self.frame_len, 0.0);
        Some(last)
    }
}

/// Splits a whole clip into 20 ms frames, zero-padding the last one.
pub fn frames(samples: &[f32], sample_rate: u32) -> Vec<Vec<f32>> {
    let mut f = Framer::new(sample_rate);
    let mut out = f.push(samples);
    out.extend(f.flush());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_lengths_at_telephony_rates() {
        assert_eq!(frame_len(8000), 160);
        assert_eq!(frame_len(16000), 320);
        assert_eq!(frame_len(24000), 480);
        assert_eq!(frame_len(48000), 960);
    }

    #[test]
    fn framer_keeps_remainders_across_pushes() {
        let mut f = Framer::new(8000);
        assert!(f.push(&[0.1; 100]).is_empty());
        let out = f.push(&[0.2; 300]);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0][..100], [0.1; 100]);
        assert_eq!(out[0][100..], [0.2; 60]);
        assert_eq!(out[1], vec![0.2; 160]);
        let last = f.flush().expect("80 samples pending");
        assert_eq!(last.len(), 160);
        assert_eq!(last[79], 0.2);
        assert_eq!(last[80], 0.0);
        assert!(f.flush().is_none());
    }

    #[test]
    fn whole_clip_framing() {
        assert_eq!(frames(&[0.0; 320], 8000).len(), 2);
        assert_eq!(frames(&[0.0; 321], 8000).len(), 3);
        assert!(frames(&[], 8000).is_empty());
        assert_eq!(Framer::with_len(0).frame_len(), 1);
    }
}

//! The flushable playout queue between TTS and RTP.
//!
//! TTS chunks (any rate) go in, exact 20 ms frames at the line rate come out
//! on the RTP clock, silence when there is nothing to say. A barge-in calls
//! [`Playout::flush`], which drops everything queued at once, so the robot
//! stops talking within one frame. Each clip can carry a mark; the queue
//! reports when a marked clip finished playing or was cut off, so the core
//! knows what the caller actually heard. Sans-IO: the RTP driver calls
//! [`Playout::next_frame`] every 20 ms.

use std::collections::VecDeque;

use crate::audio::Audio;
use crate::frame::frame_len;
use crate::resample::{ResampleError, resample};

/// What happened to a marked clip.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlayoutEvent {
    /// The clip's last sample went out.
    Finished {
        /// The mark given to [`Playout::push`].
        mark: u64,
    },
    /// The clip was flushed before (or while) playing.
    Interrupted {
        /// The mark.
        mark: u64,
        /// Milliseconds of it that were played.
        played_ms: u64,
    },
}

#[derive(Debug)]
struct Clip {
    samples: Vec<f32>,
    pos: usize,
    mark: Option<u64>,
}

/// A queue of clips played out as fixed frames.
#[derive(Debug)]
pub struct Playout {
    rate: u32,
    frame: usize,
    clips: VecDeque<Clip>,
}

impl Playout {
    /// A queue producing 20 ms frames at `rate` (8000 for G.711).
    pub fn new(rate: u32) -> Self {
        Self {
            rate,
            frame: frame_len(rate).max(1),
            clips: VecDeque::new(),
        }
    }

    /// Queues a clip (resampled to the line rate), optionally marked.
    pub fn push(&mut self, audio: &Audio, mark: Option<u64>) -> Result<(), ResampleError> {
        let samples = resample(&audio.samples, audio.sample_rate, self.rate)?;
        self.clips.push_back(Clip {
            samples,
            pos: 0,
            mark,
        });
        Ok(())
    }

    /// Milliseconds of audio waiting.
    pub fn queued_ms(&self) -> u64 {
        let n: usize = self.clips.iter().map(|c| c.samples.len() - c.pos).sum();
        n as u64 * 1000 / u64::from(self.rate.max(1))
    }

    /// True when nothing is queued (the robot is silent).
    pub fn is_idle(&self) -> bool {
        self.clips.is_empty()
    }

    /// The next 20 ms frame (zero-padded / silence when the queue runs dry)
    /// and the marked clips that finished within it.
    pub fn next_frame(&mut self) -> (Vec<f32>, Vec<PlayoutEvent>) {
        let mut out = Vec::with_capacity(self.frame);
        let mut events = Vec::new();
        while out.len() < self.frame {
            let Some(clip) = self.clips.front_mut() else {
                break;
            };
            let take = (self.frame - out.len()).min(clip.samples.len() - clip.pos);
            out.extend_from_slice(
                clip.samples
                    .get(clip.pos..clip.pos + take)
                    .unwrap_or_default(),
            );
            clip.pos += take;
            if clip.pos >= clip.samples.len() {
                if let Some(mark) = clip.mark {
                    events.push(PlayoutEvent::Finished { mark });
                }
                self.clips.pop_front();
            }
        }
        out.resize(self.frame, 0.0);
        (out, events)
    }

    /// Drops everything queued (barge-in) and reports the marked clips cut off.
    pub fn flush(&mut self) -> Vec<PlayoutEvent> {
        let rate = u64::from(self.rate.max(1));
        self.clips
            .drain(..)
            .filter_map(|c| {
                c.mark.map(|mark| PlayoutEvent::Interrupted {
                    mark,
                    played_ms: c.pos as u64 * 1000 / rate,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clips_play_as_exact_frames_then_silence() {
        let mut p = Playout::new(8000);
        assert!(p.is_idle());
        p.push(&Audio::new(8000, vec![0.5; 200]), Some(1))
            .expect("push");
        p.push(&Audio::new(16000, vec![0.25; 320]), Some(2))
            .expect("push");
        assert_eq!(p.queued_ms(), 45);
        let (f, ev) = p.next_frame();
        assert_eq!(f, vec![0.5; 160]);
        assert!(ev.is_empty());
        let (f, ev) = p.next_frame();
        assert_eq!(f[..40], [0.5; 40]);
        assert!((f[100] - 0.25).abs() < 0.01, "resampled clip follows");
        assert_eq!(ev, [PlayoutEvent::Finished { mark: 1 }]);
        let (f, ev) = p.next_frame();
        assert!(f[40..].iter().all(|&s| s == 0.0), "silence after the end");
        assert_eq!(ev, [PlayoutEvent::Finished { mark: 2 }]);
        assert!(p.is_idle());
        assert_eq!(p.next_frame().0, vec![0.0; 160]);
    }

    #[test]
    fn flush_stops_at_once_and_reports_what_was_heard() {
        let mut p = Playout::new(8000);
        p.push(&Audio::new(8000, vec![0.5; 8000]), Some(7))
            .expect("push");
        p.push(&Audio::new(8000, vec![0.5; 800]), None)
            .expect("push");
        p.push(&Audio::new(8000, vec![0.5; 800]), Some(8))
            .expect("push");
        for _ in 0..10 {
            p.next_frame();
        }
        let ev = p.flush();
        assert_eq!(
            ev,
            [
                PlayoutEvent::Interrupted {
                    mark: 7,
                    played_ms: 200
                },
                PlayoutEvent::Interrupted {
                    mark: 8,
                    played_ms: 0
                }
            ]
        );
        assert!(p.is_idle());
        assert_eq!(p.next_frame().0, vec![0.0; 160]);
    }
}

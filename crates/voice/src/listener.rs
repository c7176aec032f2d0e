//! The listening half of a call, assembled: line-rate 20 ms frames in
//! (decoded G.711), turn events out.
//!
//! ```text
//! frame → [denoise] → VAD → endpointer ─┬→ ASR (with pre-roll) → Transcript
//!                                        └→ barge-in detector (while the robot speaks)
//! ```
//!
//! The endpointer only declares a turn after `min_speech_ms`, so the last few
//! hundred milliseconds are kept in a pre-roll buffer and handed to the
//! recogniser when the turn starts: the first syllable is not lost. Sans-IO
//! apart from the engines it is given; time is counted in frames.

use std::collections::VecDeque;

use crate::endpoint::{
    BargeInConfig, BargeInDetector, BargeInEvent, BargeInPolicy, EndpointConfig, EndpointEvent,
    Endpointer, PauseKind, is_backchannel,
};
use crate::engine::{Asr, Denoiser, EngineError, Transcript, Vad};
use crate::frame::{FRAME_MS, Framer};
use crate::resample::{ResampleError, StreamResampler};

/// Tuning for [`Listener`].
#[derive(Debug, Clone, PartialEq)]
pub struct ListenerConfig {
    /// End-of-turn rules.
    pub endpoint: EndpointConfig,
    /// Interruption rules.
    pub barge_in: BargeInConfig,
    /// Audio kept before the detected start of speech.
    pub pre_roll_ms: u32,
    /// Whether the recogniser hears the denoised audio (`true`) or the line
    /// audio (`false`, the default). The denoiser always feeds the VAD and
    /// the endpointer; Whisper recognises the noisy original better than
    /// RNNoise's or GTCRN's output (docs/benchmarks.md), so it gets that.
    pub denoise_for_asr: bool,
    /// Speculative decoding: once the caller has paused this long inside a
    /// turn, the recogniser starts decoding the utterance so far on another
    /// thread; if the turn then ends without more speech, that result is
    /// used at once instead of decoding after the end-of-turn pause (the
    /// pause and the decode overlap). Speech before the end discards it.
    /// `None`: decode only at the end. Engines without
    /// [`Asr::snapshot`] never speculate.
    pub speculate_after_ms: Option<u32>,
}

impl Default for ListenerConfig {
    fn default() -> Self {
        Self {
            endpoint: EndpointConfig::default(),
            barge_in: BargeInConfig::default(),
            pre_roll_ms: 300,
            denoise_for_asr: false,
            speculate_after_ms: Some(200),
        }
    }
}

/// What the listener tells the call pipeline.
#[derive(Debug, Clone, PartialEq)]
pub enum ListenerEvent {
    /// The caller started a turn (→ `UserStartedSpeaking`).
    SpeechStarted {
        /// Start of the turn, ms since the listener started.
        start_ms: u64,
    },
    /// The caller is interrupting the robot: flush playout now.
    BargeIn {
        /// Start of the interrupting speech.
        start_ms: u64,
        /// When it was decided.
        at_ms: u64,
    },
    /// A finished turn (→ `UserSaid{final: true}`).
    Final {
        /// Turn start.
        start_ms: u64,
        /// Turn end (last speech frame).
        end_ms: u64,
        /// What was recognised.
        transcript: Transcript,
    },
    /// A turn made only of acknowledgements while the robot spoke; it did not
    /// interrupt and need not reach the script.
    Backchannel {
        /// The recognised acknowledgement.
        text: String,
    },
    /// The recogniser failed on a turn.
    AsrFailed {
        /// The error, for logs.
        error: String,
    },
}

/// VAD, endpointing, barge-in and recognition for one call leg.
pub struct Listener {
    config: ListenerConfig,
    denoiser: Option<Box<dyn Denoiser>>,
    vad: Box<dyn Vad>,
    asr: Box<dyn Asr>,
    framer: Framer,
    /// Line audio for the recogniser when it does not hear the denoised
    /// audio: framed separately, one frame taken per denoised frame (the
    /// queue holds the denoiser's latency, a frame or two).
    raw_framer: Framer,
    raw_frames: VecDeque<Vec<f32>>,
    to_vad: StreamResampler,
    to_asr: StreamResampler,
    endpointer: Endpointer,
    barge: BargeInDetector,
    pre_roll: VecDeque<Vec<f32>>,
    pre_roll_frames: usize,
    in_turn: bool,
    turn_during_robot: bool,
    interrupted: bool,
    robot_speaking: bool,
    t_ms: u64,
    /// Silence since the last speech frame of the open turn.
    pause_ms: u32,
    /// The decode started in the current pause, if any.
    speculation: Option<std::sync::mpsc::Receiver<Result<Transcript, EngineError>>>,
    stats: SpeculationStats,
}

/// How speculative decoding went on this listener (for logs and tests).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SpeculationStats {
    /// Decodes started in a pause.
    pub started: u64,
    /// Turns whose transcript came from a speculative decode.
    pub used: u64,
    /// Decodes thrown away because the caller spoke again.
    pub discarded: u64,
}

impl std::fmt::Debug for Listener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listener")
            .field("asr", &self.asr.id())
            .field("t_ms", &self.t_ms)
            .field("in_turn", &self.in_turn)
            .finish()
    }
}

impl Listener {
    /// A listener for audio at `line_rate` (8000 for G.711). The denoiser, if
    /// any, must run at `line_rate`; VAD and ASR may use other rates.
    pub fn new(
        line_rate: u32,
        config: ListenerConfig,
        denoiser: Option<Box<dyn Denoiser>>,
        vad: Box<dyn Vad>,
        asr: Box<dyn Asr>,
    ) -> Result<Self, ResampleError> {
        let to_vad = StreamResampler::new(line_rate, vad.sample_rate())?;
        let to_asr = StreamResampler::new(line_rate, asr.sample_rate())?;
        // Cover the onset the endpointer needs before it declares a turn.
        let pre_roll_frames =
            ((config.pre_roll_ms + config.endpoint.min_speech_ms + config.endpoint.onset_gap_ms)
                / FRAME_MS) as usize;
        Ok(Self {
            endpointer: Endpointer::new(config.endpoint.clone()),
            barge: BargeInDetector::new(config.barge_in.clone()),
            config,
            denoiser,
            vad,
            asr,
            framer: Framer::new(line_rate),
            raw_framer: Framer::new(line_rate),
            raw_frames: VecDeque::new(),
            to_vad,
            to_asr,
            pre_roll: VecDeque::new(),
            pre_roll_frames,
            in_turn: false,
            turn_during_robot: false,
            interrupted: false,
            robot_speaking: false,
            t_ms: 0,
            pause_ms: 0,
            speculation: None,
            stats: SpeculationStats::default(),
        })
    }

    /// The robot started (with the prompt's interruption policy) or stopped talking.
    pub fn set_robot_speaking(&mut self, speaking: bool, policy: BargeInPolicy) {
        self.robot_speaking = speaking;
        self.barge.reset();
        self.barge.set_policy(policy);
    }

    /// Selects the end-of-turn pause for the next answer (per script node).
    pub fn set_pause(&mut self, kind: PauseKind) {
        self.endpointer.set_pause(kind);
    }

    /// Milliseconds of audio consumed so far.
    pub fn now_ms(&self) -> u64 {
        self.t_ms
    }

    /// Feeds audio at the line rate (normally one 20 ms frame per RTP packet).
    pub fn push(&mut self, samples: &[f32]) -> Vec<ListenerEvent> {
        let raw_to_asr = self.denoiser.is_some() && !self.config.denoise_for_asr;
        let clean = match self.denoiser.as_mut() {
            Some(d) => d.process(samples),
            None => samples.to_vec(),
        };
        if raw_to_asr {
            self.raw_frames.extend(self.raw_framer.push(samples));
        }
        let mut events = Vec::new();
        for frame in self.framer.push(&clean) {
            let heard = if raw_to_asr {
                self.raw_frames.pop_front().unwrap_or_else(|| frame.clone())
            } else {
                frame.clone()
            };
            self.frame(&frame, &heard, &mut events);
        }
        events
    }

    /// One 20 ms frame: `frame` (denoised) decides speech, `heard` goes to the recogniser.
    fn frame(&mut self, frame: &[f32], heard: &[f32], events: &mut Vec<ListenerEvent>) {
        let t = self.t_ms;
        self.t_ms += u64::from(FRAME_MS);
        // A resampler failure is a size bug, never caused by audio content;
        // the frame is then heard at the line rate rather than dropped.
        let for_vad = self.to_vad.push(frame).unwrap_or_else(|_| frame.to_vec());
        let speech = !for_vad.is_empty() && self.vad.is_speech(&for_vad);
        let for_asr = self.to_asr.push(heard).unwrap_or_else(|_| heard.to_vec());
        if self.in_turn {
            self.accept(&for_asr, events);
            self.speculate(speech);
        } else {
            self.pre_roll.push_back(for_asr);
            while self.pre_roll.len() > self.pre_roll_frames {
                self.pre_roll.pop_front();
            }
        }

        match self.endpointer.push(t, FRAME_MS, speech) {
            Some(EndpointEvent::SpeechStarted { start_ms }) => {
                self.in_turn = true;
                self.pause_ms = 0;
                self.speculation = None;
                self.turn_during_robot = self.robot_speaking;
                self.interrupted = false;
                let pre: Vec<Vec<f32>> = self.pre_roll.drain(..).collect();
                for f in pre {
                    self.accept(&f, events);
                }
                events.push(ListenerEvent::SpeechStarted { start_ms });
            }
            Some(EndpointEvent::SpeechEnded {
                start_ms, end_ms, ..
            }) => {
                self.in_turn = false;
                match self.decode_turn() {
                    Ok(t) => {
                        let ack = self.turn_during_robot && !self.interrupted;
                        if ack && (t.text.trim().is_empty() || is_backchannel(&t.text)) {
                            events.push(ListenerEvent::Backchannel { text: t.text });
                        } else {
                            events.push(ListenerEvent::Final {
                                start_ms,
                                end_ms,
                                transcript: t,
                            });
                        }
                    }
                    Err(e) => events.push(ListenerEvent::AsrFailed {
                        error: e.to_string(),
                    }),
                }
            }
            None => {}
        }

        if self.robot_speaking {
            if let Some(p) = self.asr.partial().filter(|_| self.in_turn)
                && let Some(ev) = self.barge.set_partial(&p.text, t)
            {
                self.on_barge(ev, events);
            }
            if let Some(ev) = self.barge.push(t, FRAME_MS, speech) {
                self.on_barge(ev, events);
            }
        }
    }

    /// Inside a turn: starts a speculative decode once the pause is long
    /// enough, and discards it when the caller speaks again.
    fn speculate(&mut self, speech: bool) {
        let Some(after) = self.config.speculate_after_ms else {
            return;
        };
        if speech {
            self.pause_ms = 0;
            if self.speculation.take().is_some() {
                self.stats.discarded += 1;
            }
            return;
        }
        self.pause_ms = self.pause_ms.saturating_add(FRAME_MS);
        if self.pause_ms < after || self.speculation.is_some() {
            return;
        }
        let Some(decode) = self.asr.snapshot() else {
            return;
        };
        let (tx, rx) = std::sync::mpsc::channel();
        let spawned = std::thread::Builder::new()
            .name("asr-speculative".into())
            .spawn(move || {
                // The receiver is gone when the caller spoke again: nothing to do.
                let _ = tx.send(decode());
            });
        if spawned.is_ok() {
            self.stats.started += 1;
            self.speculation = Some(rx);
        }
    }

    /// The transcript of the turn that just ended: the speculative decode
    /// when one covers it (no speech since it started), else a decode now.
    fn decode_turn(&mut self) -> Result<Transcript, EngineError> {
        self.pause_ms = 0;
        if let Some(rx) = self.speculation.take()
            && let Ok(Ok(t)) = rx.recv()
        {
            self.stats.used += 1;
            self.asr.reset();
            return Ok(t);
        }
        // No speculation, or it failed: decode normally (a fallback engine
        // gets its chance there).
        self.asr.finish()
    }

    /// Speculative decoding so far.
    pub fn speculation_stats(&self) -> SpeculationStats {
        self.stats
    }

    fn accept(&mut self, samples: &[f32], events: &mut Vec<ListenerEvent>) {
        if let Err(e) = self.asr.accept(samples) {
            events.push(ListenerEvent::AsrFailed {
                error: e.to_string(),
            });
        }
    }

    fn on_barge(&mut self, ev: BargeInEvent, events: &mut Vec<ListenerEvent>) {
        if let BargeInEvent::Interrupt { start_ms, at_ms } = ev {
            self.interrupted = true;
            self.robot_speaking = false;
            events.push(ListenerEvent::BargeIn { start_ms, at_ms });
        }
    }

    /// Ends the call: decodes a turn still open, if any.
    pub fn finish(&mut self) -> Result<Option<Transcript>, EngineError> {
        if !self.in_turn {
            return Ok(None);
        }
        self.in_turn = false;
        self.decode_turn().map(Some)
    }

    /// The configuration in force.
    pub fn config(&self) -> &ListenerConfig {
        &self.config
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::denoise::Rnnoise;
    use crate::testsignal::{silence, speech_like, white_noise};
    use crate::vad::EnergyVad;

    /// Says how many milliseconds of audio each utterance had, or a fixed text.
    struct Fake {
        heard: usize,
        text: Option<&'static str>,
    }

    impl Asr for Fake {
        fn id(&self) -> &str {
            "fake"
        }
        fn sample_rate(&self) -> u32 {
            16000
        }
        fn accept(&mut self, f: &[f32]) -> Result<(), EngineError> {
            self.heard += f.len();
            Ok(())
        }
        fn partial(&mut self) -> Option<Transcript> {
            None
        }
        fn finish(&mut self) -> Result<Transcript, EngineError> {
            let ms = std::mem::take(&mut self.heard) / 16;
            Ok(Transcript {
                text: self.text.map_or_else(|| format!("{ms}"), str::to_string),
                confidence: 1.0,
                segments: vec![],
                is_final: true,
            })
        }
        fn reset(&mut self) {
            self.heard = 0;
        }
    }

    fn listener(text: Option<&'static str>, denoise: bool) -> Listener {
        let d: Option<Box<dyn Denoiser>> = if denoise {
            Some(Box::new(Rnnoise::new(8000).expect("rnnoise")))
        } else {
            None
        };
        Listener::new(
            8000,
            ListenerConfig::default(),
            d,
            Box::new(EnergyVad::new(8000)),
            Box::new(Fake { heard: 0, text }),
        )
        .expect("listener")
    }

    fn feed(l: &mut Listener, samples: &[f32]) -> Vec<ListenerEvent> {
        samples.chunks(160).flat_map(|f| l.push(f)).collect()
    }

    fn caller_turn() -> Vec<f32> {
        let mut s = white_noise(8000, 600, 0.002, 4);
        s.extend(speech_like(8000, 6, 220, 60, 0.3));
        s.extend(white_noise(8000, 1500, 0.002, 5));
        s
    }

    /// Halves the signal: loud enough for the VAD, and recognisably not the line audio.
    struct Halve;
    impl Denoiser for Halve {
        fn sample_rate(&self) -> u32 {
            8000
        }
        fn process(&mut self, s: &[f32]) -> Vec<f32> {
            s.iter().map(|x| x * 0.5).collect()
        }
        fn reset(&mut self) {}
    }

    /// Reports the peak level it heard, in thousandths.
    struct Level(f32);
    impl Asr for Level {
        fn id(&self) -> &str {
            "level"
        }
        fn sample_rate(&self) -> u32 {
            8000
        }
        fn accept(&mut self, f: &[f32]) -> Result<(), EngineError> {
            self.0 = f.iter().fold(self.0, |m, x| m.max(x.abs()));
            Ok(())
        }
        fn partial(&mut self) -> Option<Transcript> {
            None
        }
        fn finish(&mut self) -> Result<Transcript, EngineError> {
            let peak = std::mem::take(&mut self.0);
            Ok(Transcript {
                text: format!("{}", (peak * 1000.0).round()),
                is_final: true,
                ..Transcript::default()
            })
        }
        fn reset(&mut self) {
            self.0 = 0.0;
        }
    }

    #[test]
    fn the_recogniser_hears_line_audio_unless_told_to_hear_the_denoised() {
        for (denoise_for_asr, want) in [(false, 300.0), (true, 150.0)] {
            let config = ListenerConfig {
                denoise_for_asr,
                ..ListenerConfig::default()
            };
            let mut l = Listener::new(
                8000,
                config,
                Some(Box::new(Halve)),
                Box::new(EnergyVad::new(8000)),
                Box::new(Level(0.0)),
            )
            .expect("listener");
            let mut turn = silence(8000, 600);
            turn.extend(speech_like(8000, 6, 220, 60, 0.3));
            turn.extend(silence(8000, 1500));
            let peak = feed(&mut l, &turn)
                .into_iter()
                .find_map(|e| match e {
                    ListenerEvent::Final { transcript, .. } => transcript.text.parse::<f32>().ok(),
                    _ => None,
                })
                .expect("a final");
            assert!((peak - want).abs() < 40.0, "peak {peak}, want {want}");
        }
    }

    #[test]
    fn a_turn_is_recognised_with_its_onset() {
        for denoise in [false, true] {
            let mut l = listener(None, denoise);
            let ev = feed(&mut l, &caller_turn());
            let started = ev
                .iter()
                .find_map(|e| match e {
                    ListenerEvent::SpeechStarted { start_ms } => Some(*start_ms),
                    _ => None,
                })
                .expect("started");
            assert!(
                (560..=760).contains(&started),
                "{started} (denoise {denoise})"
            );
            let Some(ListenerEvent::Final {
                start_ms,
                end_ms,
                transcript,
            }) = ev.iter().find(|e| matches!(e, ListenerEvent::Final { .. }))
            else {
                panic!("no final: {ev:?}");
            };
            // The recogniser heard the whole turn: pre-roll plus speech plus the
            // trailing pause, at least the span the endpointer reports.
            let heard: u64 = transcript.text.parse().expect("ms");
            assert!(
                heard >= end_ms - start_ms,
                "{heard} < {}",
                end_ms - start_ms
            );
            assert!(l.finish().expect("finish").is_none());
        }
    }

    /// Decodes speculatively: the snapshot's text says so and how much it heard.
    struct Snap {
        heard: usize,
    }

    impl Asr for Snap {
        fn id(&self) -> &str {
            "snap"
        }
        fn sample_rate(&self) -> u32 {
            16000
        }
        fn accept(&mut self, f: &[f32]) -> Result<(), EngineError> {
            self.heard += f.len();
            Ok(())
        }
        fn partial(&mut self) -> Option<Transcript> {
            None
        }
        fn finish(&mut self) -> Result<Transcript, EngineError> {
            let ms = std::mem::take(&mut self.heard) / 16;
            Ok(Transcript {
                text: format!("end {ms}"),
                is_final: true,
                ..Transcript::default()
            })
        }
        fn reset(&mut self) {
            self.heard = 0;
        }
        fn snapshot(&self) -> Option<crate::engine::Decode> {
            let ms = self.heard / 16;
            Some(Box::new(move || {
                Ok(Transcript {
                    text: format!("spec {ms}"),
                    is_final: true,
                    ..Transcript::default()
                })
            }))
        }
    }

    fn snap_listener(speculate_after_ms: Option<u32>) -> Listener {
        let config = ListenerConfig {
            speculate_after_ms,
            ..ListenerConfig::default()
        };
        Listener::new(
            8000,
            config,
            None,
            Box::new(EnergyVad::new(8000)),
            Box::new(Snap { heard: 0 }),
        )
        .expect("listener")
    }

    fn final_text(ev: &[ListenerEvent]) -> Vec<String> {
        ev.iter()
            .filter_map(|e| match e {
                ListenerEvent::Final { transcript, .. } => Some(transcript.text.clone()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_decode_started_in_the_pause_is_the_transcript_when_no_speech_follows() {
        let mut l = snap_listener(Some(200));
        let ev = feed(&mut l, &caller_turn());
        let texts = final_text(&ev);
        assert_eq!(texts.len(), 1, "{ev:?}");
        assert!(texts[0].starts_with("spec "), "{texts:?}");
        assert_eq!(
            l.speculation_stats(),
            SpeculationStats {
                started: 1,
                used: 1,
                discarded: 0
            }
        );
        // The next turn starts clean: the speculated audio was dropped.
        let texts = final_text(&feed(&mut l, &caller_turn()));
        let first: u64 = texts[0]["spec ".len()..].parse().expect("ms");
        assert!(first < 3000, "{texts:?}");
    }

    #[test]
    fn speech_after_the_pause_discards_the_speculation() {
        let mut l = snap_listener(Some(200));
        let mut s = white_noise(8000, 600, 0.002, 4);
        s.extend(speech_like(8000, 4, 220, 60, 0.3));
        s.extend(white_noise(8000, 400, 0.002, 6));
        s.extend(speech_like(8000, 4, 220, 60, 0.3));
        s.extend(white_noise(8000, 1500, 0.002, 5));
        let ev = feed(&mut l, &s);
        let texts = final_text(&ev);
        assert_eq!(
            texts.len(),
            1,
            "one turn: the 400 ms pause is not an end: {ev:?}"
        );
        // The transcript is the second speculation's, which heard both halves
        // (4 syllables ≈ 1.1 s each, plus the pause).
        let heard: u64 = texts[0]
            .strip_prefix("spec ")
            .expect("speculative")
            .parse()
            .expect("ms");
        assert!(heard > 2400, "{heard}");
        assert_eq!(
            l.speculation_stats(),
            SpeculationStats {
                started: 2,
                used: 1,
                discarded: 1
            }
        );
    }

    #[test]
    fn without_speculation_the_turn_is_decoded_at_its_end() {
        let mut l = snap_listener(None);
        let texts = final_text(&feed(&mut l, &caller_turn()));
        assert!(texts[0].starts_with("end "), "{texts:?}");
        assert_eq!(l.speculation_stats(), SpeculationStats::default());
    }

    #[test]
    fn coughs_do_not_interrupt_but_talking_does() {
        let mut l = listener(Some("等一下，多少钱"), false);
        l.set_robot_speaking(true, BargeInPolicy::IgnoreBackchannel);
        let mut cough = silence(8000, 500);
        cough.extend(speech_like(8000, 1, 150, 0, 0.4));
        cough.extend(silence(8000, 1200));
        let ev = feed(&mut l, &cough);
        assert!(ev.is_empty(), "{ev:?}");
        let ev = feed(&mut l, &caller_turn());
        assert!(
            ev.iter()
                .any(|e| matches!(e, ListenerEvent::BargeIn { .. })),
            "{ev:?}"
        );
        assert!(ev.iter().any(|e| matches!(e, ListenerEvent::Final { .. })));
    }

    #[test]
    fn acknowledgements_while_the_robot_speaks_stay_out_of_the_script() {
        let mut l = listener(Some("嗯嗯"), false);
        l.set_robot_speaking(true, BargeInPolicy::IgnoreBackchannel);
        let mut s = silence(8000, 500);
        s.extend(speech_like(8000, 2, 250, 50, 0.3));
        s.extend(silence(8000, 1200));
        let ev = feed(&mut l, &s);
        assert!(
            ev.iter()
                .any(|e| matches!(e, ListenerEvent::Backchannel { text } if text == "嗯嗯")),
            "{ev:?}"
        );
        assert!(!ev.iter().any(|e| matches!(
            e,
            ListenerEvent::BargeIn { .. } | ListenerEvent::Final { .. }
        )));
        // The same words when the robot is silent are an answer.
        l.set_robot_speaking(false, BargeInPolicy::IgnoreBackchannel);
        let ev = feed(&mut l, &s);
        assert!(
            ev.iter().any(|e| matches!(e, ListenerEvent::Final { .. })),
            "{ev:?}"
        );
        assert_eq!(l.config().pre_roll_ms, 300);
        assert!(l.now_ms() > 0);
    }
}

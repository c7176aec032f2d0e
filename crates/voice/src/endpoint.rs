//! Turn-taking: the endpointer (has the caller finished speaking?) and the
//! barge-in detector (is the caller interrupting the robot?).
//!
//! Both are sans-IO state machines fed one VAD decision per frame with the
//! frame's start time; they read no clock, so the same frames always give the
//! same events, and they are tested by feeding synthetic frame sequences.

/// Which end-of-turn pause applies to the current question.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PauseKind {
    /// A quick answer is expected (yes/no, a number): end the turn soon.
    Speaking,
    /// The caller may stop to think (an open question): wait longer.
    Thinking,
}

/// Tuning for [`Endpointer`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointConfig {
    /// Speech needed before a turn counts as started (shorter bursts are clicks).
    pub min_speech_ms: u32,
    /// Silence that cancels a turn that has not reached `min_speech_ms` yet.
    pub onset_gap_ms: u32,
    /// Pause that ends a turn under [`PauseKind::Speaking`].
    pub speaking_pause_ms: u32,
    /// Pause that ends a turn under [`PauseKind::Thinking`].
    pub thinking_pause_ms: u32,
    /// A turn is cut here even without a pause (Whisper decodes 30 s at most).
    pub max_utterance_ms: u32,
}

impl Default for EndpointConfig {
    fn default() -> Self {
        Self {
            min_speech_ms: 200,
            onset_gap_ms: 120,
            speaking_pause_ms: 700,
            thinking_pause_ms: 1600,
            max_utterance_ms: 28_000,
        }
    }
}

/// Why a turn ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    /// The caller paused for the configured time.
    Pause,
    /// The turn reached `max_utterance_ms`.
    MaxLength,
}

/// What the endpointer noticed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndpointEvent {
    /// The caller started a turn (time of the first speech frame).
    SpeechStarted {
        /// Start of the turn's first speech frame.
        start_ms: u64,
    },
    /// The turn is over; decode audio from `start_ms` to `end_ms`.
    SpeechEnded {
        /// Start of the first speech frame.
        start_ms: u64,
        /// End of the last speech frame (or the cut, for `MaxLength`).
        end_ms: u64,
        /// Why it ended.
        reason: EndReason,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TurnState {
    Idle,
    Onset {
        start: u64,
        speech_ms: u64,
        last_end: u64,
    },
    Speaking {
        start: u64,
        last_end: u64,
    },
}

/// Decides when the caller has started and finished a turn.
#[derive(Debug, Clone)]
pub struct Endpointer {
    config: EndpointConfig,
    pause_ms: u32,
    state: TurnState,
}

impl Endpointer {
    /// An endpointer using the speaking pause.
    pub fn new(config: EndpointConfig) -> Self {
        let pause_ms = config.speaking_pause_ms;
        Self {
            config,
            pause_ms,
            state: TurnState::Idle,
        }
    }

    /// Selects the pause for the next turn (per script node).
    pub fn set_pause(&mut self, kind: PauseKind) {
        self.pause_ms = match kind {
            PauseKind::Speaking => self.config.speaking_pause_ms,
            PauseKind::Thinking => self.config.thinking_pause_ms,
        };
    }

    /// Overrides the pause with an explicit value (a node's own setting).
    pub fn set_pause_ms(&mut self, ms: u32) {
        self.pause_ms = ms;
    }

    /// The pause now in force.
    pub fn pause_ms(&self) -> u32 {
        self.pause_ms
    }

    /// True between `SpeechStarted` and `SpeechEnded`.
    pub fn in_turn(&self) -> bool {
        matches!(self.state, TurnState::Speaking { .. })
    }

    /// Forgets any turn in progress.
    pub fn reset(&mut self) {
        self.state = TurnState::Idle;
    }

    /// Feeds one frame starting at `t_ms`, lasting `frame_ms`, with the VAD's verdict.
    pub fn push(&mut self, t_ms: u64, frame_ms: u32, speech: bool) -> Option<EndpointEvent> {
        let f = u64::from(frame_ms);
        let end = t_ms.saturating_add(f);
        let min_speech = u64::from(self.config.min_speech_ms);
        match self.state {
            TurnState::Idle if speech => {
                self.state = TurnState::Onset {
                    start: t_ms,
                    speech_ms: f,
                    last_end: end,
                };
                self.promote(min_speech)
            }
            TurnState::Idle => None,
            TurnState::Onset {
                start, speech_ms, ..
            } if speech => {
                self.state = TurnState::Onset {
                    start,
                    speech_ms: speech_ms + f,
                    last_end: end,
                };
                self.promote(min_speech)
            }
            TurnState::Onset { last_end, .. } => {
                if end.saturating_sub(last_end) >= u64::from(self.config.onset_gap_ms) {
                    self.state = TurnState::Idle;
                }
                None
            }
            TurnState::Speaking { start, last_end } => {
                let last_end = if speech { end } else { last_end };
                if end.saturating_sub(start) >= u64::from(self.config.max_utterance_ms) {
                    self.state = TurnState::Idle;
                    return Some(EndpointEvent::SpeechEnded {
                        start_ms: start,
                        end_ms: end,
                        reason: EndReason::MaxLength,
                    });
                }
                if !speech && end.saturating_sub(last_end) >= u64::from(self.pause_ms) {
                    self.state = TurnState::Idle;
                    return Some(EndpointEvent::SpeechEnded {
                        start_ms: start,
                        end_ms: last_end,
                        reason: EndReason::Pause,
                    });
                }
                self.state = TurnState::Speaking { start, last_end };
                None
            }
        }
    }

    fn promote(&mut self, min_speech: u64) -> Option<EndpointEvent> {
        if let TurnState::Onset {
            start,
            speech_ms,
            last_end,
        } = self.state
            && speech_ms >= min_speech
        {
            self.state = TurnState::Speaking { start, last_end };
            return Some(EndpointEvent::SpeechStarted { start_ms: start });
        }
        None
    }
}

/// When the caller's speech may interrupt the robot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BargeInPolicy {
    /// The prompt is not interruptible (legal notices).
    Disabled,
    /// Any sustained speech interrupts, back-channels included.
    AnySpeech,
    /// Sustained speech interrupts, but "嗯", "对", "好的" and the like do not.
    IgnoreBackchannel,
}

/// Tuning for [`BargeInDetector`].
#[derive(Debug, Clone, PartialEq)]
pub struct BargeInConfig {
    /// What counts.
    pub policy: BargeInPolicy,
    /// Speech needed before anything interrupts: longer than a cough or a click.
    pub min_speech_ms: u32,
    /// Silence that ends a burst.
    pub onset_gap_ms: u32,
    /// Without a transcript, speech this long is taken as more than a back-channel.
    pub backchannel_max_ms: u32,
    /// Words that are only acknowledgements (lower case; matched after removing
    /// spaces and punctuation, any number of them in any order).
    pub backchannel_words: Vec<String>,
}

/// The default acknowledgement words, Mandarin and English.
pub const DEFAULT_BACKCHANNEL_WORDS: &[&str] = &[
    "嗯", "对", "啊", "好", "哦", "是", "的", "噢", "呃", "额", "唔", "哈", "呀", "哼", "诶", "欸",
    "行", "嘛", "ok", "okay", "yeah", "yes", "yep", "uh", "huh", "mm", "mhm", "hmm", "right",
];

impl Default for BargeInConfig {
    fn default() -> Self {
        Self {
            policy: BargeInPolicy::IgnoreBackchannel,
            min_speech_ms: 300,
            onset_gap_ms: 150,
            backchannel_max_ms: 800,
            backchannel_words: DEFAULT_BACKCHANNEL_WORDS
                .iter()
                .map(|w| (*w).to_string())
                .collect(),
        }
    }
}

/// Why a burst of caller speech did not interrupt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IgnoreReason {
    /// Shorter than `min_speech_ms` (cough, click, line noise).
    TooShort,
    /// Recognised (or short enough to be) an acknowledgement.
    Backchannel,
    /// The policy is [`BargeInPolicy::Disabled`].
    Disabled,
}

/// What the barge-in detector decided about a burst of speech.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BargeInEvent {
    /// Stop the robot: flush playout and start listening.
    Interrupt {
        /// Start of the burst.
        start_ms: u64,
        /// When the decision was made.
        at_ms: u64,
    },
    /// A burst ended without interrupting (for logs and metrics).
    Ignored {
        /// Start of the burst.
        start_ms: u64,
        /// End of its last speech frame.
        end_ms: u64,
        /// Why.
        reason: IgnoreReason,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BurstState {
    Idle,
    Burst {
        start: u64,
        speech_ms: u64,
        last_end: u64,
        fired: bool,
    },
}

/// Decides whether caller speech during a robot prompt is a real interruption.
#[derive(Debug, Clone)]
pub struct BargeInDetector {
    config: BargeInConfig,
    state: BurstState,
    partial: Option<String>,
}

impl BargeInDetector {
    /// A detector with the given tuning.
    pub fn new(config: BargeInConfig) -> Self {
        Self {
            config,
            state: BurstState::Idle,
            partial: None,
        }
    }

    /// Changes the policy (per prompt: the script marks prompts interruptible or not).
    pub fn set_policy(&mut self, policy: BargeInPolicy) {
        self.config.policy = policy;
    }

    /// Forgets the current burst (a new prompt starts).
    pub fn reset(&mut self) {
        self.state = BurstState::Idle;
        self.partial = None;
    }

    /// Feeds one frame's VAD verdict.
    pub fn push(&mut self, t_ms: u64, frame_ms: u32, speech: bool) -> Option<BargeInEvent> {
        let end = t_ms.saturating_add(u64::from(frame_ms));
        match self.state {
            BurstState::Idle if speech => {
                self.state = BurstState::Burst {
                    start: t_ms,
                    speech_ms: u64::from(frame_ms),
                    last_end: end,
                    fired: false,
                };
                self.decide(end)
            }
            BurstState::Idle => None,
            BurstState::Burst {
                start,
                speech_ms,
                fired,
                ..
            } if speech => {
                self.state = BurstState::Burst {
                    start,
                    speech_ms: speech_ms + u64::from(frame_ms),
                    last_end: end,
                    fired,
                };
                self.decide(end)
            }
            BurstState::Burst {
                start,
                speech_ms,
                last_end,
                fired,
            } => {
                if end.saturating_sub(last_end) < u64::from(self.config.onset_gap_ms) {
                    return None;
                }
                self.state = BurstState::Idle;
                self.partial = None;
                if fired {
                    return None;
                }
                let reason = if self.config.policy == BargeInPolicy::Disabled {
                    IgnoreReason::Disabled
                } else if speech_ms < u64::from(self.config.min_speech_ms) {
                    IgnoreReason::TooShort
                } else {
                    IgnoreReason::Backchannel
                };
                Some(BargeInEvent::Ignored {
                    start_ms: start,
                    end_ms: last_end,
                    reason,
                })
            }
        }
    }

    /// Gives the detector the streaming recogniser's partial text for the
    /// current burst; content words interrupt at once (after the minimum
    /// duration), acknowledgements keep it quiet.
    pub fn set_partial(&mut self, text: &str, t_ms: u64) -> Option<BargeInEvent> {
        let t = text.trim();
        self.partial = if t.is_empty() {
            None
        } else {
            Some(t.to_string())
        };
        self.decide(t_ms)
    }

    fn decide(&mut self, now: u64) -> Option<BargeInEvent> {
        let BurstState::Burst {
            start,
            speech_ms,
            last_end,
            fired: false,
        } = self.state
        else {
            return None;
        };
        if speech_ms < u64::from(self.config.min_speech_ms) {
            return None;
        }
        let fire = match self.config.policy {
            BargeInPolicy::Disabled => false,
            BargeInPolicy::AnySpeech => true,
            BargeInPolicy::IgnoreBackchannel => match &self.partial {
                Some(text) => !is_backchannel_with(text, &self.config.backchannel_words),
                None => speech_ms >= u64::from(self.config.backchannel_max_ms),
            },
        };
        if !fire {
            return None;
        }
        self.state = BurstState::Burst {
            start,
            speech_ms,
            last_end,
            fired: true,
        };
        Some(BargeInEvent::Interrupt {
            start_ms: start,
            at_ms: now,
        })
    }
}

/// True if `text` consists only of the default acknowledgement words
/// (ignoring spaces, punctuation and case); false for empty text.
pub fn is_backchannel(text: &str) -> bool {
    let words: Vec<String> = DEFAULT_BACKCHANNEL_WORDS
        .iter()
        .map(|w| (*w).to_string())
        .collect();
    is_backchannel_with(text, &words)
}

/// [`is_backchannel`] with a custom word list.
pub fn is_backchannel_with(text: &str, words: &[String]) -> bool {
    let chars: Vec<char> = text
        .chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect();
    if chars.is_empty() {
        return false;
    }
    let words: Vec<Vec<char>> = words
        .iter()
        .map(|w| {
            w.chars()
                .flat_map(char::to_lowercase)
                .collect::<Vec<char>>()
        })
        .filter(|w| !w.is_empty())
        .collect();
    // Can the text be cut entirely into listed words? (Word-break DP; the
    // text is a partial transcript, a few dozen characters at most.)
    let n = chars.len();
    let mut ok = vec![false; n + 1];
    ok[0] = true;
    for i in 0..n {
        if !ok[i] {
            continue;
        }
        for w in &words {
            if chars.get(i..i + w.len()) == Some(w.as_slice()) {
                ok[i + w.len()] = true;
            }
        }
    }
    ok[n]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds a frame sequence from (speech?, duration ms) runs of 20 ms frames.
    fn frames(runs: &[(bool, u32)]) -> Vec<(u64, bool)> {
        let mut t = 0u64;
        let mut out = Vec::new();
        for &(speech, ms) in runs {
            for _ in 0..ms / 20 {
                out.push((t, speech));
                t += 20;
            }
        }
        out
    }

    fn run(ep: &mut Endpointer, runs: &[(bool, u32)]) -> Vec<EndpointEvent> {
        frames(runs)
            .into_iter()
            .filter_map(|(t, s)| ep.push(t, 20, s))
            .collect()
    }

    #[test]
    fn a_turn_starts_after_min_speech_and_ends_after_the_pause() {
        let mut ep = Endpointer::new(EndpointConfig::default());
        let ev = run(&mut ep, &[(false, 500), (true, 1000), (false, 1000)]);
        assert_eq!(
            ev,
            [
                EndpointEvent::SpeechStarted { start_ms: 500 },
                EndpointEvent::SpeechEnded {
                    start_ms: 500,
                    end_ms: 1500,
                    reason: EndReason::Pause
                }
            ]
        );
        assert!(!ep.in_turn());
    }

    #[test]
    fn pauses_shorter_than_the_setting_stay_inside_the_turn() {
        let mut ep = Endpointer::new(EndpointConfig::default());
        let ev = run(
            &mut ep,
            &[(true, 600), (false, 500), (true, 400), (false, 800)],
        );
        assert_eq!(ev.len(), 2);
        assert_eq!(
            ev[1],
            EndpointEvent::SpeechEnded {
                start_ms: 0,
                end_ms: 1500,
                reason: EndReason::Pause
            }
        );
    }

    #[test]
    fn thinking_pause_waits_longer_than_speaking_pause() {
        let runs = [(true, 600), (false, 1000), (true, 400), (false, 2000)];
        let mut speaking = Endpointer::new(EndpointConfig::default());
        assert_eq!(run(&mut speaking, &runs).len(), 4, "two turns");
        let mut thinking = Endpointer::new(EndpointConfig::default());
        thinking.set_pause(PauseKind::Thinking);
        assert_eq!(thinking.pause_ms(), 1600);
        let ev = run(&mut thinking, &runs);
        assert_eq!(ev.len(), 2, "one turn: {ev:?}");
        thinking.set_pause_ms(300);
        assert_eq!(thinking.pause_ms(), 300);
        thinking.set_pause(PauseKind::Speaking);
        assert_eq!(thinking.pause_ms(), 700);
    }

    #[test]
    fn clicks_and_short_bursts_never_start_a_turn() {
        let mut ep = Endpointer::new(EndpointConfig::default());
        let ev = run(
            &mut ep,
            &[
                (true, 40),
                (false, 300),
                (true, 100),
                (false, 200),
                (true, 20),
                (false, 1000),
            ],
        );
        assert!(ev.is_empty(), "{ev:?}");
    }

    #[test]
    fn long_monologues_are_cut_at_the_maximum() {
        let cfg = EndpointConfig {
            max_utterance_ms: 2000,
            ..EndpointConfig::default()
        };
        let mut ep = Endpointer::new(cfg);
        let ev = run(&mut ep, &[(true, 3000)]);
        assert_eq!(
            ev[1],
            EndpointEvent::SpeechEnded {
                start_ms: 0,
                end_ms: 2000,
                reason: EndReason::MaxLength
            }
        );
        // The rest of the speech opens a new turn.
        assert_eq!(ev[2], EndpointEvent::SpeechStarted { start_ms: 2000 });
        ep.reset();
        assert!(!ep.in_turn());
    }

    fn barge(det: &mut BargeInDetector, runs: &[(bool, u32)]) -> Vec<BargeInEvent> {
        frames(runs)
            .into_iter()
            .filter_map(|(t, s)| det.push(t, 20, s))
            .collect()
    }

    #[test]
    fn coughs_and_clicks_do_not_interrupt() {
        let mut d = BargeInDetector::new(BargeInConfig::default());
        let ev = barge(
            &mut d,
            &[(true, 200), (false, 400), (true, 40), (false, 400)],
        );
        assert_eq!(
            ev,
            [
                BargeInEvent::Ignored {
                    start_ms: 0,
                    end_ms: 200,
                    reason: IgnoreReason::TooShort
                },
                BargeInEvent::Ignored {
                    start_ms: 600,
                    end_ms: 640,
                    reason: IgnoreReason::TooShort
                }
            ]
        );
    }

    #[test]
    fn sustained_speech_interrupts_once() {
        let mut d = BargeInDetector::new(BargeInConfig::default());
        let ev = barge(&mut d, &[(false, 100), (true, 1500), (false, 500)]);
        assert_eq!(
            ev,
            [BargeInEvent::Interrupt {
                start_ms: 100,
                at_ms: 900
            }]
        );
    }

    #[test]
    fn any_speech_policy_interrupts_at_the_minimum() {
        let mut d = BargeInDetector::new(BargeInConfig::default());
        d.set_policy(BargeInPolicy::AnySpeech);
        let ev = barge(&mut d, &[(true, 400), (false, 400)]);
        assert_eq!(
            ev,
            [BargeInEvent::Interrupt {
                start_ms: 0,
                at_ms: 300
            }]
        );
    }

    #[test]
    fn disabled_policy_never_interrupts() {
        let mut d = BargeInDetector::new(BargeInConfig::default());
        d.set_policy(BargeInPolicy::Disabled);
        let ev = barge(&mut d, &[(true, 3000), (false, 400)]);
        assert!(matches!(
            ev.as_slice(),
            [BargeInEvent::Ignored {
                reason: IgnoreReason::Disabled,
                ..
            }]
        ));
    }

    #[test]
    fn backchannel_partials_are_ignored_and_content_interrupts() {
        let mut d = BargeInDetector::new(BargeInConfig::default());
        // "嗯嗯，对对" lasting well past min speech and past the no-transcript limit.
        let mut events = Vec::new();
        for (t, s) in frames(&[(true, 1200), (false, 400)]) {
            if t == 200 {
                events.extend(d.set_partial("嗯嗯，对对", t));
            }
            events.extend(d.push(t, 20, s));
        }
        assert!(matches!(
            events.as_slice(),
            [BargeInEvent::Ignored {
                reason: IgnoreReason::Backchannel,
                ..
            }]
        ));

        // A real question interrupts as soon as the text shows it.
        d.reset();
        let mut events = Vec::new();
        for (t, s) in frames(&[(true, 600), (false, 400)]) {
            events.extend(d.push(t, 20, s));
            if t == 400 {
                events.extend(d.set_partial("等一下，多少钱", t));
            }
        }
        assert_eq!(
            events,
            [BargeInEvent::Interrupt {
                start_ms: 0,
                at_ms: 400
            }]
        );
    }

    #[test]
    fn without_a_transcript_short_acknowledgements_pass_and_long_speech_interrupts() {
        let mut d = BargeInDetector::new(BargeInConfig::default());
        let ev = barge(&mut d, &[(true, 500), (false, 400)]);
        assert!(matches!(
            ev.as_slice(),
            [BargeInEvent::Ignored {
                reason: IgnoreReason::Backchannel,
                ..
            }]
        ));
        let ev = barge(&mut d, &[(true, 1000)]);
        assert!(matches!(
            ev.as_slice(),
            [BargeInEvent::Interrupt { at_ms: 800, .. }]
        ));
    }

    #[test]
    fn backchannel_words() {
        for yes in [
            "嗯",
            "嗯嗯",
            "对对对",
            "好的",
            "是的。",
            "哦，好",
            "OK",
            "ok ok",
            "Yeah!",
        ] {
            assert!(is_backchannel(yes), "{yes}");
        }
        for no in [
            "",
            "。",
            "不对",
            "好贵",
            "多少钱",
            "嗯我想问一下",
            "okay wait",
        ] {
            assert!(!is_backchannel(no), "{no}");
        }
        assert!(is_backchannel_with("收到", &["收到".to_string()]));
    }
}

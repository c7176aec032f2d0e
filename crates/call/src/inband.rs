//! In-band DTMF: key tones in the audio itself, for peers that did not
//! negotiate RFC 4733 telephone-events. Goertzel filters at the eight DTMF
//! frequencies on each 20 ms frame at 8 kHz; a key counts when two
//! consecutive frames carry one row and one column tone that hold most of
//! the frame's energy (speech does not), and is reported once per press.
//! Sans-IO and deterministic.

const ROWS: [f32; 4] = [697.0, 770.0, 852.0, 941.0];
const COLS: [f32; 4] = [1209.0, 1336.0, 1477.0, 1633.0];
const KEYS: [[char; 4]; 4] = [
    ['1', '2', '3', 'A'],
    ['4', '5', '6', 'B'],
    ['7', '8', '9', 'C'],
    ['*', '0', '#', 'D'],
];

fn goertzel(frame: &[f32], freq: f32, rate: f32) -> f32 {
    let k = 2.0 * (2.0 * std::f32::consts::PI * freq / rate).cos();
    let (mut s1, mut s2) = (0.0f32, 0.0f32);
    for &x in frame {
        let s0 = x + k * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    s1 * s1 + s2 * s2 - k * s1 * s2
}

/// Detects key presses in 8 kHz audio, one frame at a time.
#[derive(Debug, Default)]
pub struct InbandDtmf {
    candidate: Option<char>,
    frames: u32,
    reported: bool,
}

impl InbandDtmf {
    /// The key whose tones fill this frame, if any.
    pub fn classify(frame: &[f32]) -> Option<char> {
        let n = frame.len() as f32;
        let energy: f32 = frame.iter().map(|x| x * x).sum();
        // Quieter than about -40 dBFS: nothing.
        if n == 0.0 || energy / n < 1e-4 {
            return None;
        }
        let norm = |p: f32| p / (energy * n / 2.0);
        let rows: Vec<f32> = ROWS
            .iter()
            .map(|f| norm(goertzel(frame, *f, 8000.0)))
            .collect();
        let cols: Vec<f32> = COLS
            .iter()
            .map(|f| norm(goertzel(frame, *f, 8000.0)))
            .collect();
        let best = |v: &[f32]| {
            let mut idx = 0;
            for (i, x) in v.iter().enumerate() {
                if *x > v[idx] {
                    idx = i;
                }
            }
            idx
        };
        let (r, c) = (best(&rows), best(&cols));
        let (rp, cp) = (rows[r], cols[c]);
        // Two tones carry most of the energy, neither dominates the other by
        // more than ~8 dB (twist), and no other tone of the group is close.
        let others_r = rows
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != r)
            .all(|(_, x)| *x < rp / 4.0);
        let others_c = cols
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != c)
            .all(|(_, x)| *x < cp / 4.0);
        let twist_ok = rp < cp * 6.3 && cp < rp * 6.3;
        (rp + cp > 0.7 && rp > 0.15 && cp > 0.15 && twist_ok && others_r && others_c)
            .then(|| KEYS[r][c])
    }

    /// Feeds one 20 ms frame; `Some(key)` once per press.
    pub fn push(&mut self, frame: &[f32]) -> Option<char> {
        let key = Self::classify(frame);
        if key != self.candidate {
            self.candidate = key;
            self.frames = 0;
            self.reported = false;
        }
        key?;
        self.frames += 1;
        if self.frames >= 2 && !self.reported {
            self.reported = true;
            return key;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key_tone(row: f32, col: f32, ms: u32) -> Vec<f32> {
        let a = voice::testsignal::tone(row, 8000, ms, 0.25);
        let b = voice::testsignal::tone(col, 8000, ms, 0.25);
        a.iter().zip(&b).map(|(x, y)| x + y).collect()
    }

    #[test]
    fn detects_each_press_once() {
        let mut d = InbandDtmf::default();
        let mut audio = key_tone(770.0, 1336.0, 100); // 5
        audio.extend(voice::testsignal::silence(8000, 60));
        audio.extend(key_tone(941.0, 1477.0, 100)); // #
        audio.extend(voice::testsignal::silence(8000, 60));
        audio.extend(key_tone(770.0, 1336.0, 80)); // 5 again
        let keys: String = audio.chunks(160).filter_map(|f| d.push(f)).collect();
        assert_eq!(keys, "5#5");
    }

    #[test]
    fn speech_and_single_tones_are_not_keys() {
        let mut d = InbandDtmf::default();
        let mut audio = voice::testsignal::speech_like(8000, 2, 180, 60, 0.3);
        audio.extend(voice::testsignal::tone(1000.0, 8000, 200, 0.5));
        audio.extend(voice::testsignal::tone(770.0, 8000, 200, 0.5));
        audio.extend(voice::testsignal::white_noise(8000, 200, 0.2, 3));
        let keys: String = audio.chunks(160).filter_map(|f| d.push(f)).collect();
        assert_eq!(keys, "");
    }
}

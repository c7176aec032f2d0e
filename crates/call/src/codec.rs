//! The call's audio codec on the 8 kHz line: G.711 (A-law, µ-law) or Opus
//! (RFC 7587) when the peer offered it.
//!
//! Opus runs narrowband here: the encoder takes the same 20 ms / 160-sample
//! frames at 8 kHz as G.711 and the decoder gives them back at 8 kHz
//! (libopus resamples internally), so everything after the codec — jitter
//! buffer, listener, recording — is unchanged. Only the RTP clock differs:
//! Opus timestamps always count 48 kHz (960 per 20 ms packet).

use audiopus::coder::{Decoder, Encoder};
use audiopus::{Application, Bandwidth, Channels, SampleRate};
use sip::sdp::Codec;
use voice::Law;

/// Samples per 20 ms frame at 8 kHz.
const FRAME: usize = 160;

/// Encodes and decodes one call's audio.
pub enum Coder {
    G711(Law),
    Opus {
        enc: Box<Encoder>,
        dec: Box<Decoder>,
    },
}

impl std::fmt::Debug for Coder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Coder::G711(law) => write!(f, "G711({law:?})"),
            Coder::Opus { .. } => f.write_str("Opus"),
        }
    }
}

impl Coder {
    /// The coder for a negotiated codec; an error names why libopus refused.
    pub fn new(codec: Codec) -> Result<Coder, String> {
        Ok(match codec {
            Codec::Pcmu => Coder::G711(Law::Ulaw),
            Codec::Pcma => Coder::G711(Law::Alaw),
            Codec::Opus(_) => {
                let mut enc = Encoder::new(SampleRate::Hz8000, Channels::Mono, Application::Voip)
                    .map_err(|e| format!("opus encoder: {e}"))?;
                enc.set_max_bandwidth(Bandwidth::Narrowband)
                    .map_err(|e| format!("opus encoder: {e}"))?;
                let dec = Decoder::new(SampleRate::Hz8000, Channels::Mono)
                    .map_err(|e| format!("opus decoder: {e}"))?;
                Coder::Opus {
                    enc: Box::new(enc),
                    dec: Box::new(dec),
                }
            }
        })
    }

    /// One 20 ms frame of 8 kHz samples → an RTP payload.
    pub fn encode(&mut self, pcm: &[i16]) -> Vec<u8> {
        match self {
            Coder::G711(law) => law.encode(pcm),
            Coder::Opus { enc, .. } => {
                let mut out = vec![0u8; 400];
                match enc.encode(pcm, &mut out) {
                    Ok(n) => {
                        out.truncate(n);
                        out
                    }
                    // Cannot happen for a 160-sample frame; send nothing usable
                    // rather than stop the call.
                    Err(_) => Vec::new(),
                }
            }
        }
    }

    /// An RTP payload → one frame of 8 kHz samples (exactly 160; silence
    /// for a payload that does not decode: peer input never fails the call).
    pub fn decode(&mut self, payload: &[u8]) -> Vec<i16> {
        let mut out = match self {
            Coder::G711(law) => law.decode(payload),
            Coder::Opus { dec, .. } => {
                let mut pcm = vec![0i16; FRAME * 6];
                let n = if payload.is_empty() {
                    0
                } else {
                    dec.decode(Some(payload), &mut pcm[..], false).unwrap_or(0)
                };
                pcm.truncate(n);
                pcm
            }
        };
        out.resize(FRAME, 0);
        out
    }

    /// RTP timestamp units per 20 ms packet.
    pub fn timestamp_step(&self) -> u32 {
        match self {
            Coder::G711(_) => FRAME as u32,
            Coder::Opus { .. } => 960,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opus_round_trip_keeps_a_tone() {
        let mut c = Coder::new(Codec::Opus(111)).expect("libopus");
        let tone: Vec<i16> = (0..FRAME * 10)
            .map(|i| {
                ((i as f64 * 2.0 * std::f64::consts::PI * 440.0 / 8000.0).sin() * 8000.0) as i16
            })
            .collect();
        let mut energy = 0.0f64;
        for f in tone.chunks(FRAME) {
            let payload = c.encode(f);
            assert!(!payload.is_empty() && payload.len() < 200);
            let back = c.decode(&payload);
            assert_eq!(back.len(), FRAME);
            energy += back.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>();
        }
        let rms = (energy / (FRAME * 10) as f64).sqrt();
        assert!(rms > 2000.0, "rms {rms}");
        assert_eq!(c.timestamp_step(), 960);
    }

    #[test]
    fn junk_payloads_decode_to_a_silent_frame() {
        let mut c = Coder::new(Codec::Opus(111)).expect("libopus");
        for junk in [&[][..], &[0xff; 3], &[0u8; 1500]] {
            assert_eq!(c.decode(junk).len(), FRAME);
        }
        let mut g = Coder::new(Codec::Pcma).expect("g711");
        assert_eq!(g.decode(&[0xd5; 10]).len(), FRAME);
        assert_eq!(g.timestamp_step(), 160);
    }
}

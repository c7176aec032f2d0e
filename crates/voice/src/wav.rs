//! WAV files: read any rate, mono or multi-channel (downmixed to mono), 8–32
//! bit integer, 32-bit float, and G.711 A-law/µ-law (format tags 6 and 7,
//! common for call recordings); write 16-bit PCM mono.

use std::io::{Cursor, Read, Seek};
use std::path::Path;

use crate::audio::{Audio, f32_to_i16, i16_to_f32};
use crate::g711::Law;

/// Why a WAV file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum WavError {
    /// Opening, reading or writing failed.
    #[error("{path}: {source}")]
    Io {
        /// The file (or `<memory>`).
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The bytes are not a RIFF/WAVE file at all.
    #[error("{path}: not a WAV file ({reason}); convert it first, e.g. `sox in.mp3 -b 16 out.wav`")]
    NotWav {
        /// The file (or `<memory>`).
        path: String,
        /// What was wrong.
        reason: String,
    },
    /// A WAV file in an encoding this reader does not handle.
    #[error(
        "{path}: unsupported WAV encoding ({reason}); convert it first, e.g. `sox in.wav -b 16 out.wav`"
    )]
    Unsupported {
        /// The file (or `<memory>`).
        path: String,
        /// What was found.
        reason: String,
    },
}

const MEMORY: &str = "<memory>";

/// Reads a WAV file into mono audio at the file's own rate.
pub fn read_wav(path: impl AsRef<Path>) -> Result<Audio, WavError> {
    let path = path.as_ref();
    let name = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| WavError::Io {
        path: name.clone(),
        source,
    })?;
    decode(&bytes, &name)
}

/// Reads WAV bytes (e.g. an HTTP response body) into mono audio.
pub fn read_wav_bytes(bytes: &[u8]) -> Result<Audio, WavError> {
    decode(bytes, MEMORY)
}

fn decode(bytes: &[u8], name: &str) -> Result<Audio, WavError> {
    if bytes.len() < 12 || &bytes[0..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
        return Err(WavError::NotWav {
            path: name.to_string(),
            reason: "no RIFF/WAVE header".into(),
        });
    }
    match hound::WavReader::new(Cursor::new(bytes)) {
        Ok(reader) => read_hound(reader, name),
        // hound rejects format tags 6/7; phone recordings use them, so parse those here.
        Err(hound::Error::Unsupported) => read_g711(bytes, name),
        Err(e) => Err(map_hound(e, name)),
    }
}

fn map_hound(e: hound::Error, name: &str) -> WavError {
    let path = name.to_string();
    match e {
        hound::Error::IoError(source) => WavError::Io { path, source },
        hound::Error::FormatError(reason) => WavError::NotWav {
            path,
            reason: reason.to_string(),
        },
        other => WavError::Unsupported {
            path,
            reason: other.to_string(),
        },
    }
}

fn read_hound<R: Read + Seek>(
    mut reader: hound::WavReader<R>,
    name: &str,
) -> Result<Audio, WavError> {
    let spec = reader.spec();
    let unsupported = |reason: String| WavError::Unsupported {
        path: name.to_string(),
        reason,
    };
    if spec.channels == 0 || spec.sample_rate == 0 {
        return Err(unsupported(format!(
            "{} channels at {} Hz",
            spec.channels, spec.sample_rate
        )));
    }
    let interleaved: Vec<f32> = match (spec.sample_format, spec.bits_per_sample) {
        (hound::SampleFormat::Int, bits @ 1..=32) => {
            let scale = 2f64.powi(i32::from(bits) - 1);
            reader
                .samples::<i32>()
                .map(|s| s.map(|v| (f64::from(v) / scale) as f32))
                .collect::<Result<_, _>>()
                .map_err(|e| map_hound(e, name))?
        }
        (hound::SampleFormat::Float, 32) => reader
            .samples::<f32>()
            .collect::<Result<_, _>>()
            .map_err(|e| map_hound(e, name))?,
        (format, bits) => {
            return Err(unsupported(format!("{bits}-bit {format:?} samples")));
        }
    };
    Ok(Audio::new(
        spec.sample_rate,
        downmix(&interleaved, usize::from(spec.channels)),
    ))
}

/// Averages interleaved channels into mono; a trailing partial frame is dropped.
pub fn downmix(interleaved: &[f32], channels: usize) -> Vec<f32> {
    if channels <= 1 {
        return interleaved.to_vec();
    }
    interleaved
        .chunks_exact(channels)
        .map(|f| f.iter().sum::<f32>() / channels as f32)
        .collect()
}

fn le_u16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn le_u32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// Minimal RIFF walk for G.711 WAVs: find `fmt ` and `data`, decode 8-bit codes.
fn read_g711(bytes: &[u8], name: &str) -> Result<Audio, WavError> {
    let unsupported = |reason: &str| WavError::Unsupported {
        path: name.to_string(),
        reason: reason.to_string(),
    };
    let mut at = 12usize;
    let mut fmt: Option<(u16, u16, u32, u16)> = None;
    while let (Some(id), Some(len)) = (bytes.get(at..at + 4), le_u32(bytes, at + 4)) {
        let body = at + 8;
        let len = len as usize;
        if id == b"fmt " {
            let tag = le_u16(bytes, body).ok_or_else(|| unsupported("short fmt chunk"))?;
            let channels = le_u16(bytes, body + 2).ok_or_else(|| unsupported("short fmt chunk"))?;
            let rate = le_u32(bytes, body + 4).ok_or_else(|| unsupported("short fmt chunk"))?;
            let bits = le_u16(bytes, body + 14).ok_or_else(|| unsupported("short fmt chunk"))?;
            fmt = Some((tag, channels, rate, bits));
        } else if id == b"data" {
            let (tag, channels, rate, bits) = fmt.ok_or_else(|| unsupported("data before fmt"))?;
            let law = match (tag, bits) {
                (6, 8) => Law::Alaw,
                (7, 8) => Law::Ulaw,
                _ => return Err(unsupported(&format!("format tag {tag} with {bits} bits"))),
            };
            if channels == 0 || rate == 0 {
                return Err(unsupported("zero channels or rate"));
            }
            // Tolerate a data length that overruns the file (streamed recordings).
            let end = body.saturating_add(len).min(bytes.len());
            let codes = bytes.get(body..end).unwrap_or_default();
            let mono = downmix(&i16_to_f32(&law.decode(codes)), usize::from(channels));
            return Ok(Audio::new(rate, mono));
        }
        // Chunks are word-aligned.
        at = body.saturating_add(len).saturating_add(len & 1);
    }
    Err(unsupported("no audio data in a known encoding"))
}

/// Encodes mono audio as a 16-bit PCM WAV in memory.
pub fn wav_bytes(audio: &Audio) -> Result<Vec<u8>, WavError> {
    let mut out = Cursor::new(Vec::with_capacity(44 + audio.samples.len() * 2));
    write_to(&mut out, audio, MEMORY)?;
    Ok(out.into_inner())
}

/// Writes mono audio as a 16-bit PCM WAV file.
pub fn write_wav(path: impl AsRef<Path>, audio: &Audio) -> Result<(), WavError> {
    let path = path.as_ref();
    let bytes = wav_bytes(audio)?;
    std::fs::write(path, bytes).map_err(|source| WavError::Io {
        path: path.display().to_string(),
        source,
    })
}

fn write_to<W: std::io::Write + Seek>(w: W, audio: &Audio, name: &str) -> Result<(), WavError> {
    if audio.sample_rate == 0 {
        return Err(WavError::Unsupported {
            path: name.to_string(),
            reason: "sample rate 0".into(),
        });
    }
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: audio.sample_rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut writer = hound::WavWriter::new(w, spec).map_err(|e| map_hound(e, name))?;
    for s in f32_to_i16(&audio.samples) {
        writer.write_sample(s).map_err(|e| map_hound(e, name))?;
    }
    writer.finalize().map_err(|e| map_hound(e, name))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ramp(n: usize) -> Vec<f32> {
        (0..n).map(|i| (i as f32 / n as f32) - 0.5).collect()
    }

    #[test]
    fn write_then_read_round_trips_at_any_rate() {
        for rate in [8000, 16000, 22050, 44100] {
            let a = Audio::new(rate, ramp(1000));
            let back = read_wav_bytes(&wav_bytes(&a).expect("write")).expect("read");
            assert_eq!(back.sample_rate, rate);
            assert_eq!(back.samples.len(), 1000);
            for (x, y) in a.samples.iter().zip(&back.samples) {
                assert!((x - y).abs() < 1.0 / 16384.0);
            }
        }
    }

    #[test]
    fn stereo_is_downmixed_and_files_work() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("stereo.wav");
        let spec = hound::WavSpec {
            channels: 2,
            sample_rate: 48000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut w = hound::WavWriter::create(&path, spec).expect("create");
        for _ in 0..10 {
            w.write_sample(16384i16).expect("l");
            w.write_sample(0i16).expect("r");
        }
        w.finalize().expect("finalize");
        let a = read_wav(&path).expect("read");
        assert_eq!(a.sample_rate, 48000);
        assert_eq!(a.samples, vec![0.25; 10]);

        let mono = dir.path().join("mono.wav");
        write_wav(&mono, &a).expect("write");
        assert_eq!(read_wav(&mono).expect("reread").samples.len(), 10);
    }

    #[test]
    fn float_and_24_bit_inputs() {
        for (format, bits) in [
            (hound::SampleFormat::Float, 32),
            (hound::SampleFormat::Int, 24),
        ] {
            let spec = hound::WavSpec {
                channels: 1,
                sample_rate: 16000,
                bits_per_sample: bits,
                sample_format: format,
            };
            let mut buf = Cursor::new(Vec::new());
            let mut w = hound::WavWriter::new(&mut buf, spec).expect("writer");
            if format == hound::SampleFormat::Float {
                w.write_sample(0.5f32).expect("sample");
            } else {
                w.write_sample(1i32 << 22).expect("sample");
            }
            w.finalize().expect("finalize");
            let a = read_wav_bytes(buf.get_ref()).expect("read");
            assert_eq!(a.samples, vec![0.5], "{format:?} {bits}");
        }
    }

    fn g711_wav(tag: u16, codes: &[u8]) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(b"RIFF");
        b.extend_from_slice(&(4 + 26 + 8 + codes.len() as u32).to_le_bytes());
        b.extend_from_slice(b"WAVEfmt ");
        b.extend_from_slice(&18u32.to_le_bytes());
        b.extend_from_slice(&tag.to_le_bytes());
        b.extend_from_slice(&1u16.to_le_bytes());
        b.extend_from_slice(&8000u32.to_le_bytes());
        b.extend_from_slice(&8000u32.to_le_bytes());
        b.extend_from_slice(&1u16.to_le_bytes());
        b.extend_from_slice(&8u16.to_le_bytes());
        b.extend_from_slice(&0u16.to_le_bytes());
        b.extend_from_slice(b"data");
        b.extend_from_slice(&(codes.len() as u32).to_le_bytes());
        b.extend_from_slice(codes);
        b
    }

    #[test]
    fn g711_wavs_decode() {
        let a = read_wav_bytes(&g711_wav(6, &[0xD5, 0xAA])).expect("alaw");
        assert_eq!(a.sample_rate, 8000);
        assert_eq!(a.to_i16(), [8, 32256]);
        let u = read_wav_bytes(&g711_wav(7, &[0xFF, 0x80])).expect("ulaw");
        assert_eq!(u.to_i16(), [0, 32124]);
        assert!(matches!(
            read_wav_bytes(&g711_wav(2, &[0, 0])),
            Err(WavError::Unsupported { .. })
        ));
    }

    #[test]
    fn clear_errors_for_bad_input() {
        let e = read_wav_bytes(b"ID3\x03mp3 data here").expect_err("mp3");
        assert!(matches!(e, WavError::NotWav { .. }));
        assert!(e.to_string().contains("not a WAV file"), "{e}");
        assert!(matches!(read_wav_bytes(b""), Err(WavError::NotWav { .. })));
        // A header that promises more than it holds.
        let mut truncated = wav_bytes(&Audio::new(8000, ramp(100))).expect("write");
        truncated.truncate(60);
        assert!(read_wav_bytes(&truncated).is_err());
        let missing = read_wav("/nonexistent/x.wav").expect_err("missing");
        assert!(matches!(missing, WavError::Io { .. }));
        assert!(missing.to_string().contains("/nonexistent/x.wav"));
        assert!(wav_bytes(&Audio::new(0, vec![0.0])).is_err());
    }
}

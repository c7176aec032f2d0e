//! ITU-T G.711 µ-law (PCMU) and A-law (PCMA) companding.
//!
//! Pure functions over 16-bit linear PCM, following the classic Sun reference
//! implementation (the one most SIP stacks and sox agree with bit for bit):
//! µ-law works on the top 14 bits, A-law on the top 13 bits. Every input maps
//! to a code and every code decodes, so nothing here can fail or panic.

/// µ-law bias added before the segment search (0x84 in 16-bit scale).
const ULAW_BIAS: i32 = 0x84;
/// Largest magnitude µ-law can represent (14-bit scale).
const ULAW_CLIP: i32 = 8159;
/// Upper ends of the eight µ-law segments (14-bit scale, bias included).
const ULAW_SEG_END: [i32; 8] = [0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF];
/// Upper ends of the eight A-law segments (13-bit scale).
const ALAW_SEG_END: [i32; 8] = [0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF];

fn segment(value: i32, ends: &[i32; 8]) -> Option<i32> {
    ends.iter()
        .position(|&end| value <= end)
        .and_then(|s| i32::try_from(s).ok())
}

/// Encodes one linear sample as a µ-law code word.
pub fn linear_to_ulaw(sample: i16) -> u8 {
    let mut v = i32::from(sample) >> 2;
    let mask: i32 = if v < 0 {
        v = -v;
        0x7F
    } else {
        0xFF
    };
    let v = v.min(ULAW_CLIP) + (ULAW_BIAS >> 2);
    let code = match segment(v, &ULAW_SEG_END) {
        Some(seg) => (seg << 4) | ((v >> (seg + 1)) & 0x0F),
        None => 0x7F,
    };
    // Masked to 8 bits, so the cast cannot truncate meaningful bits.
    ((code ^ mask) & 0xFF) as u8
}

/// Decodes one µ-law code word to linear PCM.
pub fn ulaw_to_linear(code: u8) -> i16 {
    let u = i32::from(!code);
    let mut t = ((u & 0x0F) << 3) + ULAW_BIAS;
    t <<= (u & 0x70) >> 4;
    let v = if u & 0x80 != 0 {
        ULAW_BIAS - t
    } else {
        t - ULAW_BIAS
    };
    // |v| <= 32124 by construction.
    v as i16
}

/// Encodes one linear sample as an A-law code word.
pub fn linear_to_alaw(sample: i16) -> u8 {
    let mut v = i32::from(sample) >> 3;
    let mask: i32 = if v >= 0 {
        0xD5
    } else {
        v = -v - 1;
        0x55
    };
    let code = match segment(v, &ALAW_SEG_END) {
        Some(seg) => {
            let shift = if seg < 2 { 1 } else { seg };
            (seg << 4) | ((v >> shift) & 0x0F)
        }
        None => 0x7F,
    };
    ((code ^ mask) & 0xFF) as u8
}

/// Decodes one A-law code word to linear PCM.
pub fn alaw_to_linear(code: u8) -> i16 {
    let a = i32::from(code ^ 0x55);
    let mut t = (a & 0x0F) << 4;
    let seg = (a & 0x70) >> 4;
    match seg {
        0 => t += 8,
        1 => t += 0x108,
        _ => {
            t += 0x108;
            t <<= seg - 1;
        }
    }
    let v = if a & 0x80 != 0 { t } else { -t };
    // |v| <= 32256 by construction.
    v as i16
}

/// Which G.711 law a payload uses (RTP payload types 0 and 8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Law {
    /// PCMU, RTP payload type 0 (North America, Japan).
    Ulaw,
    /// PCMA, RTP payload type 8 (China, Europe).
    Alaw,
}

impl Law {
    /// The static RTP payload type for this law.
    pub fn payload_type(self) -> u8 {
        match self {
            Law::Ulaw => 0,
            Law::Alaw => 8,
        }
    }

    /// Encodes linear PCM to G.711 bytes (one byte per sample).
    pub fn encode(self, pcm: &[i16]) -> Vec<u8> {
        match self {
            Law::Ulaw => pcm.iter().map(|&s| linear_to_ulaw(s)).collect(),
            Law::Alaw => pcm.iter().map(|&s| linear_to_alaw(s)).collect(),
        }
    }

    /// Decodes G.711 bytes to linear PCM.
    pub fn decode(self, bytes: &[u8]) -> Vec<i16> {
        match self {
            Law::Ulaw => bytes.iter().map(|&b| ulaw_to_linear(b)).collect(),
            Law::Alaw => bytes.iter().map(|&b| alaw_to_linear(b)).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ulaw_well_known_code_words() {
        // Silence is 0xFF (all ones on the wire), full scale is 0x80 / 0x00.
        assert_eq!(linear_to_ulaw(0), 0xFF);
        assert_eq!(linear_to_ulaw(32767), 0x80);
        assert_eq!(linear_to_ulaw(-32768), 0x00);
        assert_eq!(linear_to_ulaw(-32767), 0x00);
        assert_eq!(linear_to_ulaw(1), 0xFF);
        assert_eq!(linear_to_ulaw(-1), 0x7E);
        assert_eq!(ulaw_to_linear(0xFF), 0);
        assert_eq!(ulaw_to_linear(0x7F), 0);
        assert_eq!(ulaw_to_linear(0x80), 32124);
        assert_eq!(ulaw_to_linear(0x00), -32124);
        assert_eq!(ulaw_to_linear(0xFE), 8);
        assert_eq!(ulaw_to_linear(0x7E), -8);
    }

    #[test]
    fn ulaw_segment_starts_match_g711_table() {
        // G.711 Table 2a: first reconstruction value of each positive segment,
        // 14-bit scale 0, 33, 99, 231, 495, 1023, 2079, 4191 (times 4 here).
        let expected = [0, 132, 396, 924, 1980, 4092, 8316, 16764];
        for (seg, want) in expected.iter().enumerate() {
            let code = 0xFF - (seg as u8) * 16;
            assert_eq!(ulaw_to_linear(code), *want, "segment {seg}");
        }
    }

    #[test]
    fn alaw_well_known_code_words() {
        // Alternate-bit inversion makes silence 0xD5 / 0x55.
        assert_eq!(linear_to_alaw(0), 0xD5);
        assert_eq!(linear_to_alaw(1), 0xD5);
        assert_eq!(linear_to_alaw(-1), 0x55);
        assert_eq!(linear_to_alaw(32767), 0xAA);
        assert_eq!(linear_to_alaw(-32768), 0x2A);
        assert_eq!(alaw_to_linear(0xD5), 8);
        assert_eq!(alaw_to_linear(0x55), -8);
        assert_eq!(alaw_to_linear(0xAA), 32256);
        assert_eq!(alaw_to_linear(0x2A), -32256);
    }

    #[test]
    fn alaw_segment_starts_match_g711_table() {
        // G.711 Table 1a decision levels 0, 32, 64, ... 2048 (12-bit) have
        // reconstruction values 1, 33, 66, 132, ... 2112 (13-bit), times 8 here.
        let expected = [8, 264, 528, 1056, 2112, 4224, 8448, 16896];
        for (seg, want) in expected.iter().enumerate() {
            let code = ((seg as u8) << 4) ^ 0xD5;
            assert_eq!(alaw_to_linear(code), *want, "segment {seg}");
        }
    }

    #[test]
    fn every_code_round_trips() {
        for code in 0..=255u8 {
            let back = linear_to_ulaw(ulaw_to_linear(code));
            if code == 0x7F {
                // µ-law has two zeros; negative zero re-encodes as positive zero.
                assert_eq!(back, 0xFF);
            } else {
                assert_eq!(back, code, "µ-law {code:#04x}");
            }
            assert_eq!(
                linear_to_alaw(alaw_to_linear(code)),
                code,
                "A-law {code:#04x}"
            );
        }
    }

    #[test]
    fn decoding_is_monotonic_and_encoding_error_is_bounded() {
        // Quantisation error grows with the segment but stays within half a step
        // (about 1/32 of the magnitude, plus the smallest step).
        for law in [Law::Ulaw, Law::Alaw] {
            for s in (-32768i32..=32767).step_by(7) {
                let s = s as i16;
                let back = law.decode(&law.encode(&[s]))[0];
                let err = (i32::from(back) - i32::from(s)).abs();
                let bound = i32::from(s).abs() / 16 + 16;
                assert!(err <= bound.max(1024), "{law:?} {s} -> {back}");
                if i32::from(s).abs() < 30000 {
                    assert!(err <= bound, "{law:?} {s} -> {back}");
                }
            }
        }
    }

    #[test]
    fn law_helpers_and_payload_types() {
        assert_eq!(Law::Ulaw.payload_type(), 0);
        assert_eq!(Law::Alaw.payload_type(), 8);
        let pcm = [0i16, 1000, -1000, 32767];
        assert_eq!(Law::Alaw.encode(&pcm).len(), 4);
        let d = Law::Ulaw.decode(&Law::Ulaw.encode(&pcm));
        assert!((i32::from(d[1]) - 1000).abs() < 40);
        assert!((i32::from(d[2]) + 1000).abs() < 40);
    }
}

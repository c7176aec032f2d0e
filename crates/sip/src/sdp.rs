//! SDP offer/answer for G.711 audio (RFC 3264, RFC 4566), sans-IO.
//!
//! We speak PCMU (0) and PCMA (8) at 8 kHz with 20 ms packets, Opus (RFC 7587,
//! a dynamic payload type, `opus/48000/2`) when the peer offers it, and RFC 4733
//! telephone-event for DTMF. An answer picks the first of the offer's codecs
//! we support, keeps the offer's telephone-event payload type, and names our
//! RTP address; media is symmetric (we send to where the peer's packets come
//! from once they arrive).

use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};

/// The audio codecs we can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    Pcmu,
    Pcma,
    /// Opus with its (dynamic) payload type: the peer's in an answer.
    Opus(u8),
}

/// The payload type we offer Opus under.
pub const OPUS_PAYLOAD_TYPE: u8 = 111;

impl Codec {
    pub fn payload_type(self) -> u8 {
        match self {
            Codec::Pcmu => 0,
            Codec::Pcma => 8,
            Codec::Opus(pt) => pt,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Codec::Pcmu => "PCMU",
            Codec::Pcma => "PCMA",
            Codec::Opus(_) => "opus",
        }
    }
    /// The `a=rtpmap` encoding: name/clock[/channels] (RFC 7587 says
    /// `opus/48000/2` whatever is actually sent).
    fn rtpmap(self) -> String {
        match self {
            Codec::Opus(_) => "opus/48000/2".into(),
            c => format!("{}/8000", c.name()),
        }
    }
}

/// What a session description says about its audio stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaDescription {
    /// Where the peer wants RTP (connection address + port); port 0 = stream refused.
    pub rtp: SocketAddr,
    /// Payload types offered, in preference order.
    pub payloads: Vec<u8>,
    /// The telephone-event payload type, if offered.
    pub telephone_event: Option<u8>,
    /// Codecs found (from static types or rtpmap), in the offer's order.
    pub codecs: Vec<Codec>,
    /// `a=sendonly` / `a=inactive` etc. (hold).
    pub direction: Direction,
    pub ptime: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    SendRecv,
    SendOnly,
    RecvOnly,
    Inactive,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SdpError {
    #[error("SDP is not UTF-8 text")]
    NotText,
    #[error("SDP has no audio stream")]
    NoAudio,
    #[error("SDP has no usable connection address")]
    NoAddress,
    #[error("no common codec (we support PCMU, PCMA and Opus)")]
    NoCommonCodec,
    #[error("bad SDP line: {0}")]
    BadLine(String),
}

/// Reads the first audio stream of a session description.
pub fn parse(sdp: &[u8]) -> Result<MediaDescription, SdpError> {
    let text = std::str::from_utf8(sdp).map_err(|_| SdpError::NotText)?;
    let mut session_addr: Option<IpAddr> = None;
    let mut media_addr: Option<IpAddr> = None;
    let mut in_audio = false;
    let mut seen_audio = false;
    let mut port: u16 = 0;
    let mut payloads = Vec::new();
    let mut rtpmaps: Vec<(u8, String)> = Vec::new();
    let mut direction = Direction::SendRecv;
    let mut ptime = None;
    for raw in text.lines() {
        let line = raw.trim_end();
        let Some((kind, value)) = line.split_once('=') else {
            if line.is_empty() {
                continue;
            }
            return Err(SdpError::BadLine(line.chars().take(40).collect()));
        };
        match kind {
            "m" => {
                if seen_audio {
                    in_audio = false;
                    continue;
                }
                let mut f = value.split_whitespace();
                in_audio = f.next() == Some("audio");
                if in_audio {
                    seen_audio = true;
                    port = f
                        .next()
                        .and_then(|p| p.split('/').next())
                        .and_then(|p| p.parse().ok())
                        .ok_or_else(|| SdpError::BadLine(line.chars().take(40).collect()))?;
                    let _proto = f.next();
                    payloads = f.filter_map(|p| p.parse::<u8>().ok()).collect();
                }
            }
            "c" => {
                let addr = value
                    .split_whitespace()
                    .nth(2)
                    .and_then(|a| a.split('/').next())
                    .and_then(|a| a.parse::<IpAddr>().ok());
                if seen_audio && in_audio {
                    media_addr = addr;
                } else if !seen_audio {
                    session_addr = addr;
                }
            }
            "a" if in_audio || !seen_audio => {
                if let Some(map) = value.strip_prefix("rtpmap:") {
                    let mut f = map.split_whitespace();
                    if let (Some(pt), Some(enc)) = (f.next().and_then(|p| p.parse().ok()), f.next())
                    {
                        rtpmaps.push((pt, enc.to_ascii_lowercase()));
                    }
                } else if let Some(p) = value.strip_prefix("ptime:") {
                    ptime = p.trim().parse().ok();
                } else {
                    match value.trim() {
                        "sendonly" => direction = Direction::SendOnly,
                        "recvonly" => direction = Direction::RecvOnly,
                        "inactive" => direction = Direction::Inactive,
                        "sendrecv" => direction = Direction::SendRecv,
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    if !seen_audio {
        return Err(SdpError::NoAudio);
    }
    let ip = media_addr.or(session_addr).ok_or(SdpError::NoAddress)?;
    let name_of = |pt: u8| -> Option<String> {
        rtpmaps
            .iter()
            .find(|(p, _)| *p == pt)
            .map(|(_, n)| n.clone())
            .or_else(|| match pt {
                0 => Some("pcmu/8000".into()),
                8 => Some("pcma/8000".into()),
                _ => None,
            })
    };
    let mut codecs = Vec::new();
    let mut telephone_event = None;
    for &pt in &payloads {
        match name_of(pt).as_deref() {
            Some("pcmu/8000") => codecs.push(Codec::Pcmu),
            Some("pcma/8000") => codecs.push(Codec::Pcma),
            Some("opus/48000/2") | Some("opus/48000") => codecs.push(Codec::Opus(pt)),
            Some(n) if n.starts_with("telephone-event/8000") && telephone_event.is_none() => {
                telephone_event = Some(pt)
            }
            _ => {}
        }
    }
    Ok(MediaDescription {
        rtp: SocketAddr::new(ip, port),
        payloads,
        telephone_event,
        codecs,
        direction,
        ptime,
    })
}

/// What we negotiated for a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Negotiated {
    pub codec: Codec,
    /// Payload type for RFC 4733 events (the peer's, or 101 when we offered).
    pub telephone_event: Option<u8>,
    /// Where to send RTP until the peer's packets show where they come from.
    pub remote_rtp: SocketAddr,
}

/// Chooses what to answer an offer with.
pub fn negotiate(offer: &MediaDescription) -> Result<Negotiated, SdpError> {
    let codec = *offer.codecs.first().ok_or(SdpError::NoCommonCodec)?;
    Ok(Negotiated {
        codec,
        telephone_event: offer.telephone_event,
        remote_rtp: offer.rtp,
    })
}

/// Our session description: one audio stream at `local` with `codecs` (+ telephone-event).
pub fn build(
    local: SocketAddr,
    session_id: u64,
    version: u64,
    codecs: &[Codec],
    telephone_event: Option<u8>,
) -> Vec<u8> {
    let ip = local.ip();
    let family = if ip.is_ipv4() { "IP4" } else { "IP6" };
    let mut pts: Vec<String> = codecs
        .iter()
        .map(|c| c.payload_type().to_string())
        .collect();
    if let Some(te) = telephone_event {
        pts.push(te.to_string());
    }
    let mut s = String::new();
    let _ = write!(
        s,
        "v=0\r\no=tonghua {session_id} {version} IN {family} {ip}\r\ns=tonghua\r\nc=IN {family} {ip}\r\nt=0 0\r\nm=audio {} RTP/AVP {}\r\n",
        local.port(),
        pts.join(" ")
    );
    for c in codecs {
        let _ = write!(s, "a=rtpmap:{} {}\r\n", c.payload_type(), c.rtpmap());
        if let Codec::Opus(pt) = c {
            // Mono, narrowband: what our 8 kHz line carries.
            let _ = write!(
                s,
                "a=fmtp:{pt} maxplaybackrate=8000;sprop-maxcapturerate=8000;stereo=0;sprop-stereo=0\r\n"
            );
        }
    }
    if let Some(te) = telephone_event {
        let _ = write!(
            s,
            "a=rtpmap:{te} telephone-event/8000\r\na=fmtp:{te} 0-16\r\n"
        );
    }
    s.push_str("a=ptime:20\r\na=sendrecv\r\n");
    s.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIPP: &str = "v=0\r\no=user1 53655765 2353687637 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-11,16\r\n";

    #[test]
    fn reads_sipp_offer_and_answers_pcma() {
        let offer = parse(SIPP.as_bytes()).expect("valid");
        assert_eq!(offer.rtp, "127.0.0.1:6000".parse().expect("addr"));
        assert_eq!(offer.codecs, vec![Codec::Pcma]);
        assert_eq!(offer.telephone_event, Some(101));
        let n = negotiate(&offer).expect("common codec");
        assert_eq!(n.codec, Codec::Pcma);
        let answer = build(
            "127.0.0.1:7000".parse().expect("addr"),
            1,
            1,
            &[n.codec],
            n.telephone_event,
        );
        let back = parse(&answer).expect("our own SDP parses");
        assert_eq!(back.codecs, vec![Codec::Pcma]);
        assert_eq!(back.rtp.port(), 7000);
        assert_eq!(back.ptime, Some(20));
    }

    #[test]
    fn opus_is_taken_under_the_peers_payload_type_and_offered_after_g711() {
        let opus = SIPP.replace("RTP/AVP 8 101", "RTP/AVP 96 8 101").replace(
            "a=rtpmap:8 PCMA/8000",
            "a=rtpmap:96 opus/48000/2\r\na=rtpmap:8 PCMA/8000",
        );
        let offer = parse(opus.as_bytes()).expect("parses");
        assert_eq!(offer.codecs, vec![Codec::Opus(96), Codec::Pcma]);
        let n = negotiate(&offer).expect("common codec");
        assert_eq!(n.codec, Codec::Opus(96));
        let answer = build(
            "127.0.0.1:7000".parse().expect("addr"),
            1,
            1,
            &[n.codec],
            None,
        );
        let text = String::from_utf8(answer.clone()).expect("text");
        assert!(text.contains("m=audio 7000 RTP/AVP 96\r\n"), "{text}");
        assert!(text.contains("a=rtpmap:96 opus/48000/2\r\n"), "{text}");
        assert_eq!(
            parse(&answer).expect("parses").codecs,
            vec![Codec::Opus(96)]
        );
        let ours = build(
            "127.0.0.1:7000".parse().expect("addr"),
            1,
            1,
            &[Codec::Pcma, Codec::Pcmu, Codec::Opus(OPUS_PAYLOAD_TYPE)],
            Some(101),
        );
        assert_eq!(
            parse(&ours).expect("parses").codecs,
            vec![Codec::Pcma, Codec::Pcmu, Codec::Opus(111)]
        );
    }

    #[test]
    fn refuses_without_common_codec_or_audio() {
        let g722 = SIPP
            .replace("RTP/AVP 8 101", "RTP/AVP 9")
            .replace("a=rtpmap:8 PCMA/8000", "a=rtpmap:9 G722/8000");
        assert_eq!(
            negotiate(&parse(g722.as_bytes()).expect("parses")),
            Err(SdpError::NoCommonCodec)
        );
        assert_eq!(parse(b"v=0\r\n"), Err(SdpError::NoAudio));
        assert!(parse(b"\xff\xfe").is_err());
    }
}

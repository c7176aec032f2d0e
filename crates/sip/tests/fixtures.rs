//! The RFC 4475 torture messages as test input.
//!
//! `*.sip` files are text renderings (LF line ends, last line end lost, bodies
//! sometimes not byte-exact); they are turned back into wire form here, with
//! Content-Length recomputed for the well-formed ones (their lengths are not
//! what those tests are about). `crlf-exact/*.dat` are byte-exact and are
//! used instead of their `.sip` twins.

use std::path::PathBuf;

pub fn dir(kind: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/torture")
        .join(kind)
}

fn wire(text: &[u8]) -> Vec<u8> {
    let t = String::from_utf8_lossy(text).replace("\r\n", "\n");
    let t = t.trim_end_matches([' ', '\n']).replace('\n', "\r\n");
    let mut b = t.into_bytes();
    if b.windows(4).any(|w| w == b"\r\n\r\n") {
        b.extend_from_slice(b"\r\n");
    } else {
        b.extend_from_slice(b"\r\n\r\n");
    }
    b
}

fn fix_length(b: Vec<u8>) -> Vec<u8> {
    let Some(i) = b.windows(4).position(|w| w == b"\r\n\r\n") else {
        return b;
    };
    let body_len = b.len() - i - 4;
    let head = String::from_utf8_lossy(&b[..i]).to_string();
    let lines: Vec<String> = head
        .split("\r\n")
        .map(|l| {
            let lower = l.to_ascii_lowercase();
            let name = lower
                .split(':')
                .next()
                .unwrap_or_default()
                .trim()
                .to_string();
            if l.contains(':') && (name == "content-length" || name == "l") {
                format!("Content-Length: {body_len}")
            } else {
                l.to_string()
            }
        })
        .collect();
    let mut out = lines.join("\r\n").into_bytes();
    out.extend_from_slice(&b[i..]);
    out
}

/// (name, bytes) of every message of a kind: "malformed" or "wellformed".
pub fn messages(kind: &str) -> Vec<(String, Vec<u8>)> {
    let exact: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir("crlf-exact"))
        .expect("crlf-exact fixtures")
        .filter_map(|e| e.ok())
        .map(|e| {
            let p = e.path();
            (
                p.file_stem()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .to_string(),
                std::fs::read(&p).unwrap_or_default(),
            )
        })
        .collect();
    let mut out = Vec::new();
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir(kind))
        .expect("fixtures")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    files.sort();
    for p in files {
        let name = p
            .file_stem()
            .unwrap_or_default()
            .to_string_lossy()
            .to_string();
        let short = name.split('_').next_back().unwrap_or_default().to_string();
        if let Some((_, bytes)) = exact.iter().find(|(n, _)| *n == short) {
            out.push((name, bytes.clone()));
            continue;
        }
        let raw = std::fs::read(&p).unwrap_or_default();
        let b = wire(&raw);
        out.push((
            name,
            if kind == "wellformed" {
                fix_length(b)
            } else {
                b
            },
        ));
    }
    out
}

//! WeChat's request signatures: SHA-1 over the parts sorted as byte strings
//! and concatenated, in lowercase hex.
//!
//! Plain mode signs `token, timestamp, nonce`; safe mode additionally signs
//! the encrypted payload (`msg_signature`).

use sha1::{Digest, Sha1};

/// SHA-1 hex of the sorted, concatenated parts.
pub fn sign(parts: &[&str]) -> String {
    let mut sorted: Vec<&str> = parts.to_vec();
    sorted.sort_unstable();
    let mut hasher = Sha1::new();
    for p in sorted {
        hasher.update(p.as_bytes());
    }
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Compares two signatures in constant time (the length is not secret).
pub fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// Whether `signature` signs `token, timestamp, nonce` (URL check, plain mode).
pub fn verify(token: &str, timestamp: &str, nonce: &str, signature: &str) -> bool {
    same(
        &sign(&[token, timestamp, nonce]),
        &signature.to_ascii_lowercase(),
    )
}

/// The safe-mode signature over an encrypted payload.
pub fn msg_signature(token: &str, timestamp: &str, nonce: &str, encrypted: &str) -> String {
    sign(&[token, timestamp, nonce, encrypted])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_of_parts_does_not_matter_and_any_change_does() {
        let a = sign(&["pamtest", "1409304348", "xxxxxx"]);
        assert_eq!(a, sign(&["xxxxxx", "pamtest", "1409304348"]));
        assert_eq!(a.len(), 40);
        assert!(verify("pamtest", "1409304348", "xxxxxx", &a));
        assert!(verify("pamtest", "1409304348", "xxxxxx", &a.to_uppercase()));
        assert!(!verify("pamtest", "1409304349", "xxxxxx", &a));
        assert!(!verify("pamtest", "1409304348", "xxxxxx", "short"));
    }

    #[test]
    fn sha1_of_known_input() {
        // SHA-1("abc"), FIPS 180 test vector; one part sorts to itself.
        assert_eq!(sign(&["abc"]), "a9993e364706816aba3e25717850c26c9cd0d89d");
    }
}

//! The registrar's side of SIP REGISTER (RFC 3261 §10) with digest
//! authentication (RFC 2617 / RFC 3261 §22, MD5, qop=auth): agents' phones
//! register here so calls can be bridged to them.
//!
//! Sans-IO: the caller passes the time (`now_ms`) and the secret nonces are
//! derived from; credentials are looked up by the caller (only the digest
//! HA1 `MD5(user:realm:password)` is ever needed, never the password).
//!
//! * [`Nonces`] issues nonces that carry their issue time and an MD5 keyed
//!   with a server secret, so any node with the secret can check them
//!   without remembering them, and stale ones are refused.
//! * [`Authorization`] parses the phone's `Authorization` header;
//!   [`Authorization::verify`] checks its response against a stored HA1.
//! * [`Bindings`] keeps each user's contact with its expiry (in memory).
//! * [`RegisterRequest`] carries one REGISTER from the agent to whoever
//!   answers it (the application) and the answer back.
//!
//! Invariants: nothing in a REGISTER can panic these functions; a response
//! is checked in constant time; an expired binding is never returned.

use std::collections::HashMap;
use std::net::SocketAddr;

use md5::{Digest, Md5};
use tokio::sync::oneshot;

use crate::agent::Peer;
use crate::message::{Message, param, split_top_level, uri_of, user_of};

fn hex(s: &str) -> String {
    Md5::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The digest HA1 of a user: `MD5(user:realm:password)`, lower-case hex.
/// Stored instead of the password.
pub fn ha1(user: &str, realm: &str, password: &str) -> String {
    hex(&format!("{user}:{realm}:{password}"))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Nonces that prove their own freshness: `<issued ms hex>.<MD5(secret:issued)>`.
#[derive(Debug, Clone)]
pub struct Nonces {
    secret: String,
    /// How long a nonce is accepted after it was issued.
    pub lifetime_ms: u64,
}

impl Nonces {
    pub fn new(secret: impl Into<String>, lifetime_ms: u64) -> Self {
        Self {
            secret: secret.into(),
            lifetime_ms,
        }
    }

    pub fn issue(&self, now_ms: u64) -> String {
        let t = format!("{now_ms:x}");
        let mac = hex(&format!("{}:{t}", self.secret));
        format!("{t}.{mac}")
    }

    /// Whether `nonce` is ours and not older than the lifetime.
    pub fn fresh(&self, nonce: &str, now_ms: u64) -> bool {
        let Some((t, mac)) = nonce.split_once('.') else {
            return false;
        };
        let Ok(issued) = u64::from_str_radix(t, 16) else {
            return false;
        };
        let expected = hex(&format!("{}:{t}", self.secret));
        constant_time_eq(expected.as_bytes(), mac.as_bytes())
            && issued <= now_ms.saturating_add(1000)
            && now_ms.saturating_sub(issued) <= self.lifetime_ms
    }

    /// The `WWW-Authenticate` value of a challenge.
    pub fn challenge(&self, realm: &str, now_ms: u64, stale: bool) -> String {
        let mut v = format!(
            "Digest realm=\"{}\", nonce=\"{}\", algorithm=MD5, qop=\"auth\"",
            realm.replace('"', ""),
            self.issue(now_ms)
        );
        if stale {
            v.push_str(", stale=true");
        }
        v
    }
}

/// The fields of a `Authorization: Digest ...` header.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Authorization {
    pub username: String,
    pub realm: String,
    pub nonce: String,
    pub uri: String,
    pub response: String,
    pub qop: Option<String>,
    pub nc: Option<String>,
    pub cnonce: Option<String>,
    pub algorithm: Option<String>,
}

impl Authorization {
    /// `None` when the value is not a usable MD5 digest answer.
    pub fn parse(value: &str) -> Option<Authorization> {
        let rest = value.trim();
        let rest = rest
            .get(..6)
            .filter(|p| p.eq_ignore_ascii_case("digest"))
            .and_then(|_| rest.get(6..))?;
        let mut a = Authorization::default();
        for part in split_top_level(rest, ',') {
            let Some((k, v)) = part.split_once('=') else {
                continue;
            };
            let v = v.trim().trim_matches('"').to_string();
            match k.trim().to_ascii_lowercase().as_str() {
                "username" => a.username = v,
                "realm" => a.realm = v,
                "nonce" => a.nonce = v,
                "uri" => a.uri = v,
                "response" => a.response = v.to_ascii_lowercase(),
                "qop" => a.qop = Some(v),
                "nc" => a.nc = Some(v),
                "cnonce" => a.cnonce = Some(v),
                "algorithm" => a.algorithm = Some(v),
                _ => {}
            }
        }
        let md5 = a
            .algorithm
            .as_deref()
            .is_none_or(|x| x.eq_ignore_ascii_case("MD5"));
        (md5 && !a.username.is_empty() && !a.nonce.is_empty() && !a.response.is_empty())
            .then_some(a)
    }

    /// Whether the response proves knowledge of the password behind `ha1`
    /// for a request with this method.
    pub fn verify(&self, ha1: &str, method: &str) -> bool {
        let ha2 = hex(&format!("{method}:{}", self.uri));
        let expected = match self.qop.as_deref() {
            Some(q) if q.eq_ignore_ascii_case("auth") => {
                let (Some(nc), Some(cnonce)) = (&self.nc, &self.cnonce) else {
                    return false;
                };
                hex(&format!("{ha1}:{}:{nc}:{cnonce}:auth:{ha2}", self.nonce))
            }
            Some(_) => return false,
            None => hex(&format!("{ha1}:{}:{ha2}", self.nonce)),
        };
        constant_time_eq(expected.as_bytes(), self.response.as_bytes())
    }
}

/// Where a registered user's phone is reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    /// The Contact URI (what to put in the INVITE's Request-URI).
    pub contact: String,
    /// Where the REGISTER came from (where to send the INVITE).
    pub source: SocketAddr,
    /// Whether it came over TCP.
    pub tcp: bool,
    pub expires_at_ms: u64,
}

/// The current bindings, one contact per user (the latest wins).
#[derive(Debug, Default, Clone)]
pub struct Bindings {
    by_user: HashMap<String, Binding>,
}

impl Bindings {
    pub fn bind(&mut self, user: &str, binding: Binding) {
        self.by_user.insert(user.to_string(), binding);
    }

    pub fn unbind(&mut self, user: &str) -> bool {
        self.by_user.remove(user).is_some()
    }

    /// The user's binding, if it has not expired.
    pub fn lookup(&self, user: &str, now_ms: u64) -> Option<&Binding> {
        self.by_user.get(user).filter(|b| b.expires_at_ms > now_ms)
    }

    /// Drops expired bindings; returns the users dropped.
    pub fn purge(&mut self, now_ms: u64) -> Vec<String> {
        let gone: Vec<String> = self
            .by_user
            .iter()
            .filter(|(_, b)| b.expires_at_ms <= now_ms)
            .map(|(u, _)| u.clone())
            .collect();
        for u in &gone {
            self.by_user.remove(u);
        }
        gone
    }
}

/// What a REGISTER asks for, once authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegisterAsk {
    /// Bind this contact for this many seconds.
    Bind { contact: String, expires: u32 },
    /// Remove the user's bindings (`Expires: 0`, or `Contact: *`).
    Unbind,
    /// No Contact: a query of the current bindings.
    Query,
}

/// Reads the Contact and Expires of a REGISTER (the contact's own
/// `expires` parameter wins over the header; `default` when neither says).
pub fn register_ask(m: &Message, default: u32) -> Result<RegisterAsk, &'static str> {
    let header_expires = match m.header("Expires") {
        Some(v) => Some(v.trim().parse::<u32>().map_err(|_| "bad Expires")?),
        None => None,
    };
    let Some(contact) = m.header("Contact") else {
        return Ok(RegisterAsk::Query);
    };
    if contact.trim() == "*" {
        return if header_expires == Some(0) {
            Ok(RegisterAsk::Unbind)
        } else {
            Err("Contact: * needs Expires: 0")
        };
    }
    // One contact per phone: the first one given.
    let first = split_top_level(contact, ',')
        .into_iter()
        .next()
        .unwrap_or_default();
    let uri = uri_of(&first);
    if !(uri.starts_with("sip:") || uri.starts_with("sips:")) {
        return Err("the Contact is not a SIP URI");
    }
    let expires = match param(&first, "expires") {
        Some(e) => e.parse::<u32>().map_err(|_| "bad expires parameter")?,
        None => header_expires.unwrap_or(default),
    };
    if expires == 0 {
        Ok(RegisterAsk::Unbind)
    } else {
        Ok(RegisterAsk::Bind {
            contact: uri,
            expires,
        })
    }
}

/// The user a REGISTER is for: the To header's user (the address of record).
pub fn register_user(m: &Message) -> Option<String> {
    user_of(&uri_of(m.header("To")?)).filter(|u| !u.is_empty())
}

/// How the application answers a REGISTER: a status and extra headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisterReply {
    pub code: u16,
    pub headers: Vec<(String, String)>,
}

/// One REGISTER handed to the application by the agent.
#[derive(Debug)]
pub struct RegisterRequest {
    pub message: Message,
    pub source: Peer,
    pub(crate) reply: oneshot::Sender<RegisterReply>,
}

impl RegisterRequest {
    /// Sends the answer (the agent writes it back to the phone).
    pub fn answer(self, code: u16, headers: Vec<(String, String)>) {
        let _ = self.reply.send(RegisterReply { code, headers });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn register(extra: &str) -> Message {
        let raw = format!(
            "REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK1\r\nFrom: <sip:agent1@127.0.0.1>;tag=1\r\nTo: <sip:agent1@127.0.0.1>\r\nCall-ID: r1\r\nCSeq: 1 REGISTER\r\nMax-Forwards: 70\r\n{extra}Content-Length: 0\r\n\r\n"
        );
        crate::message::parse(raw.as_bytes()).expect("register parses")
    }

    #[test]
    fn a_response_made_with_the_right_password_verifies_and_a_wrong_one_does_not() {
        let nonces = Nonces::new("secret", 60_000);
        let challenge = nonces.challenge("tonghua", 1_000, false);
        let ch = crate::digest::Challenge::parse(&challenge).expect("our challenge parses");
        assert!(ch.qop_auth);
        let stored = ha1("agent1", "tonghua", "s3cret-pass");
        let good = ch.authorize("REGISTER", "sip:127.0.0.1", "agent1", "s3cret-pass", "c1");
        let a = Authorization::parse(&good).expect("parses");
        assert_eq!(a.username, "agent1");
        assert!(nonces.fresh(&a.nonce, 2_000));
        assert!(a.verify(&stored, "REGISTER"));
        // The same answer does not fit another method or another password.
        assert!(!a.verify(&stored, "INVITE"));
        let bad = ch.authorize("REGISTER", "sip:127.0.0.1", "agent1", "wrong", "c1");
        assert!(
            !Authorization::parse(&bad)
                .expect("parses")
                .verify(&stored, "REGISTER")
        );
        // Without qop (RFC 2069 style) too.
        let mut old = ch.clone();
        old.qop_auth = false;
        let plain = old.authorize("REGISTER", "sip:x", "agent1", "s3cret-pass", "c");
        assert!(
            Authorization::parse(&plain)
                .expect("parses")
                .verify(&stored, "REGISTER")
        );
        // qop=auth without nc/cnonce is refused, as is an unknown algorithm.
        let mut stripped = a.clone();
        stripped.cnonce = None;
        assert!(!stripped.verify(&stored, "REGISTER"));
        assert!(
            Authorization::parse(
                "Digest username=\"a\", nonce=\"n\", response=\"r\", algorithm=SHA-256"
            )
            .is_none()
        );
        assert!(Authorization::parse("Basic YWxhZGRpbjpvcGVuc2VzYW1l").is_none());
        assert!(Authorization::parse("").is_none());
        assert!(Authorization::parse("Dig").is_none());
    }

    #[test]
    fn rfc2617_known_answer() {
        // RFC 2617 §3.5: Mufasa / "Circle Of Life".
        let a = Authorization::parse("Digest username=\"Mufasa\", realm=\"testrealm@host.com\", nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", uri=\"/dir/index.html\", qop=auth, nc=00000001, cnonce=\"0a4f113b\", response=\"6629fae49393a05397450978507c4ef1\", opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"").expect("parses");
        let stored = ha1("Mufasa", "testrealm@host.com", "Circle Of Life");
        assert!(a.verify(&stored, "GET"));
        assert!(!a.verify(
            &ha1("Mufasa", "testrealm@host.com", "circle of life"),
            "GET"
        ));
    }

    #[test]
    fn nonces_expire_and_cannot_be_forged() {
        let nonces = Nonces::new("secret", 60_000);
        let n = nonces.issue(10_000);
        assert!(nonces.fresh(&n, 10_000));
        assert!(nonces.fresh(&n, 70_000));
        assert!(!nonces.fresh(&n, 70_001), "stale after its lifetime");
        assert!(!nonces.fresh(&n, 5_000), "not from the future");
        assert!(!Nonces::new("other", 60_000).fresh(&n, 10_000));
        let forged = format!("{:x}.{}", 69_000, n.split_once('.').expect("dot").1);
        assert!(!nonces.fresh(&forged, 69_500));
        assert!(!nonces.fresh("garbage", 1));
        assert!(!nonces.fresh("zz.zz", 1));
    }

    #[test]
    fn bindings_expire_and_unbind() {
        let mut b = Bindings::default();
        let source: SocketAddr = "127.0.0.1:5070".parse().expect("addr");
        b.bind(
            "agent1",
            Binding {
                contact: "sip:agent1@127.0.0.1:5070".into(),
                source,
                tcp: false,
                expires_at_ms: 61_000,
            },
        );
        assert!(b.lookup("agent1", 60_999).is_some());
        assert!(b.lookup("agent1", 61_000).is_none(), "expired");
        assert!(b.lookup("nobody", 0).is_none());
        assert_eq!(b.purge(60_000), Vec::<String>::new());
        assert_eq!(b.purge(61_000), vec!["agent1".to_string()]);
        b.bind(
            "agent1",
            Binding {
                contact: "sip:a@x".into(),
                source,
                tcp: false,
                expires_at_ms: 100,
            },
        );
        assert!(b.unbind("agent1"));
        assert!(b.lookup("agent1", 0).is_none());
        assert!(!b.unbind("agent1"));
    }

    #[test]
    fn register_contact_and_expires_are_read() {
        let m = register("Contact: <sip:agent1-x@127.0.0.1:5070;transport=udp>;expires=120\r\n");
        assert_eq!(register_user(&m).as_deref(), Some("agent1"));
        assert_eq!(
            register_ask(&m, 3600),
            Ok(RegisterAsk::Bind {
                contact: "sip:agent1-x@127.0.0.1:5070;transport=udp".into(),
                expires: 120
            })
        );
        let m = register("Contact: <sip:a@127.0.0.1:5070>\r\nExpires: 0\r\n");
        assert_eq!(register_ask(&m, 3600), Ok(RegisterAsk::Unbind));
        let m = register("Contact: *\r\nExpires: 0\r\n");
        assert_eq!(register_ask(&m, 3600), Ok(RegisterAsk::Unbind));
        let m = register("Contact: *\r\n");
        assert!(register_ask(&m, 3600).is_err());
        let m = register("Contact: <sip:a@h>\r\n");
        assert_eq!(
            register_ask(&m, 3600),
            Ok(RegisterAsk::Bind {
                contact: "sip:a@h".into(),
                expires: 3600
            })
        );
        let m = register("Contact: <mailto:a@h>\r\n");
        assert!(register_ask(&m, 3600).is_err());
        // (A non-numeric Expires never gets here: the parser answers 400.)
        let m = register("");
        assert_eq!(register_ask(&m, 3600), Ok(RegisterAsk::Query));
    }
}

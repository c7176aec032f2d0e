//! One official account's endpoint: checks that requests come from WeChat,
//! opens (decrypts and parses) messages, and seals replies.

use std::collections::BTreeMap;

use crate::crypto::MsgCrypt;
use crate::message::{Incoming, parse};
use crate::signature::{msg_signature, same, verify};
use crate::xml::{cdata, parse_flat};
use crate::{WeChatError, xml};

/// The query string WeChat sends with every request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    pub signature: Option<String>,
    pub timestamp: Option<String>,
    pub nonce: Option<String>,
    /// Only on the URL check.
    pub echostr: Option<String>,
    /// `aes` in safe mode.
    pub encrypt_type: Option<String>,
    /// Safe-mode signature over the encrypted payload.
    pub msg_signature: Option<String>,
    pub openid: Option<String>,
}

impl Query {
    /// From decoded query pairs; unknown keys are ignored.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let mut q = Query::default();
        for (k, v) in pairs {
            let v = Some(v.to_string());
            match k {
                "signature" => q.signature = v,
                "timestamp" => q.timestamp = v,
                "nonce" => q.nonce = v,
                "echostr" => q.echostr = v,
                "encrypt_type" => q.encrypt_type = v,
                "msg_signature" => q.msg_signature = v,
                "openid" => q.openid = v,
                _ => {}
            }
        }
        q
    }

    fn get(&self, v: &Option<String>, name: &'static str) -> Result<String, WeChatError> {
        v.clone().ok_or(WeChatError::MissingParameter(name))
    }

    fn is_safe_mode(&self) -> bool {
        self.encrypt_type.as_deref() == Some("aes")
    }
}

/// A message as received, and how to answer it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opened {
    pub message: Incoming,
    /// Replies must be encrypted too.
    pub encrypted: bool,
}

#[derive(Debug, Clone)]
pub struct Endpoint {
    token: String,
    crypt: Option<MsgCrypt>,
    /// Requests stamped further than this from now are refused as replays.
    pub max_skew_s: i64,
}

impl Endpoint {
    /// `crypt` is needed for safe mode (and compatible mode); plain mode needs only the token.
    pub fn new(token: &str, crypt: Option<MsgCrypt>) -> Self {
        Self {
            token: token.to_string(),
            crypt,
            max_skew_s: 300,
        }
    }

    fn crypt(&self) -> Result<&MsgCrypt, WeChatError> {
        self.crypt.as_ref().ok_or(WeChatError::Decrypt(
            "safe mode is used but no EncodingAESKey is configured",
        ))
    }

    /// The URL check WeChat makes when the server address is saved: answers
    /// with the `echostr` to echo back (decrypted, in safe mode).
    pub fn verify_url(&self, q: &Query) -> Result<String, WeChatError> {
        let timestamp = q.get(&q.timestamp, "timestamp")?;
        let nonce = q.get(&q.nonce, "nonce")?;
        let echostr = q.get(&q.echostr, "echostr")?;
        if let Some(sig) = &q.msg_signature {
            if !same(
                &msg_signature(&self.token, &timestamp, &nonce, &echostr),
                &sig.to_ascii_lowercase(),
            ) {
                return Err(WeChatError::BadSignature);
            }
            return self.crypt()?.decrypt(&echostr);
        }
        let signature = q.get(&q.signature, "signature")?;
        if !verify(&self.token, &timestamp, &nonce, &signature) {
            return Err(WeChatError::BadSignature);
        }
        Ok(echostr)
    }

    /// Checks and opens a message POST. `now_s` is the server's clock.
    pub fn open(&self, q: &Query, body: &str, now_s: i64) -> Result<Opened, WeChatError> {
        if body.len() > xml::MAX_BODY_BYTES {
            return Err(WeChatError::TooLarge(body.len()));
        }
        let timestamp = q.get(&q.timestamp, "timestamp")?;
        let nonce = q.get(&q.nonce, "nonce")?;
        let stamped: i64 = timestamp
            .trim()
            .parse()
            .map_err(|_| WeChatError::MissingParameter("timestamp"))?;
        if (now_s - stamped).abs() > self.max_skew_s {
            return Err(WeChatError::Stale(now_s - stamped));
        }
        if q.is_safe_mode() {
            let sig = q.get(&q.msg_signature, "msg_signature")?;
            let envelope: BTreeMap<String, String> = parse_flat(body)?;
            let encrypted = envelope
                .get("Encrypt")
                .ok_or(WeChatError::MissingField("Encrypt"))?;
            if !same(
                &msg_signature(&self.token, &timestamp, &nonce, encrypted),
                &sig.to_ascii_lowercase(),
            ) {
                return Err(WeChatError::BadSignature);
            }
            let plain = self.crypt()?.decrypt(encrypted)?;
            return Ok(Opened {
                message: parse(&plain)?,
                encrypted: true,
            });
        }
        let signature = q.get(&q.signature, "signature")?;
        if !verify(&self.token, &timestamp, &nonce, &signature) {
            return Err(WeChatError::BadSignature);
        }
        Ok(Opened {
            message: parse(body)?,
            encrypted: false,
        })
    }

    /// The HTTP body for a reply: as is in plain mode, encrypted and signed in
    /// safe mode. `random` must be fresh random bytes.
    pub fn seal(
        &self,
        opened: &Opened,
        reply_xml: &str,
        timestamp: &str,
        nonce: &str,
        random: [u8; 16],
    ) -> Result<String, WeChatError> {
        if !opened.encrypted || reply_xml == crate::message::NO_REPLY {
            return Ok(reply_xml.to_string());
        }
        let encrypted = self.crypt()?.encrypt(reply_xml, random);
        let signature = msg_signature(&self.token, timestamp, nonce, &encrypted);
        Ok(format!(
            "<xml><Encrypt>{}</Encrypt><MsgSignature>{}</MsgSignature><TimeStamp>{timestamp}</TimeStamp><Nonce>{}</Nonce></xml>",
            cdata(&encrypted),
            cdata(&signature),
            cdata(nonce)
        ))
    }
}

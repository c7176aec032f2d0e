//! Bodies and query strings from the internet never make the protocol code
//! panic: every input is either accepted or refused with an error.

use proptest::prelude::*;
use wechat::crypto::MsgCrypt;
use wechat::endpoint::{Endpoint, Query};

fn endpoint() -> Endpoint {
    Endpoint::new(
        "token123",
        MsgCrypt::new("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", "wx_app").ok(),
    )
}

/// XML-ish text: mostly the characters WeChat bodies are made of.
fn xmlish() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            Just("<xml>".to_string()),
            Just("</xml>".to_string()),
            Just("<![CDATA[".to_string()),
            Just("]]>".to_string()),
            Just("<Encrypt>".to_string()),
            Just("</Encrypt>".to_string()),
            Just("&amp;".to_string()),
            Just("&#x".to_string()),
            Just("<!DOCTYPE".to_string()),
            "[a-zA-Z0-9<>/=+&;#\"' 中文\n]{0,12}",
        ],
        0..40,
    )
    .prop_map(|parts| parts.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn parsing_never_panics(body in xmlish(), raw in any::<String>()) {
        let _ = wechat::xml::parse_flat(&body);
        let _ = wechat::message::parse(&body);
        let _ = wechat::xml::parse_flat(&raw);
        let _ = wechat::message::parse(&raw);
    }

    #[test]
    fn opening_requests_never_panics(
        body in xmlish(),
        timestamp in "[0-9a-z-]{0,12}",
        nonce in ".{0,8}",
        sig in "[0-9a-f]{0,40}",
        safe in any::<bool>(),
    ) {
        let q = Query {
            signature: Some(sig.clone()),
            timestamp: Some(timestamp),
            nonce: Some(nonce),
            encrypt_type: safe.then(|| "aes".to_string()),
            msg_signature: Some(sig),
            echostr: Some(body.clone()),
            openid: None,
        };
        let e = endpoint();
        let _ = e.open(&q, &body, 1_700_000_000);
        let _ = e.verify_url(&q);
    }

    #[test]
    fn decrypting_never_panics(payload in "[A-Za-z0-9+/=]{0,200}") {
        if let Ok(c) = MsgCrypt::new("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", "wx_app") {
            let _ = c.decrypt(&payload);
        }
    }
}

//! WeChat's own published test vectors (from its sample code and documents)
//! and end-to-end endpoint behaviour.

use wechat::crypto::MsgCrypt;
use wechat::endpoint::{Endpoint, Opened, Query};
use wechat::message::{self, Event, Incoming, NO_REPLY, Reply};
use wechat::replay::{ReplayGuard, Seen};
use wechat::signature::msg_signature;
use wechat::{WeChatError, xml};

const KEY_A: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";

#[test]
fn vector_a_encryption_with_a_fixed_random_matches_wechat() {
    let c = MsgCrypt::new(KEY_A, "wxb11529c136998cb6").expect("key");
    let sealed = c.encrypt("我是中文abcd123", *b"aaaabbbbccccdddd");
    assert_eq!(
        sealed,
        "jn1L23DB+6ELqJ+6bruv21Y6MD7KeIfP82D6gU39rmkgczbWwt5+3bnyg5K55bgVtVzd832WzZGMhkP72vVOfg=="
    );
    assert_eq!(c.decrypt(&sealed).expect("decrypt"), "我是中文abcd123");
}

#[test]
fn vector_b_url_check_in_safe_mode() {
    let c = MsgCrypt::new(
        "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C",
        "wx5823bf96d3bd56c7",
    )
    .expect("key");
    let endpoint = Endpoint::new("QDG6eK", Some(c));
    let q = Query {
        msg_signature: Some("5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3".into()),
        timestamp: Some("1409659589".into()),
        nonce: Some("263014780".into()),
        echostr: Some("P9nAzCzyDtyTWESHep1vC5X9xho/qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp+4RPcs8TgAE7OaBO+FZXvnaqQ==".into()),
        ..Query::default()
    };
    assert_eq!(
        endpoint.verify_url(&q).expect("verify"),
        "1616140317555161061"
    );
    let tampered = Query {
        nonce: Some("263014781".into()),
        ..q
    };
    assert_eq!(
        endpoint.verify_url(&tampered),
        Err(WeChatError::BadSignature)
    );
}

const VECTOR_C_BODY: &str = "<xml><ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName><FromUserName><![CDATA[oyORnuP8q7ou2gfYjqLzSIWZf0rs]]></FromUserName><CreateTime>1409735668</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[abcdteT]]></Content><MsgId>6054768590064713728</MsgId><Encrypt><![CDATA[hyzAe4OzmOMbd6TvGdIOO6uBmdJoD0Fk53REIHvxYtJlE2B655HuD0m8KUePWB3+LrPXo87wzQ1QLvbeUgmBM4x6F8PGHQHFVAFmOD2LdJF9FrXpbUAh0B5GIItb52sn896wVsMSHGuPE328HnRGBcrS7C41IzDWyWNlZkyyXwon8T332jisa+h6tEDYsVticbSnyU8dKOIbgU6ux5VTjg3yt+WGzjlpKn6NPhRjpA912xMezR4kw6KWwMrCVKSVCZciVGCgavjIQ6X8tCOp3yZbGpy0VxpAe+77TszTfRd5RJSVO/HTnifJpXgCSUdUue1v6h0EIBYYI1BD1DlD+C0CR8e6OewpusjZ4uBl9FyJvnhvQl+q5rv1ixrcpCumEPo5MJSgM9ehVsNPfUM669WuMyVWQLCzpu9GhglF2PE=]]></Encrypt></xml>";

fn vector_c_query() -> Query {
    Query {
        timestamp: Some("1409735669".into()),
        nonce: Some("1320562132".into()),
        encrypt_type: Some("aes".into()),
        msg_signature: Some("5d197aaffba7e9b25a30732f161a50dee96bd5fa".into()),
        ..Query::default()
    }
}

#[test]
fn vector_c_a_safe_mode_message_is_verified_decrypted_and_parsed() {
    let endpoint = Endpoint::new(
        "spamtest",
        Some(MsgCrypt::new(KEY_A, "wx2c2769f8efd9abc2").expect("key")),
    );
    let opened = endpoint
        .open(&vector_c_query(), VECTOR_C_BODY, 1_409_735_700)
        .expect("open");
    assert!(opened.encrypted);
    let Incoming::Text { common, content } = &opened.message else {
        panic!("not text: {opened:?}")
    };
    assert_eq!(content, "abcdteT");
    assert_eq!(common.to_user, "gh_10f6c3c3ac5a");
    assert_eq!(common.from_user, "oyORnuP8q7ou2gfYjqLzSIWZf0rs");
    assert_eq!(common.msg_id.as_deref(), Some("6054768590064713728"));
    assert_eq!(opened.message.dedup_key(), "msg:6054768590064713728");

    // Tampering with anything signed is caught; so is a wrong key or app id.
    let mut q = vector_c_query();
    q.msg_signature = Some("5d197aaffba7e9b25a30732f161a50dee96bd5fb".into());
    assert_eq!(
        endpoint.open(&q, VECTOR_C_BODY, 1_409_735_700),
        Err(WeChatError::BadSignature)
    );
    let wrong_app = Endpoint::new(
        "spamtest",
        Some(MsgCrypt::new(KEY_A, "wx_other").expect("key")),
    );
    assert!(matches!(
        wrong_app.open(&vector_c_query(), VECTOR_C_BODY, 1_409_735_700),
        Err(WeChatError::WrongAppId { .. })
    ));
    let wrong_key = Endpoint::new(
        "spamtest",
        Some(MsgCrypt::new(&"B".repeat(43), "wx2c2769f8efd9abc2").expect("key")),
    );
    assert!(
        wrong_key
            .open(&vector_c_query(), VECTOR_C_BODY, 1_409_735_700)
            .is_err()
    );
    // An old request is refused as a replay.
    assert!(matches!(
        endpoint.open(&vector_c_query(), VECTOR_C_BODY, 1_409_735_669 + 301),
        Err(WeChatError::Stale(_))
    ));
}

#[test]
fn vector_e_reply_encryption_and_signature_match_wechat() {
    let c = MsgCrypt::new(&"A".repeat(43), "wx134c8103faa5a59e").expect("key");
    let sealed = c.encrypt(
        "<xml><demo_resp>[CDATA[good luck]]</demo_resp></xml>",
        *b"999951349e8ee746",
    );
    assert_eq!(
        sealed,
        "hE8R6mGXHkJJjU72KxzKUd1GEkKJaEZq7vRL8XgK3o+00k8JGq6+pZJUIlTSyhsX+bxIBQ72g3GyvDdIZcr6+3HAZbSvPT9t/o11MI7d6WELwqrGd7jMnV0zv3Zc9Nq7"
    );
    assert_eq!(
        msg_signature("AAAAA", "1713424427", "415670741", &sealed),
        "03e0812039325c2712ef5f0f980fd14c70d6e307"
    );
}

#[test]
fn bad_keys_and_garbage_ciphertexts_are_clear_errors() {
    assert!(matches!(
        MsgCrypt::new("short", "wx"),
        Err(WeChatError::BadAesKey(5))
    ));
    assert!(MsgCrypt::new(&"!".repeat(43), "wx").is_err());
    let c = MsgCrypt::new(KEY_A, "wx").expect("key");
    assert_eq!(c.decrypt("!!!not-base64!!!"), Err(WeChatError::NotBase64));
    assert!(matches!(c.decrypt("YWJj"), Err(WeChatError::Decrypt(_))));
    assert!(matches!(
        c.decrypt("AAAAAAAAAAAAAAAAAAAAAA=="),
        Err(WeChatError::Decrypt(_))
    ));
    assert!(c.decrypt("").is_err());
    // Every truncation of a valid ciphertext is refused, never a panic.
    let sealed = c.encrypt("<xml>hi</xml>", [7; 16]);
    let raw = base64_decode(&sealed);
    for cut in 0..raw.len() {
        let _ = c.decrypt(&base64_encode(&raw[..cut]));
    }
}

fn base64_decode(s: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .expect("b64")
}
fn base64_encode(b: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(b)
}

fn plain_query(token: &str, timestamp: &str, nonce: &str) -> Query {
    Query {
        signature: Some(wechat::signature::sign(&[token, timestamp, nonce])),
        timestamp: Some(timestamp.into()),
        nonce: Some(nonce.into()),
        ..Query::default()
    }
}

#[test]
fn plain_mode_url_check_messages_and_replies() {
    let endpoint = Endpoint::new("tonghua-token", None);
    let mut q = plain_query("tonghua-token", "1700000000", "42");
    q.echostr = Some("echo-123".into());
    assert_eq!(endpoint.verify_url(&q).expect("verify"), "echo-123");
    q.signature = Some("0".repeat(40));
    assert_eq!(endpoint.verify_url(&q), Err(WeChatError::BadSignature));
    assert_eq!(
        endpoint.verify_url(&Query::default()),
        Err(WeChatError::MissingParameter("timestamp"))
    );

    let body = "<xml><ToUserName><![CDATA[gh_shop]]></ToUserName><FromUserName><![CDATA[o_user1]]></FromUserName><CreateTime>1700000000</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[我的快递到哪了？]]></Content><MsgId>123</MsgId></xml>";
    let q = plain_query("tonghua-token", "1700000000", "43");
    let opened = endpoint.open(&q, body, 1_700_000_002).expect("open");
    assert_eq!(opened.message.said(), Some("我的快递到哪了？"));
    let reply = Reply::Text("您好，订单已发货 <a href=\"x\">查看</a>".into())
        .render(&opened.message, 1_700_000_003);
    let back = xml::parse_flat(&reply).expect("reply is valid XML");
    assert_eq!(back["ToUserName"], "o_user1");
    assert_eq!(back["FromUserName"], "gh_shop");
    assert_eq!(back["Content"], "您好，订单已发货 <a href=\"x\">查看</a>");
    assert_eq!(
        endpoint
            .seal(&opened, &reply, "1", "2", [0; 16])
            .expect("seal"),
        reply,
        "plain mode sends as is"
    );
    assert_eq!(Reply::Nothing.render(&opened.message, 0), NO_REPLY);
    let forged = plain_query("other-token", "1700000000", "43");
    assert_eq!(
        endpoint.open(&forged, body, 1_700_000_002),
        Err(WeChatError::BadSignature)
    );
    let huge = format!("<xml><Content>{}</Content></xml>", "字".repeat(30_000));
    assert!(matches!(
        endpoint.open(&q, &huge, 1_700_000_002),
        Err(WeChatError::TooLarge(_))
    ));
}

#[test]
fn a_safe_mode_reply_round_trips_through_the_endpoint() {
    let endpoint = Endpoint::new("tok", Some(MsgCrypt::new(KEY_A, "wx_app").expect("key")));
    let inner = "<xml><ToUserName><![CDATA[gh_a]]></ToUserName><FromUserName><![CDATA[o_b]]></FromUserName><CreateTime>1700000000</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[subscribe]]></Event><EventKey><![CDATA[qrscene_flyer42]]></EventKey></xml>";
    let sealed_in = MsgCrypt::new(KEY_A, "wx_app")
        .expect("key")
        .encrypt(inner, [3; 16]);
    let body = format!(
        "<xml><ToUserName><![CDATA[gh_a]]></ToUserName><Encrypt><![CDATA[{sealed_in}]]></Encrypt></xml>"
    );
    let q = Query {
        timestamp: Some("1700000000".into()),
        nonce: Some("9".into()),
        encrypt_type: Some("aes".into()),
        msg_signature: Some(msg_signature("tok", "1700000000", "9", &sealed_in)),
        ..Query::default()
    };
    let opened: Opened = endpoint.open(&q, &body, 1_700_000_000).expect("open");
    assert_eq!(
        opened.message,
        Incoming::Event {
            common: message::Common {
                to_user: "gh_a".into(),
                from_user: "o_b".into(),
                create_time: 1_700_000_000,
                msg_id: None
            },
            event: Event::Subscribe {
                scene: Some("flyer42".into())
            },
        }
    );
    let reply = Reply::Text("欢迎关注！".into()).render(&opened.message, 1_700_000_001);
    let sealed = endpoint
        .seal(&opened, &reply, "1700000001", "77", [5; 16])
        .expect("seal");
    let env = xml::parse_flat(&sealed).expect("envelope");
    assert_eq!(
        env["MsgSignature"],
        msg_signature("tok", "1700000001", "77", &env["Encrypt"])
    );
    let back = MsgCrypt::new(KEY_A, "wx_app")
        .expect("key")
        .decrypt(&env["Encrypt"])
        .expect("decrypt");
    assert_eq!(back, reply);
}

#[test]
fn message_types_voice_clicks_and_unknowns() {
    let voice = message::parse("<xml><ToUserName>gh</ToUserName><FromUserName>o1</FromUserName><CreateTime>5</CreateTime><MsgType>voice</MsgType><MediaId>m1</MediaId><Format>amr</Format><Recognition><![CDATA[我要退货]]></Recognition><MsgId>9</MsgId></xml>").expect("voice");
    assert_eq!(voice.said(), Some("我要退货"));
    let silent = message::parse("<xml><ToUserName>gh</ToUserName><FromUserName>o1</FromUserName><CreateTime>5</CreateTime><MsgType>voice</MsgType><MediaId>m1</MediaId><Recognition></Recognition></xml>").expect("voice");
    assert_eq!(silent.said(), None, "no recognition, nothing said");
    let click = message::parse("<xml><ToUserName>gh</ToUserName><FromUserName>o1</FromUserName><CreateTime>6</CreateTime><MsgType>event</MsgType><Event>CLICK</Event><EventKey>MENU_ORDER</EventKey></xml>").expect("click");
    assert!(
        matches!(&click, Incoming::Event { event: Event::Click { key }, .. } if key == "MENU_ORDER")
    );
    assert_eq!(click.dedup_key(), "evt:o1:6");
    let video = message::parse("<xml><ToUserName>gh</ToUserName><FromUserName>o1</FromUserName><CreateTime>7</CreateTime><MsgType>video</MsgType></xml>").expect("video");
    assert!(matches!(video, Incoming::Other { ref msg_type, .. } if msg_type == "video"));
    for missing in [
        "<xml><FromUserName>o1</FromUserName><CreateTime>5</CreateTime><MsgType>text</MsgType><Content>x</Content></xml>",
        "<xml><ToUserName>gh</ToUserName><FromUserName>o1</FromUserName><CreateTime>soon</CreateTime><MsgType>text</MsgType><Content>x</Content></xml>",
        "<xml><ToUserName>gh</ToUserName><FromUserName>o1</FromUserName><CreateTime>5</CreateTime><MsgType>text</MsgType></xml>",
    ] {
        assert!(message::parse(missing).is_err(), "{missing}");
    }
}

#[test]
fn wechat_retries_are_recognised_by_the_replay_guard() {
    let endpoint = Endpoint::new("t", None);
    let body = "<xml><ToUserName>gh</ToUserName><FromUserName>o1</FromUserName><CreateTime>1700000000</CreateTime><MsgType>text</MsgType><Content>在吗</Content><MsgId>77</MsgId></xml>";
    let mut guard = ReplayGuard::new(300, 10_000);
    let mut seen = Vec::new();
    // The original and WeChat's three retries, each freshly signed.
    for (i, now) in [1_700_000_000, 1_700_000_005, 1_700_000_010, 1_700_000_015]
        .into_iter()
        .enumerate()
    {
        let q = plain_query("t", &now.to_string(), &i.to_string());
        let opened = endpoint.open(&q, body, now).expect("open");
        seen.push(guard.check(&opened.message.dedup_key(), now));
    }
    assert_eq!(
        seen,
        vec![Seen::First, Seen::Again, Seen::Again, Seen::Again]
    );
}

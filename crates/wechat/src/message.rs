//! Typed messages from WeChat and the passive replies to them.

use std::collections::BTreeMap;

use crate::WeChatError;
use crate::xml::{cdata, parse_flat};

/// Fields every message has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Common {
    /// The official account (`gh_…`).
    pub to_user: String,
    /// The follower's openid.
    pub from_user: String,
    /// Seconds since the epoch, as WeChat stamped it.
    pub create_time: i64,
    pub msg_id: Option<String>,
}

/// What a follower did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Followed the account; `scene` is the QR code's scene when followed by scanning one.
    Subscribe {
        scene: Option<String>,
    },
    Unsubscribe,
    /// A menu button with a key.
    Click {
        key: String,
    },
    /// A menu link.
    View {
        url: String,
    },
    /// Scanned a parameterised QR code while already following.
    Scan {
        key: String,
    },
    Other {
        name: String,
    },
}

/// A message from WeChat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming {
    Text {
        common: Common,
        content: String,
    },
    /// A voice message; `recognition` is WeChat's own transcript when the
    /// account has speech recognition switched on.
    Voice {
        common: Common,
        media_id: String,
        format: Option<String>,
        recognition: Option<String>,
    },
    Image {
        common: Common,
        media_id: String,
        pic_url: Option<String>,
    },
    Event {
        common: Common,
        event: Event,
    },
    /// Types the robot does not handle (video, location, link, …).
    Other {
        common: Common,
        msg_type: String,
    },
}

fn take(f: &mut BTreeMap<String, String>, key: &'static str) -> Result<String, WeChatError> {
    f.remove(key).ok_or(WeChatError::MissingField(key))
}

fn non_empty(v: Option<String>) -> Option<String> {
    v.filter(|s| !s.trim().is_empty())
}

/// Parses a decrypted (or plain) message body.
pub fn parse(body: &str) -> Result<Incoming, WeChatError> {
    let mut f = parse_flat(body)?;
    let common = Common {
        to_user: take(&mut f, "ToUserName")?,
        from_user: take(&mut f, "FromUserName")?,
        create_time: take(&mut f, "CreateTime")?
            .trim()
            .parse()
            .map_err(|_| WeChatError::Xml("CreateTime is not a number".into()))?,
        msg_id: non_empty(f.remove("MsgId")),
    };
    let msg_type = take(&mut f, "MsgType")?;
    Ok(match msg_type.as_str() {
        "text" => Incoming::Text {
            common,
            content: take(&mut f, "Content")?,
        },
        "voice" => Incoming::Voice {
            common,
            media_id: take(&mut f, "MediaId")?,
            format: non_empty(f.remove("Format")),
            recognition: non_empty(f.remove("Recognition")),
        },
        "image" => Incoming::Image {
            common,
            media_id: take(&mut f, "MediaId")?,
            pic_url: non_empty(f.remove("PicUrl")),
        },
        "event" => {
            let name = take(&mut f, "Event")?;
            let key = non_empty(f.remove("EventKey"));
            let event = match name.to_ascii_lowercase().as_str() {
                // A scan-to-follow carries the scene as `qrscene_<scene>`.
                "subscribe" => Event::Subscribe {
                    scene: key.map(|k| k.trim_start_matches("qrscene_").to_string()),
                },
                "unsubscribe" => Event::Unsubscribe,
                "click" => Event::Click {
                    key: key.unwrap_or_default(),
                },
                "view" => Event::View {
                    url: key.unwrap_or_default(),
                },
                "scan" => Event::Scan {
                    key: key.unwrap_or_default(),
                },
                _ => Event::Other { name },
            };
            Incoming::Event { common, event }
        }
        _ => Incoming::Other { common, msg_type },
    })
}

impl Incoming {
    pub fn common(&self) -> &Common {
        match self {
            Incoming::Text { common, .. }
            | Incoming::Voice { common, .. }
            | Incoming::Image { common, .. }
            | Incoming::Event { common, .. }
            | Incoming::Other { common, .. } => common,
        }
    }

    /// What the follower said, for the conversation core: the text, or
    /// WeChat's transcript of a voice message.
    pub fn said(&self) -> Option<&str> {
        match self {
            Incoming::Text { content, .. } => Some(content),
            Incoming::Voice {
                recognition: Some(r),
                ..
            } => Some(r),
            _ => None,
        }
    }

    /// Identifies a delivery across WeChat's retries: the MsgId, or for
    /// events (which have none) the sender and time.
    pub fn dedup_key(&self) -> String {
        let c = self.common();
        match &c.msg_id {
            Some(id) => format!("msg:{id}"),
            None => format!("evt:{}:{}", c.from_user, c.create_time),
        }
    }
}

/// A passive reply, answered in the HTTP response within WeChat's 5 seconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// Nothing to say now (answer later through the customer-service API).
    Nothing,
    Text(String),
}

/// What WeChat expects when there is no passive reply.
pub const NO_REPLY: &str = "success";

impl Reply {
    /// The reply XML to `to` (the message received), stamped `now_s`.
    pub fn render(&self, to: &Incoming, now_s: i64) -> String {
        let c = to.common();
        match self {
            Reply::Nothing => NO_REPLY.to_string(),
            Reply::Text(content) => format!(
                "<xml><ToUserName>{}</ToUserName><FromUserName>{}</FromUserName><CreateTime>{now_s}</CreateTime><MsgType><![CDATA[text]]></MsgType><Content>{}</Content></xml>",
                cdata(&c.from_user),
                cdata(&c.to_user),
                cdata(content)
            ),
        }
    }
}

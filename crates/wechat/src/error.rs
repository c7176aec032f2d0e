//! What can be wrong with a request from (or claiming to be from) WeChat.

/// Every refusal, worded for the operator reading the log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WeChatError {
    #[error("signature does not match: the request is not from WeChat, or the token is wrong")]
    BadSignature,
    #[error("missing query parameter `{0}`")]
    MissingParameter(&'static str),
    #[error(
        "EncodingAESKey must be 43 characters of base64 (it is {0}); copy it again from the WeChat admin page"
    )]
    BadAesKey(usize),
    #[error("encrypted payload is not base64")]
    NotBase64,
    #[error("encrypted payload cannot be decrypted: {0}")]
    Decrypt(&'static str),
    #[error("message was encrypted for app id `{found}`, not this account's `{expected}`")]
    WrongAppId { expected: String, found: String },
    #[error("body is not a WeChat XML message: {0}")]
    Xml(String),
    #[error("body is too large ({0} bytes)")]
    TooLarge(usize),
    #[error("request timestamp is {0} s away from now: refused as a possible replay")]
    Stale(i64),
    #[error("message lacks field `{0}`")]
    MissingField(&'static str),
}

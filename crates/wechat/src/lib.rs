//! The WeChat Official Account (公众号) server-mode protocol, sans-IO.
//!
//! WeChat calls a company's server with signed requests: a GET to verify the
//! URL, and POSTs carrying XML messages (text, voice with WeChat's own
//! recognition, menu clicks, subscriptions), either in plain text or, in
//! "safe mode", AES-encrypted. The server has 5 seconds to answer with a
//! passive XML reply; slower or multi-part answers go through the
//! customer-service message API instead.
//!
//! This crate is the protocol and nothing else: it is fed query parameters
//! and bodies and returns parsed messages or bytes to send. No sockets, no
//! clock (callers pass the time), no randomness (callers pass the 16 random
//! bytes safe mode needs), so every path is tested by feeding it WeChat's own
//! published vectors. The server crate binds it to HTTP.
//!
//! * [`signature`]: the SHA-1 request signatures.
//! * [`crypto`]: safe-mode AES-256-CBC with WeChat's 32-byte PKCS#7 padding.
//! * [`xml`]: a small, hardened reader for WeChat's flat XML (no DOCTYPE, size-bounded).
//! * [`message`]: typed incoming messages and passive replies.
//! * [`endpoint`]: one account's endpoint: verify, open, seal.
//! * [`replay`]: dropping WeChat's retries and replayed requests.
//! * [`api`]: customer-service messages and access-token bookkeeping.

pub mod api;
pub mod crypto;
pub mod endpoint;
pub mod error;
pub mod message;
pub mod replay;
pub mod signature;
pub mod xml;

pub use endpoint::{Endpoint, Query};
pub use error::WeChatError;
pub use message::{Event, Incoming, Reply};

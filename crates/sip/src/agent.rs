//! The user agent: UDP and TCP transports, stateless answers (OPTIONS, 400,
//! 481, 501, ...), one task per dialog (inbound and outbound INVITE sessions),
//! client transactions with RFC 3261 retransmission timers, digest auth.
//!
//! The application sees an [`IncomingCall`] per inbound INVITE (accept it with
//! an SDP answer, or reject it with a code) and gets a [`CallLeg`] for every
//! established call: a stream of [`CallEvent`]s (hang-up, DTMF by INFO, new
//! remote media) and commands (hang up, blind transfer).
//!
//! Invariants: nothing a peer sends can panic or block the agent — each
//! datagram or TCP frame is parsed on its own; a message that fails to parse
//! gets the response the parser names (400/505) when it identifies a request,
//! and is dropped otherwise. Dialog tasks own their state; the shared tables
//! are only maps from Call-ID / branch to channels.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::{mpsc, oneshot};
use tokio::time::{Instant, sleep, timeout};

use crate::digest::Challenge;
use crate::message::{
    self, Message, StartLine, frame_stream, param, reason_phrase, uri_of, user_of,
};
use crate::sdp::{self, MediaDescription};
use crate::tls::{Tls, TlsConfig};

/// RFC 3261 timer T1.
const T1: Duration = Duration::from_millis(500);
/// RFC 3261 timer T2.
const T2: Duration = Duration::from_secs(4);
/// 64·T1: how long a transaction waits for an answer.
const TIMER_B: Duration = Duration::from_secs(32);
/// Smallest session interval we accept (RFC 4028 Min-SE default).
const MIN_SE: u32 = 90;

/// Where the agent listens and what it says about itself.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// UDP and TCP listen address.
    pub bind: SocketAddr,
    /// The address written in Via/Contact/SDP when `bind` is a wildcard.
    pub advertise: Option<IpAddr>,
    pub user_agent: String,
    /// Smallest session interval accepted (RFC 4028 Min-SE; 90 s unless testing).
    pub min_session_secs: u32,
    /// Where REGISTER requests go (the application's registrar); `None`:
    /// REGISTER is answered 405.
    pub registrations: Option<mpsc::Sender<crate::registrar::RegisterRequest>>,
    /// SIP over TLS: a listener, and outbound calls to `transport=tls`/`sips:` targets.
    pub tls: Option<TlsConfig>,
}

impl AgentConfig {
    pub fn new(bind: SocketAddr) -> Self {
        Self {
            bind,
            advertise: None,
            user_agent: format!("tonghua/{}", env!("CARGO_PKG_VERSION")),
            min_session_secs: MIN_SE,
            registrations: None,
            tls: None,
        }
    }
}

/// How a message reached us and how to answer it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Peer {
    Udp(SocketAddr),
    Tcp(SocketAddr),
    Tls(SocketAddr),
}

impl Peer {
    pub fn addr(self) -> SocketAddr {
        match self {
            Peer::Udp(a) | Peer::Tcp(a) | Peer::Tls(a) => a,
        }
    }
    fn transport(self) -> &'static str {
        match self {
            Peer::Udp(_) => "UDP",
            Peer::Tcp(_) => "TCP",
            Peer::Tls(_) => "TLS",
        }
    }
}

/// Counters for logs, metrics and tests.
#[derive(Debug, Default)]
pub struct AgentStats {
    pub received: AtomicU64,
    pub malformed_answered: AtomicU64,
    pub malformed_dropped: AtomicU64,
}

/// Why a call ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HangupCause {
    /// The peer sent BYE.
    RemoteBye,
    /// We sent BYE.
    LocalBye,
    /// The caller cancelled before we answered.
    Cancelled,
    /// Our 200 OK was never acknowledged.
    AckTimeout,
    /// The transport failed (TCP connection closed).
    TransportClosed,
    /// The peer transferred away (REFER accepted) and we left.
    Transferred,
    /// The peer did not refresh the session in time (RFC 4028).
    SessionExpired,
    /// The caller required 100rel but never acknowledged our reliable 183 (RFC 3262).
    PrackTimeout,
}

impl HangupCause {
    pub fn as_str(&self) -> &'static str {
        match self {
            HangupCause::RemoteBye => "remote_bye",
            HangupCause::LocalBye => "local_bye",
            HangupCause::Cancelled => "cancelled",
            HangupCause::AckTimeout => "ack_timeout",
            HangupCause::TransportClosed => "transport_closed",
            HangupCause::Transferred => "transferred",
            HangupCause::SessionExpired => "session_expired",
            HangupCause::PrackTimeout => "prack_timeout",
        }
    }
}

/// What happens on an established call, for the media/conversation side.
#[derive(Debug, Clone, PartialEq)]
pub enum CallEvent {
    /// The dialog ended; no more events follow.
    Ended(HangupCause),
    /// A key press sent as SIP INFO (application/dtmf-relay).
    Dtmf(char),
    /// A re-INVITE/UPDATE brought new remote media (hold, new address).
    RemoteMedia(MediaDescription),
    /// The answer to our blind transfer (REFER): accepted or refused with a code.
    TransferResult { accepted: bool, code: u16 },
}

#[derive(Debug)]
enum Control {
    Hangup,
    Transfer(String),
}

/// One established call (either direction).
#[derive(Debug)]
pub struct CallLeg {
    pub call_id: String,
    /// The remote party (From of an inbound call, the callee of an outbound one).
    pub remote_uri: String,
    /// The dialled user (Request-URI user of an inbound call).
    pub local_user: String,
    pub remote_media: MediaDescription,
    pub events: mpsc::UnboundedReceiver<CallEvent>,
    control: mpsc::UnboundedSender<Control>,
}

impl CallLeg {
    /// Sends BYE (the dialog reports `Ended(LocalBye)`).
    pub fn hangup(&self) {
        let _ = self.control.send(Control::Hangup);
    }

    /// Blind transfer: REFER the peer to `target` (a SIP URI); the result
    /// arrives as [`CallEvent::TransferResult`], after which we hang up.
    pub fn transfer(&self, target: &str) {
        let _ = self.control.send(Control::Transfer(target.to_string()));
    }

    /// A handle that can hang up or transfer from another task.
    pub fn controller(&self) -> CallController {
        CallController(self.control.clone())
    }
}

/// Hang up or transfer a call from elsewhere.
#[derive(Debug, Clone)]
pub struct CallController(mpsc::UnboundedSender<Control>);

impl CallController {
    pub fn hangup(&self) {
        let _ = self.0.send(Control::Hangup);
    }
    pub fn transfer(&self, target: &str) {
        let _ = self.0.send(Control::Transfer(target.to_string()));
    }
}

enum Decision {
    Accept {
        sdp: Vec<u8>,
        events: mpsc::UnboundedSender<CallEvent>,
        control: mpsc::UnboundedReceiver<Control>,
    },
    Reject(u16),
}

/// An inbound INVITE waiting for the application's decision.
#[derive(Debug)]
pub struct IncomingCall {
    pub call_id: String,
    /// The caller (From URI).
    pub from: String,
    /// The dialled number/user (Request-URI user, else To user).
    pub dialled: String,
    pub offer: MediaDescription,
    pub source: Peer,
    decide: oneshot::Sender<Decision>,
}

impl std::fmt::Debug for Decision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Decision::Accept { .. } => f.write_str("Accept"),
            Decision::Reject(c) => write!(f, "Reject({c})"),
        }
    }
}

impl IncomingCall {
    /// Answers with 200 OK carrying `sdp` (our answer).
    pub fn accept(self, sdp: Vec<u8>) -> CallLeg {
        let (etx, erx) = mpsc::unbounded_channel();
        let (ctx, crx) = mpsc::unbounded_channel();
        let _ = self.decide.send(Decision::Accept {
            sdp,
            events: etx,
            control: crx,
        });
        CallLeg {
            call_id: self.call_id,
            remote_uri: self.from,
            local_user: self.dialled,
            remote_media: self.offer,
            events: erx,
            control: ctx,
        }
    }

    /// Refuses with a final response (404, 486, 488, 503, ...).
    pub fn reject(self, code: u16) {
        let _ = self.decide.send(Decision::Reject(code));
    }
}

/// How an outbound call attempt ended before (or instead of) being answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallOutcome {
    Answered,
    Busy,
    NoAnswer,
    Rejected,
    NotFound,
    Unreachable,
    /// Authentication failed (wrong credentials), or other errors.
    Failed,
}

impl CallOutcome {
    /// The outcome a final SIP status means.
    pub fn from_status(code: u16) -> CallOutcome {
        match code {
            200..=299 => CallOutcome::Answered,
            486 | 600 => CallOutcome::Busy,
            408 | 480 | 487 => CallOutcome::NoAnswer,
            404 | 410 | 484 | 604 => CallOutcome::NotFound,
            403 | 603 | 488 | 606 => CallOutcome::Rejected,
            401 | 407 => CallOutcome::Failed,
            500..=599 => CallOutcome::Unreachable,
            _ => CallOutcome::Failed,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            CallOutcome::Answered => "answered",
            CallOutcome::Busy => "busy",
            CallOutcome::NoAnswer => "no_answer",
            CallOutcome::Rejected => "rejected",
            CallOutcome::NotFound => "not_found",
            CallOutcome::Unreachable => "unreachable",
            CallOutcome::Failed => "failed",
        }
    }
}

/// Why an outbound call did not connect.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("call {outcome:?}: {detail}")]
pub struct CallFailure {
    pub outcome: CallOutcome,
    /// The final status, when one arrived.
    pub status: Option<u16>,
    pub detail: String,
}

/// Credentials for digest authentication.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub user: String,
    pub password: String,
}

/// An outbound call request.
#[derive(Debug, Clone)]
pub struct Originate {
    /// Request-URI, e.g. `sip:13800138000@trunk.example.com`.
    pub target: String,
    /// Our identity, e.g. `sip:4001@trunk.example.com`.
    pub from: String,
    /// Where to send the INVITE (outbound proxy / trunk); default: the target's host.
    pub proxy: Option<SocketAddr>,
    pub credentials: Option<Credentials>,
    /// Our SDP offer.
    pub offer: Vec<u8>,
    /// Give up (CANCEL) when not answered within this time.
    pub ring_timeout: Duration,
}

struct Inner {
    config: AgentConfig,
    udp: UdpSocket,
    local: SocketAddr,
    dialogs: Mutex<HashMap<String, mpsc::UnboundedSender<(Message, Peer)>>>,
    clients: Mutex<HashMap<String, mpsc::UnboundedSender<Message>>>,
    /// Open stream connections (TCP and TLS), by peer.
    tcp: Mutex<HashMap<Peer, mpsc::UnboundedSender<Vec<u8>>>>,
    tls: Option<Tls>,
    /// Where the TLS listener is reached (when TLS is configured).
    tls_local: Option<SocketAddr>,
    /// The host name to check in a TLS peer's certificate, by address
    /// (outbound calls to a named host); an address not here is checked by IP.
    tls_names: Mutex<HashMap<SocketAddr, String>>,
    incoming: mpsc::Sender<IncomingCall>,
    stats: AgentStats,
}

/// The running user agent. Cheap to clone.
#[derive(Clone)]
pub struct Agent {
    inner: Arc<Inner>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn random_token() -> String {
    format!("{:016x}", rand::random::<u64>())
}

impl Agent {
    /// Binds UDP and TCP on `config.bind` and starts serving. Inbound calls
    /// arrive on the returned receiver (unanswered ones are rejected with 503
    /// when the receiver is full or gone).
    pub async fn start(
        config: AgentConfig,
    ) -> std::io::Result<(Agent, mpsc::Receiver<IncomingCall>)> {
        // UDP and TCP share the port; with port 0, find one free for both.
        let mut tries = 0;
        let (udp, tcp) = loop {
            let udp = UdpSocket::bind(config.bind).await?;
            let bound = udp.local_addr()?;
            match TcpListener::bind(bound).await {
                Ok(tcp) => break (udp, tcp),
                Err(e) if config.bind.port() == 0 && tries < 20 => {
                    tries += 1;
                    tracing::debug!(error = %e, "TCP port taken; trying another");
                }
                Err(e) => return Err(e),
            }
        };
        let bound = udp.local_addr()?;
        let ip = match (config.advertise, bound.ip()) {
            (Some(ip), _) => ip,
            (None, ip) if ip.is_unspecified() => IpAddr::from([127, 0, 0, 1]),
            (None, ip) => ip,
        };
        let local = SocketAddr::new(ip, bound.port());
        let (tls, tls_listener) = match &config.tls {
            Some(c) => {
                let tls = Tls::load(c)?;
                let listener = TcpListener::bind(c.bind).await?;
                (Some(tls), Some(listener))
            }
            None => (None, None),
        };
        let tls_local = match &tls_listener {
            Some(l) => Some(SocketAddr::new(ip, l.local_addr()?.port())),
            None => None,
        };
        let (tx, rx) = mpsc::channel(1024);
        let agent = Agent {
            inner: Arc::new(Inner {
                config,
                udp,
                local,
                dialogs: Mutex::default(),
                clients: Mutex::default(),
                tcp: Mutex::default(),
                tls,
                tls_local,
                tls_names: Mutex::default(),
                incoming: tx,
                stats: AgentStats::default(),
            }),
        };
        let a = agent.clone();
        tokio::spawn(async move { a.udp_loop().await });
        let a = agent.clone();
        tokio::spawn(async move { a.tcp_accept_loop(tcp).await });
        if let Some(listener) = tls_listener {
            let a = agent.clone();
            tokio::spawn(async move { a.tls_accept_loop(listener).await });
        }
        Ok((agent, rx))
    }

    /// The address peers reach us at (UDP and TCP).
    pub fn local_addr(&self) -> SocketAddr {
        self.inner.local
    }

    /// The address peers reach our TLS listener at, when TLS is configured.
    pub fn tls_addr(&self) -> Option<SocketAddr> {
        self.inner.tls_local
    }

    /// The address to advertise for media.
    pub fn media_ip(&self) -> IpAddr {
        self.inner.local.ip()
    }

    pub fn stats(&self) -> &AgentStats {
        &self.inner.stats
    }

    /// Number of live dialogs.
    pub fn dialog_count(&self) -> usize {
        lock(&self.inner.dialogs).len()
    }

    async fn udp_loop(self) {
        let mut buf = vec![0u8; message::MAX_MESSAGE_BYTES];
        loop {
            let (n, from) = match self.inner.udp.recv_from(&mut buf).await {
                Ok(r) => r,
                Err(e) => {
                    // ICMP port unreachable from a previous send shows up here on Linux.
                    tracing::debug!(error = %e, "udp receive error");
                    continue;
                }
            };
            let data = buf.get(..n).unwrap_or_default();
            if data.iter().all(|b| b.is_ascii_whitespace()) {
                continue; // keep-alive
            }
            self.on_bytes(data, Peer::Udp(from)).await;
        }
    }

    async fn tcp_accept_loop(self, listener: TcpListener) {
        loop {
            match listener.accept().await {
                Ok((stream, from)) => {
                    self.attach(stream, Peer::Tcp(from));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "tcp accept failed");
                    sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }

    async fn tls_accept_loop(self, listener: TcpListener) {
        let Some(tls) = self.inner.tls.clone() else {
            return;
        };
        loop {
            match listener.accept().await {
                Ok((stream, from)) => {
                    let a = self.clone();
                    let acceptor = tls.acceptor.clone();
                    tokio::spawn(async move {
                        // A handshake that fails or stalls costs this task only.
                        match timeout(Duration::from_secs(10), acceptor.accept(stream)).await {
                            Ok(Ok(s)) => {
                                a.attach(s, Peer::Tls(from));
                            }
                            Ok(Err(e)) => {
                                tracing::info!(peer = %from, error = %e, "TLS handshake failed")
                            }
                            Err(_) => tracing::info!(peer = %from, "TLS handshake timed out"),
                        }
                    });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "tls accept failed");
                    sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }

    /// Serves a stream connection (TCP or TLS): registers its writer under
    /// `peer` at once (so a send right after sees it) and reads messages
    /// from it on a task of its own.
    fn attach<S>(&self, stream: S, peer: Peer) -> mpsc::UnboundedSender<Vec<u8>>
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + 'static,
    {
        let (read, mut write) = tokio::io::split(stream);
        let (wtx, mut wrx) = mpsc::unbounded_channel::<Vec<u8>>();
        lock(&self.inner.tcp).insert(peer, wtx.clone());
        let writer = tokio::spawn(async move {
            while let Some(bytes) = wrx.recv().await {
                if write.write_all(&bytes).await.is_err() || write.flush().await.is_err() {
                    break;
                }
            }
        });
        tokio::spawn(self.clone().read_stream(Box::new(read), peer, writer));
        wtx
    }

    // Boxed: the reading task and the senders refer to each other.
    fn read_stream(
        self,
        mut read: Box<dyn tokio::io::AsyncRead + Send + Unpin>,
        peer: Peer,
        writer: tokio::task::JoinHandle<()>,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> {
        Box::pin(async move {
            let from = peer.addr();
            let mut buf: Vec<u8> = Vec::new();
            let mut chunk = vec![0u8; 16 * 1024];
            'conn: loop {
                // An idle connection with a half message is closed after a while.
                let n = match timeout(Duration::from_secs(300), read.read(&mut chunk)).await {
                    Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
                    Ok(Ok(n)) => n,
                };
                buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
                loop {
                    match frame_stream(&buf) {
                        Ok(Some((start, end))) => {
                            let msg: Vec<u8> = buf.get(start..end).unwrap_or_default().to_vec();
                            buf.drain(..end.min(buf.len()));
                            self.on_bytes(&msg, peer).await;
                        }
                        Ok(None) => break,
                        Err(e) => {
                            // Cannot find message boundaries: answer if possible, then close.
                            tracing::info!(peer = %from, reason = %e.reason, "unframeable stream; closing");
                            self.inner
                                .stats
                                .malformed_dropped
                                .fetch_add(1, Ordering::Relaxed);
                            break 'conn;
                        }
                    }
                }
            }
            lock(&self.inner.tcp).remove(&peer);
            writer.abort();
        })
    }

    /// Sends raw bytes to a peer over its transport.
    async fn send_bytes(&self, bytes: &[u8], to: Peer) {
        match to {
            Peer::Udp(addr) => {
                if let Err(e) = self.inner.udp.send_to(bytes, addr).await {
                    tracing::debug!(error = %e, %addr, "udp send failed");
                }
            }
            Peer::Tcp(addr) | Peer::Tls(addr) => {
                let conn = lock(&self.inner.tcp).get(&to).cloned();
                let conn = match conn {
                    Some(c) => Some(c),
                    // Open a connection for requests towards a stream peer.
                    None => self.connect(to).await,
                };
                match conn {
                    Some(c) => {
                        let _ = c.send(bytes.to_vec());
                    }
                    None => tracing::info!(%addr, transport = to.transport(), "cannot connect"),
                }
            }
        }
    }

    /// Opens a TCP or TLS connection to `to` and serves it.
    async fn connect(&self, to: Peer) -> Option<mpsc::UnboundedSender<Vec<u8>>> {
        let addr = to.addr();
        let stream = match timeout(Duration::from_secs(5), TcpStream::connect(addr)).await {
            Ok(Ok(s)) => s,
            _ => return None,
        };
        match to {
            Peer::Tls(_) => {
                let tls = self.inner.tls.as_ref()?;
                let name = lock(&self.inner.tls_names)
                    .get(&addr)
                    .cloned()
                    .unwrap_or_else(|| addr.ip().to_string());
                let server_name = rustls::pki_types::ServerName::try_from(name).ok()?;
                match timeout(
                    Duration::from_secs(10),
                    tls.connector.connect(server_name, stream),
                )
                .await
                {
                    Ok(Ok(s)) => Some(self.attach(s, to)),
                    Ok(Err(e)) => {
                        tracing::info!(%addr, error = %e, "TLS handshake failed");
                        None
                    }
                    Err(_) => None,
                }
            }
            _ => Some(self.attach(stream, to)),
        }
    }

    async fn send(&self, msg: &Message, to: Peer) {
        self.send_bytes(&msg.to_bytes(), to).await;
    }

    async fn respond(&self, req: &Message, code: u16, to: Peer, to_tag: Option<&str>) {
        let mut r = req.response(code, reason_phrase(code), to_tag);
        r.push("Server", self.inner.config.user_agent.clone());
        if code == 405 || code == 501 || (req.method() == Some("OPTIONS") && code == 200) {
            r.push("Allow", ALLOW);
        }
        if req.method() == Some("OPTIONS") && code == 200 {
            r.push("Accept", "application/sdp");
            r.push("Supported", "timer, 100rel");
        }
        self.send(&r, to).await;
    }

    /// Handles one message from the wire: the single entry point for peer input.
    pub(crate) async fn on_bytes(&self, data: &[u8], from: Peer) {
        self.inner.stats.received.fetch_add(1, Ordering::Relaxed);
        let msg = match message::parse(data) {
            Ok(m) => m,
            Err(e) => {
                match e.partial {
                    // Never answer an ACK (it has no response).
                    Some(req) if req.method() != Some("ACK") => {
                        tracing::info!(peer = %from.addr(), code = e.code, reason = %e.reason, "malformed request answered");
                        self.inner
                            .stats
                            .malformed_answered
                            .fetch_add(1, Ordering::Relaxed);
                        let mut r = req.response(e.code, reason_phrase(e.code), None);
                        r.push(
                            "Warning",
                            format!("399 tonghua \"{}\"", e.reason.replace('"', "'")),
                        );
                        self.send(&r, from).await;
                    }
                    _ => {
                        tracing::debug!(peer = %from.addr(), reason = %e.reason, "malformed message dropped");
                        self.inner
                            .stats
                            .malformed_dropped
                            .fetch_add(1, Ordering::Relaxed);
                    }
                }
                return;
            }
        };
        match &msg.start {
            StartLine::Response { .. } => {
                let branch = msg.branch().unwrap_or_default();
                let tx = lock(&self.inner.clients).get(&branch).cloned();
                if let Some(tx) = tx {
                    let _ = tx.send(msg);
                } else if msg.cseq().is_some_and(|(_, m)| m == "INVITE")
                    && msg.code().is_some_and(|c| (200..300).contains(&c))
                {
                    // A retransmitted 200 to our INVITE: the dialog re-sends its ACK.
                    let d = lock(&self.inner.dialogs).get(msg.call_id()).cloned();
                    if let Some(d) = d {
                        let _ = d.send((msg, from));
                    }
                }
            }
            StartLine::Request { method, uri } => {
                let method = method.clone();
                let uri = uri.clone();
                self.on_request(msg, &method, &uri, from).await;
            }
        }
    }

    async fn on_request(&self, msg: Message, method: &str, uri: &str, from: Peer) {
        let existing = lock(&self.inner.dialogs).get(msg.call_id()).cloned();
        if let Some(d) = existing {
            if d.send((msg.clone(), from)).is_ok() {
                return;
            }
            lock(&self.inner.dialogs).remove(msg.call_id());
        }
        let known_scheme = |u: &str| {
            ["sip:", "sips:", "tel:"]
                .iter()
                .any(|s| u.to_ascii_lowercase().starts_with(s))
        };
        let scheme_ok = known_scheme(uri)
            && ["To", "From"]
                .iter()
                .all(|h| known_scheme(&uri_of(msg.header(h).unwrap_or_default())));
        let unsupported = unsupported_extensions(&msg);
        match method {
            "ACK" => {} // for a dialog we no longer know: nothing to do
            _ if !scheme_ok => self.respond(&msg, 416, from, None).await,
            "CANCEL" => self.respond(&msg, 481, from, None).await,
            _ if !unsupported.is_empty() => {
                let mut r = msg.response(420, reason_phrase(420), None);
                r.push("Unsupported", unsupported.join(", "));
                self.send(&r, from).await;
            }
            "OPTIONS" => self.respond(&msg, 200, from, Some(&random_token())).await,
            "INVITE" if msg.tag("To").is_some() => self.respond(&msg, 481, from, None).await,
            "INVITE" => self.new_inbound(msg, from).await,
            "BYE" | "UPDATE" | "PRACK" | "INFO" | "REFER" | "NOTIFY" => {
                self.respond(&msg, 481, from, None).await
            }
            "REGISTER" if self.inner.config.registrations.is_some() => {
                self.on_register(msg, from).await
            }
            "REGISTER" | "SUBSCRIBE" | "PUBLISH" | "MESSAGE" => {
                self.respond(&msg, 405, from, None).await
            }
            _ => self.respond(&msg, 501, from, None).await,
        }
    }

    /// Hands a REGISTER to the application's registrar and sends its answer
    /// (500 when it does not answer in time, 503 when it is overloaded).
    async fn on_register(&self, msg: Message, from: Peer) {
        let Some(tx) = self.inner.config.registrations.clone() else {
            return self.respond(&msg, 405, from, None).await;
        };
        let (reply_tx, reply_rx) = oneshot::channel();
        let request = crate::registrar::RegisterRequest {
            message: msg.clone(),
            source: from,
            reply: reply_tx,
        };
        if tx.try_send(request).is_err() {
            return self.respond(&msg, 503, from, None).await;
        }
        let agent = self.clone();
        tokio::spawn(async move {
            let (code, headers) = match timeout(Duration::from_secs(5), reply_rx).await {
                Ok(Ok(r)) => (r.code, r.headers),
                _ => (500, Vec::new()),
            };
            let tag = (code >= 200).then(random_token);
            let mut r = msg.response(code, reason_phrase(code), tag.as_deref());
            r.push("Server", agent.inner.config.user_agent.clone());
            for (name, value) in headers {
                r.push(&name, value);
            }
            agent.send(&r, from).await;
        });
    }

    async fn new_inbound(&self, invite: Message, from: Peer) {
        if !invite.body.is_empty() {
            let ct = invite
                .header("Content-Type")
                .unwrap_or_default()
                .to_ascii_lowercase();
            if !ct.starts_with("application/sdp") {
                let mut r = invite.response(415, reason_phrase(415), None);
                r.push("Accept", "application/sdp");
                self.send(&r, from).await;
                return;
            }
        }
        if let Some(accept) = invite.header("Accept") {
            let ok = accept.split(',').any(|t| {
                let t = t
                    .split(';')
                    .next()
                    .unwrap_or_default()
                    .trim()
                    .to_ascii_lowercase();
                t == "application/sdp" || t == "application/*" || t == "*/*"
            });
            if !ok {
                let mut r = invite.response(406, reason_phrase(406), None);
                r.push("Accept", "application/sdp");
                self.send(&r, from).await;
                return;
            }
        }
        if let Some(se) = invite.header("Session-Expires") {
            let n: u32 = se
                .split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .parse()
                .unwrap_or(0);
            let min = self.inner.config.min_session_secs;
            if n < min {
                let mut r = invite.response(422, reason_phrase(422), None);
                r.push("Min-SE", min.to_string());
                self.send(&r, from).await;
                return;
            }
        }
        if invite
            .header("Max-Forwards")
            .is_some_and(|m| m.trim().parse::<u32>() == Ok(0))
        {
            self.respond(&invite, 483, from, None).await;
            return;
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let call_id = invite.call_id().to_string();
        lock(&self.inner.dialogs).insert(call_id.clone(), tx);
        let agent = self.clone();
        tokio::spawn(async move {
            agent.uas(invite, from, rx).await;
            lock(&agent.inner.dialogs).remove(&call_id);
        });
    }

    /// Where a peer on `transport` reaches us: the TLS listener for TLS.
    fn local_for(&self, transport: &str) -> SocketAddr {
        match (transport, self.inner.tls_local) {
            ("TLS", Some(tls)) => tls,
            _ => self.inner.local,
        }
    }

    fn via(&self, transport: &str, branch: &str) -> String {
        format!(
            "SIP/2.0/{transport} {};branch={branch};rport",
            self.local_for(transport)
        )
    }

    /// Our Contact for a dialog with `peer` (TLS dialogs name the TLS listener).
    fn contact(&self, user: &str, peer: Peer) -> String {
        let local = self.local_for(peer.transport());
        let params = match peer {
            Peer::Tls(_) => ";transport=tls",
            Peer::Tcp(_) => ";transport=tcp",
            Peer::Udp(_) => "",
        };
        if user.is_empty() {
            format!("<sip:{local}{params}>")
        } else {
            format!("<sip:{user}@{local}{params}>")
        }
    }

    /// The inbound INVITE session, from the INVITE to the end of the dialog.
    async fn uas(
        &self,
        invite: Message,
        from: Peer,
        mut rx: mpsc::UnboundedReceiver<(Message, Peer)>,
    ) {
        let local_tag = random_token();
        self.respond(&invite, 100, from, None).await;
        let offer = match sdp::parse(&invite.body) {
            Ok(o) => o,
            Err(e) => {
                tracing::info!(call_id = invite.call_id(), error = %e, "unusable offer");
                self.final_to_invite(&invite, 488, from, &local_tag, &mut rx)
                    .await;
                return;
            }
        };
        if offer.codecs.is_empty() {
            self.final_to_invite(&invite, 488, from, &local_tag, &mut rx)
                .await;
            return;
        }
        let request_uri = match &invite.start {
            StartLine::Request { uri, .. } => uri.clone(),
            StartLine::Response { .. } => String::new(),
        };
        let dialled = user_of(&request_uri)
            .or_else(|| user_of(&uri_of(invite.header("To").unwrap_or_default())))
            .unwrap_or_default();
        let (dtx, drx) = oneshot::channel();
        let incoming = IncomingCall {
            call_id: invite.call_id().to_string(),
            from: uri_of(invite.header("From").unwrap_or_default()),
            dialled: dialled.clone(),
            offer,
            source: from,
            decide: dtx,
        };
        if self.inner.incoming.try_send(incoming).is_err() {
            self.final_to_invite(&invite, 503, from, &local_tag, &mut rx)
                .await;
            return;
        }
        // Wait for the application, while handling CANCEL and retransmissions.
        let mut drx = drx;
        let decision = loop {
            tokio::select! {
                d = &mut drx => break d.unwrap_or(Decision::Reject(500)),
                m = rx.recv() => match m {
                    None => return,
                    Some((m, p)) => match m.method() {
                        Some("CANCEL") => {
                            self.respond(&m, 200, p, Some(&local_tag)).await;
                            self.final_to_invite(&invite, 487, from, &local_tag, &mut rx).await;
                            return;
                        }
                        Some("INVITE") => self.respond(&m, 100, p, None).await,
                        Some(_) => self.respond(&m, 481, p, None).await,
                        None => {}
                    },
                },
                _ = sleep(TIMER_B) => {
                    self.final_to_invite(&invite, 480, from, &local_tag, &mut rx).await;
                    return;
                }
            }
        };
        let (answer_sdp, events, control) = match decision {
            Decision::Reject(code) => {
                self.final_to_invite(&invite, code, from, &local_tag, &mut rx)
                    .await;
                return;
            }
            Decision::Accept {
                sdp,
                events,
                control,
            } => (sdp, events, control),
        };
        // RFC 3262: a caller that requires 100rel gets the answer in a reliable
        // 183 first, and the 2xx only after that 183 is PRACKed (a reliable
        // provisional response carrying an answer must be acknowledged before
        // the 2xx, §3). Callers that merely support it get no 18x from us (we
        // play no early media), so nothing needs to be reliable for them.
        let answered_early = invite.lists("Require", "100rel");
        if answered_early {
            match self
                .reliable_183(&invite, from, &local_tag, &dialled, &answer_sdp, &mut rx)
                .await
            {
                Ok(()) => {}
                Err(cause) => {
                    let _ = events.send(CallEvent::Ended(cause));
                    return;
                }
            }
        }
        let mut ok = invite.response(200, "OK", Some(&local_tag));
        ok.push("Contact", self.contact(&dialled, from));
        ok.push("Server", self.inner.config.user_agent.clone());
        ok.push("Allow", ALLOW);
        ok.push("Supported", "timer, 100rel");
        if let Some(se) = invite.header("Session-Expires") {
            let n = se.split(';').next().unwrap_or_default().trim().to_string();
            ok.push("Session-Expires", format!("{n};refresher=uac"));
            if invite.lists("Supported", "timer") || invite.lists("Require", "timer") {
                ok.push("Require", "timer");
            }
        }
        if !answered_early {
            // After a reliable answer the 2xx carries no second one (RFC 6337 §3.1).
            ok.push("Content-Type", "application/sdp");
            ok.body = answer_sdp.clone();
        }
        // The UAS route set is the INVITE's Record-Route in order (RFC 3261 §12.1.1).
        let uas_route = record_route(&invite);
        let next_hop = self.route_next_hop(&uas_route, from).await;
        let dialog = Dialog {
            call_id: invite.call_id().to_string(),
            local: format!(
                "{};tag={local_tag}",
                invite.header("To").unwrap_or_default()
            ),
            remote: invite.header("From").unwrap_or_default().to_string(),
            remote_target: invite
                .header("Contact")
                .map(uri_of)
                .filter(|u| !u.is_empty())
                .unwrap_or_else(|| uri_of(invite.header("From").unwrap_or_default())),
            route: uas_route,
            cseq: 1,
            peer: from,
            next_hop,
            local_user: dialled,
            sdp: answer_sdp,
            sdp_version: 1,
            session_interval: session_expires(&invite).map(|n| Duration::from_secs(u64::from(n))),
            session_deadline: None,
        };
        // Send 200 until ACK (RFC 3261 §13.3.1.4).
        let bytes = ok.to_bytes();
        self.send_bytes(&bytes, from).await;
        let mut interval = T1;
        let deadline = Instant::now() + TIMER_B;
        let mut next = Instant::now() + interval;
        let acked = loop {
            tokio::select! {
                m = rx.recv() => match m {
                    None => return,
                    Some((m, p)) => match m.method() {
                        Some("ACK") => break true,
                        Some("INVITE") if m.tag("To").is_none() => self.send_bytes(&bytes, p).await,
                        Some("BYE") => {
                            self.respond(&m, 200, p, None).await;
                            let _ = events.send(CallEvent::Ended(HangupCause::RemoteBye));
                            return;
                        }
                        Some("CANCEL") => self.respond(&m, 200, p, None).await,
                        // A retransmitted PRACK of our reliable 183.
                        Some("PRACK") => self.respond(&m, 200, p, None).await,
                        Some(_) => self.respond(&m, 491, p, None).await,
                        None => {}
                    },
                },
                _ = tokio::time::sleep_until(next), if matches!(from, Peer::Udp(_)) => {
                    if Instant::now() >= deadline { break false; }
                    self.send_bytes(&bytes, from).await;
                    interval = (interval * 2).min(T2);
                    next = Instant::now() + interval;
                }
                _ = tokio::time::sleep_until(deadline) => break false,
            }
        };
        let mut dialog = dialog;
        if !acked {
            let _ = self.bye(&mut dialog).await;
            let _ = events.send(CallEvent::Ended(HangupCause::AckTimeout));
            return;
        }
        self.confirmed(dialog, rx, events, control).await;
    }

    /// Sends the SDP answer in a reliable 183 (RSeq 1, `Require: 100rel`),
    /// retransmitted from T1 doubling until its PRACK arrives (RFC 3262 §3);
    /// answers the PRACK with 200. Without a PRACK within 64·T1 the INVITE
    /// is refused with 504; a CANCEL ends it with 487.
    async fn reliable_183(
        &self,
        invite: &Message,
        from: Peer,
        local_tag: &str,
        dialled: &str,
        answer_sdp: &[u8],
        rx: &mut mpsc::UnboundedReceiver<(Message, Peer)>,
    ) -> Result<(), HangupCause> {
        const RSEQ: u32 = 1;
        let invite_cseq = invite.cseq().map(|c| c.0).unwrap_or(1);
        let mut p = invite.response(183, reason_phrase(183), Some(local_tag));
        p.push("Contact", self.contact(dialled, from));
        p.push("Server", self.inner.config.user_agent.clone());
        p.push("Require", "100rel");
        p.push("RSeq", RSEQ.to_string());
        p.push("Allow", ALLOW);
        p.push("Content-Type", "application/sdp");
        p.body = answer_sdp.to_vec();
        let bytes = p.to_bytes();
        self.send_bytes(&bytes, from).await;
        let deadline = Instant::now() + TIMER_B;
        let mut interval = T1;
        let mut next = Instant::now() + interval;
        loop {
            tokio::select! {
                m = rx.recv() => match m {
                    None => return Err(HangupCause::TransportClosed),
                    Some((m, p)) => match m.method() {
                        Some("PRACK") => {
                            if rack_matches(&m, RSEQ, invite_cseq) {
                                self.respond(&m, 200, p, None).await;
                                return Ok(());
                            }
                            // RFC 3262 §3: a PRACK that matches nothing gets 481.
                            self.respond(&m, 481, p, None).await;
                        }
                        Some("INVITE") if m.tag("To").is_none() => self.send_bytes(&bytes, p).await,
                        Some("CANCEL") => {
                            self.respond(&m, 200, p, None).await;
                            self.final_to_invite(invite, 487, from, local_tag, rx).await;
                            return Err(HangupCause::Cancelled);
                        }
                        Some("BYE") => {
                            self.respond(&m, 200, p, None).await;
                            self.final_to_invite(invite, 487, from, local_tag, rx).await;
                            return Err(HangupCause::RemoteBye);
                        }
                        Some("ACK") | None => {}
                        Some(_) => self.respond(&m, 491, p, None).await,
                    },
                },
                _ = tokio::time::sleep_until(next) => {
                    self.send_bytes(&bytes, from).await;
                    interval *= 2;
                    next = Instant::now() + interval;
                }
                _ = tokio::time::sleep_until(deadline) => {
                    tracing::info!(call_id = invite.call_id(), "reliable 183 never PRACKed; refusing the call");
                    self.final_to_invite(invite, 504, from, local_tag, rx).await;
                    return Err(HangupCause::PrackTimeout);
                }
            }
        }
    }

    /// Sends a final non-2xx response and absorbs its ACK (and retransmitted INVITEs).
    async fn final_to_invite(
        &self,
        invite: &Message,
        code: u16,
        from: Peer,
        tag: &str,
        rx: &mut mpsc::UnboundedReceiver<(Message, Peer)>,
    ) {
        let mut r = invite.response(code, reason_phrase(code), Some(tag));
        r.push("Server", self.inner.config.user_agent.clone());
        let bytes = r.to_bytes();
        self.send_bytes(&bytes, from).await;
        let end = Instant::now() + TIMER_B;
        let mut interval = T1;
        loop {
            tokio::select! {
                m = rx.recv() => match m {
                    None => return,
                    Some((m, p)) => match m.method() {
                        Some("ACK") => return,
                        Some("INVITE") => self.send_bytes(&bytes, p).await,
                        Some(_) => self.respond(&m, 481, p, None).await,
                        None => {}
                    },
                },
                _ = sleep(interval), if matches!(from, Peer::Udp(_)) => {
                    self.send_bytes(&bytes, from).await;
                    interval = (interval * 2).min(T2);
                }
                _ = tokio::time::sleep_until(end) => return,
            }
        }
    }

    /// An established dialog (either direction) until it ends.
    async fn confirmed(
        &self,
        mut dialog: Dialog,
        mut rx: mpsc::UnboundedReceiver<(Message, Peer)>,
        events: mpsc::UnboundedSender<CallEvent>,
        mut control: mpsc::UnboundedReceiver<Control>,
    ) {
        dialog.refresh_session();
        loop {
            let deadline = dialog.session_deadline;
            tokio::select! {
                _ = async { match deadline { Some(d) => tokio::time::sleep_until(d).await, None => std::future::pending().await } } => {
                    tracing::info!(call_id = %dialog.call_id, "session not refreshed in time; hanging up");
                    let _ = self.bye(&mut dialog).await;
                    let _ = events.send(CallEvent::Ended(HangupCause::SessionExpired));
                    return;
                }
                m = rx.recv() => {
                    let Some((m, p)) = m else { return };
                    if let Some(cause) = self.in_dialog(&mut dialog, m, p, &events).await {
                        let _ = events.send(CallEvent::Ended(cause));
                        return;
                    }
                }
                c = control.recv() => match c {
                    Some(Control::Hangup) => {
                        let _ = self.bye(&mut dialog).await;
                        let _ = events.send(CallEvent::Ended(HangupCause::LocalBye));
                        return;
                    }
                    Some(Control::Transfer(target)) => {
                        let code = self.refer(&mut dialog, &target).await;
                        let accepted = (200..300).contains(&code);
                        let _ = events.send(CallEvent::TransferResult { accepted, code });
                        if accepted {
                            let _ = self.bye(&mut dialog).await;
                            let _ = events.send(CallEvent::Ended(HangupCause::Transferred));
                            return;
                        }
                    }
                    // The application dropped its handle: hang up.
                    None => {
                        let _ = self.bye(&mut dialog).await;
                        let _ = events.send(CallEvent::Ended(HangupCause::LocalBye));
                        return;
                    }
                },
            }
        }
    }

    /// One request inside a confirmed dialog; `Some(cause)` when it ends the dialog.
    async fn in_dialog(
        &self,
        dialog: &mut Dialog,
        m: Message,
        p: Peer,
        events: &mpsc::UnboundedSender<CallEvent>,
    ) -> Option<HangupCause> {
        match m.method() {
            Some("BYE") => {
                self.respond(&m, 200, p, None).await;
                Some(HangupCause::RemoteBye)
            }
            Some("ACK") | None => None,
            Some("INVITE") | Some("UPDATE") => {
                // Session refresh or new media (hold, re-routing): answer with our SDP.
                if let Some(n) = session_expires(&m) {
                    let n = n.max(self.inner.config.min_session_secs);
                    dialog.session_interval = Some(Duration::from_secs(u64::from(n)));
                }
                dialog.refresh_session();
                if !m.body.is_empty() {
                    match sdp::parse(&m.body) {
                        Ok(media) => {
                            let _ = events.send(CallEvent::RemoteMedia(media));
                        }
                        Err(_) => {
                            self.respond(&m, 488, p, None).await;
                            return None;
                        }
                    }
                }
                dialog.sdp_version += 1;
                let mut ok = m.response(200, "OK", None);
                ok.push("Contact", self.contact(&dialog.local_user, dialog.peer));
                if let Some(se) = m.header("Session-Expires") {
                    let n = se.split(';').next().unwrap_or_default().trim().to_string();
                    ok.push("Session-Expires", format!("{n};refresher=uac"));
                }
                if !m.body.is_empty() || m.method() == Some("INVITE") {
                    ok.push("Content-Type", "application/sdp");
                    ok.body = bump_sdp_version(&dialog.sdp, dialog.sdp_version);
                }
                self.send(&ok, p).await;
                None
            }
            Some("INFO") => {
                self.respond(&m, 200, p, None).await;
                let ct = m
                    .header("Content-Type")
                    .unwrap_or_default()
                    .to_ascii_lowercase();
                if (ct.starts_with("application/dtmf-relay") || ct.starts_with("application/dtmf"))
                    && let Some(d) = info_digit(&m.body)
                {
                    let _ = events.send(CallEvent::Dtmf(d));
                }
                None
            }
            Some("OPTIONS") | Some("PRACK") | Some("NOTIFY") => {
                self.respond(&m, 200, p, None).await;
                None
            }
            Some("CANCEL") => {
                self.respond(&m, 200, p, None).await;
                None
            }
            Some(_) => {
                self.respond(&m, 405, p, None).await;
                None
            }
        }
    }

    /// Where in-dialog requests go (RFC 3261 §12.2.1.1, §8.1.2): the first
    /// route's host and port over the dialog's transport, or `peer` (where the
    /// dialog's messages came from) when the route set is empty or the first
    /// route cannot be resolved.
    async fn route_next_hop(&self, route: &[String], peer: Peer) -> Peer {
        let Some(first) = route.first() else {
            return peer;
        };
        let uri = uri_of(first);
        let default_port = if matches!(peer, Peer::Tls(_)) {
            5061
        } else {
            5060
        };
        let default_port = if crate::tls::wants_tls(&uri) {
            5061
        } else {
            default_port
        };
        match resolve_uri_port(&uri, default_port).await {
            Some(addr) => hop_peer(&uri, addr, peer, self.inner.tls.is_some()),
            None => {
                tracing::info!(route = %uri, "cannot resolve the first route; using the peer");
                peer
            }
        }
    }

    fn in_dialog_request(&self, dialog: &mut Dialog, method: &str) -> (Message, String) {
        dialog.cseq += 1;
        let branch = format!("z9hG4bK{}", random_token());
        let (uri, routes) = dialog.request_target();
        let mut m = Message {
            start: StartLine::Request {
                method: method.to_string(),
                uri,
            },
            headers: Vec::new(),
            body: Vec::new(),
        };
        // The Via names the transport the request leaves on (RFC 3261 §18.1.1).
        m.push("Via", self.via(dialog.next_hop.transport(), &branch));
        for r in routes {
            m.push("Route", r);
        }
        m.push("Max-Forwards", "70");
        m.push("From", dialog.local.clone());
        m.push("To", dialog.remote.clone());
        m.push("Call-ID", dialog.call_id.clone());
        m.push("CSeq", format!("{} {method}", dialog.cseq));
        m.push("Contact", self.contact(&dialog.local_user, dialog.peer));
        m.push("User-Agent", self.inner.config.user_agent.clone());
        (m, branch)
    }

    async fn bye(&self, dialog: &mut Dialog) -> Option<u16> {
        let (m, branch) = self.in_dialog_request(dialog, "BYE");
        self.transact(&m, &branch, dialog.next_hop, false, |_| {})
            .await
            .and_then(|r| r.code())
    }

    async fn refer(&self, dialog: &mut Dialog, target: &str) -> u16 {
        let (mut m, branch) = self.in_dialog_request(dialog, "REFER");
        m.push("Refer-To", format!("<{target}>"));
        m.push(
            "Referred-By",
            dialog
                .local
                .split(';')
                .next()
                .unwrap_or_default()
                .to_string(),
        );
        self.transact(&m, &branch, dialog.next_hop, false, |_| {})
            .await
            .and_then(|r| r.code())
            .unwrap_or(408)
    }

    /// A client transaction: sends `m`, retransmits over UDP (RFC 3261 §17.1),
    /// returns the final response (`None` on timeout). Provisional responses go
    /// to `on_provisional`.
    async fn transact(
        &self,
        m: &Message,
        branch: &str,
        to: Peer,
        invite: bool,
        mut on_provisional: impl FnMut(&Message),
    ) -> Option<Message> {
        let (tx, mut rx) = mpsc::unbounded_channel();
        lock(&self.inner.clients).insert(branch.to_string(), tx);
        let bytes = m.to_bytes();
        self.send_bytes(&bytes, to).await;
        let deadline = Instant::now() + TIMER_B;
        let mut interval = T1;
        let mut next = Instant::now() + interval;
        let mut retransmit = matches!(to, Peer::Udp(_));
        let result = loop {
            tokio::select! {
                r = rx.recv() => match r {
                    None => break None,
                    Some(r) => match r.code() {
                        Some(c) if c < 200 => {
                            on_provisional(&r);
                            if invite { retransmit = false; } else { interval = T2; }
                        }
                        Some(_) => break Some(r),
                        None => {}
                    },
                },
                _ = tokio::time::sleep_until(next), if retransmit => {
                    self.send_bytes(&bytes, to).await;
                    interval = if invite { interval * 2 } else { (interval * 2).min(T2) };
                    next = Instant::now() + interval;
                }
                _ = tokio::time::sleep_until(deadline), if !invite || retransmit => break None,
            }
        };
        lock(&self.inner.clients).remove(branch);
        result
    }

    /// Places an outbound call: INVITE (with digest auth when challenged, once),
    /// CANCEL after `ring_timeout`, ACK; on success a [`CallLeg`].
    pub async fn originate(&self, call: Originate) -> Result<CallLeg, CallFailure> {
        let fail = |outcome, status, detail: &str| CallFailure {
            outcome,
            status,
            detail: detail.to_string(),
        };
        let tls = crate::tls::wants_tls(&call.target);
        if tls && self.inner.tls.is_none() {
            return Err(fail(
                CallOutcome::Failed,
                None,
                "the target asks for TLS but SIP over TLS is not configured",
            ));
        }
        let dest = match call.proxy {
            Some(p) => p,
            None => {
                let default_port = if tls { 5061 } else { 5060 };
                let dest = resolve_uri_port(&call.target, default_port)
                    .await
                    .ok_or_else(|| {
                        fail(
                            CallOutcome::Unreachable,
                            None,
                            "cannot resolve the target host",
                        )
                    })?;
                if tls
                    && let Some((host, _)) = message::host_port_of(&call.target)
                    && host.parse::<IpAddr>().is_err()
                {
                    // Check the certificate against the name we dialled.
                    lock(&self.inner.tls_names).insert(dest, host);
                }
                dest
            }
        };
        let peer = if tls {
            Peer::Tls(dest)
        } else if wants_tcp(&call.target) {
            Peer::Tcp(dest)
        } else {
            Peer::Udp(dest)
        };
        let call_id = format!("{}@tonghua", random_token());
        let local_tag = random_token();
        let from_user = user_of(&call.from).unwrap_or_default();
        let mut cseq = 1u32;
        let mut auth: Option<(String, String)> = None;
        let mut attempts = 0;
        let (dtx, drx) = mpsc::unbounded_channel();
        lock(&self.inner.dialogs).insert(call_id.clone(), dtx);
        let result = loop {
            attempts += 1;
            let branch = format!("z9hG4bK{}", random_token());
            let mut inv = Message {
                start: StartLine::Request {
                    method: "INVITE".into(),
                    uri: call.target.clone(),
                },
                headers: Vec::new(),
                body: call.offer.clone(),
            };
            inv.push("Via", self.via(peer.transport(), &branch));
            inv.push("Max-Forwards", "70");
            inv.push("From", format!("<{}>;tag={local_tag}", call.from));
            inv.push("To", format!("<{}>", call.target));
            inv.push("Call-ID", call_id.clone());
            inv.push("CSeq", format!("{cseq} INVITE"));
            inv.push("Contact", self.contact(&from_user, peer));
            inv.push("User-Agent", self.inner.config.user_agent.clone());
            inv.push("Allow", ALLOW);
            inv.push("Supported", "timer, 100rel");
            if let Some((name, value)) = &auth {
                inv.push(name, value.clone());
            }
            inv.push("Content-Type", "application/sdp");
            let ring_deadline = Instant::now() + call.ring_timeout;
            let mut early = EarlyDialog {
                local: format!("<{}>;tag={local_tag}", call.from),
                local_user: from_user.clone(),
                invite_cseq: cseq,
                last_cseq: cseq,
                last_rseq: None,
            };
            let outcome = self
                .invite_transaction(&inv, &branch, peer, ring_deadline, &mut early)
                .await;
            // PRACKs took CSeq numbers of this dialog: later requests go above them.
            let prack_cseq = early.last_cseq;
            match outcome {
                InviteResult::Final(r) => {
                    let code = r.code().unwrap_or(500);
                    if (200..300).contains(&code) {
                        break Ok((r, prack_cseq));
                    }
                    if (code == 401 || code == 407) && attempts == 1 {
                        let header = if code == 401 {
                            "WWW-Authenticate"
                        } else {
                            "Proxy-Authenticate"
                        };
                        let challenge = r.header(header).and_then(Challenge::parse);
                        match (&call.credentials, challenge) {
                            (Some(c), Some(ch)) => {
                                let value = ch.authorize(
                                    "INVITE",
                                    &call.target,
                                    &c.user,
                                    &c.password,
                                    &random_token(),
                                );
                                let name = if code == 401 {
                                    "Authorization"
                                } else {
                                    "Proxy-Authorization"
                                };
                                auth = Some((name.to_string(), value));
                                cseq = prack_cseq + 1;
                                continue;
                            }
                            (None, _) => {
                                break Err(fail(
                                    CallOutcome::Failed,
                                    Some(code),
                                    "the trunk demands authentication but no credentials are configured",
                                ));
                            }
                            (_, None) => {
                                break Err(fail(
                                    CallOutcome::Failed,
                                    Some(code),
                                    "unreadable authentication challenge",
                                ));
                            }
                        }
                    }
                    if code == 401 || code == 407 || (code == 403 && auth.is_some()) {
                        break Err(fail(
                            CallOutcome::Failed,
                            Some(code),
                            "authentication failed: the trunk refused the credentials (wrong user or password)",
                        ));
                    }
                    break Err(fail(
                        CallOutcome::from_status(code),
                        Some(code),
                        &format!(
                            "{code} {}",
                            match &r.start {
                                StartLine::Response { reason, .. } => reason.clone(),
                                _ => String::new(),
                            }
                        ),
                    ));
                }
                InviteResult::Timeout { provisional } => {
                    if provisional {
                        self.cancel(&inv, &branch, peer).await;
                        break Err(fail(CallOutcome::NoAnswer, None, "not answered in time"));
                    }
                    break Err(fail(
                        CallOutcome::Unreachable,
                        None,
                        "no response from the trunk",
                    ));
                }
            }
        };
        let (ok, last_cseq) = match result {
            Ok(ok) => ok,
            Err(e) => {
                lock(&self.inner.dialogs).remove(&call_id);
                return Err(e);
            }
        };
        let remote_media = match sdp::parse(&ok.body) {
            Ok(m) => m,
            Err(e) => {
                lock(&self.inner.dialogs).remove(&call_id);
                return Err(fail(
                    CallOutcome::Failed,
                    Some(200),
                    &format!("unusable SDP answer: {e}"),
                ));
            }
        };
        let mut dialog = Dialog {
            call_id: call_id.clone(),
            local: format!("<{}>;tag={local_tag}", call.from),
            remote: ok.header("To").unwrap_or_default().to_string(),
            remote_target: ok
                .header("Contact")
                .map(uri_of)
                .filter(|u| !u.is_empty())
                .unwrap_or_else(|| call.target.clone()),
            route: {
                let mut r = record_route(&ok);
                r.reverse();
                r
            },
            cseq,
            peer,
            next_hop: peer,
            local_user: from_user,
            sdp: call.offer.clone(),
            sdp_version: 1,
            session_interval: None,
            session_deadline: None,
        };
        // ACK for the 2xx is its own transaction; sent to the same next hop.
        dialog.next_hop = self.route_next_hop(&dialog.route, peer).await;
        let ack = self.ack_for(&dialog, cseq);
        self.send(&ack, dialog.next_hop).await;
        dialog.cseq = last_cseq;
        let (etx, erx) = mpsc::unbounded_channel();
        let (ctx, crx) = mpsc::unbounded_channel();
        let agent = self.clone();
        let cid = call_id.clone();
        tokio::spawn(async move {
            let mut drx = drx;
            // Re-ACK retransmitted 200s; everything else is the confirmed dialog.
            agent.confirmed_uac(dialog, ack, &mut drx, etx, crx).await;
            lock(&agent.inner.dialogs).remove(&cid);
        });
        Ok(CallLeg {
            call_id,
            remote_uri: call.target,
            local_user: user_of(&call.from).unwrap_or_default(),
            remote_media,
            events: erx,
            control: ctx,
        })
    }

    async fn confirmed_uac(
        &self,
        dialog: Dialog,
        ack: Message,
        rx: &mut mpsc::UnboundedReceiver<(Message, Peer)>,
        events: mpsc::UnboundedSender<CallEvent>,
        control: mpsc::UnboundedReceiver<Control>,
    ) {
        // Forward requests to the generic loop, answering retransmitted 200s with the ACK.
        let (ftx, frx) = mpsc::unbounded_channel();
        let peer = dialog.next_hop;
        let fwd = async {
            while let Some((m, p)) = rx.recv().await {
                if m.code().is_some() {
                    self.send(&ack, peer).await;
                } else if ftx.send((m, p)).is_err() {
                    break;
                }
            }
        };
        tokio::select! {
            _ = fwd => {}
            _ = self.confirmed(dialog, frx, events, control) => {}
        }
    }

    fn ack_for(&self, dialog: &Dialog, cseq: u32) -> Message {
        let (uri, routes) = dialog.request_target();
        let mut m = Message {
            start: StartLine::Request {
                method: "ACK".into(),
                uri,
            },
            headers: Vec::new(),
            body: Vec::new(),
        };
        m.push(
            "Via",
            self.via(
                dialog.next_hop.transport(),
                &format!("z9hG4bK{}", random_token()),
            ),
        );
        for r in routes {
            m.push("Route", r);
        }
        m.push("Max-Forwards", "70");
        m.push("From", dialog.local.clone());
        m.push("To", dialog.remote.clone());
        m.push("Call-ID", dialog.call_id.clone());
        m.push("CSeq", format!("{cseq} ACK"));
        m
    }

    async fn invite_transaction(
        &self,
        inv: &Message,
        branch: &str,
        peer: Peer,
        ring_deadline: Instant,
        early: &mut EarlyDialog,
    ) -> InviteResult {
        let mut provisional = false;
        let (tx, mut rx) = mpsc::unbounded_channel();
        lock(&self.inner.clients).insert(branch.to_string(), tx);
        let bytes = inv.to_bytes();
        self.send_bytes(&bytes, peer).await;
        let no_answer = Instant::now() + TIMER_B;
        let mut interval = T1;
        let mut next = Instant::now() + interval;
        let result = loop {
            let deadline = if provisional {
                ring_deadline
            } else {
                no_answer.min(ring_deadline)
            };
            tokio::select! {
                r = rx.recv() => match r {
                    None => break InviteResult::Timeout { provisional },
                    Some(r) => match r.code() {
                        Some(c) if c < 200 => {
                            provisional = true;
                            if c > 100 && r.lists("Require", "100rel") {
                                self.prack(&r, inv, peer, early);
                            }
                        }
                        Some(c) => {
                            if c >= 300 {
                                // ACK for a non-2xx final is part of the INVITE transaction.
                                let ack = self.non_2xx_ack(inv, &r);
                                self.send(&ack, peer).await;
                            }
                            break InviteResult::Final(r);
                        }
                        None => {}
                    },
                },
                _ = tokio::time::sleep_until(next), if !provisional && matches!(peer, Peer::Udp(_)) => {
                    self.send_bytes(&bytes, peer).await;
                    interval *= 2;
                    next = Instant::now() + interval;
                }
                _ = tokio::time::sleep_until(deadline) => break InviteResult::Timeout { provisional },
            }
        };
        lock(&self.inner.clients).remove(branch);
        result
    }

    /// Acknowledges a reliable provisional response (RFC 3262 §4): a PRACK in
    /// the early dialog the 18x created, `RAck: <RSeq> <INVITE CSeq> INVITE`,
    /// as its own (retransmitted) transaction. Retransmissions of a 18x already
    /// acknowledged, and 18x without a usable RSeq, are not PRACKed.
    fn prack(&self, provisional: &Message, inv: &Message, peer: Peer, early: &mut EarlyDialog) {
        let Some(rseq) = provisional
            .header("RSeq")
            .and_then(|v| v.trim().parse::<u32>().ok())
        else {
            tracing::info!(
                call_id = provisional.call_id(),
                "reliable provisional response without a usable RSeq; not acknowledged"
            );
            return;
        };
        if early.last_rseq.is_some_and(|last| rseq <= last) {
            return;
        }
        early.last_rseq = Some(rseq);
        early.last_cseq += 1;
        let branch = format!("z9hG4bK{}", random_token());
        let target = provisional
            .header("Contact")
            .map(uri_of)
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| request_uri(inv));
        let mut m = Message {
            start: StartLine::Request {
                method: "PRACK".into(),
                uri: target,
            },
            headers: Vec::new(),
            body: Vec::new(),
        };
        let mut routes = record_route(provisional);
        routes.reverse();
        for r in &routes {
            m.push("Route", r.clone());
        }
        m.push("Max-Forwards", "70");
        m.push("From", early.local.clone());
        m.push(
            "To",
            provisional.header("To").unwrap_or_default().to_string(),
        );
        m.push("Call-ID", provisional.call_id().to_string());
        m.push("CSeq", format!("{} PRACK", early.last_cseq));
        m.push("RAck", format!("{rseq} {} INVITE", early.invite_cseq));
        m.push("Contact", self.contact(&early.local_user, peer));
        m.push("User-Agent", self.inner.config.user_agent.clone());
        let agent = self.clone();
        tokio::spawn(async move {
            // The early dialog's route set decides the next hop, as for BYE.
            let hop = agent.route_next_hop(&routes, peer).await;
            m.headers.insert(
                0,
                message::Header {
                    name: "Via".into(),
                    value: agent.via(hop.transport(), &branch),
                },
            );
            let code = agent
                .transact(&m, &branch, hop, false, |_| {})
                .await
                .and_then(|r| r.code());
            tracing::debug!(call_id = m.call_id(), ?code, "PRACK answered");
        });
    }

    async fn cancel(&self, inv: &Message, branch: &str, peer: Peer) {
        let mut c = Message {
            start: StartLine::Request {
                method: "CANCEL".into(),
                uri: request_uri(inv),
            },
            headers: Vec::new(),
            body: Vec::new(),
        };
        for h in ["Via", "Max-Forwards", "From", "To", "Call-ID", "Route"] {
            if let Some(v) = inv.header(h) {
                c.push(h, v.to_string());
            }
        }
        let n = inv.cseq().map(|c| c.0).unwrap_or(1);
        c.push("CSeq", format!("{n} CANCEL"));
        // CANCEL shares the INVITE's branch: both its 200 and the INVITE's 487
        // arrive here; the 487 is acknowledged (RFC 3261 §9.1, §17.1.1.3).
        let (tx, mut rx) = mpsc::unbounded_channel();
        lock(&self.inner.clients).insert(branch.to_string(), tx);
        let bytes = c.to_bytes();
        self.send_bytes(&bytes, peer).await;
        let deadline = Instant::now() + Duration::from_secs(8);
        let mut interval = T1;
        let mut next = Instant::now() + interval;
        let mut cancel_answered = false;
        loop {
            tokio::select! {
                r = rx.recv() => match r {
                    None => break,
                    Some(r) => {
                        let method = r.cseq().map(|c| c.1).unwrap_or_default();
                        let code = r.code().unwrap_or(0);
                        if method == "CANCEL" && code >= 200 {
                            cancel_answered = true;
                        } else if method == "INVITE" && code >= 300 {
                            let ack = self.non_2xx_ack(inv, &r);
                            self.send(&ack, peer).await;
                            break;
                        } else if method == "INVITE" && (200..300).contains(&code) {
                            tracing::info!(call_id = r.call_id(), "answered while cancelling");
                            break;
                        }
                    }
                },
                _ = tokio::time::sleep_until(next), if !cancel_answered && matches!(peer, Peer::Udp(_)) => {
                    self.send_bytes(&bytes, peer).await;
                    interval = (interval * 2).min(T2);
                    next = Instant::now() + interval;
                }
                _ = tokio::time::sleep_until(deadline) => break,
            }
        }
        lock(&self.inner.clients).remove(branch);
    }

    /// The ACK for a non-2xx final response to `inv` (same branch, To from the response).
    fn non_2xx_ack(&self, inv: &Message, response: &Message) -> Message {
        let mut ack = Message {
            start: StartLine::Request {
                method: "ACK".into(),
                uri: request_uri(inv),
            },
            headers: Vec::new(),
            body: Vec::new(),
        };
        for h in ["Via", "Max-Forwards", "From", "Call-ID", "Route"] {
            if let Some(v) = inv.header(h) {
                ack.push(h, v.to_string());
            }
        }
        ack.push("To", response.header("To").unwrap_or_default().to_string());
        let n = inv.cseq().map(|c| c.0).unwrap_or(1);
        ack.push("CSeq", format!("{n} ACK"));
        ack
    }

    /// Registers `user` at `registrar` (digest auth when challenged); `Ok(expires)`.
    pub async fn register(
        &self,
        registrar: &str,
        proxy: Option<SocketAddr>,
        credentials: &Credentials,
        expires: u32,
    ) -> Result<u32, CallFailure> {
        let fail = |status: Option<u16>, detail: &str| CallFailure {
            outcome: CallOutcome::Failed,
            status,
            detail: detail.to_string(),
        };
        let dest = match proxy {
            Some(p) => p,
            None => resolve_uri(registrar)
                .await
                .ok_or_else(|| fail(None, "cannot resolve the registrar"))?,
        };
        // The registration travels over TCP when the registrar URI asks for it.
        let peer = if wants_tcp(registrar) {
            Peer::Tcp(dest)
        } else {
            Peer::Udp(dest)
        };
        let host = message::host_port_of(registrar)
            .map(|(h, _)| h)
            .unwrap_or_default();
        let aor = format!("sip:{}@{host}", credentials.user);
        let call_id = format!("{}@tonghua", random_token());
        let tag = random_token();
        let mut auth: Option<(String, String)> = None;
        for cseq in 1..=2u32 {
            let branch = format!("z9hG4bK{}", random_token());
            let mut m = Message {
                start: StartLine::Request {
                    method: "REGISTER".into(),
                    uri: registrar.to_string(),
                },
                headers: Vec::new(),
                body: Vec::new(),
            };
            m.push("Via", self.via(peer.transport(), &branch));
            m.push("Max-Forwards", "70");
            m.push("From", format!("<{aor}>;tag={tag}"));
            m.push("To", format!("<{aor}>"));
            m.push("Call-ID", call_id.clone());
            m.push("CSeq", format!("{cseq} REGISTER"));
            m.push("Contact", self.contact(&credentials.user, peer));
            m.push("Expires", expires.to_string());
            if let Some((n, v)) = &auth {
                m.push(n, v.clone());
            }
            let r = self
                .transact(&m, &branch, peer, false, |_| {})
                .await
                .ok_or_else(|| fail(None, "no response from the registrar"))?;
            let code = r.code().unwrap_or(500);
            match code {
                200..=299 => {
                    let granted = r
                        .header("Expires")
                        .and_then(|e| e.parse().ok())
                        .or_else(|| {
                            r.header("Contact")
                                .and_then(|c| param(c, "expires"))
                                .and_then(|e| e.parse().ok())
                        })
                        .unwrap_or(expires);
                    return Ok(granted);
                }
                401 | 407 if cseq == 1 => {
                    let h = if code == 401 {
                        "WWW-Authenticate"
                    } else {
                        "Proxy-Authenticate"
                    };
                    let ch = r
                        .header(h)
                        .and_then(Challenge::parse)
                        .ok_or_else(|| fail(Some(code), "unreadable challenge"))?;
                    let name = if code == 401 {
                        "Authorization"
                    } else {
                        "Proxy-Authorization"
                    };
                    auth = Some((
                        name.into(),
                        ch.authorize(
                            "REGISTER",
                            registrar,
                            &credentials.user,
                            &credentials.password,
                            &random_token(),
                        ),
                    ));
                }
                401 | 407 => {
                    return Err(fail(
                        Some(code),
                        "registration refused: wrong user or password",
                    ));
                }
                _ => {
                    return Err(fail(
                        Some(code),
                        &format!("registration refused with {code}"),
                    ));
                }
            }
        }
        Err(fail(None, "registration failed"))
    }
}

fn request_uri(m: &Message) -> String {
    match &m.start {
        StartLine::Request { uri, .. } => uri.clone(),
        StartLine::Response { .. } => String::new(),
    }
}

/// Whether a PRACK's `RAck: <rseq> <cseq> INVITE` acknowledges our reliable response.
fn rack_matches(prack: &Message, rseq: u32, invite_cseq: u32) -> bool {
    let Some(rack) = prack.header("RAck") else {
        return false;
    };
    let mut f = rack.split_whitespace();
    f.next().and_then(|n| n.parse::<u32>().ok()) == Some(rseq)
        && f.next().and_then(|n| n.parse::<u32>().ok()) == Some(invite_cseq)
        && f.next().is_some_and(|m| m.eq_ignore_ascii_case("INVITE"))
}

/// Extensions a request requires that we do not support (RFC 3261 §8.2.2.3).
fn unsupported_extensions(msg: &Message) -> Vec<String> {
    msg.headers_named("Require")
        .flat_map(|v| v.split(','))
        .map(|o| o.trim().to_string())
        .filter(|o| {
            !o.is_empty() && !["100rel", "timer"].contains(&o.to_ascii_lowercase().as_str())
        })
        .collect()
}

/// What a PRACK needs to know about the early dialog of an outbound INVITE.
struct EarlyDialog {
    /// Our From value, with our tag.
    local: String,
    local_user: String,
    invite_cseq: u32,
    /// The highest CSeq used so far (the INVITE's, then each PRACK's).
    last_cseq: u32,
    /// The RSeq of the last reliable provisional response acknowledged.
    last_rseq: Option<u32>,
}

enum InviteResult {
    Final(Message),
    Timeout { provisional: bool },
}

const ALLOW: &str = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE, PRACK, REFER, NOTIFY";

#[derive(Debug)]
struct Dialog {
    call_id: String,
    /// Our From/To header value, with our tag.
    local: String,
    /// Their From/To header value, with their tag.
    remote: String,
    remote_target: String,
    /// The route set (RFC 3261 §12.1): Record-Route values, in the order our
    /// requests traverse them (reversed from the 2xx on the UAC side).
    route: Vec<String>,
    cseq: u32,
    /// Where the dialog's messages came from (responses go back there).
    peer: Peer,
    /// Where our in-dialog requests go: the first Route's address, or `peer`
    /// when the route set is empty.
    next_hop: Peer,
    local_user: String,
    sdp: Vec<u8>,
    sdp_version: u64,
    /// RFC 4028 session interval the peer refreshes (we answer `refresher=uac`).
    session_interval: Option<Duration>,
    /// When the session expires without a refresh.
    session_deadline: Option<Instant>,
}

impl Dialog {
    /// Request-URI and Route headers of an in-dialog request (RFC 3261
    /// §12.2.1.1): with a loose-routing first hop (`;lr`) the remote target
    /// and the route set as is; with a strict router the first route becomes
    /// the Request-URI and the remote target goes last in the Route set.
    fn request_target(&self) -> (String, Vec<String>) {
        match self.route.first() {
            Some(first) if !is_loose_route(first) => {
                let mut routes: Vec<String> = self.route.iter().skip(1).cloned().collect();
                routes.push(format!("<{}>", self.remote_target));
                (strip_uri_params(&uri_of(first)), routes)
            }
            _ => (self.remote_target.clone(), self.route.clone()),
        }
    }

    /// (Re)starts the session timer: BYE if no refresh arrives before
    /// interval − min(32 s, interval / 3) (RFC 4028 §10).
    fn refresh_session(&mut self) {
        if let Some(i) = self.session_interval {
            let margin = Duration::from_secs(32).min(i / 3);
            self.session_deadline = Some(Instant::now() + i - margin);
        }
    }
}

/// The interval of a `Session-Expires` header, in seconds.
fn session_expires(m: &Message) -> Option<u32> {
    m.header("Session-Expires")?
        .split(';')
        .next()?
        .trim()
        .parse()
        .ok()
}

fn bump_sdp_version(sdp: &[u8], version: u64) -> Vec<u8> {
    let text = String::from_utf8_lossy(sdp);
    text.lines()
        .map(|l| {
            if let Some(rest) = l.strip_prefix("o=") {
                let mut f: Vec<&str> = rest.split(' ').collect();
                let v = version.to_string();
                if f.len() >= 3 {
                    f[2] = &v;
                    return format!("o={}\r\n", f.join(" "));
                }
            }
            format!("{l}\r\n")
        })
        .collect::<String>()
        .into_bytes()
}

/// The digit in an `application/dtmf-relay` INFO body (`Signal=5`).
fn info_digit(body: &[u8]) -> Option<char> {
    let text = std::str::from_utf8(body).ok()?;
    text.lines().find_map(|l| {
        let (k, v) = l.split_once('=')?;
        if !k.trim().eq_ignore_ascii_case("signal") {
            return None;
        }
        let c = v.trim().chars().next()?;
        (c.is_ascii_digit() || "*#ABCD".contains(c)).then_some(c)
    })
}

/// The Record-Route values of `m` in order, one per URI (a header line may
/// carry several, comma-separated).
fn record_route(m: &Message) -> Vec<String> {
    m.headers_named("Record-Route")
        .flat_map(|v| message::split_top_level(v, ','))
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .collect()
}

/// Whether a Route/Record-Route value names a loose router (`;lr` in its URI).
fn is_loose_route(value: &str) -> bool {
    uri_of(value).split(';').skip(1).any(|p| {
        p.trim().eq_ignore_ascii_case("lr") || p.trim().to_ascii_lowercase().starts_with("lr=")
    })
}

/// A strict router's URI as a Request-URI: copied as is (RFC 3261
/// §12.2.1.1), less any header part, which a Request-URI may not carry.
fn strip_uri_params(uri: &str) -> String {
    uri.split('?').next().unwrap_or_default().to_string()
}

/// The transport towards a route's `addr`: the one its URI names
/// (`;transport=udp|tcp|tls`, `sips:`; TLS only when configured), else the
/// dialog's own (`peer`'s).
fn hop_peer(uri: &str, addr: SocketAddr, peer: Peer, tls_configured: bool) -> Peer {
    if crate::tls::wants_tls(uri) && tls_configured {
        return Peer::Tls(addr);
    }
    if wants_tcp(uri) {
        return Peer::Tcp(addr);
    }
    let names_udp = uri
        .split('?')
        .next()
        .unwrap_or_default()
        .split(';')
        .skip(1)
        .any(|p| p.trim().eq_ignore_ascii_case("transport=udp"));
    if names_udp {
        return Peer::Udp(addr);
    }
    match peer {
        Peer::Udp(_) => Peer::Udp(addr),
        Peer::Tcp(_) => Peer::Tcp(addr),
        Peer::Tls(_) => Peer::Tls(addr),
    }
}

/// Whether a SIP URI asks for TCP (`;transport=tcp`, RFC 3261 §19.1.1).
fn wants_tcp(uri: &str) -> bool {
    uri.trim()
        .split(['>', '?'])
        .next()
        .unwrap_or_default()
        .split(';')
        .skip(1)
        .any(|p| p.trim().eq_ignore_ascii_case("transport=tcp"))
}

async fn resolve_uri(uri: &str) -> Option<SocketAddr> {
    resolve_uri_port(uri, 5060).await
}

async fn resolve_uri_port(uri: &str, default_port: u16) -> Option<SocketAddr> {
    let (host, port) = message::host_port_of(uri)?;
    let port = port.unwrap_or(default_port);
    tokio::net::lookup_host((host.as_str(), port))
        .await
        .ok()?
        .next()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_from_status() {
        assert_eq!(CallOutcome::from_status(486), CallOutcome::Busy);
        assert_eq!(CallOutcome::from_status(404), CallOutcome::NotFound);
        assert_eq!(CallOutcome::from_status(480), CallOutcome::NoAnswer);
        assert_eq!(CallOutcome::from_status(603), CallOutcome::Rejected);
        assert_eq!(CallOutcome::from_status(503), CallOutcome::Unreachable);
    }

    #[test]
    fn rack_must_name_our_rseq_and_the_invite() {
        let prack = |rack: &str| {
            message::parse(
                format!("PRACK sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:x@y>;tag=1\r\nTo: <sip:a@b>;tag=2\r\nCall-ID: c\r\nCSeq: 2 PRACK\r\n{rack}Content-Length: 0\r\n\r\n").as_bytes(),
            )
            .expect("parses")
        };
        assert!(rack_matches(&prack("RAck: 1 1 INVITE\r\n"), 1, 1));
        assert!(!rack_matches(&prack("RAck: 2 1 INVITE\r\n"), 1, 1));
        assert!(!rack_matches(&prack("RAck: 1 3 INVITE\r\n"), 1, 1));
        assert!(!rack_matches(&prack("RAck: 1 1 BYE\r\n"), 1, 1));
        assert!(!rack_matches(&prack("RAck: x\r\n"), 1, 1));
        assert!(!rack_matches(&prack(""), 1, 1));
    }

    fn dialog_with_route(route: &[&str]) -> Dialog {
        let peer = Peer::Udp("127.0.0.1:5060".parse().expect("addr"));
        Dialog {
            call_id: "c".into(),
            local: "<sip:a@x>;tag=1".into(),
            remote: "<sip:b@y>;tag=2".into(),
            remote_target: "sip:b@10.0.0.2:5070".into(),
            route: route.iter().map(|r| r.to_string()).collect(),
            cseq: 1,
            peer,
            next_hop: peer,
            local_user: "a".into(),
            sdp: Vec::new(),
            sdp_version: 1,
            session_interval: None,
            session_deadline: None,
        }
    }

    #[test]
    fn loose_and_strict_routing() {
        // No route set: the remote target, no Route headers.
        let d = dialog_with_route(&[]);
        assert_eq!(d.request_target(), ("sip:b@10.0.0.2:5070".into(), vec![]));
        // Loose router first: remote target as Request-URI, routes as they are.
        let d = dialog_with_route(&["<sip:p1.test;lr>", "<sip:p2.test>"]);
        assert_eq!(
            d.request_target(),
            (
                "sip:b@10.0.0.2:5070".into(),
                vec!["<sip:p1.test;lr>".into(), "<sip:p2.test>".into()]
            )
        );
        // Strict router first: it becomes the Request-URI, the remote target goes last.
        let d = dialog_with_route(&["<sip:p1.test;maddr=10.0.0.9>", "<sip:p2.test;lr>"]);
        assert_eq!(
            d.request_target(),
            (
                "sip:p1.test;maddr=10.0.0.9".into(),
                vec!["<sip:p2.test;lr>".into(), "<sip:b@10.0.0.2:5070>".into()]
            )
        );
        assert!(is_loose_route("<sip:p.test;LR>"));
        assert!(is_loose_route("<sip:p.test;lr=on>"));
        assert!(!is_loose_route("<sip:p.test;lrx>"));
        assert!(!is_loose_route("<sip:lr.test>"));
    }

    #[test]
    fn record_route_lines_split_at_commas() {
        let m = message::parse(
            b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nRecord-Route: <sip:a;lr>, <sip:b;lr>\r\nRecord-Route: <sip:c;lr>\r\nFrom: <sip:x@y>;tag=1\r\nTo: <sip:a@b>;tag=2\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n",
        )
        .expect("parses");
        assert_eq!(
            record_route(&m),
            vec!["<sip:a;lr>", "<sip:b;lr>", "<sip:c;lr>"]
        );
    }

    #[test]
    fn a_route_may_name_its_transport() {
        let addr: SocketAddr = "10.0.0.9:5060".parse().expect("addr");
        let udp = Peer::Udp("127.0.0.1:5060".parse().expect("addr"));
        let tcp = Peer::Tcp("127.0.0.1:5060".parse().expect("addr"));
        assert_eq!(hop_peer("sip:p;lr", addr, udp, false), Peer::Udp(addr));
        assert_eq!(hop_peer("sip:p;lr", addr, tcp, false), Peer::Tcp(addr));
        assert_eq!(
            hop_peer("sip:p;transport=tcp;lr", addr, udp, false),
            Peer::Tcp(addr)
        );
        assert_eq!(
            hop_peer("sip:p;transport=UDP;lr", addr, tcp, false),
            Peer::Udp(addr)
        );
        assert_eq!(
            hop_peer("sip:p;transport=tls;lr", addr, udp, true),
            Peer::Tls(addr)
        );
        // Without TLS configured a TLS route cannot be used as such.
        assert_eq!(
            hop_peer("sip:p;transport=tls;lr", addr, udp, false),
            Peer::Udp(addr)
        );
    }

    #[test]
    fn tcp_uris() {
        assert!(wants_tcp("sip:1@10.0.0.1;transport=tcp"));
        assert!(wants_tcp("sip:1@10.0.0.1:5070;lr;Transport=TCP"));
        assert!(!wants_tcp("sip:1@10.0.0.1"));
        assert!(!wants_tcp("sip:1@10.0.0.1;transport=udp"));
        assert!(!wants_tcp("sip:1@10.0.0.1?x=;transport=tcp"));
    }

    #[test]
    fn info_bodies() {
        assert_eq!(info_digit(b"Signal=5\r\nDuration=160\r\n"), Some('5'));
        assert_eq!(info_digit(b"Signal= #\r\n"), Some('#'));
        assert_eq!(info_digit(b"nonsense"), None);
    }
}

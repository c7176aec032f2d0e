//! SIP messages: a strict parser and a plain serializer (sans-IO).
//!
//! The parser accepts what RFC 3261 and the RFC 4475 "well-formed" torture
//! messages allow (folded lines, compact header names, odd whitespace, bare
//! LF line ends) and refuses, with a reason, what a user agent must answer
//! with 400 (missing or contradictory mandatory headers, bad numbers, a body
//! shorter than its Content-Length, ...). It never panics: every index is
//! checked, every number is parsed with overflow checks.

use std::fmt::Write as _;

/// Largest message we read (UDP datagrams are smaller; TCP is framed by this too).
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;
/// Largest number of header lines.
const MAX_HEADERS: usize = 256;

/// One header line (name in its canonical long form, value trimmed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub name: String,
    pub value: String,
}

/// A request line or a status line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartLine {
    Request { method: String, uri: String },
    Response { code: u16, reason: String },
}

/// A parsed SIP message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub start: StartLine,
    pub headers: Vec<Header>,
    pub body: Vec<u8>,
}

/// Why a message was refused, and what to answer (when it is a request whose
/// identifying headers could be read).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code} {reason}")]
pub struct ParseError {
    /// The response code to send: 400, or 505 for another SIP version.
    pub code: u16,
    pub reason: String,
    /// The message as far as it could be read, to build the response from
    /// (`None` when not even a request line was found: drop it).
    pub partial: Option<Box<Message>>,
}

fn bad(reason: impl Into<String>) -> ParseError {
    ParseError {
        code: 400,
        reason: reason.into(),
        partial: None,
    }
}

/// The long form of a compact header name, and canonical capitalisation of
/// the headers we use (so lookups are simple).
fn canonical(name: &str) -> String {
    let lower = name.to_ascii_lowercase();
    let long = match lower.as_str() {
        "i" | "call-id" => "Call-ID",
        "m" | "contact" => "Contact",
        "e" | "content-encoding" => "Content-Encoding",
        "l" | "content-length" => "Content-Length",
        "c" | "content-type" => "Content-Type",
        "f" | "from" => "From",
        "s" | "subject" => "Subject",
        "k" | "supported" => "Supported",
        "t" | "to" => "To",
        "v" | "via" => "Via",
        "o" | "event" => "Event",
        "r" | "refer-to" => "Refer-To",
        "b" | "referred-by" => "Referred-By",
        "u" | "allow-events" => "Allow-Events",
        "x" | "session-expires" => "Session-Expires",
        "cseq" => "CSeq",
        "max-forwards" => "Max-Forwards",
        "require" => "Require",
        "record-route" => "Record-Route",
        "route" => "Route",
        "expires" => "Expires",
        "www-authenticate" => "WWW-Authenticate",
        "proxy-authenticate" => "Proxy-Authenticate",
        "authorization" => "Authorization",
        "proxy-authorization" => "Proxy-Authorization",
        "rseq" => "RSeq",
        "rack" => "RAck",
        "min-se" => "Min-SE",
        "user-agent" => "User-Agent",
        "allow" => "Allow",
        "accept" => "Accept",
        "reason" => "Reason",
        "date" => "Date",
        _ => return name.to_string(),
    };
    long.to_string()
}

fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-.!%*_+`'~".contains(c)
}

fn is_token(s: &str) -> bool {
    !s.is_empty() && s.chars().all(is_token_char)
}

/// Headers that may appear once only (a second copy is a 400).
const SINGLE: &[&str] = &[
    "Call-ID",
    "CSeq",
    "From",
    "To",
    "Max-Forwards",
    "Content-Length",
    "Content-Type",
    "Expires",
];

impl Message {
    /// The first value of a header (case-insensitive name, compact forms understood).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = canonical(name);
        self.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(&name))
            .map(|h| h.value.as_str())
    }

    /// Every value of a header, in order (comma-joined lines are not split).
    pub fn headers_named<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a str> + 'a {
        let name = canonical(name);
        self.headers
            .iter()
            .filter(move |h| h.name.eq_ignore_ascii_case(&name))
            .map(|h| h.value.as_str())
    }

    pub fn method(&self) -> Option<&str> {
        match &self.start {
            StartLine::Request { method, .. } => Some(method),
            StartLine::Response { .. } => None,
        }
    }

    pub fn code(&self) -> Option<u16> {
        match &self.start {
            StartLine::Response { code, .. } => Some(*code),
            StartLine::Request { .. } => None,
        }
    }

    pub fn call_id(&self) -> &str {
        self.header("Call-ID").unwrap_or_default()
    }

    /// CSeq number and method.
    pub fn cseq(&self) -> Option<(u32, String)> {
        parse_cseq(self.header("CSeq")?)
    }

    /// The `branch` parameter of the top Via.
    pub fn branch(&self) -> Option<String> {
        let via = self.header("Via")?;
        let first = split_top_level(via, ',').into_iter().next()?;
        param(&first, "branch")
    }

    /// The `tag` parameter of From or To.
    pub fn tag(&self, header: &str) -> Option<String> {
        param(self.header(header)?, "tag")
    }

    /// Whether a comma-separated option header (Supported, Require) lists `option`.
    pub fn lists(&self, header: &str, option: &str) -> bool {
        self.headers_named(header)
            .flat_map(|v| v.split(','))
            .any(|o| o.trim().eq_ignore_ascii_case(option))
    }

    /// Adds a header at the end.
    pub fn push(&mut self, name: &str, value: impl Into<String>) {
        self.headers.push(Header {
            name: name.to_string(),
            value: value.into(),
        });
    }

    /// Removes every copy of a header.
    pub fn remove(&mut self, name: &str) {
        let name = canonical(name);
        self.headers.retain(|h| !h.name.eq_ignore_ascii_case(&name));
    }

    /// The wire form (Content-Length is written from the body, not trusted from headers).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut s = String::new();
        match &self.start {
            StartLine::Request { method, uri } => {
                let _ = write!(s, "{method} {uri} SIP/2.0\r\n");
            }
            StartLine::Response { code, reason } => {
                let _ = write!(s, "SIP/2.0 {code} {reason}\r\n");
            }
        }
        for h in &self.headers {
            if h.name.eq_ignore_ascii_case("Content-Length") {
                continue;
            }
            let _ = write!(s, "{}: {}\r\n", h.name, h.value);
        }
        let _ = write!(s, "Content-Length: {}\r\n\r\n", self.body.len());
        let mut out = s.into_bytes();
        out.extend_from_slice(&self.body);
        out
    }

    /// A response to this request: Via, From, To (with `to_tag` added when it has
    /// none), Call-ID and CSeq copied, as RFC 3261 §8.2.6 says.
    pub fn response(&self, code: u16, reason: &str, to_tag: Option<&str>) -> Message {
        let mut r = Message {
            start: StartLine::Response {
                code,
                reason: reason.to_string(),
            },
            headers: Vec::new(),
            body: Vec::new(),
        };
        for h in &self.headers {
            match h.name.as_str() {
                "Via" | "From" | "Call-ID" | "CSeq" | "Record-Route" => r.headers.push(h.clone()),
                "To" => {
                    let mut value = h.value.clone();
                    if let Some(tag) = to_tag
                        && param(&value, "tag").is_none()
                        && code != 100
                    {
                        value.push_str(";tag=");
                        value.push_str(tag);
                    }
                    r.headers.push(Header {
                        name: "To".into(),
                        value,
                    });
                }
                _ => {}
            }
        }
        r
    }
}

/// Reason phrase for the codes we send.
pub fn reason_phrase(code: u16) -> &'static str {
    match code {
        100 => "Trying",
        180 => "Ringing",
        183 => "Session Progress",
        200 => "OK",
        202 => "Accepted",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        408 => "Request Timeout",
        415 => "Unsupported Media Type",
        416 => "Unsupported URI Scheme",
        420 => "Bad Extension",
        422 => "Session Interval Too Small",
        481 => "Call/Transaction Does Not Exist",
        483 => "Too Many Hops",
        486 => "Busy Here",
        487 => "Request Terminated",
        488 => "Not Acceptable Here",
        500 => "Server Internal Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        505 => "Version Not Supported",
        603 => "Decline",
        _ => "Unknown",
    }
}

/// Splits on `sep` outside quoted strings and angle brackets.
pub fn split_top_level(s: &str, sep: char) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let (mut quoted, mut escaped, mut angle) = (false, false, 0i32);
    for c in s.chars() {
        if escaped {
            escaped = false;
            cur.push(c);
            continue;
        }
        match c {
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '<' if !quoted => angle += 1,
            '>' if !quoted => angle -= 1,
            _ => {}
        }
        if c == sep && !quoted && angle <= 0 {
            out.push(std::mem::take(&mut cur));
        } else {
            cur.push(c);
        }
    }
    out.push(cur);
    out
}

/// A `;name=value` parameter of a header value (outside the `<...>` URI).
pub fn param(value: &str, name: &str) -> Option<String> {
    let after_uri = match (value.find('<'), value.rfind('>')) {
        (Some(a), Some(b)) if b > a => value.get(b + 1..)?,
        _ => value,
    };
    split_top_level(after_uri, ';')
        .into_iter()
        .skip(1)
        .find_map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p.as_str(), ""));
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
}

/// The URI inside a name-addr (`"Bob" <sip:bob@x>;tag=1`) or the bare addr-spec.
pub fn uri_of(value: &str) -> String {
    match (value.find('<'), value.rfind('>')) {
        (Some(a), Some(b)) if b > a => value.get(a + 1..b).unwrap_or_default().trim().to_string(),
        _ => value
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_string(),
    }
}

/// The user part of a `sip:` / `sips:` / `tel:` URI.
pub fn user_of(uri: &str) -> Option<String> {
    let rest = uri
        .strip_prefix("sip:")
        .or_else(|| uri.strip_prefix("sips:"))
        .or_else(|| uri.strip_prefix("tel:"))?;
    let rest = rest.split(';').next().unwrap_or_default();
    match rest.split_once('@') {
        Some((user, _)) => Some(user.split(':').next().unwrap_or_default().to_string()),
        None if uri.starts_with("tel:") => Some(rest.to_string()),
        None => None,
    }
}

/// `host[:port]` of a `sip:` URI.
pub fn host_port_of(uri: &str) -> Option<(String, Option<u16>)> {
    let rest = uri
        .strip_prefix("sip:")
        .or_else(|| uri.strip_prefix("sips:"))?;
    let rest = rest.split([';', '?']).next().unwrap_or_default();
    let hostport = rest.rsplit_once('@').map(|(_, h)| h).unwrap_or(rest);
    if let Some(v6) = hostport.strip_prefix('[') {
        let (host, tail) = v6.split_once(']')?;
        let port = match tail.strip_prefix(':') {
            Some(p) => Some(p.parse().ok()?),
            None => None,
        };
        return Some((host.to_string(), port));
    }
    match hostport.split_once(':') {
        Some((h, p)) => Some((h.to_string(), Some(p.parse().ok()?))),
        None => Some((hostport.to_string(), None)),
    }
}

fn parse_cseq(value: &str) -> Option<(u32, String)> {
    let mut parts = value.split_whitespace();
    let n = parts.next()?;
    let method = parts.next()?;
    if parts.next().is_some() || !n.chars().all(|c| c.is_ascii_digit()) || !is_token(method) {
        return None;
    }
    // RFC 3261: less than 2**31.
    let n: u32 = n.parse().ok()?;
    (n < 1 << 31).then(|| (n, method.to_string()))
}

/// Parses one message. `stream` is true for TCP, where the body must be
/// exactly Content-Length long (the framer guarantees it) and the header is mandatory.
pub fn parse(bytes: &[u8]) -> Result<Message, ParseError> {
    if bytes.len() > MAX_MESSAGE_BYTES {
        return Err(bad("message too large"));
    }
    let (head, body) = split_head_body(bytes).ok_or_else(|| bad("no end of headers"))?;
    let head = std::str::from_utf8(head).map_err(|_| bad("headers are not UTF-8"))?;
    let mut lines: Vec<String> = Vec::new();
    for raw in head.split('\n') {
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        if line.starts_with([' ', '\t']) {
            match lines.last_mut() {
                Some(prev) => {
                    prev.push(' ');
                    prev.push_str(line.trim());
                }
                _ => return Err(bad("leading whitespace before the start line")),
            }
        } else {
            lines.push(line.to_string());
        }
    }
    if lines.len() > MAX_HEADERS {
        return Err(bad("too many header lines"));
    }
    let mut it = lines.into_iter();
    let start_line = it.next().ok_or_else(|| bad("empty message"))?;
    let start = parse_start(&start_line)?;
    let mut msg = Message {
        start,
        headers: Vec::new(),
        body: Vec::new(),
    };
    let mut problem: Option<(u16, String)> = None;
    for line in it {
        if line.is_empty() {
            continue;
        }
        let Some((name, value)) = line.split_once(':') else {
            problem.get_or_insert((400, format!("header line without a colon: {line:.40}")));
            continue;
        };
        let name = name.trim_end_matches([' ', '\t']);
        if !is_token(name) {
            problem.get_or_insert((400, format!("bad header name {name:.40}")));
            continue;
        }
        msg.headers.push(Header {
            name: canonical(name),
            value: value.trim().to_string(),
        });
    }
    // From here on the message is readable enough to answer.
    let check = validate(&mut msg, body);
    let problem = problem.or(check.err());
    match problem {
        None => Ok(msg),
        Some((code, reason)) => Err(ParseError {
            code,
            reason,
            partial: answerable(&msg).then(|| Box::new(msg)),
        }),
    }
}

/// Whether a response can be built: a request with Via, From, To, Call-ID, CSeq.
fn answerable(msg: &Message) -> bool {
    msg.method().is_some()
        && ["Via", "From", "To", "Call-ID", "CSeq"]
            .iter()
            .all(|h| msg.header(h).is_some_and(|v| !v.is_empty()))
}

fn split_head_body(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    // Skip CRLFs before the start line (RFC 3261 §7.5 says ignore them).
    let start = bytes
        .iter()
        .position(|b| *b != b'\r' && *b != b'\n')
        .unwrap_or(bytes.len());
    let bytes = bytes.get(start..)?;
    let crlf = find(bytes, b"\r\n\r\n").map(|i| (i, i + 4));
    let lf = find(bytes, b"\n\n").map(|i| (i, i + 2));
    let (end, body) = match (crlf, lf) {
        (Some(a), Some(b)) => {
            if a.0 <= b.0 {
                a
            } else {
                b
            }
        }
        (Some(a), None) => a,
        (None, Some(b)) => b,
        // Headers only, no blank line: accept a message ending after a line end.
        (None, None) if bytes.ends_with(b"\n") => (bytes.len(), bytes.len()),
        (None, None) => return None,
    };
    Some((bytes.get(..end)?, bytes.get(body..)?))
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn parse_start(line: &str) -> Result<StartLine, ParseError> {
    if let Some(rest) = line.strip_prefix("SIP/") {
        let mut parts = rest.splitn(3, ' ');
        let version = parts.next().unwrap_or_default();
        if version != "2.0" {
            return Err(bad("unsupported SIP version"));
        }
        let code = parts.next().unwrap_or_default();
        if code.len() != 3 || !code.chars().all(|c| c.is_ascii_digit()) {
            return Err(bad("bad status code"));
        }
        let code: u16 = code.parse().map_err(|_| bad("bad status code"))?;
        if !(100..700).contains(&code) {
            return Err(bad("status code out of range"));
        }
        return Ok(StartLine::Response {
            code,
            reason: parts.next().unwrap_or_default().to_string(),
        });
    }
    let parts: Vec<&str> = line.split(' ').collect();
    let [method, uri, version] = parts.as_slice() else {
        return Err(bad("request line is not METHOD SP URI SP SIP/2.0"));
    };
    if !is_token(method) {
        return Err(bad("bad method"));
    }
    if uri.is_empty() || uri.contains(['<', '>', '"', '\t']) || !uri.contains(':') {
        return Err(bad("bad Request-URI"));
    }
    if !version.starts_with("SIP/") {
        return Err(bad("bad SIP version"));
    }
    if *version != "SIP/2.0" {
        return Err(ParseError {
            code: 505,
            reason: "Version Not Supported".into(),
            partial: None,
        });
    }
    Ok(StartLine::Request {
        method: method.to_string(),
        uri: uri.to_string(),
    })
}

fn validate(msg: &mut Message, body: &[u8]) -> Result<(), (u16, String)> {
    for name in SINGLE {
        if msg.headers_named(name).count() > 1 {
            return Err((400, format!("more than one {name} header")));
        }
    }
    let length = match msg.header("Content-Length") {
        Some(v) => {
            if v.is_empty() || !v.chars().all(|c| c.is_ascii_digit()) || v.len() > 9 {
                return Err((400, "bad Content-Length".into()));
            }
            Some(
                v.parse::<usize>()
                    .map_err(|_| (400, "bad Content-Length".into()))?,
            )
        }
        None => None,
    };
    match length {
        Some(n) if n > body.len() => {
            return Err((400, "body shorter than Content-Length".into()));
        }
        // UDP: extra bytes after Content-Length are discarded (RFC 3261 §18.3).
        Some(n) => msg.body = body.get(..n).unwrap_or_default().to_vec(),
        None => msg.body = body.to_vec(),
    }
    if !msg.body.is_empty() && msg.header("Content-Type").is_none() {
        return Err((400, "body without Content-Type".into()));
    }
    let StartLine::Request { method, uri } = &msg.start else {
        return validate_response(msg);
    };
    for name in ["Via", "From", "To", "Call-ID", "CSeq"] {
        if msg.header(name).is_none_or(str::is_empty) {
            return Err((400, format!("missing {name}")));
        }
    }
    let (_, cseq_method) = msg.cseq().ok_or_else(|| (400, "bad CSeq".to_string()))?;
    if &cseq_method != method && !(method == "ACK" || method == "CANCEL") {
        return Err((400, "CSeq method does not match the request".into()));
    }
    if (method == "ACK" || method == "CANCEL") && &cseq_method != method {
        return Err((400, "CSeq method does not match the request".into()));
    }
    if let Some(mf) = msg.header("Max-Forwards") {
        let ok = !mf.is_empty() && mf.len() <= 10 && mf.chars().all(|c| c.is_ascii_digit());
        if !ok || mf.parse::<u64>().map_or(true, |n| n > 255) {
            return Err((400, "bad Max-Forwards".into()));
        }
    }
    if let Some(d) = msg.header("Date")
        && !d.trim_end().ends_with("GMT")
    {
        return Err((400, "Date must be in GMT".into()));
    }
    if let Some(e) = msg.header("Expires")
        && (e.is_empty() || e.len() > 10 || !e.chars().all(|c| c.is_ascii_digit()))
    {
        return Err((400, "bad Expires".into()));
    }
    for v in msg.headers_named("Via") {
        for hop in split_top_level(v, ',') {
            let proto: String = hop
                .split(';')
                .next()
                .unwrap_or_default()
                .chars()
                .filter(|c| !c.is_whitespace())
                .collect();
            if !proto.to_ascii_uppercase().starts_with("SIP/2.0/") {
                return Err((400, "bad Via".into()));
            }
        }
    }
    for name in ["From", "To"] {
        let v = msg.header(name).unwrap_or_default();
        if !balanced(v) || !name_addr_ok(v) {
            return Err((400, format!("malformed {name}")));
        }
        let u = uri_of(v);
        if u.is_empty() || !u.contains(':') || u.contains(' ') {
            return Err((400, format!("bad URI in {name}")));
        }
    }
    if !balanced(uri) {
        return Err((400, "bad Request-URI".into()));
    }
    let lower = uri.to_ascii_lowercase();
    if lower.starts_with("sip:") || lower.starts_with("sips:") {
        if host_port_of(uri).is_none() {
            return Err((400, "bad host in the Request-URI".into()));
        }
        // Header fields are not allowed in a Request-URI (RFC 3261 §19.1.5).
        let after_user = uri.rsplit_once('@').map_or(uri.as_str(), |(_, h)| h);
        if after_user.contains('?') {
            return Err((400, "headers in the Request-URI".into()));
        }
    }
    if let Some(c) = msg.header("Contact")
        && c != "*"
    {
        for addr in split_top_level(c, ',') {
            if !balanced(&addr) || !name_addr_ok(&addr) || uri_of(&addr).is_empty() {
                return Err((400, "bad Contact".into()));
            }
            if let Some(e) = param(&addr, "expires")
                && !e.chars().all(|c| c.is_ascii_digit())
            {
                return Err((400, "bad Contact expires".into()));
            }
        }
    }
    Ok(())
}

/// A `name-addr` or `addr-spec` as RFC 3261 §20.10 allows: a display name
/// is a quoted string or tokens; `<...>` holds the URI without surrounding
/// space; a bare addr-spec has no `?` or `,` (those need angle brackets).
fn name_addr_ok(v: &str) -> bool {
    let v = v.trim();
    match (v.find('<'), v.rfind('>')) {
        (Some(a), Some(b)) if b > a => {
            let display = v.get(..a).unwrap_or_default().trim();
            let inner = v.get(a + 1..b).unwrap_or_default();
            let display_ok = display.is_empty()
                || (display.starts_with('"') && display.ends_with('"') && display.len() >= 2)
                || display
                    .split_whitespace()
                    .all(|w| w.chars().all(is_token_char));
            display_ok && inner.trim() == inner && !inner.is_empty()
        }
        (None, None) => {
            let spec = v.split(';').next().unwrap_or_default().trim();
            !spec.contains(['?', ',', '"', ' '])
        }
        _ => false,
    }
}

fn validate_response(msg: &Message) -> Result<(), (u16, String)> {
    for name in ["Via", "From", "To", "Call-ID", "CSeq"] {
        if msg.header(name).is_none_or(str::is_empty) {
            return Err((400, format!("response without {name}")));
        }
    }
    msg.cseq()
        .map(|_| ())
        .ok_or_else(|| (400, "bad CSeq".to_string()))
}

fn balanced(s: &str) -> bool {
    let (mut quoted, mut escaped, mut angle) = (false, false, 0i32);
    for c in s.chars() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '<' if !quoted => angle += 1,
            '>' if !quoted => {
                angle -= 1;
                if angle < 0 {
                    return false;
                }
            }
            _ => {}
        }
    }
    !quoted && angle == 0
}

/// Splits a TCP byte stream into messages: `Some((message bytes, consumed))`
/// once a whole message (headers + Content-Length body) is buffered.
/// `Err` when the stream cannot be framed (no or bad Content-Length, oversized):
/// the connection must be closed.
pub fn frame_stream(buf: &[u8]) -> Result<Option<(usize, usize)>, ParseError> {
    let skip = buf
        .iter()
        .position(|b| *b != b'\r' && *b != b'\n')
        .unwrap_or(buf.len());
    let rest = buf.get(skip..).unwrap_or_default();
    let Some(end) = find(rest, b"\r\n\r\n") else {
        if rest.len() > MAX_MESSAGE_BYTES {
            return Err(bad("headers too large"));
        }
        return Ok(None);
    };
    let head = String::from_utf8_lossy(rest.get(..end).unwrap_or_default()).to_string();
    let mut length = None;
    for line in head.split("\r\n").skip(1) {
        if let Some((name, value)) = line.split_once(':')
            && canonical(name.trim()) == "Content-Length"
        {
            let v = value.trim();
            let n: usize = v
                .parse()
                .map_err(|_| bad("bad Content-Length on a stream"))?;
            length = Some(n);
        }
    }
    let n = length.ok_or_else(|| bad("no Content-Length on a stream"))?;
    let total = skip + end + 4 + n;
    if total > MAX_MESSAGE_BYTES + skip {
        return Err(bad("message too large"));
    }
    if buf.len() < total {
        return Ok(None);
    }
    Ok(Some((skip, total)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPTIONS: &str = "OPTIONS sip:robot@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5080;branch=z9hG4bK1\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:robot@127.0.0.1>\r\nCall-ID: c1\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n";

    #[test]
    fn parses_and_round_trips() {
        let m = parse(OPTIONS.as_bytes()).expect("valid");
        assert_eq!(m.method(), Some("OPTIONS"));
        assert_eq!(m.branch().as_deref(), Some("z9hG4bK1"));
        assert_eq!(m.tag("From").as_deref(), Some("1"));
        assert_eq!(m.cseq(), Some((1, "OPTIONS".into())));
        let again = parse(&m.to_bytes()).expect("valid");
        assert_eq!(again, m);
    }

    #[test]
    fn response_copies_dialog_headers_and_adds_a_tag() {
        let m = parse(OPTIONS.as_bytes()).expect("valid");
        let r = m.response(200, "OK", Some("abc"));
        assert_eq!(r.code(), Some(200));
        assert_eq!(r.tag("To").as_deref(), Some("abc"));
        assert_eq!(r.call_id(), "c1");
    }

    #[test]
    fn refuses_with_an_answerable_partial() {
        let broken = OPTIONS.replace("CSeq: 1 OPTIONS", "CSeq: 1 INVITE");
        let e = parse(broken.as_bytes()).expect_err("mismatch");
        assert_eq!(e.code, 400);
        assert!(e.partial.is_some());
        let missing = OPTIONS.replace("Call-ID: c1\r\n", "");
        let e = parse(missing.as_bytes()).expect_err("missing");
        assert!(e.partial.is_none());
        let short = OPTIONS.replace("Content-Length: 0", "Content-Length: 10");
        assert!(parse(short.as_bytes()).is_err());
        assert!(parse(b"\x00\xff garbage").is_err());
    }

    #[test]
    fn uri_helpers() {
        assert_eq!(
            user_of("sip:400123@10.0.0.1:5060").as_deref(),
            Some("400123")
        );
        assert_eq!(user_of("tel:+8610").as_deref(), Some("+8610"));
        assert_eq!(
            host_port_of("sip:a@10.0.0.1:5070;transport=udp"),
            Some(("10.0.0.1".into(), Some(5070)))
        );
        assert_eq!(uri_of("\"A\" <sip:a@b>;tag=1"), "sip:a@b");
    }

    #[test]
    fn frames_a_stream() {
        let two = format!("{OPTIONS}{OPTIONS}");
        let (start, end) = frame_stream(two.as_bytes()).expect("ok").expect("whole");
        assert_eq!((start, end), (0, OPTIONS.len()));
        assert!(frame_stream(&two.as_bytes()[..10]).expect("ok").is_none());
    }
}

//! Helpers shared by the tests that run the real binary against real SIP
//! peers: free ports, an HTTP client, and a clear message when a peer is
//! not installed.

#![allow(dead_code)]

use std::net::{TcpListener, UdpSocket};
use std::process::Command;

use reqwest::blocking::Client;

/// An HTTP client builder. reqwest is built with rustls but no default
/// crypto provider (the server installs ring, see server/src/tls.rs); this
/// test process installs the same before building a client.
pub fn http_client() -> reqwest::blocking::ClientBuilder {
    let _ = rustls::crypto::ring::default_provider().install_default();
    Client::builder()
}

/// A port free for both TCP and UDP on 127.0.0.1.
pub fn free_port() -> u16 {
    loop {
        let t = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = t.local_addr().expect("addr").port();
        if UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// An even free UDP port with the next one free too (RTP + RTCP).
pub fn free_media_port() -> u16 {
    loop {
        let s = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let p = s.local_addr().expect("addr").port();
        let p = p - p % 2;
        drop(s);
        if p > 1024
            && UdpSocket::bind(("127.0.0.1", p)).is_ok()
            && UdpSocket::bind(("127.0.0.1", p + 1)).is_ok()
        {
            return p;
        }
    }
}

pub fn need(tool: &str, package: &str) {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found,
        "{tool} is missing: run scripts/install-deps.sh test (Debian package {package})"
    );
}

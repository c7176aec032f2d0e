//! Helpers shared by the tests that run our SIP agent against real sipp on
//! loopback.

#![allow(dead_code)]

use std::net::UdpSocket;
use std::process::Command;
use std::time::Duration;

/// The sipp scenarios of these tests.
pub const SCENARIOS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sipp");

pub fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

pub fn need_sipp() {
    let found = Command::new("sh")
        .args(["-c", "command -v sipp"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found,
        "sipp is missing: run scripts/install-deps.sh test (Debian package sip-tester)"
    );
}

/// Waits until sipp has bound its UDP port (a fixed sleep is not enough on
/// a loaded machine).
pub fn wait_for_sipp(port: u16) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while UdpSocket::bind(("127.0.0.1", port)).is_ok() {
        assert!(
            std::time::Instant::now() < deadline,
            "sipp did not bind port {port}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

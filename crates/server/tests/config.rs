//! Configuration layering and its errors.

use std::io::Write;

use server::config::{Config, LogFormat, Overrides, Sources};

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn file(text: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::Builder::new()
        .suffix(".toml")
        .tempfile()
        .expect("tmp");
    f.write_all(text.as_bytes()).expect("write");
    f
}

fn sources(path: Option<&std::path::Path>) -> Sources {
    Sources {
        file: path.map(|p| p.to_path_buf()),
        overrides: Overrides::default(),
    }
}

#[test]
fn defaults_are_the_documented_ones() {
    let c = Config::load_with_env(&Sources::default(), &[]).expect("defaults");
    assert_eq!(c.http.to_string(), "127.0.0.1:8080");
    assert_eq!(c.sip.to_string(), "0.0.0.0:5060");
    assert_eq!(c.data_dir, std::path::PathBuf::from("./data"));
    assert_eq!(c.log_format, LogFormat::Text);
}

#[test]
fn file_then_environment_then_flags_each_override_the_one_before() {
    let f = file(
        "http = \"127.0.0.1:9001\"\nlog_level = \"debug\"\n[auth]\nlockout_secs = 60\nmax_failed_logins = 9\n",
    );
    let e = env(&[
        ("TONGHUA_HTTP", "127.0.0.1:9002"),
        ("TONGHUA_AUTH__LOCKOUT_SECS", "120"),
        ("TONGHUA_LOG_FORMAT", "json"),
    ]);
    let c = Config::load_with_env(&sources(Some(f.path())), &e).expect("load");
    assert_eq!(c.http.to_string(), "127.0.0.1:9002", "env beats file");
    assert_eq!(c.auth.lockout_secs, 120, "nested env key");
    assert_eq!(c.auth.max_failed_logins, 9, "file beats default");
    assert_eq!(c.log_level, "debug");
    assert_eq!(c.log_format, LogFormat::Json);

    let mut s = sources(Some(f.path()));
    s.overrides.http = Some("127.0.0.1:9003".parse().expect("addr"));
    s.overrides.data_dir = Some("/srv/tonghua".into());
    let c = Config::load_with_env(&s, &e).expect("load");
    assert_eq!(c.http.to_string(), "127.0.0.1:9003", "flag beats env");
    assert_eq!(c.data_dir, std::path::PathBuf::from("/srv/tonghua"));
}

#[test]
fn the_config_file_can_be_named_by_environment() {
    let f = file("sip = \"127.0.0.1:5070\"\n");
    let path = f.path().to_str().expect("utf8").to_string();
    let c = Config::load_with_env(&Sources::default(), &env(&[("TONGHUA_CONFIG", &path)]))
        .expect("load");
    assert_eq!(c.sip.to_string(), "127.0.0.1:5070");
}

#[test]
fn a_misspelt_key_is_an_error_naming_key_and_file() {
    let f = file("htp = \"127.0.0.1:9001\"\n");
    let err = Config::load_with_env(&sources(Some(f.path())), &[])
        .expect_err("must fail")
        .to_string();
    assert!(err.contains("unknown key `htp`"), "{err}");
    assert!(err.contains("http"), "lists the known keys: {err}");
    assert!(err.contains(&f.path().display().to_string()), "{err}");

    let err = Config::load_with_env(
        &Sources::default(),
        &env(&[("TONGHUA_AUTH__LOCKOUTSECS", "5")]),
    )
    .expect_err("env too")
    .to_string();
    assert!(
        err.contains("lockoutsecs") && err.contains("environment"),
        "{err}"
    );
}

#[test]
fn wrong_types_and_values_are_errors_that_say_where() {
    let f = file("[auth]\nlockout_secs = \"soon\"\n");
    let err = Config::load_with_env(&sources(Some(f.path())), &[])
        .expect_err("type")
        .to_string();
    assert!(err.contains("auth.lockout_secs"), "{err}");
    let err = Config::load_with_env(
        &Sources::default(),
        &env(&[("TONGHUA_HTTP", "not-an-address")]),
    )
    .expect_err("addr")
    .to_string();
    assert!(err.contains("http"), "{err}");
    let err = Config::load_with_env(
        &Sources::default(),
        &env(&[("TONGHUA_AUTH__MAX_FAILED_LOGINS", "0")]),
    )
    .expect_err("zero")
    .to_string();
    assert!(err.contains("max_failed_logins"), "{err}");
    let f = file("this is [not toml");
    assert!(Config::load_with_env(&sources(Some(f.path())), &[]).is_err());
}

#[test]
fn a_missing_config_file_is_an_error() {
    let err = Config::load_with_env(
        &sources(Some(std::path::Path::new("/nonexistent/tonghua.toml"))),
        &[],
    )
    .expect_err("missing")
    .to_string();
    assert!(
        err.contains("/nonexistent/tonghua.toml") && err.contains("cannot be read"),
        "{err}"
    );
}

#[test]
fn print_config_masks_secrets_and_digit_passwords_stay_strings() {
    let e = env(&[("TONGHUA_ADMIN_PASSWORD", "12345678")]);
    let c = Config::load_with_env(&Sources::default(), &e).expect("load");
    assert_eq!(c.demo.admin_password, "12345678");
    let shown = c.to_masked_toml();
    assert!(!shown.contains("12345678"), "{shown}");
    assert!(shown.contains("admin_password = \"********\""), "{shown}");
    assert!(
        shown.contains("[auth]") && shown.contains("http = \"127.0.0.1:8080\""),
        "{shown}"
    );
}

#[test]
fn telephony_hotlines_trunk_and_the_sip_flag() {
    let f = file(
        "[telephony]\nrtp_timeout_secs = 10\n[[telephony.hotlines]]\nnumber = \"4001\"\nscript = \"renovation\"\n[telephony.trunk]\nhost = \"sip.example\"\nproxy = \"10.0.0.5:5060\"\nuser = \"4001\"\npassword = \"pw\"\n",
    );
    let c = Config::load_with_env(&sources(Some(f.path())), &[]).expect("load");
    assert!(!c.telephony.enabled, "off unless asked for");
    assert_eq!(c.telephony.hotlines[0].script, "renovation");
    assert_eq!(c.telephony.trunk.proxy.as_deref(), Some("10.0.0.5:5060"));
    assert_eq!(c.telephony.rtp_timeout_secs, 10);
    assert!(
        !c.to_masked_toml().contains("\"pw\""),
        "trunk password masked"
    );

    let mut s = sources(Some(f.path()));
    s.overrides.sip = Some("127.0.0.1:5070".parse().expect("addr"));
    s.overrides.telephony = Some(server::config::TelephonyOverride { enabled: true });
    let c = Config::load_with_env(&s, &[]).expect("load");
    assert!(c.telephony.enabled, "--sip turns telephony on");
    assert_eq!(
        c.telephony.hotlines.len(),
        1,
        "the flag does not wipe the file's table"
    );

    let bad = file("[telephony.trunk]\nproxy = \"carrier:5060\"\n");
    let e = Config::load_with_env(&sources(Some(bad.path())), &[]).expect_err("bad proxy");
    assert!(e.to_string().contains("telephony.trunk.proxy"), "{e}");
    let bad = file("[telephony]\nhotline = []\n");
    let e = Config::load_with_env(&sources(Some(bad.path())), &[]).expect_err("typo");
    assert!(e.to_string().contains("hotline"), "{e}");
}

#[test]
fn telephony_tls_and_turn_taking_keys_are_read_and_checked() {
    let f = file(
        "[telephony]\nspeaking_pause_ms = 500\nspeculate_after_ms = 0\nasr_beam_size = 1\n[telephony.tls]\nport = 5061\ncert = \"/etc/tonghua/sip.pem\"\nkey = \"/etc/tonghua/sip.key\"\n[telephony.trunk]\ntls = true\n",
    );
    let c = Config::load_with_env(&sources(Some(f.path())), &[]).expect("load");
    assert_eq!(c.telephony.speaking_pause_ms, 500);
    assert_eq!(c.telephony.speculate_after_ms, 0);
    assert_eq!(c.telephony.asr_beam_size, 1);
    assert!(c.telephony.trunk.tls);
    let tls = c
        .telephony
        .tls
        .agent_config("127.0.0.1".parse().expect("ip"))
        .expect("TLS on");
    assert_eq!(tls.bind.to_string(), "127.0.0.1:5061");
    assert_eq!(tls.cert, std::path::PathBuf::from("/etc/tonghua/sip.pem"));
    let defaults = Config::load_with_env(&Sources::default(), &[]).expect("defaults");
    assert_eq!(defaults.telephony.speculate_after_ms, 200);
    assert_eq!(defaults.telephony.speaking_pause_ms, 700);
    assert!(
        defaults
            .telephony
            .tls
            .agent_config("127.0.0.1".parse().expect("ip"))
            .is_none()
    );
    for (bad, says) in [
        ("[telephony.tls]\nport = 5061\n", "telephony.tls.cert"),
        (
            "[telephony]\nspeculate_after_ms = 50\n",
            "speculate_after_ms",
        ),
        ("[telephony]\nspeaking_pause_ms = 50\n", "speaking_pause_ms"),
        ("[telephony]\nasr_beam_size = 0\n", "asr_beam_size"),
    ] {
        let f = file(bad);
        let e = Config::load_with_env(&sources(Some(f.path())), &[])
            .expect_err("refused")
            .to_string();
        assert!(e.contains(says), "{bad}: {e}");
    }
}

//! `--config nidan.toml`: a flag beats its variable, which beats the file, which beats the
//! default; `nidan config check` shows the outcome with secrets masked; `serve` obeys it.

use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn nidan(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_nidan"));
    command.args(args);
    for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("NIDAN_")) {
        command.env_remove(key);
    }
    command.envs(env.iter().copied());
    command.output().unwrap()
}

fn line<'a>(text: &'a str, key: &str) -> &'a str {
    text.lines()
        .find(|l| l.starts_with(&format!("{key} = ")))
        .unwrap_or_else(|| panic!("no {key} in\n{text}"))
}

#[test]
fn flag_beats_environment_beats_file_beats_default() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("nidan.toml");
    std::fs::write(
        &file,
        r#"
listen = "127.0.0.1:9555"
session-lifetime = "2days"
totp_issuer = "FromFile"
allowed-redirect-domain = ["cam.example.home", "nvr.example.home"]
smtp-url = "smtp://mailer:hunter2@127.0.0.1:2525"
require-2fa = true
"#,
    )
    .unwrap();
    let file = file.to_str().unwrap();
    let out = nidan(
        &[
            "config",
            "check",
            "--config",
            file,
            "--session-lifetime",
            "4days",
        ],
        &[
            ("NIDAN_SESSION_LIFETIME", "3days"),
            ("NIDAN_TOTP_ISSUER", "FromEnv"),
        ],
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        line(&text, "session-lifetime"),
        r#"session-lifetime = "4days"  # flag"#
    );
    assert_eq!(
        line(&text, "totp-issuer"),
        r#"totp-issuer = "FromEnv"  # environment"#
    );
    assert_eq!(
        line(&text, "listen"),
        r#"listen = "127.0.0.1:9555"  # file"#
    );
    assert_eq!(
        line(&text, "shutdown-timeout"),
        r#"shutdown-timeout = "30s"  # default"#
    );
    assert_eq!(
        line(&text, "allowed-redirect-domain"),
        r#"allowed-redirect-domain = ["cam.example.home", "nvr.example.home"]  # file"#
    );
    assert_eq!(
        line(&text, "require-2fa"),
        r#"require-2fa = "true"  # file"#
    );
    assert!(
        line(&text, "smtp-url").contains("smtp://***@127.0.0.1:2525"),
        "{text}"
    );
    assert!(!text.contains("hunter2"), "a secret was printed:\n{text}");
    assert!(text.contains("# the configuration is valid"));
}

#[test]
fn a_variable_under_its_old_plural_name_still_counts() {
    let out = nidan(
        &["config", "check"],
        &[
            ("NIDAN_UPSTREAMS", "http://127.0.0.1:5000"),
            ("NIDAN_ACCESS_RULES", "*=two-factor"),
            ("NIDAN_TRUSTED_PROXY", "10.0.0.1"),
            ("NIDAN_TRUSTED_PROXIES", "10.9.9.9"),
        ],
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(out.status.success(), "{err}");
    assert_eq!(
        line(&text, "upstream"),
        r#"upstream = ["http://127.0.0.1:5000"]  # environment"#
    );
    assert_eq!(
        line(&text, "access-rule"),
        r#"access-rule = ["*=two-factor"]  # environment"#
    );
    // The new name wins when both are set.
    assert_eq!(
        line(&text, "trusted-proxy"),
        r#"trusted-proxy = ["10.0.0.1"]  # environment"#
    );
    assert!(
        err.contains("NIDAN_UPSTREAMS is now called NIDAN_UPSTREAM"),
        "{err}"
    );
    assert!(
        err.contains("NIDAN_TRUSTED_PROXIES is ignored: NIDAN_TRUSTED_PROXY is set"),
        "{err}"
    );
}

#[test]
fn bad_configuration_is_refused_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("nidan.toml");
    let file_arg = file.to_str().unwrap();
    for (content, needle) in [
        ("lisen = \"127.0.0.1:1\"", "unknown key \"lisen\""),
        ("listen = ", "nidan.toml line 1 is not valid TOML"),
        (
            "# where\nlisten = \"nowhere\"",
            "nidan.toml line 2: listen = \"nowhere\": invalid socket address",
        ),
        (
            "listen = \"127.0.0.1:1\"\n\nsession-lifetime = \"forever\"",
            "nidan.toml line 3: session-lifetime = \"forever\": ",
        ),
        (
            "log-format = \"xml\"",
            "nidan.toml line 1: log-format = \"xml\": must be one of text, json",
        ),
        (
            "trusted-proxy = [\"10.0.0.0/8\",\n  \"ten\"]",
            "nidan.toml line 1: trusted-proxy = \"ten\"",
        ),
        ("[listen]\na = 1", "nidan.toml line 1: listen must be"),
        ("public-url = \"ftp://x\"", "must start with http"),
        ("smtp-url = \"gopher://x\"", "smtp-url"),
        // Configurations that cannot work: a loop between sign-in and the app, a cookie no
        // browser would store, a setup link naming 0.0.0.0.
        (
            "public-url = \"https://login.example.home\"\nupstream = [\"cam.example.home=http://127.0.0.1:5000\"]",
            "set --cookie-domain",
        ),
        (
            "public-url = \"https://login.example.home\"\ncookie-domain = \"other.home\"",
            "does not cover",
        ),
        ("listen = \"0.0.0.0:8080\"", "set --public-url"),
    ] {
        std::fs::write(&file, content).unwrap();
        let out = nidan(&["config", "check", "--config", file_arg], &[]);
        let err = String::from_utf8(out.stderr).unwrap();
        assert_eq!(out.status.code(), Some(1), "{content}: {err}");
        assert_eq!(err.lines().count(), 1, "{content}: {err}");
        assert!(err.contains(needle), "{content}: {err}");
    }
    let missing = nidan(
        &["config", "check", "--config", "/nonexistent/nidan.toml"],
        &[],
    );
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("cannot read"));
}

#[test]
fn serve_runs_with_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let file = dir.path().join("nidan.toml");
    std::fs::write(
        &file,
        format!(
            "data-dir = {:?}\nlisten = \"127.0.0.1:0\"\nlog-format = \"json\"\n",
            data.to_str().unwrap()
        ),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_nidan"))
        .args(["serve", "--config", file.to_str().unwrap()])
        .env_remove("NIDAN_DATA_DIR")
        .env_remove("NIDAN_DATABASE_URL")
        .env_remove("NIDAN_LOG_FORMAT")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let started = Instant::now();
    let mut serving = None;
    while started.elapsed() < Duration::from_secs(10) {
        let Some(Ok(l)) = lines.next() else { break };
        if l.contains("nidan is serving") {
            serving = Some(l);
            break;
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let serving = serving.expect("the server started");
    // JSON logs, as the file asked, and the data directory it named.
    assert!(serving.starts_with('{'), "{serving}");
    assert!(data.join("nidan.db").exists());
}

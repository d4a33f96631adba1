//! The open-file limit: `serve` raises the soft limit to the hard one, and keeps its
//! connections within what the limit allows, so that silent sockets cannot take the
//! descriptors new people and the database need.

use std::os::unix::process::CommandExt;
use std::time::Duration;

use crate::common::*;

/// `nidan serve` that starts with the open-file limit `soft`/`hard`.
fn serve_with_limit(soft: u64, hard: u64, args: &[&str]) -> std::process::Command {
    let mut command = ServeProcess::command(args);
    // SAFETY: setrlimit is async-signal-safe; it runs in the child before exec.
    unsafe {
        command.pre_exec(move || {
            let limit = libc::rlimit {
                rlim_cur: soft as libc::rlim_t,
                rlim_max: hard as libc::rlim_t,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    command
}

/// `count` connections that send nothing, held open.
async fn silent_sockets(base: &str, count: usize) -> Vec<tokio::net::TcpStream> {
    let addr = base.trim_start_matches("http://").to_owned();
    let mut held = Vec::new();
    for _ in 0..count {
        held.push(tokio::net::TcpStream::connect(&addr).await.unwrap());
    }
    held
}

/// Pages that need no database, one that does, and the sign-in page, from a new client.
async fn still_served(server: &ServeProcess, within: Duration) {
    for path in ["/healthz", "/readyz", "/login"] {
        let asked = tokio::time::timeout(within, client().get(server.url(path)).send()).await;
        let status = asked
            .unwrap_or_else(|_| panic!("{path}: no answer within {within:?}"))
            .unwrap()
            .status();
        assert_eq!(status, 200, "{path}");
    }
}

#[tokio::test]
async fn more_silent_sockets_than_the_start_limit_allows_do_not_take_nidan_offline() {
    let dir = tempfile::tempdir().unwrap();
    let command = serve_with_limit(256, 4096, &["--data-dir", dir.path().to_str().unwrap()]);
    let server = ServeProcess::start(command).await;
    let lines = server.lines();
    assert!(
        lines
            .iter()
            .any(|l| l.contains("open-file limit raised to the hard limit")
                && l.contains("before=256")
                && l.contains("after=4096")),
        "{}",
        lines.join("\n")
    );
    // 300 silent sockets: more than 256 descriptors hold, fewer than the 384 connections.
    let _held = silent_sockets(&server.base, 300).await;
    still_served(&server, Duration::from_secs(2)).await;
}

#[tokio::test]
async fn under_a_low_hard_limit_connections_are_capped_and_the_database_keeps_its_files() {
    let dir = tempfile::tempdir().unwrap();
    let command = serve_with_limit(
        200,
        200,
        &[
            "--data-dir",
            dir.path().to_str().unwrap(),
            "--header-read-timeout",
            "1s",
        ],
    );
    let server = ServeProcess::start(command).await;
    // 200 descriptors less 64 kept, less 3 for each of SQLite's 8 readers and its writer.
    let expected = 109;
    let lines = server.lines();
    assert!(
        lines
            .iter()
            .any(|l| l.contains("allows only this many connections")
                && l.contains(&format!("max_connections={expected}"))),
        "{}",
        lines.join("\n")
    );
    // Twice what the cap lets in: the rest wait in the kernel's queue, the silent ones are
    // closed after the header deadline, and the database never lacks a descriptor.
    let _held = silent_sockets(&server.base, 224).await;
    still_served(&server, Duration::from_secs(5)).await;
    let lines = server.lines();
    assert!(
        !lines.iter().any(|l| l.contains("Too many open files")),
        "{}",
        lines.join("\n")
    );
}

//! docs/deploy/nidan.service's system-call filter applied for real, without systemd:
//! scripts/unit-seccomp reads the unit, expands systemd's own @groups and loads the filter
//! with libseccomp before it executes the built binary.

use std::process::Command;
use std::time::Duration;

use crate::common::*;

const UNIT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/deploy/nidan.service");
const UNIT_SECCOMP: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/unit-seccomp");
const PRIORITY_REFUSED: &str = "the system refused SCHED_IDLE";

/// `nidan serve` on a fresh data directory under `unit`'s filter, with `options` for
/// scripts/unit-seccomp (`--deny NAME`).
fn serve_under(unit: &str, options: &[&str], dir: &tempfile::TempDir) -> Command {
    // Debian's python3-seccomp is in the system Python.
    let mut command = Command::new("/usr/bin/python3");
    command
        .arg(UNIT_SECCOMP)
        .arg(unit)
        .args(options)
        .arg("--")
        .arg(env!("CARGO_BIN_EXE_nidan"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path());
    command
}

#[tokio::test]
async fn the_documented_unit_lets_nidan_start_set_up_and_sign_in() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServeProcess::start(serve_under(UNIT, &[], &dir)).await;
    let flow = server.manual_flow().await;
    let mypage = flow
        .signed_in
        .get(server.url("/mypage"))
        .send()
        .await
        .unwrap();
    assert_eq!(mypage.status(), 200);
    server.sigterm();
    let (exit, lines) = server.wait().await;
    assert!(exit.success(), "{exit:?}\n{}", lines.join("\n"));
    // The unit allows the one call of @resources that nidan makes.
    assert!(
        !lines.iter().any(|l| l.contains(PRIORITY_REFUSED)),
        "{}",
        lines.join("\n")
    );
}

#[tokio::test]
async fn a_refused_priority_call_costs_one_log_line_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let command = serve_under(UNIT, &["--deny", "sched_setscheduler"], &dir);
    let server = ServeProcess::start(command).await;
    server.manual_flow().await;
    server.sigterm();
    let (exit, lines) = server.wait().await;
    assert!(exit.success(), "{exit:?}\n{}", lines.join("\n"));
    let said = lines
        .iter()
        .filter(|l| l.contains(PRIORITY_REFUSED))
        .count();
    assert_eq!(said, 1, "{}", lines.join("\n"));
}

/// The harness has teeth: the unit as it was (no EPERM, no exception for the priority
/// call) has the kernel kill nidan with SIGSYS before it prints the setup link.
#[tokio::test]
async fn without_the_exception_the_old_unit_kills_nidan() {
    let dir = tempfile::tempdir().unwrap();
    let old = std::fs::read_to_string(UNIT)
        .unwrap()
        .lines()
        .filter(|l| *l != "SystemCallFilter=sched_setscheduler")
        .filter(|l| !l.starts_with("SystemCallErrorNumber="))
        .collect::<Vec<_>>()
        .join("\n");
    let unit = dir.path().join("old.service");
    std::fs::write(&unit, old).unwrap();
    let data = tempfile::tempdir().unwrap();
    let mut child = serve_under(unit.to_str().unwrap(), &[], &data)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut exit = None;
    for _ in 0..200 {
        exit = child.try_wait().unwrap();
        if exit.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = child.kill();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(
        exit.and_then(|e| e.signal()),
        Some(libc::SIGSYS),
        "{exit:?}"
    );
}

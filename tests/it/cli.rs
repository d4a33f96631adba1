use crate::common::*;

#[tokio::test]
async fn user_commands_work_while_the_server_runs() {
    let app = spawn_app().await;
    let out = app.cli(
        &[
            "user",
            "add",
            "Taro@Example.jp",
            "--password-stdin",
            "--admin",
        ],
        Some("taro rides the last train\n"),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out).trim(),
        "created taro@example.jp (administrator)"
    );
    let out = app.cli(
        &["user", "add", "hanako@example.jp", "--password-stdin"],
        Some("hanako walks by the sea"),
    );
    assert!(out.status.success(), "{}", stderr(&out));

    let listed = stdout(&app.cli(&["user", "list"], None));
    let rows: Vec<Vec<&str>> = listed
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        rows,
        vec![
            vec!["hanako@example.jp", "no", "off", "no"],
            vec!["taro@example.jp", "yes", "off", "no"]
        ]
    );

    assert_is_redirect_to(
        &app.login("hanako@example.jp", "hanako walks by the sea")
            .await,
        "/",
    );

    let out = app.cli(&["user", "delete", "hanako@example.jp"], None);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        app.get("/").await.status(),
        303,
        "her session died with her account"
    );
    assert_eq!(
        app.login("hanako@example.jp", "hanako walks by the sea")
            .await
            .status(),
        401
    );
}

#[tokio::test]
async fn wrong_input_fails_with_one_line_and_changes_nothing() {
    let app = spawn_app().await;
    let ok = app.cli(
        &["user", "add", "a@example.jp", "--password-stdin"],
        Some(PASSWORD),
    );
    assert!(ok.status.success());

    let cases: Vec<(Vec<&str>, Option<&str>, &str)> = vec![
        (
            vec!["user", "add", "a@example.jp", "--password-stdin"],
            Some(PASSWORD),
            "already exists",
        ),
        (
            vec!["user", "add", "A@EXAMPLE.JP", "--password-stdin"],
            Some(PASSWORD),
            "already exists",
        ),
        (
            vec!["user", "add", "not an email", "--password-stdin"],
            Some(PASSWORD),
            "not a valid email",
        ),
        (
            vec!["user", "add", "b@example.jp", "--password-stdin"],
            Some(""),
            "empty",
        ),
        (
            vec!["user", "add", "b@example.jp", "--password-stdin"],
            Some("\n"),
            "empty",
        ),
        (
            vec!["user", "add", "b@example.jp", "--password-stdin"],
            Some("short"),
            "at least 12",
        ),
        (
            vec!["user", "add", "b@example.jp", "--password-stdin"],
            Some("password1234"),
            "too common",
        ),
        (
            vec!["user", "add", "b@example.jp", "--password-stdin"],
            Some("b@example.jp2026"),
            "too common",
        ),
        (
            vec![
                "user",
                "add",
                "b@example.jp",
                "--password-stdin",
                "--min-password-length",
                "7",
            ],
            Some(PASSWORD),
            "7 is not in 8..=128",
        ),
        (
            vec!["user", "add", "b@example.jp"],
            None,
            "no terminal to ask for the password on",
        ),
        (
            vec![
                "user",
                "set-password",
                "nobody@example.jp",
                "--password-stdin",
            ],
            Some(PASSWORD),
            "no account",
        ),
        (
            vec!["user", "set-password", "a@example.jp", "--password-stdin"],
            Some("short"),
            "at least 12",
        ),
        (
            vec!["user", "unlock", "nobody@example.jp"],
            None,
            "no account",
        ),
        (
            vec!["user", "delete", "nobody@example.jp"],
            None,
            "no account",
        ),
        (vec!["user", "frobnicate"], None, "unrecognized subcommand"),
        // Look-alikes of an existing address: the same account, or refused.
        (
            vec![
                "user",
                "add",
                "Ａ＠ｅｘａｍｐｌｅ．ｊｐ",
                "--password-stdin",
            ],
            Some(PASSWORD),
            "already exists",
        ),
        (
            vec!["user", "add", "\u{430}@example.jp", "--password-stdin"],
            Some(PASSWORD),
            "mixed scripts",
        ),
        (
            vec!["user", "add", "a\u{200b}@example.jp", "--password-stdin"],
            Some(PASSWORD),
            "invisible characters",
        ),
    ];
    for (args, stdin, needle) in cases {
        let out = app.cli(&args, stdin);
        assert_cli_fails(&out, needle);
    }
    let listed = stdout(&app.cli(&["user", "list"], None));
    assert_eq!(listed.lines().count(), 2, "{listed}");
    assert_is_redirect_to(&app.login("a@example.jp", PASSWORD).await, "/");
}

#[test]
fn data_dir_goes_before_or_after_the_subcommand_and_migrate_creates_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("data");
    let d = d.to_str().unwrap();
    let out = run_cli(&["migrate", "--data-dir", d], None);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(std::path::Path::new(d).join("nidan.db").exists());
    let out = run_cli(
        &[
            "--data-dir",
            d,
            "user",
            "add",
            "x@example.jp",
            "--password-stdin",
        ],
        Some(PASSWORD),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let out = run_cli(&["user", "list", "--data-dir", d], None);
    assert!(stdout(&out).contains("x@example.jp"));
}

#[test]
fn an_unusable_database_url_is_one_line() {
    let out = run_cli(
        &["user", "list", "--database-url", "mysql://localhost/x"],
        None,
    );
    assert_cli_fails(&out, "unsupported database URL");
}

#[test]
fn commands_other_than_serve_and_migrate_create_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("typo");
    let m = missing.to_str().unwrap();
    let add = [
        "user",
        "add",
        "x@example.jp",
        "--password-stdin",
        "--data-dir",
        m,
    ];
    assert_cli_fails(&run_cli(&add, Some(PASSWORD)), "no nidan database");
    assert_cli_fails(
        &run_cli(&["user", "list", "--data-dir", m], None),
        "nidan migrate",
    );
    assert!(!missing.exists(), "nothing created in the wrong place");

    // A restored database without its key: refused, and no new key written in its place.
    let d = dir.path().join("data");
    let d = d.to_str().unwrap();
    assert!(
        run_cli(&["migrate", "--data-dir", d], None)
            .status
            .success()
    );
    let key = dir.path().join("data/secret.key");
    std::fs::remove_file(&key).unwrap();
    assert_cli_fails(
        &run_cli(&["user", "list", "--data-dir", d], None),
        "no server key",
    );
    assert!(!key.exists(), "no new key written");
}

#[test]
fn a_port_in_use_is_said_once() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let out = run_cli(&["serve", "--listen", &addr, "--data-dir", d], None);
    assert_cli_fails(&out, "cannot listen on");
    let err = stderr(&out);
    assert_eq!(err.matches("Address already in use").count(), 1, "{err}");
}

/// Runs the built binary on a new pseudo-terminal (its controlling terminal, as in a login
/// shell) and types each answer once its prompt is shown and echo is off. Returns the exit
/// status and everything the terminal showed.
fn on_a_terminal(args: &[&str], answers: &[(&str, &str)]) -> (std::process::ExitStatus, String) {
    use std::io::{Read, Write};
    use std::os::fd::{FromRawFd, OwnedFd};
    use std::os::unix::process::CommandExt;

    let (mut master, slave) = unsafe {
        let (mut master, mut slave) = (0, 0);
        // SAFETY: openpty writes two descriptors; the null pointers ask for no name or settings.
        let r = libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        );
        assert_eq!(r, 0, "openpty: {}", std::io::Error::last_os_error());
        (
            std::fs::File::from_raw_fd(master),
            OwnedFd::from_raw_fd(slave),
        )
    };
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_nidan"));
    command
        .args(args)
        .env_remove("NIDAN_DATA_DIR")
        .env_remove("NIDAN_DATABASE_URL")
        .env_remove("NIDAN_SECRET_KEY")
        .stdin(slave.try_clone().unwrap())
        .stdout(slave.try_clone().unwrap())
        .stderr(slave.try_clone().unwrap());
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        command.pre_exec(|| {
            if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = command.spawn().unwrap();
    drop(slave);
    let echo_is_off = |master: &std::fs::File| {
        use std::os::fd::AsRawFd;
        // SAFETY: tcgetattr fills the struct it is given.
        let mut settings: libc::termios = unsafe { std::mem::zeroed() };
        assert_eq!(
            unsafe { libc::tcgetattr(master.as_raw_fd(), &mut settings) },
            0
        );
        settings.c_lflag & libc::ECHO == 0
    };
    let mut shown = String::new();
    let (mut next, mut answered_upto) = (0, 0);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let mut buf = [0u8; 1024];
    loop {
        assert!(std::time::Instant::now() < deadline, "no end: {shown}");
        if next < answers.len() && shown[answered_upto..].contains(answers[next].0) {
            while !echo_is_off(&master) {
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            master
                .write_all(format!("{}\n", answers[next].1).as_bytes())
                .unwrap();
            next += 1;
            answered_upto = shown.len();
        }
        let mut fds = libc::pollfd {
            fd: std::os::fd::AsRawFd::as_raw_fd(&master),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one pollfd, 100 ms.
        if unsafe { libc::poll(&mut fds, 1, 100) } > 0 {
            match master.read(&mut buf) {
                Ok(0) | Err(_) => break, // EIO once the child's side is closed
                Ok(n) => shown.push_str(&String::from_utf8_lossy(&buf[..n])),
            }
        } else if child.try_wait().unwrap().is_some() {
            break;
        }
    }
    (child.wait().unwrap(), shown)
}

#[tokio::test]
async fn user_add_asks_twice_on_a_terminal_and_shows_nothing_typed() {
    let app = spawn_app().await;
    let dir = app.data.dir.path().to_str().unwrap().to_owned();
    let db = app.data.db.url.clone();
    let base = ["--data-dir", &dir, "--database-url", &db];
    let typed = "typed on a terminal";
    let add = |email: &'static str, again: &'static str| {
        let mut args = vec!["user", "add", email];
        args.extend(base);
        on_a_terminal(
            &args,
            &[("New password: ", typed), ("The same again: ", again)],
        )
    };
    let (status, shown) = add("tty@example.jp", typed);
    assert!(status.success(), "{shown}");
    assert!(shown.contains("created tty@example.jp"), "{shown}");
    assert!(!shown.contains(typed), "the password was echoed: {shown}");
    assert_is_redirect_to(&app.login("tty@example.jp", typed).await, "/");

    let (status, shown) = add("typo@example.jp", "typed on a terminak");
    assert!(!status.success(), "{shown}");
    assert!(
        shown.contains("the two passwords differ; nothing changed"),
        "{shown}"
    );
    let list = stdout(&app.cli(&["user", "list"], None));
    assert!(!list.contains("typo@example.jp"), "{list}");
}

#[tokio::test]
async fn an_account_command_that_fails_half_way_changes_nothing() {
    let app = TestApp::with_admin().await;
    let users = "SELECT COUNT(*) FROM users";

    refuse_audit_events(&app, "account_created", true).await;
    let add = ["user", "add", "hanako@example.jp", "--password-stdin"];
    assert!(
        !app.cli(&add, Some("hanako walks by the sea"))
            .status
            .success()
    );
    refuse_audit_events(&app, "account_created", false).await;
    assert_eq!(app.db_i64(users).await, 1, "no account without its event");

    assert_is_redirect_to(&app.login(ADMIN_EMAIL, PASSWORD).await, "/");
    refuse_audit_events(&app, "password_changed", true).await;
    let set = ["user", "set-password", ADMIN_EMAIL, "--password-stdin"];
    assert!(!app.cli(&set, Some("a new password")).status.success());
    refuse_audit_events(&app, "password_changed", false).await;
    assert_eq!(app.get("/mypage").await.status(), 200, "the session lives");
    assert_is_redirect_to(&app.login_in(&client()).await, "/");

    refuse_audit_events(&app, "account_deleted", true).await;
    let delete = ["user", "delete", ADMIN_EMAIL];
    assert!(!app.cli(&delete, None).status.success());
    refuse_audit_events(&app, "account_deleted", false).await;
    assert_eq!(app.db_i64(users).await, 1, "the account stays");
    assert_eq!(app.get("/mypage").await.status(), 200, "the session lives");
    let out = app.cli(&delete, None);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(app.db_i64(users).await, 0);
    let events = "SELECT COUNT(*) FROM audit_events WHERE kind = 'account_deleted'";
    assert_eq!(app.db_i64(events).await, 1, "the trail keeps the deletion");
}

#[tokio::test]
async fn the_shortest_password_can_be_set_between_8_and_128() {
    let app = spawn_app().await;
    let ten = "kz8#Qw2!mv";
    let add = |extra: &[&str]| {
        let mut args = vec!["user", "add", "c@example.jp", "--password-stdin"];
        args.extend_from_slice(extra);
        app.cli(&args, Some(ten))
    };
    assert_cli_fails(&add(&[]), "at least 12");
    let ok = add(&["--min-password-length", "10"]);
    assert!(ok.status.success(), "{}", stderr(&ok));
    assert_is_redirect_to(&app.login("c@example.jp", ten).await, "/");
}

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
        Some("taro password\n"),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out).trim(),
        "created taro@example.jp (administrator)"
    );
    let out = app.cli(
        &["user", "add", "hanako@example.jp", "--password-stdin"],
        Some("hanako password"),
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
        &app.login("hanako@example.jp", "hanako password").await,
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
        app.login("hanako@example.jp", "hanako password")
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
            "at least 8",
        ),
        (
            vec!["user", "add", "b@example.jp"],
            None,
            "--password-stdin is required",
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
            "at least 8",
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

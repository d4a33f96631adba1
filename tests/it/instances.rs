//! Several instances on one database: sessions, locks and one-time codes are shared,
//! and every one-time thing stays one-time across instances.

use crate::common::*;

async fn sign_in_password(browser: &reqwest::Client, base: &str) {
    let login = format!("{base}/login");
    let resp = post_form(
        browser,
        &login,
        &login,
        &[("email", ADMIN_EMAIL), ("password", PASSWORD)],
    )
    .await;
    assert_is_redirect_to(&resp, "/login/2fa");
}

async fn send(browser: &reqwest::Client, base: &str, path: &str, code: &str) -> (u16, String) {
    let resp = post_form(
        browser,
        &format!("{base}/login"),
        &format!("{base}{path}"),
        &[("code", code)],
    )
    .await;
    (resp.status().as_u16(), location(resp.headers()).to_owned())
}

#[tokio::test]
async fn a_session_from_one_instance_works_on_another_and_ends_everywhere() {
    let a = TestApp::with_admin().await;
    let b = a.another_instance(config).await;
    a.login(ADMIN_EMAIL, PASSWORD).await;
    // Cookies belong to the host, not the port: the same browser reaches both.
    assert_eq!(
        a.client
            .get(b.url("/mypage"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let resp = post_form(&a.client, &b.url("/mypage"), &b.url("/logout"), &[]).await;
    assert_is_redirect_to(&resp, "/login?signed_out=1");
    assert_eq!(a.get("/mypage").await.status(), 303);
    b.stop().await;
}

#[tokio::test]
async fn one_code_sent_to_two_instances_at_once_signs_in_exactly_once() {
    // A high second-step limit: this test makes 100 deliberate losers.
    let relaxed = |d: &AppData| {
        let mut c = config(d);
        c.policy.second_step_throttle.limit = 10_000;
        c
    };
    let a = TestApp::with_admin_in(relaxed).await;
    let enrolled = a.sign_in_and_enable_2fa().await;
    let b = a.another_instance(relaxed).await;

    // Turned on at A, signing in at B asks for the code.
    let browser = client();
    sign_in_password(&browser, &b.base).await;
    a.clock.advance(30);
    assert_eq!(
        send(
            &browser,
            &b.base,
            "/login/2fa",
            &a.code_now(&enrolled.secret)
        )
        .await,
        (303, "/".into())
    );

    let mut wins_per_trial = Vec::new();
    for _ in 0..100 {
        let (on_a, on_b) = (client(), client());
        sign_in_password(&on_a, &a.base).await;
        sign_in_password(&on_b, &b.base).await;
        a.clock.advance(30);
        let code = a.code_now(&enrolled.secret);
        let (ra, rb) = tokio::join!(
            send(&on_a, &a.base, "/login/2fa", &code),
            send(&on_b, &b.base, "/login/2fa", &code)
        );
        let wins = [&ra, &rb]
            .iter()
            .filter(|(s, l)| *s == 303 && l == "/")
            .count();
        wins_per_trial.push(wins);
    }
    let exactly_one = wins_per_trial.iter().filter(|&&w| w == 1).count();
    eprintln!("cross-instance TOTP race: {exactly_one}/100 trials with exactly one success");
    assert_eq!(exactly_one, 100, "{wins_per_trial:?}");

    // The same backup code raced across instances: one success.
    for i in 0..3 {
        let (on_a, on_b) = (client(), client());
        sign_in_password(&on_a, &a.base).await;
        sign_in_password(&on_b, &b.base).await;
        let code = &enrolled.backup_codes[i];
        let (ra, rb) = tokio::join!(
            send(&on_a, &a.base, "/login/backup", code),
            send(&on_b, &b.base, "/login/backup", code)
        );
        let wins = [&ra, &rb].iter().filter(|(s, _)| *s == 303).count();
        assert_eq!(wins, 1, "backup code {i}: {ra:?} {rb:?}");
    }
    b.stop().await;
}

#[tokio::test]
async fn wrong_codes_spread_over_instances_lock_the_account_on_all() {
    let a = TestApp::with_admin().await;
    let enrolled = a.sign_in_and_enable_2fa().await;
    let b = a.another_instance(config).await;
    let wrong = {
        let window: Vec<String> = (-1..=1)
            .map(|d| {
                nidan::otp::totp::code_at(
                    &enrolled.secret,
                    nidan::clock::Clock::now(&a.clock) + 30 * d,
                )
            })
            .collect();
        (0..)
            .map(|n| format!("{:06}", 200_000 + n))
            .find(|c| !window.contains(c))
            .unwrap()
    };
    // 4 at A, 4 at B, 2 more at A: the 10th locks.
    let mut statuses = Vec::new();
    for (base, n) in [(&a.base, 4), (&b.base, 4), (&a.base, 2)] {
        let browser = client();
        sign_in_password(&browser, base).await;
        for _ in 0..n {
            statuses.push(send(&browser, base, "/login/2fa", &wrong).await.0);
        }
    }
    assert_eq!(statuses[..9], [401; 9]);
    assert_eq!(statuses[9], 429);
    // The 11th, and even the right code, wait on both instances.
    a.clock.advance(30);
    let code = a.code_now(&enrolled.secret);
    for base in [&a.base, &b.base] {
        let browser = client();
        sign_in_password(&browser, base).await;
        assert_eq!(
            send(&browser, base, "/login/2fa", &code).await.0,
            429,
            "{base}"
        );
    }
    b.stop().await;
}

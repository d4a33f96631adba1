use crate::common::*;

#[tokio::test]
async fn japanese_by_default_english_on_request_and_remembered() {
    let app = spawn_app().await;
    let (_, page) = app.get_html("/login").await;
    assert_eq!(attr(&page, "html", "lang").as_deref(), Some("ja"));
    assert_eq!(text(&page, "h1"), "ログイン");
    assert_eq!(text(&page, "label[for=email]"), "メールアドレス");

    let (_, page) = app.get_html("/login?lang=en").await;
    assert_eq!(attr(&page, "html", "lang").as_deref(), Some("en"));
    assert_eq!(text(&page, "h1"), "Sign in");
    assert_eq!(text(&page, "label[for=password]"), "Password");

    let (_, page) = app.get_html("/login").await;
    assert_eq!(text(&page, "h1"), "Sign in", "the choice is remembered");
    let (_, page) = app.get_html("/login?lang=ja").await;
    assert_eq!(text(&page, "h1"), "ログイン");
}

#[tokio::test]
async fn accept_language_decides_when_nothing_was_chosen() {
    let app = spawn_app().await;
    let en = app
        .client
        .get(app.url("/login"))
        .header("accept-language", "en-GB,en;q=0.9")
        .send()
        .await
        .unwrap();
    let page = scraper::Html::parse_document(&en.text().await.unwrap());
    assert_eq!(text(&page, "h1"), "Sign in");
    let fr = client()
        .get(app.url("/login"))
        .header("accept-language", "fr-FR")
        .send()
        .await
        .unwrap();
    let page = scraper::Html::parse_document(&fr.text().await.unwrap());
    assert_eq!(
        text(&page, "h1"),
        "Sign in",
        "neither ja nor en asked: English"
    );
    let ja = client()
        .get(app.url("/login"))
        .header("accept-language", "fr-FR, ja;q=0.5")
        .send()
        .await
        .unwrap();
    let page = scraper::Html::parse_document(&ja.text().await.unwrap());
    assert_eq!(text(&page, "h1"), "ログイン");
    // No preference at all: the manual's Japanese.
    let (_, page) = get_html(&client(), &app.url("/login")).await;
    assert_eq!(text(&page, "h1"), "ログイン");
}

#[tokio::test]
async fn error_messages_follow_the_language() {
    let app = TestApp::with_admin().await;
    app.get_html("/login?lang=en").await;
    let resp = app.login(ADMIN_EMAIL, "wrong password").await;
    let page = scraper::Html::parse_document(&resp.text().await.unwrap());
    assert_eq!(
        text(&page, "[role=alert]"),
        "The email address or password is incorrect."
    );
    app.login(ADMIN_EMAIL, PASSWORD).await;
    let (_, page) = app.get_html("/mypage").await;
    assert_eq!(text(&page, "h1"), "My Page");
    assert_eq!(text(&page, "#two-step-heading"), "Two-step verification");
    assert_eq!(text(&page, "#two-step-state"), "Off");
}

#[tokio::test]
async fn switching_language_keeps_the_way_back() {
    let app = spawn_in(AppData::new().await, |d| {
        let mut c = config(d);
        c.allowed_redirect_domains = vec!["example.home".into()];
        c
    })
    .await;
    let rd = "https://cam.example.home/live?cam=2";
    let (_, page) = app
        .get_html("/login?rd=https%3A%2F%2Fcam.example.home%2Flive%3Fcam%3D2&lang=ja")
        .await;
    let href = attr(&page, "a.lang", "href").unwrap();
    assert_eq!(
        href,
        "?rd=https%3A%2F%2Fcam.example.home%2Flive%3Fcam%3D2&lang=en"
    );
    // The English page still knows where to go after sign-in.
    let (_, page) = app.get_html(&format!("/login{href}")).await;
    assert_eq!(text(&page, "h1"), "Sign in");
    assert_eq!(attr(&page, "input[name=rd]", "value").as_deref(), Some(rd));
    let (_, page) = app.get_html("/login?next=%2Fmypage").await;
    assert_eq!(
        attr(&page, "a.lang", "href").as_deref(),
        Some("?next=%2Fmypage&lang=ja")
    );
}

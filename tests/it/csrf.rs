use crate::common::*;

#[tokio::test]
async fn a_post_without_or_with_a_wrong_token_is_refused_and_changes_nothing() {
    let app = TestApp::with_admin().await;
    app.get_html("/login").await; // the CSRF cookie is set
    let fields = [("email", ADMIN_EMAIL), ("password", PASSWORD)];

    let none = app
        .client
        .post(app.url("/login"))
        .form(&fields)
        .send()
        .await
        .unwrap();
    assert_eq!(none.status(), 403);
    let mut wrong = fields.to_vec();
    wrong.push(("csrf_token", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"));
    let wrong = app
        .client
        .post(app.url("/login"))
        .form(&wrong)
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 403);
    let page = scraper::Html::parse_document(&wrong.text().await.unwrap());
    assert!(text(&page, "[role=alert]").contains("ページの有効期限が切れました"));
    assert_eq!(app.get("/").await.status(), 303, "not signed in");

    // Without the cookie at all (a cross-site form in a fresh browser).
    let fresh = client();
    let (_, page) = app.get_html("/login").await;
    let mut stolen = fields.to_vec();
    let token = csrf_token(&page).unwrap();
    stolen.push(("csrf_token", &token));
    let resp = fresh
        .post(app.url("/login"))
        .form(&stolen)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
}

#[tokio::test]
async fn sign_out_needs_the_token_of_the_signed_in_session() {
    let app = TestApp::with_admin().await;
    // The token from before sign-in is bound to no session, so it is stale afterwards.
    let (_, before) = app.get_html("/login").await;
    let stale = csrf_token(&before).unwrap();
    app.login(ADMIN_EMAIL, PASSWORD).await;
    let resp = app
        .client
        .post(app.url("/logout"))
        .form(&[("csrf_token", stale.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    assert_eq!(app.get("/mypage").await.status(), 200, "still signed in");
    assert_eq!(app.logout().await.status(), 303);
    assert_eq!(app.get("/mypage").await.status(), 303);
}

#[tokio::test]
async fn every_form_carries_a_token() {
    let app = spawn_app().await;
    let setup = app.setup_url.clone().unwrap();
    let (_, page) = get_html(&app.client, &setup).await;
    assert!(csrf_token(&page).is_some());
    let (_, page) = app.get_html("/login").await;
    assert!(csrf_token(&page).is_some());
}

//! One harness for the integration tests: start the real app on 127.0.0.1:0 with a
//! temporary data directory and a settable clock, and talk HTTP to it.

#![allow(dead_code)]

use serde_json::Value;
use std::io::Write;
use std::path::Path;

use sqlx::Row;
use std::process::{Command, Output, Stdio};
use std::sync::Arc;

use nidan::clock::{Clock, ManualClock, SystemClock};
use nidan::{App, Config, RunningApp};
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, LOCATION};
use scraper::{Html, Selector};
use tempfile::TempDir;

mod process;
pub use process::*;
mod smtp;
pub use smtp::*;

pub const ADMIN_EMAIL: &str = "admin@example.jp";
pub const PASSWORD: &str = "correct horse battery";

pub struct TestApp {
    pub base: String,
    pub clock: ManualClock,
    pub client: reqwest::Client,
    pub data: AppData,
    pub setup_url: Option<String>,
    running: Option<RunningApp>,
}

/// What outlives one server: its data directory (key file) and its database.
pub struct AppData {
    pub dir: TempDir,
    pub db: TestDb,
}

impl AppData {
    pub async fn new() -> AppData {
        let dir = tempfile::tempdir().unwrap();
        let db = TestDb::new(dir.path()).await;
        AppData { dir, db }
    }
}

pub fn config(data: &AppData) -> Config {
    let mut config = Config::new(data.dir.path());
    config.listen = "127.0.0.1:0".parse().unwrap();
    config.database_url = Some(data.db.url.clone());
    // Reset links go out at once (not after a random wait up to 3 s).
    config.policy.reset_mail_delay = std::time::Duration::ZERO;
    config
}

/// A client that keeps cookies and does not follow redirects, as the tests check them.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

pub async fn spawn_app() -> TestApp {
    spawn_in(AppData::new().await, config).await
}

pub async fn spawn_in(data: AppData, make: impl FnOnce(&AppData) -> Config) -> TestApp {
    let clock = ManualClock::new(SystemClock.now());
    spawn_with_clock(data, make, clock).await
}

pub async fn spawn_with_clock(
    data: AppData,
    make: impl FnOnce(&AppData) -> Config,
    clock: ManualClock,
) -> TestApp {
    init_tracing();
    let running = App::spawn(make(&data), Arc::new(clock.clone()))
        .await
        .expect("app starts");
    TestApp {
        base: format!("http://{}", running.addr),
        setup_url: running.setup_url.clone(),
        clock,
        client: client(),
        data,
        running: Some(running),
    }
}

fn init_tracing() {
    if std::env::var_os("TEST_LOG").is_some() {
        let _ = tracing_subscriber::fmt().with_test_writer().try_init();
    }
}

/// Another server on the same data directory, database and clock.
pub struct Instance {
    pub base: String,
    running: RunningApp,
}

impl Instance {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn stop(self) {
        self.running.stop().await.unwrap();
    }
}

impl TestApp {
    /// An app with an administrator, created through the setup link.
    pub async fn with_admin() -> TestApp {
        TestApp::with_admin_in(config).await
    }

    pub async fn with_admin_in(make: impl FnOnce(&AppData) -> Config) -> TestApp {
        TestApp::with_admin_on(AppData::new().await, make).await
    }

    /// [`Self::with_admin_in`] on the given data directory and database.
    pub async fn with_admin_on(data: AppData, make: impl FnOnce(&AppData) -> Config) -> TestApp {
        let app = spawn_in(data, make).await;
        let setup = app.setup_url.clone().expect("fresh app offers setup");
        // Under a public URL that names another host, the link's path on this server.
        let path = reqwest::Url::parse(&setup)
            .expect("a URL")
            .path()
            .to_owned();
        let prefix = path[..path.find("/setup/").expect("a setup path")].to_owned();
        let setup = app.url(&path);
        let browser = client();
        let resp = post_form(
            &browser,
            &setup,
            &setup,
            &[
                ("email", ADMIN_EMAIL),
                ("password", PASSWORD),
                ("password_confirm", PASSWORD),
            ],
        )
        .await;
        assert_is_redirect_to(&resp, &format!("{prefix}/mypage"));
        app
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn another_instance(&self, make: impl FnOnce(&AppData) -> Config) -> Instance {
        let running = App::spawn(make(&self.data), Arc::new(self.clock.clone()))
            .await
            .expect("second instance starts");
        Instance {
            base: format!("http://{}", running.addr),
            running,
        }
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    pub async fn get_html(&self, path: &str) -> (StatusCode, Html) {
        get_html(&self.client, &self.url(path)).await
    }

    /// Fetches `form_page` for its CSRF token, then posts `fields` (and the token) to `action`.
    pub async fn post(
        &self,
        form_page: &str,
        action: &str,
        fields: &[(&str, &str)],
    ) -> reqwest::Response {
        post_form(
            &self.client,
            &self.url(form_page),
            &self.url(action),
            fields,
        )
        .await
    }

    /// The administrator's password sign-in in `browser` (another than this app's client).
    pub async fn login_in(&self, browser: &reqwest::Client) -> reqwest::Response {
        post_form(
            browser,
            &self.url("/login"),
            &self.url("/login"),
            &[("email", ADMIN_EMAIL), ("password", PASSWORD)],
        )
        .await
    }

    /// Whether `email` and `password` sign in (to `/`, or to the second step), from a
    /// browser of its own.
    pub async fn signs_in_as(&self, email: &str, password: &str) -> bool {
        let fields = [("email", email), ("password", password)];
        let resp = post_form(&client(), &self.url("/login"), &self.url("/login"), &fields).await;
        resp.status() == 303 && ["/", "/login/2fa"].contains(&location(resp.headers()))
    }

    pub async fn login(&self, email: &str, password: &str) -> reqwest::Response {
        self.post(
            "/login",
            "/login",
            &[("email", email), ("password", password)],
        )
        .await
    }

    /// `POST /api/v1/login` from this app's client, as a script of the API would.
    pub async fn api_login(&self, email: &str, password: &str) -> reqwest::Response {
        self.client
            .post(self.url("/api/v1/login"))
            .header("x-requested-with", "test")
            .json(&serde_json::json!({"email": email, "password": password}))
            .send()
            .await
            .unwrap()
    }

    /// Whether `/readyz` says 200 within `tries` tenths of a second.
    pub async fn ready_within(&self, tries: u32) -> bool {
        for _ in 0..tries {
            if self.get("/readyz").await.status() == 200 {
                return true;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        false
    }

    pub async fn logout(&self) -> reqwest::Response {
        self.post("/mypage", "/logout", &[]).await
    }

    /// Runs the built `nidan` binary on this app's data directory and database.
    pub fn cli(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let mut all: Vec<&str> = args.to_vec();
        let dir = self.data.dir.path().to_str().unwrap();
        all.extend(["--data-dir", dir, "--database-url", &self.data.db.url]);
        run_cli(&all, stdin)
    }

    /// Stops the server, keeping its data directory and database.
    pub async fn stop(mut self) -> AppData {
        self.running.take().unwrap().stop().await.unwrap();
        self.data
    }

    /// Where `/metrics` has its own listener, if it has.
    pub fn metrics_addr(&self) -> Option<std::net::SocketAddr> {
        self.running.as_ref().and_then(|r| r.metrics_addr)
    }

    /// One number from the database (e.g. a COUNT), whatever the backend.
    pub async fn db_i64(&self, sql: &str) -> i64 {
        self.data.db.i64(sql).await
    }

    /// One column of byte strings from the database, whatever the backend.
    pub async fn db_bytes(&self, sql: &str) -> Vec<Vec<u8>> {
        self.data.db.bytes(sql).await
    }
}

pub fn run_cli(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_nidan"))
        .args(args)
        .env_remove("NIDAN_DATA_DIR")
        .env_remove("NIDAN_DATABASE_URL")
        .env_remove("NIDAN_SECRET_KEY")
        .env_remove("NIDAN_PUBLIC_URL")
        .env_remove("NIDAN_PAGES_PREFIX")
        .env_remove("NIDAN_SMTP_URL")
        .env_remove("NIDAN_CONFIG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).unwrap();
    }
    drop(input);
    child.wait_with_output().unwrap()
}

pub async fn get_html(client: &reqwest::Client, url: &str) -> (StatusCode, Html) {
    let resp = client.get(url).send().await.unwrap();
    let status = resp.status();
    (status, Html::parse_document(&resp.text().await.unwrap()))
}

pub async fn post_form(
    client: &reqwest::Client,
    form_page: &str,
    action: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    let (_, page) = get_html(client, form_page).await;
    let token = csrf_token(&page).expect("page has a CSRF token");
    let mut body: Vec<(&str, &str)> = fields.to_vec();
    body.push(("csrf_token", &token));
    client.post(action).form(&body).send().await.unwrap()
}

/// Set-up step 1 on マイページ (the password again) in `browser`, at the set-up page's
/// URL `setup`; the page that then shows the key and the QR code.
pub async fn setup_key_page(browser: &reqwest::Client, setup: &str) -> Html {
    let resp = post_form(
        browser,
        setup,
        setup,
        &[("step", "password"), ("password", PASSWORD)],
    )
    .await;
    let path = reqwest::Url::parse(setup).unwrap().path().to_owned();
    assert_is_redirect_to(&resp, &path);
    get_html(browser, setup).await.1
}

pub fn csrf_token(page: &Html) -> Option<String> {
    attr(page, "input[name=csrf_token]", "value")
}

pub fn select(page: &Html, css: &str) -> Vec<String> {
    let selector = Selector::parse(css).unwrap();
    page.select(&selector)
        .map(|e| e.text().collect::<String>().trim().to_owned())
        .collect()
}

pub fn text(page: &Html, css: &str) -> String {
    select(page, css).join(" ")
}

pub fn attr(page: &Html, css: &str, name: &str) -> Option<String> {
    let selector = Selector::parse(css).unwrap();
    page.select(&selector)
        .next()
        .and_then(|e| e.value().attr(name))
        .map(str::to_owned)
}

pub fn location(headers: &HeaderMap) -> &str {
    headers
        .get(LOCATION)
        .map(|v| v.to_str().unwrap())
        .unwrap_or("")
}

#[track_caller]
pub fn assert_is_redirect_to(resp: &reqwest::Response, to: &str) {
    assert!(
        resp.status().is_redirection(),
        "expected a redirect to {to}, got {}",
        resp.status()
    );
    assert_eq!(location(resp.headers()), to);
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A failed command says what is wrong in exactly one line and exits with 1.
#[track_caller]
pub fn assert_cli_fails(output: &Output, needle: &str) {
    let err = stderr(output);
    assert_eq!(output.status.code(), Some(1), "stderr: {err}");
    assert_eq!(err.lines().count(), 1, "one line expected: {err:?}");
    assert!(err.contains(needle), "{needle:?} not in {err:?}");
}

pub async fn page(resp: reqwest::Response) -> Html {
    Html::parse_document(&resp.text().await.unwrap())
}

/// What turning on two-step verification gave: the key as shown, and the backup codes.
pub struct Enrolled {
    pub secret: Vec<u8>,
    pub backup_codes: Vec<String>,
}

impl TestApp {
    /// Signs in (password only) and turns on two-step verification through the pages,
    /// reading the key from the page as a person typing it into the app would.
    pub async fn sign_in_and_enable_2fa(&self) -> Enrolled {
        assert_is_redirect_to(&self.login(ADMIN_EMAIL, PASSWORD).await, "/");
        self.enable_2fa().await
    }

    /// Set-up step 1 (the password) or step 2 (the code), as the set-up page posts them.
    pub async fn setup_step(&self, step: &str, value: &str) -> reqwest::Response {
        let field = if step == "code" { "code" } else { "password" };
        let page = "/mypage/2fa/setup";
        self.post(page, page, &[("step", step), (field, value)])
            .await
    }

    pub async fn enable_2fa(&self) -> Enrolled {
        let resp = self.setup_step("password", PASSWORD).await;
        assert_is_redirect_to(&resp, "/mypage/2fa/setup");
        let secret = self.setup_key().await;
        let code = self.code_now(&secret);
        let resp = self.setup_step("code", &code).await;
        assert_eq!(resp.status(), 200);
        let page = page(resp).await;
        let backup_codes = select(&page, "#backup-codes li");
        assert_eq!(backup_codes.len(), 10, "{}", page.html());
        Enrolled {
            secret,
            backup_codes,
        }
    }

    /// The key on the set-up page (step 2).
    pub async fn setup_key(&self) -> Vec<u8> {
        let (status, page) = self.get_html("/mypage/2fa/setup").await;
        assert_eq!(status, 200);
        let key = text(&page, "#totp-key");
        nidan::otp::secret_from_base32(&key).expect("the key is base32")
    }

    /// The code an authenticator app shows now, by the app's clock.
    pub fn code_now(&self, secret: &[u8]) -> String {
        use nidan::clock::Clock;
        nidan::otp::totp::code_at(secret, self.clock.now())
    }

    /// Password step from a fresh browser; returns that browser, now on the code page.
    pub async fn password_step(&self) -> reqwest::Client {
        let browser = client();
        let resp = self.login_in(&browser).await;
        assert_is_redirect_to(&resp, "/login/2fa");
        browser
    }

    /// Posts a code; the CSRF token comes from /login, which a pending browser can always open.
    pub async fn send_code(
        &self,
        browser: &reqwest::Client,
        path: &str,
        code: &str,
    ) -> reqwest::Response {
        post_form(
            browser,
            &self.url("/login"),
            &self.url(path),
            &[("code", code)],
        )
        .await
    }
}

/// Makes the database refuse (or accept again) audit events of `kind`: a failure at a use
/// case's last write, to show that the writes before it are undone too.
pub async fn refuse_audit_events(app: &TestApp, kind: &str, refuse: bool) {
    let db = &app.data.db;
    match (on_postgres(), refuse) {
        (false, true) => {
            db.exec(&format!(
                "CREATE TRIGGER refuse_event BEFORE INSERT ON audit_events
                 WHEN NEW.kind = '{kind}'
                 BEGIN SELECT RAISE(ABORT, 'refused for the test'); END"
            ))
            .await
        }
        (false, false) => db.exec("DROP TRIGGER refuse_event").await,
        (true, true) => {
            db.exec(&format!(
                "CREATE FUNCTION refuse_event() RETURNS trigger AS $$
                 BEGIN
                   IF NEW.kind = '{kind}' THEN RAISE EXCEPTION 'refused for the test'; END IF;
                   RETURN NEW;
                 END $$ LANGUAGE plpgsql"
            ))
            .await;
            db.exec(
                "CREATE TRIGGER refuse_event BEFORE INSERT ON audit_events
                 FOR EACH ROW EXECUTE FUNCTION refuse_event()",
            )
            .await
        }
        (true, false) => {
            db.exec("DROP TRIGGER refuse_event ON audit_events").await;
            db.exec("DROP FUNCTION refuse_event()").await
        }
    }
}

/// The database a test runs on: SQLite in the data directory, or, with
/// `NIDAN_TEST_BACKEND=postgres`, a fresh PostgreSQL database dropped afterwards.
pub struct TestDb {
    pub url: String,
    pg_name: Option<String>,
}

pub fn postgres_admin_url() -> String {
    std::env::var("NIDAN_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

pub fn on_postgres() -> bool {
    std::env::var("NIDAN_TEST_BACKEND").is_ok_and(|b| b == "postgres")
}

fn with_database(admin: &str, name: &str) -> String {
    let (base, query) = admin.split_once('?').map_or((admin, ""), |(b, q)| (b, q));
    let (server, _) = base.rsplit_once('/').expect("URL with a database");
    if query.is_empty() {
        format!("{server}/{name}")
    } else {
        format!("{server}/{name}?{query}")
    }
}

impl TestDb {
    /// SQLite in `dir`, whichever backend the run is for.
    pub fn sqlite(dir: &Path) -> TestDb {
        TestDb {
            url: nidan::config::default_database_url(dir),
            pg_name: None,
        }
    }

    pub async fn new(dir: &Path) -> TestDb {
        if !on_postgres() {
            let url = nidan::config::default_database_url(dir);
            return TestDb { url, pg_name: None };
        }
        TestDb::postgres().await
    }

    /// A fresh PostgreSQL database, whichever backend the run is for.
    pub async fn postgres() -> TestDb {
        let name = format!("nidan_test_{}", uuid_like());
        let admin = sqlx::PgPool::connect(&postgres_admin_url())
            .await
            .expect("PostgreSQL for tests");
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&admin)
            .await
            .unwrap();
        admin.close().await;
        TestDb {
            url: with_database(&postgres_admin_url(), &name),
            pg_name: Some(name),
        }
    }

    pub async fn i64(&self, sql: &str) -> i64 {
        if self.pg_name.is_some() {
            let pool = sqlx::PgPool::connect(&self.url).await.unwrap();
            let v = sqlx::query(sql).fetch_one(&pool).await.unwrap().get(0);
            pool.close().await;
            v
        } else {
            let pool = sqlx::SqlitePool::connect(&self.url).await.unwrap();
            sqlx::query(sql).fetch_one(&pool).await.unwrap().get(0)
        }
    }

    pub async fn exec(&self, sql: &str) {
        if self.pg_name.is_some() {
            let pool = sqlx::PgPool::connect(&self.url).await.unwrap();
            sqlx::query(sql).execute(&pool).await.unwrap();
            pool.close().await;
        } else {
            let pool = sqlx::SqlitePool::connect(&self.url).await.unwrap();
            sqlx::query(sql).execute(&pool).await.unwrap();
        }
    }

    pub async fn bytes(&self, sql: &str) -> Vec<Vec<u8>> {
        if self.pg_name.is_some() {
            let pool = sqlx::PgPool::connect(&self.url).await.unwrap();
            let rows = sqlx::query(sql).fetch_all(&pool).await.unwrap();
            pool.close().await;
            rows.iter().map(|r| r.get(0)).collect()
        } else {
            let pool = sqlx::SqlitePool::connect(&self.url).await.unwrap();
            let rows = sqlx::query(sql).fetch_all(&pool).await.unwrap();
            rows.iter().map(|r| r.get(0)).collect()
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some(name) = self.pg_name.take() else {
            return;
        };
        // Drop runs inside the test's runtime; a thread of its own may block on another.
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                if let Ok(admin) = sqlx::PgPool::connect(&postgres_admin_url()).await {
                    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .execute(&admin)
                        .await;
                    admin.close().await;
                }
            });
        })
        .join()
        .ok();
    }
}

fn uuid_like() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 8];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `nidan_session=TOKEN` from a response that set it, as a Cookie header carries it.
pub fn session_pair(resp: &reqwest::Response) -> String {
    resp.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("nidan_session="))
        .map(|c| c.split(';').next().unwrap().to_owned())
        .expect("session cookie")
}

/// A script of the JSON API, with a cookie jar of its own.
pub struct Api<'a> {
    app: &'a TestApp,
    pub client: reqwest::Client,
}

impl<'a> Api<'a> {
    pub fn new(app: &'a TestApp) -> Self {
        Api {
            app,
            client: client(),
        }
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let resp = self
            .client
            .post(self.app.url(path))
            .header("x-requested-with", "test")
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let problem = resp
            .headers()
            .get("content-type")
            .is_some_and(|c| c == "application/problem+json");
        let value: Value = resp.json().await.unwrap();
        if status >= 400 {
            assert!(problem, "{status} {value}");
        }
        (status, value)
    }

    pub async fn me(&self) -> (u16, Value) {
        let resp = self
            .client
            .get(self.app.url("/api/v1/me"))
            .send()
            .await
            .unwrap();
        (resp.status().as_u16(), resp.json().await.unwrap())
    }
}

/// A problem's type, its last segment (`wrong-password`).
pub fn kind(problem: &Value) -> &str {
    problem["type"]
        .as_str()
        .unwrap()
        .trim_start_matches("/api/v1/problems/")
}

/// The statuses of requests sent at once.
pub async fn statuses_at_once<F>(sends: impl IntoIterator<Item = F>) -> Vec<u16>
where
    F: std::future::Future<Output = reqwest::Result<reqwest::Response>>,
{
    futures_util::future::join_all(sends)
        .await
        .into_iter()
        .map(|r| r.unwrap().status().as_u16())
        .collect()
}

//! The real `nidan serve` process, as an operator starts it: its stderr read line by line,
//! the setup link taken from it, and the manual's whole flow run against it.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::*;

pub struct ServeProcess {
    child: Option<Child>,
    lines: Arc<Mutex<Vec<String>>>,
    reader: Option<std::thread::JoinHandle<()>>,
    /// `http://127.0.0.1:PORT`, from the setup link.
    pub base: String,
    pub setup_link: String,
}

impl ServeProcess {
    /// `nidan serve` on a free loopback port, with `args` added.
    pub fn command(args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_nidan"));
        command
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(args);
        command
    }

    /// Starts `command` and waits for the setup link it prints on a fresh data directory.
    pub async fn start(mut command: Command) -> ServeProcess {
        let mut child = command
            .env_remove("NIDAN_DATABASE_URL")
            .env_remove("NIDAN_SECRET_KEY")
            .env_remove("NIDAN_DATA_DIR")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{command:?}: {e}"));
        let lines = Arc::new(Mutex::new(Vec::<String>::new()));
        let reader = {
            let lines = lines.clone();
            let stderr = child.stderr.take().unwrap();
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    lines.lock().unwrap().push(line);
                }
            })
        };
        // The setup link is the one URL on stderr that is not a log line.
        let find_setup_link = || {
            lines.lock().unwrap().iter().find_map(|l| {
                let url = l.trim();
                (url.starts_with("http://127.0.0.1") && url.contains("/setup/"))
                    .then(|| url.to_owned())
            })
        };
        let mut setup_link = None;
        for _ in 0..200 {
            setup_link = find_setup_link();
            if setup_link.is_some() || child.try_wait().unwrap().is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let Some(setup_link) = setup_link else {
            let exit = child.try_wait().unwrap();
            let _ = child.kill();
            let _ = child.wait();
            let _ = reader.join();
            panic!(
                "no setup link; exit {exit:?}; stderr:\n{}",
                lines.lock().unwrap().join("\n")
            );
        };
        let base = setup_link.split("/setup/").next().unwrap().to_owned();
        ServeProcess {
            child: Some(child),
            lines,
            reader: Some(reader),
            base,
            setup_link,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn setup_token(&self) -> &str {
        self.setup_link.split("/setup/").nth(1).unwrap()
    }

    /// What the process wrote to stderr so far.
    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    /// Sends SIGTERM.
    pub fn sigterm(&self) {
        let pid = self.child.as_ref().unwrap().id();
        let status = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// The exit status once the process has stopped, and all it wrote to stderr.
    pub async fn wait(mut self) -> (std::process::ExitStatus, Vec<String>) {
        let mut child = self.child.take().unwrap();
        let exit = tokio::task::spawn_blocking(move || child.wait().unwrap())
            .await
            .unwrap();
        if let Some(reader) = self.reader.take() {
            reader.join().unwrap();
        }
        (exit, self.lines())
    }

    /// The manual from the start: the administrator is created through the setup link,
    /// turns on two-step verification (key read from the page, code computed as an app
    /// would), and a second browser signs in with the password and a backup code.
    pub async fn manual_flow(&self) -> ManualFlow {
        let browser = client();
        let url = |p: &str| self.url(p);
        post_form(
            &browser,
            &self.setup_link,
            &self.setup_link,
            &[
                ("email", ADMIN_EMAIL),
                ("password", PASSWORD),
                ("password_confirm", PASSWORD),
            ],
        )
        .await;
        let setup_page = setup_key_page(&browser, &url("/mypage/2fa/setup")).await;
        let key_grouped = text(&setup_page, "#totp-key");
        let secret = nidan::otp::secret_from_base32(&key_grouped).unwrap();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let first_code = nidan::otp::totp::code_at(&secret, now);
        let resp = post_form(
            &browser,
            &url("/mypage/2fa/setup"),
            &url("/mypage/2fa/setup"),
            &[("step", "code"), ("code", &first_code)],
        )
        .await;
        let backup_codes = select(&page(resp).await, "#backup-codes li");
        assert_eq!(backup_codes.len(), 10);

        let signed_in = client();
        let resp = post_form(
            &signed_in,
            &url("/login"),
            &url("/login"),
            &[("email", ADMIN_EMAIL), ("password", PASSWORD)],
        )
        .await;
        assert_is_redirect_to(&resp, "/login/2fa");
        let resp = post_form(
            &signed_in,
            &url("/login"),
            &url("/login/backup"),
            &[("code", &backup_codes[0])],
        )
        .await;
        let cookie = |name: &str| {
            resp.headers()
                .get_all("set-cookie")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .find_map(|c| c.strip_prefix(&format!("{name}=")).map(str::to_owned))
                .map(|c| c.split(';').next().unwrap().to_owned())
        };
        ManualFlow {
            session: cookie("nidan_session").expect("signed in with a backup code"),
            device: cookie("nidan_device").expect("a new browser gets a device cookie"),
            signed_in,
            key_grouped,
            first_code,
            backup_codes,
        }
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// What the manual's flow used and got, for the tests to look for.
pub struct ManualFlow {
    /// The browser that signed in.
    pub signed_in: reqwest::Client,
    pub session: String,
    pub device: String,
    pub key_grouped: String,
    pub first_code: String,
    pub backup_codes: Vec<String>,
}

//! Just enough of a mail server for the tests: an SMTP sink on 127.0.0.1 that keeps every
//! message it is given, and a wait for one that says something.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

use super::{TestApp, config};

pub type Inbox = Arc<Mutex<Vec<Mail>>>;

impl TestApp {
    /// An app with its administrator whose email goes to a sink of its own.
    pub async fn with_admin_and_mail() -> (TestApp, Inbox) {
        let (url, inbox) = smtp_sink().await;
        let app = TestApp::with_admin_in(|data| {
            let mut c = config(data);
            c.smtp_url = Some(url.clone().into());
            c.smtp_from = "nidan <nidan@example.jp>".to_owned();
            c
        })
        .await;
        (app, inbox)
    }
}

#[derive(Debug, Clone)]
pub struct Mail {
    pub to: Vec<String>,
    pub body: String,
}

/// Just enough SMTP to take mail: every command gets a yes, DATA is kept.
pub async fn smtp_sink() -> (String, Inbox) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("smtp://{}", listener.local_addr().unwrap());
    let inbox = Arc::new(Mutex::new(Vec::new()));
    let sink = inbox.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let inbox = sink.clone();
            tokio::spawn(async move {
                let (read, mut write) = stream.into_split();
                let mut lines = BufReader::new(read).lines();
                write.write_all(b"220 sink\r\n").await.unwrap();
                let mut to = Vec::new();
                while let Ok(Some(line)) = lines.next_line().await {
                    let upper = line.to_ascii_uppercase();
                    let reply: &[u8] = if upper.starts_with("RCPT TO:") {
                        to.push(line[8..].trim().trim_matches(['<', '>']).to_owned());
                        b"250 ok\r\n"
                    } else if upper == "DATA" {
                        write.write_all(b"354 go on\r\n").await.unwrap();
                        let mut data = Vec::new();
                        while let Ok(Some(l)) = lines.next_line().await {
                            if l == "." {
                                break;
                            }
                            data.push(l);
                        }
                        inbox.lock().unwrap().push(Mail {
                            to: std::mem::take(&mut to),
                            body: decode_body(&data),
                        });
                        b"250 kept\r\n"
                    } else if upper == "QUIT" {
                        let _ = write.write_all(b"221 bye\r\n").await;
                        break;
                    } else {
                        b"250 ok\r\n"
                    };
                    if write.write_all(reply).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    (url, inbox)
}

/// The `nth` link (from the first) whose path and query start with `path`, across every
/// mail the sink has taken, waiting a few seconds for it.
pub async fn link_in(inbox: &Inbox, path: &str, nth: usize) -> String {
    for _ in 0..100 {
        let links: Vec<String> = inbox
            .lock()
            .unwrap()
            .iter()
            .filter_map(|m| {
                let at = m.body.find(path)?;
                let start = m.body[..at].rfind("http").unwrap();
                let end = m.body[at..]
                    .find(char::is_whitespace)
                    .map_or(m.body.len(), |e| at + e);
                Some(m.body[start..end].to_owned())
            })
            .collect();
        if let Some(link) = links.get(nth) {
            return link.clone();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no link number {nth}: {:?}", inbox.lock().unwrap());
}

/// The body after the headers, base64 as nidan sends it.
fn decode_body(lines: &[String]) -> String {
    let start = lines.iter().position(|l| l.is_empty()).unwrap_or(0);
    let joined: String = lines[start..].concat();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(joined.trim())
        .unwrap_or_default();
    String::from_utf8(bytes).unwrap_or_default()
}

pub async fn wait_for(inbox: &Inbox, needle: &str) -> Mail {
    for _ in 0..100 {
        if let Some(m) = inbox
            .lock()
            .unwrap()
            .iter()
            .find(|m| m.body.contains(needle))
        {
            return m.clone();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no mail with {needle:?}: {:?}", inbox.lock().unwrap());
}

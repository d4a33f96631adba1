//! Whether PostgreSQL answers, known without waiting for it: a probe asks every half
//! second on a connection of its own (the pool's may all be stuck), and while the database
//! does not answer every request fails at once with "unavailable" instead of queueing for
//! a connection. It is back for requests within half a second of answering again.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection};

/// How often the probe asks.
const EVERY: Duration = Duration::from_millis(500);
/// A probe not answered in this long counts as the database being away (a partition
/// answers nothing at all).
const DEADLINE: Duration = Duration::from_secs(1);

#[derive(Debug, Default)]
pub struct Reachability {
    away: AtomicBool,
}

impl Reachability {
    pub fn is_away(&self) -> bool {
        self.away.load(Ordering::Relaxed)
    }

    fn set(&self, away: bool, why: Option<&str>) {
        if self.away.swap(away, Ordering::Relaxed) != away {
            if away {
                tracing::error!(
                    why = why.unwrap_or("-"),
                    "PostgreSQL does not answer: requests answer 503 at once until it does"
                );
            } else {
                tracing::info!("PostgreSQL answers again");
            }
        }
    }
}

/// The probe, for as long as the store lives (it is aborted with it).
pub async fn probe(options: PgConnectOptions, reachability: Arc<Reachability>) {
    let mut connection: Option<PgConnection> = None;
    let mut ticks = tokio::time::interval(EVERY);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let asked = tokio::time::timeout(DEADLINE, async {
            if connection.is_none() {
                connection = Some(PgConnection::connect_with(&options).await?);
            }
            match connection.as_mut() {
                Some(c) => c.ping().await,
                None => Ok(()),
            }
        })
        .await;
        match asked {
            Ok(Ok(())) => reachability.set(false, None),
            Ok(Err(e)) => {
                connection = None;
                reachability.set(true, Some(&e.to_string()));
            }
            Err(_) => {
                connection = None;
                reachability.set(true, Some("no answer within 1 s"));
            }
        }
    }
}

/// Aborts the probe when the last clone of the store goes.
#[derive(Debug)]
pub struct ProbeTask(pub tokio::task::JoinHandle<()>);

impl Drop for ProbeTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

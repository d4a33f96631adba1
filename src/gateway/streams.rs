//! Streams (MJPEG, HLS) and WebSocket tunnels the built-in proxy holds open, by the session
//! they were opened under, so that they end when that session does: sign-out, "sign out
//! this device", a password or two-step change, expiry, the CLI, on whichever instance.
//! A watcher asks after each such session every few seconds; sessions are in the shared
//! database, so every instance sees an end made by another.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::body::{Body as HttpBody, Bytes, Frame, SizeHint};
use tokio::sync::watch;

use crate::auth::AuthService;
use crate::crypto::TokenHash;

/// A session's open streams: the signal that ends them, and how many there are.
type Streams = (Arc<watch::Sender<bool>>, usize);

#[derive(Default)]
pub struct OpenStreams {
    sessions: Mutex<HashMap<TokenHash, Streams>>,
}

impl OpenStreams {
    // A panic while holding the lock leaves plain data behind: keep using it.
    fn sessions(&self) -> std::sync::MutexGuard<'_, HashMap<TokenHash, Streams>> {
        self.sessions.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// One more open stream of `session`, counted until the returned handle is dropped.
    pub fn hold(self: &Arc<Self>, session: TokenHash) -> Held {
        let mut sessions = self.sessions();
        let (signal, count) = sessions
            .entry(session)
            .or_insert_with(|| (Arc::new(watch::channel(false).0), 0));
        *count += 1;
        Held {
            streams: self.clone(),
            session,
            ended: signal.subscribe(),
            signal: signal.clone(),
        }
    }

    /// The sessions that have a stream open now.
    pub fn open_sessions(&self) -> Vec<TokenHash> {
        self.sessions().keys().copied().collect()
    }

    /// Ends every open stream of `session`; returns how many there were.
    pub fn end(&self, session: &TokenHash) -> usize {
        match self.sessions().remove(session) {
            Some((signal, count)) => {
                signal.send_replace(true);
                count
            }
            None => 0,
        }
    }
}

/// One open stream's place in [`OpenStreams`].
pub struct Held {
    streams: Arc<OpenStreams>,
    session: TokenHash,
    signal: Arc<watch::Sender<bool>>,
    ended: watch::Receiver<bool>,
}

impl Held {
    /// Resolves when the session has ended.
    pub async fn ended(&mut self) {
        let _ = self.ended.wait_for(|ended| *ended).await;
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        let mut sessions = self.streams.sessions();
        // The entry may be gone (ended) or be a new one for the same session.
        if let Some((signal, count)) = sessions.get_mut(&self.session)
            && Arc::ptr_eq(signal, &self.signal)
        {
            *count -= 1;
            if *count == 0 {
                sessions.remove(&self.session);
            }
        }
    }
}

/// A body that stops, cutting its connection, when its session ends: the app's response
/// (a live view) and the client's request (an upload, a camera's talk-back audio).
pub struct UntilEnded<B> {
    inner: B,
    ended: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
}

impl<B> UntilEnded<B> {
    pub fn new(inner: B, mut held: Held) -> Self {
        Self {
            inner,
            ended: Some(Box::pin(async move { held.ended().await })),
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("the session this stream was opened under has ended")]
pub struct SessionEnded;

impl<B> HttpBody for UntilEnded<B>
where
    B: HttpBody<Data = Bytes> + Unpin,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if let Some(ended) = self.ended.as_mut()
            && ended.as_mut().poll(cx).is_ready()
        {
            self.ended = None;
            // An error, not the end: the client must not take a cut stream for a whole one.
            return Poll::Ready(Some(Err(SessionEnded.into())));
        }
        Pin::new(&mut self.inner).poll_frame(cx).map_err(Into::into)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Every `every`, asks after each session with an open stream and ends the streams of
/// those that have ended. While the database cannot answer, streams stay open.
pub async fn watch(streams: Arc<OpenStreams>, auth: AuthService, every: Duration) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        for session in streams.open_sessions() {
            match auth.session_of(&session).await {
                Ok(Some(_)) => {}
                Ok(None) => {
                    let ended = streams.end(&session);
                    tracing::info!(
                        streams = ended,
                        "a session ended: its open streams were cut"
                    );
                }
                Err(e) => {
                    tracing::warn!(error = %e, "could not ask after the sessions of open streams");
                    break;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn streams_are_counted_by_session_and_end_together() {
        let streams = Arc::new(OpenStreams::default());
        let (a, b) = ([1; 32], [2; 32]);
        let first = streams.hold(a);
        let mut second = streams.hold(a);
        let other = streams.hold(b);
        drop(first);
        let mut open = streams.open_sessions();
        open.sort();
        assert_eq!(open, vec![a, b]);

        assert_eq!(streams.end(&a), 1);
        tokio::time::timeout(Duration::from_secs(1), second.ended())
            .await
            .expect("the held stream hears of the end");
        // A stream opened afterwards under the same hash is a new entry, which the old
        // handle's drop leaves alone.
        let renewed = streams.hold(a);
        drop(second);
        assert_eq!(streams.end(&a), 1);
        drop(renewed);
        assert_eq!(streams.open_sessions(), vec![b]);
        drop(other);
        assert!(streams.open_sessions().is_empty());
    }
}

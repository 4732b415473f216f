//! Per-connection limits actix does not have: an idle HTTP/2 connection is
//! closed after `server.idle_timeout_s` without a request (actix keeps one
//! open for as long as the client answers its PINGs), a connection may carry
//! at most `server.max_streams_per_connection` reviews at once, and the
//! request bodies held in memory by all connections together stay under
//! `server.max_body_bytes_in_flight`.
//!
//! The idle watchdog holds a duplicate of the socket's descriptor and shuts
//! the socket down when the connection has been idle for long enough: the
//! connection's own reader then sees end-of-stream and actix tears it down as
//! if the client had left. The duplicate is dropped as soon as the connection
//! ends by itself, so it never keeps a closed connection's socket open.

use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use actix_tls::accept::rustls_0_23::TlsStream;
use actix_web::dev::Extensions;
use prometheus_client::metrics::counter::Counter;
use tokio::sync::{oneshot, OwnedSemaphorePermit, Semaphore};

use super::io::ReadAhead;

/// Milliseconds since the first call: a clock that fits an atomic.
fn now_ms() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_millis() as u64
}

/// What the watchdog and the handlers share about one connection.
#[derive(Debug, Default)]
struct Activity {
    in_flight: AtomicUsize,
    /// `now_ms()` when the last request started or ended.
    last_active_ms: AtomicU64,
}

/// Put into the connection's extensions by [`on_connect`]; requests reach it
/// through `HttpRequest::conn_data`. Dropping it (the connection ended) wakes
/// the watchdog, which then lets the socket go.
pub(crate) struct Connection {
    activity: Arc<Activity>,
    _ended: oneshot::Sender<()>,
}

/// One review on a connection; the connection is busy while it lives.
pub(crate) struct Stream {
    activity: Arc<Activity>,
}

impl Drop for Stream {
    fn drop(&mut self) {
        self.activity
            .last_active_ms
            .store(now_ms(), Ordering::Relaxed);
        self.activity.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Connection {
    /// Counts a new review on this connection, or `None` when it already
    /// carries `max_streams`.
    pub(crate) fn begin(&self, max_streams: usize) -> Option<Stream> {
        let a = &self.activity;
        if a.in_flight.fetch_add(1, Ordering::AcqRel) >= max_streams {
            a.in_flight.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        a.last_active_ms.store(now_ms(), Ordering::Relaxed);
        Some(Stream {
            activity: a.clone(),
        })
    }
}

/// Called for each new webhook connection (`on_connect_ext`): records
/// whether the client presented a verified certificate, registers the
/// connection and starts its idle watchdog.
pub(crate) fn on_connect(
    tls: &TlsStream<ReadAhead>,
    ext: &mut Extensions,
    idle: Duration,
    closed_idle: Counter,
) {
    ext.insert(super::tls::ClientIdentity {
        verified: tls.get_ref().1.peer_certificates().is_some(),
    });
    let Ok(socket) = tls.get_ref().0.socket().as_fd().try_clone_to_owned() else {
        return; // out of descriptors: the connection still works, unwatched
    };
    let activity = Arc::new(Activity {
        in_flight: AtomicUsize::new(0),
        last_active_ms: AtomicU64::new(now_ms()),
    });
    let (ended_tx, ended_rx) = oneshot::channel();
    ext.insert(Connection {
        activity: activity.clone(),
        _ended: ended_tx,
    });
    tokio::spawn(close_when_idle(
        activity,
        socket,
        ended_rx,
        idle,
        closed_idle,
    ));
}

async fn close_when_idle(
    activity: Arc<Activity>,
    socket: OwnedFd,
    mut ended: oneshot::Receiver<()>,
    idle: Duration,
    closed_idle: Counter,
) {
    let idle_ms = idle.as_millis() as u64;
    loop {
        let last = activity.last_active_ms.load(Ordering::Relaxed);
        let wait = Duration::from_millis((last + idle_ms).saturating_sub(now_ms()));
        tokio::select! {
            _ = &mut ended => return,
            _ = tokio::time::sleep(wait) => {}
        }
        let last = activity.last_active_ms.load(Ordering::Relaxed);
        if activity.in_flight.load(Ordering::Acquire) == 0 && now_ms() >= last + idle_ms {
            closed_idle.inc();
            tracing::debug!("closing a connection idle for {idle:?}");
            let _ = std::net::TcpStream::from(socket).shutdown(std::net::Shutdown::Both);
            return;
        }
        if activity.in_flight.load(Ordering::Acquire) > 0 {
            // Busy: look again one idle period after the review ends at the earliest.
            activity.last_active_ms.store(now_ms(), Ordering::Relaxed);
        }
    }
}

/// A budget of request-body bytes held in memory across all connections, in
/// KiB units. A body takes from it chunk by chunk as it arrives, so a slow
/// client holds only what it has really sent, and gives it all back when its
/// review ends.
#[derive(Clone)]
pub(crate) struct BodyBudget {
    semaphore: Arc<Semaphore>,
}

/// What one request holds of the budget.
#[derive(Default)]
pub(crate) struct BodyShare {
    permits: Option<OwnedSemaphorePermit>,
}

impl BodyBudget {
    pub fn new(bytes: usize) -> Self {
        BodyBudget {
            semaphore: Arc::new(Semaphore::new(bytes.div_ceil(1024).max(1))),
        }
    }

    /// Waits until `bytes` more fit in the budget, then adds them to `share`.
    pub async fn take(&self, share: &mut BodyShare, bytes: usize) {
        let units = bytes.div_ceil(1024) as u32;
        if units == 0 {
            return;
        }
        let Ok(permit) = self.semaphore.clone().acquire_many_owned(units).await else {
            return; // never closed
        };
        match &mut share.permits {
            Some(held) => held.merge(permit),
            none => *none = Some(permit),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_body_waits_for_room_until_another_gives_its_share_back() {
        let budget = BodyBudget::new(4096);
        let mut first = BodyShare::default();
        budget.take(&mut first, 3000).await;
        budget.take(&mut first, 1000).await; // 3 + 1 KiB: the whole budget
        let mut second = BodyShare::default();
        let waiting = tokio::time::timeout(Duration::from_millis(50), budget.take(&mut second, 1));
        assert!(waiting.await.is_err(), "taken beyond the budget");
        drop(first);
        let mut second = BodyShare::default();
        tokio::time::timeout(Duration::from_secs(5), budget.take(&mut second, 4096))
            .await
            .expect("room once the first body is done");
    }

    #[test]
    fn a_connection_carries_at_most_max_streams() {
        let (ended, _) = oneshot::channel();
        let conn = Connection {
            activity: Arc::new(Activity::default()),
            _ended: ended,
        };
        let a = conn.begin(2).unwrap();
        let _b = conn.begin(2).unwrap();
        assert!(conn.begin(2).is_none());
        drop(a);
        assert!(conn.begin(2).is_some(), "a finished review frees its slot");
    }
}

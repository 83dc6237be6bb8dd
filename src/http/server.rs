//! The accept loop of one listener, so that slow or idle clients cannot hold resources
//! without bound and one listener's load cannot take the other down:
//! - at most `max_connections` open connections per listener (beyond them it stops
//!   accepting; the other listener's share of descriptors is untouched);
//! - request headers must arrive within `header_timeout` (slowloris);
//! - a connection that makes no progress, reading or writing, for `idle_timeout` is closed:
//!   idle keep-alive connections, and clients that stop reading a response (so the response
//!   they hold is freed);
//! - on shutdown, requests in flight get `grace` to finish, then the listener closes.
//!
//! Absolute URLs in responses come from `--base-url`, else the listener's own address; a
//! client's `Host` header is only used when the listener is bound to every address, and
//! then responses say `Vary: Host`.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::http::{header, HeaderValue, Request};
use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio::time::{Instant, Sleep};
use tower::ServiceExt as _;

/// Connection limits of one listener.
#[derive(Debug, Clone, Copy)]
pub struct ConnLimits {
    /// Open connections at most; beyond them the listener waits before accepting.
    pub max_connections: usize,
    /// Time allowed for a request's headers to arrive.
    pub header_timeout: Duration,
    /// Time a connection may go without reading or writing a byte.
    pub idle_timeout: Duration,
    /// Time requests in flight get to finish after a shutdown signal.
    pub grace: Duration,
}

/// Where absolute URLs come from, when no `--base-url` is set.
#[derive(Debug, Clone)]
pub enum HostPolicy {
    /// `--base-url` is set: the `Host` header is never used.
    Configured,
    /// The listener's own address (bound to one address): `Host` is replaced by it.
    Own(HeaderValue),
    /// Bound to every address: the client's `Host` (checked) is used, responses vary on it.
    Client,
}

impl HostPolicy {
    /// The policy for a listener bound to `addr`.
    #[must_use]
    pub fn for_listener(addr: SocketAddr, base_url_set: bool) -> Self {
        if base_url_set {
            return Self::Configured;
        }
        if addr.ip().is_unspecified() {
            return Self::Client;
        }
        HeaderValue::from_str(&addr.to_string()).map_or(Self::Client, Self::Own)
    }
}

/// A TCP stream that fails once it has made no progress for `idle`.
struct TimedIo {
    inner: TcpStream,
    /// Armed for `idle` after the progress before it; moved on only when it fires (moving
    /// a timer on every read and write took the timer wheel's lock twice per request).
    deadline: Pin<Box<Sleep>>,
    /// When the stream last moved a byte.
    progress: Instant,
    idle: Duration,
}

impl TimedIo {
    fn new(inner: TcpStream, idle: Duration) -> Self {
        Self {
            inner,
            deadline: Box::pin(tokio::time::sleep(idle)),
            progress: Instant::now(),
            idle,
        }
    }

    /// Progress pushes the deadline back; no progress until it passes is an error.
    fn watch<T>(
        &mut self,
        r: Poll<std::io::Result<T>>,
        progressed: impl FnOnce(&T) -> bool,
        cx: &mut Context<'_>,
    ) -> Poll<std::io::Result<T>> {
        match r {
            Poll::Ready(Ok(v)) => {
                if progressed(&v) {
                    self.progress = Instant::now();
                }
                Poll::Ready(Ok(v))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => loop {
                if self.deadline.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                // Fired: progress since it was armed moves it on, else the time is up.
                let due = self.progress + self.idle;
                if due <= Instant::now() {
                    return Poll::Ready(Err(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "no progress: connection closed",
                    )));
                }
                self.deadline.as_mut().reset(due);
            },
        }
    }
}

impl AsyncRead for TimedIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let r = Pin::new(&mut this.inner).poll_read(cx, buf);
        let grew = buf.filled().len() > before;
        this.watch(r, |()| grew, cx)
    }
}

impl AsyncWrite for TimedIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.watch(r, |n| *n > 0, cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        this.watch(r, |n| *n > 0, cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_flush(cx);
        this.watch(r, |()| true, cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// Raises this process's open-file limit to its hard maximum; returns the limit in force.
#[must_use]
pub fn raise_descriptor_limit() -> u64 {
    rlimit::increase_nofile_limit(u64::MAX).unwrap_or(1024)
}

/// Default connection caps for the two listeners from the descriptor limit: the internal
/// listener keeps a reserve the public one can never take.
#[must_use]
pub fn default_caps(nofile: u64) -> (usize, usize) {
    // Files, sockets of GDAL, the watcher and the audit log.
    let spare = 128u64;
    let internal = (nofile / 8).clamp(32, 1024);
    let public = nofile.saturating_sub(spare + internal).clamp(16, 50_000);
    (public as usize, internal as usize)
}

/// Serves `router` on `listener` until `stop` turns true, within `limits`.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    limits: ConnLimits,
    policy: HostPolicy,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .keep_alive(true);
    builder.http2().timer(TokioTimer::new());
    let mut last_error_log: Option<std::time::Instant> = None;
    loop {
        // Wait for a free connection slot before accepting: at the cap, new clients wait
        // in the kernel's backlog instead of taking descriptors.
        let permit = tokio::select! {
            p = Arc::clone(&slots).acquire_owned() => match p { Ok(p) => p, Err(_) => break },
            _ = stop.wait_for(|s| *s) => break,
        };
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = stop.wait_for(|s| *s) => break,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of descriptors (EMFILE) and the like: say so at most once a second,
                // and give connections time to close rather than spinning.
                if last_error_log.is_none_or(|t| t.elapsed() > Duration::from_secs(1)) {
                    tracing::error!("accept failed: {e}");
                    last_error_log = Some(std::time::Instant::now());
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let io = TokioIo::new(TimedIo::new(stream, limits.idle_timeout));
        let router = router.clone();
        let policy = policy.clone();
        let service = hyper::service::service_fn(move |mut req: Request<hyper::body::Incoming>| {
            let router = router.clone();
            // The client's address, for per-address limits (residents' reports).
            req.extensions_mut()
                .insert(axum::extract::ConnectInfo(peer));
            if let HostPolicy::Own(own) = &policy {
                req.headers_mut().insert(header::HOST, own.clone());
            }
            let vary = matches!(policy, HostPolicy::Client);
            async move {
                let mut resp = router
                    .oneshot(req.map(axum::body::Body::new))
                    .await
                    .unwrap_or_else(|e: Infallible| match e {});
                if vary {
                    resp.headers_mut()
                        .append(header::VARY, HeaderValue::from_static("host"));
                }
                Ok::<_, Infallible>(resp)
            }
        });
        let conn = builder
            .serve_connection_with_upgrades(io, service)
            .into_owned();
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            let _ = conn.await;
            drop(permit);
        });
    }
    // Requests in flight may finish, for a bounded time.
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(limits.grace) => {
            tracing::warn!("shutdown: connections still open after {:?} are closed", limits.grace);
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_internal_listener_keeps_a_reserve() {
        let (p, i) = super::default_caps(1024);
        assert!(p + i + 128 <= 1024, "{p} + {i}");
        assert!(i >= 32);
        let (p, i) = super::default_caps(1 << 20);
        assert!(p <= 50_000 && i <= 1024);
    }
}

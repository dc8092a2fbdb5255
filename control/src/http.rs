//! The HTTP listener: every connection is held to a header-read timeout and an idle timeout, and at
//! most `max_connections` are served at once, so clients that open connections and then say nothing
//! (or trickle a header a byte at a time, or stop reading a download) cannot hold the server.
//!
//! Over the cap the listener stops accepting; new connections wait in the kernel's backlog until a
//! timeout or a finished download frees a slot. On shutdown each connection finishes the request it
//! is in and closes; what is still open after the drain time is dropped.
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tokio::time::{Instant, Sleep};
use tower_service::Service;

/// Limits on connections.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// Connections served at once.
    pub max_connections: usize,
    /// Time a client has to send a request's whole header, from the moment the server waits for
    /// it (also how long an idle keep-alive connection stays open).
    pub header_read_timeout: Duration,
    /// Time a connection may go without moving a byte either way while no request is being
    /// handled: a body that stops arriving, a download nobody reads.
    pub idle_timeout: Duration,
    /// On shutdown, how long open requests may take to finish.
    pub drain_timeout: Duration,
}

impl Default for ConnectionLimits {
    /// 1,024 connections (a boot storm of a few hundred nodes, each downloading its kernel and
    /// initramfs, with room for the operator), 10 s for a header, 60 s idle, 5 s to drain.
    fn default() -> Self {
        ConnectionLimits {
            max_connections: 1024,
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            drain_timeout: Duration::from_secs(5),
        }
    }
}

/// Pause after a failed `accept` (out of file descriptors, say), so the loop does not spin.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

/// Serves `app` on `listener` within `limits` until `stopped` turns true.
pub async fn serve(listener: TcpListener, app: Router, limits: ConnectionLimits, mut stopped: watch::Receiver<bool>) {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let mut connections = JoinSet::new();
    loop {
        while connections.try_join_next().is_some() {}
        let accepted = tokio::select! {
            () = stop_signal(&mut stopped) => break,
            accepted = async {
                let slot = slots.clone().acquire_owned().await.expect("the semaphore is never closed");
                (slot, listener.accept().await)
            } => accepted,
        };
        let (slot, stream) = match accepted {
            (slot, Ok((stream, _))) => (slot, stream),
            (_, Err(e)) => {
                tracing::warn!(error = %e, "accepting a connection failed");
                tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let busy = Arc::new(AtomicIsize::new(0));
        let io = TokioIo::new(IdleTimeout::new(stream, limits.idle_timeout, busy.clone()));
        let app = app.clone();
        let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
            let handling = Busy::add(&busy, 1);
            let request = request.map(|body| axum::body::Body::new(AwaitedBody::new(body, &busy)));
            let mut app = app.clone();
            async move {
                let response = app.call(request).await;
                drop(handling);
                response
            }
        });
        let mut stopping = stopped.clone();
        connections.spawn(async move {
            let _slot = slot;
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder.timer(TokioTimer::new()).header_read_timeout(limits.header_read_timeout);
            let connection = builder.serve_connection(io, service);
            tokio::pin!(connection);
            let ended = tokio::select! {
                ended = connection.as_mut() => ended,
                () = stop_signal(&mut stopping) => {
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(e) = ended {
                tracing::debug!(error = %e, "connection ended");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(limits.drain_timeout, async { while connections.join_next().await.is_some() {} }).await.is_err() {
        tracing::warn!(open = connections.len(), "dropping connections still open after the drain time");
        connections.abort_all();
    }
}

/// Returns once `stopped` turns true (or its sender is gone).
async fn stop_signal(stopped: &mut watch::Receiver<bool>) {
    let _ = stopped.wait_for(|s| *s).await;
}

/// Adds `delta` to a connection's count of running handlers while alive: +1 for a request being
/// handled (a connection is never idle while its handler works: hashing an artifact at publication
/// can take minutes), -1 while that handler waits for the client's body.
struct Busy(Arc<AtomicIsize>, isize);

impl Busy {
    fn add(busy: &Arc<AtomicIsize>, delta: isize) -> Self {
        busy.fetch_add(delta, Ordering::Relaxed);
        Busy(busy.clone(), delta)
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.fetch_sub(self.1, Ordering::Relaxed);
    }
}

/// A request body being read: while the handler waits for its bytes the connection is not busy, so a
/// body that stops arriving is cut off by the idle timeout like any other silence.
struct AwaitedBody {
    inner: Incoming,
    waiting: Option<Busy>,
}

impl AwaitedBody {
    fn new(inner: Incoming, busy: &Arc<AtomicIsize>) -> Self {
        use http_body::Body as _;
        let waiting = (!inner.is_end_stream()).then(|| Busy::add(busy, -1));
        AwaitedBody { inner, waiting }
    }
}

impl http_body::Body for AwaitedBody {
    type Data = bytes::Bytes;
    type Error = hyper::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        let poll = Pin::new(&mut self.inner).poll_frame(cx);
        if matches!(poll, Poll::Ready(None | Some(Err(_)))) {
            self.waiting = None;
        }
        poll
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// A stream that fails with `TimedOut` once it has gone `timeout` without moving a byte either way
/// while no request was being handled.
struct IdleTimeout<S> {
    inner: S,
    timeout: Duration,
    busy: Arc<AtomicIsize>,
    deadline: Pin<Box<Sleep>>,
}

impl<S> IdleTimeout<S> {
    fn new(inner: S, timeout: Duration, busy: Arc<AtomicIsize>) -> Self {
        IdleTimeout { inner, timeout, busy, deadline: Box::pin(tokio::time::sleep(timeout)) }
    }

    /// Called with the inner stream's answer: progress pushes the deadline back, a wait checks it.
    fn watch<T>(&mut self, cx: &mut Context<'_>, poll: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        if poll.is_ready() || self.busy.load(Ordering::Relaxed) > 0 {
            self.deadline.as_mut().reset(Instant::now() + self.timeout);
            return poll;
        }
        match self.deadline.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, "connection idle too long"))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for IdleTimeout<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let poll = Pin::new(&mut self.inner).poll_read(cx, buf);
        self.watch(cx, poll)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for IdleTimeout<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.watch(cx, poll)
    }

    fn poll_write_vectored(mut self: Pin<&mut Self>, cx: &mut Context<'_>, bufs: &[io::IoSlice<'_>]) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.watch(cx, poll)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    /// Not watched: a flush with nothing buffered succeeds at once and is no sign of life.
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

//! `pitcrew agent`: the engine without a terminal, for running in the cluster as a Deployment
//! (the console's autonomous twin). It serves `/metrics` (Prometheus text format) and
//! `/healthz`, and journals like the console.
//!
//! Metrics (names of the seed design first, then pitcrew's own health):
//! - `mlops_model_accuracy`, `mlops_model_latency_p95` (milliseconds),
//!   `mlops_model_request_rate`, `mlops_model_error_rate`, `mlops_model_cpu`,
//!   `mlops_model_replicas`, `mlops_model_status` (0 ok, 1 warn, 2 crit, 3 stale), each labelled
//!   `namespace` and `model`;
//! - `mlops_adaptations_total{playbook, outcome}`: remediations that finished, by outcome
//!   (`success`, `failure`), counted from the outcomes learnt (persisted across restarts);
//! - `pitcrew_actions_executed_total`, `pitcrew_guardrail_blocks_total`,
//!   `pitcrew_source_up`, `pitcrew_source_backfilling`, `pitcrew_data_age_seconds`, `pitcrew_open_incidents`,
//!   `pitcrew_pending_approvals`, `pitcrew_models`, `pitcrew_phase{phase}`;
//! - `pitcrew_vulnerabilities{namespace, model, severity}` (known vulnerabilities open in what
//!   each model runs) and `pitcrew_vulnerability_oldest_critical_age_seconds{namespace, model}`.
//!
//! `/healthz` answers 200 `ok` while the engine publishes snapshots and the source is live or
//! backfilling, and 503 with the reason otherwise (source down, data stale, engine stopped).

mod metrics;

use crate::engine::{Snapshot, SourceState};
pub(crate) use metrics::metrics_text;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// How stale the newest data may be before `/healthz` fails, seconds.
pub(crate) const HEALTH_MAX_DATA_AGE: f64 = 300.0;

/// `/healthz`: `Ok` while healthy, else why not.
pub fn health(snap: &Snapshot, engine_alive: bool) -> Result<(), String> {
    if !engine_alive {
        return Err("the engine has stopped".into());
    }
    match &snap.source.state {
        SourceState::Down { error } => return Err(format!("source down: {error}")),
        SourceState::Finished => return Err("the source has finished".into()),
        _ => {}
    }
    if let Some(age) = snap.data_age()
        && age > HEALTH_MAX_DATA_AGE
    {
        return Err(format!("data is stale: newest sample {age:.0} s old"));
    }
    Ok(())
}

/// Serve `/metrics` and `/healthz` on `listener` until `cancel`, with the control API's
/// routes beside them when there are any, over TLS when `tls` is given.
pub async fn serve(
    listener: tokio::net::TcpListener,
    snaps: watch::Receiver<Arc<Snapshot>>,
    control: Option<axum::Router>,
    tls: Option<tokio_rustls::TlsAcceptor>,
    cancel: CancellationToken,
) -> std::io::Result<()> {
    use axum::http::{StatusCode, header};
    use axum::response::IntoResponse;
    use axum::routing::get;
    let metrics_rx = snaps.clone();
    let health_rx = snaps;
    let app = axum::Router::new()
        .route(
            "/metrics",
            get(move || {
                let rx = metrics_rx.clone();
                async move {
                    let snap = rx.borrow().clone();
                    (
                        [(
                            header::CONTENT_TYPE,
                            "application/openmetrics-text; version=1.0.0; charset=utf-8",
                        )],
                        metrics_text(&snap),
                    )
                        .into_response()
                }
            }),
        )
        .route(
            "/healthz",
            get(move || {
                let rx = health_rx.clone();
                async move {
                    let alive = rx.has_changed().is_ok();
                    let snap = rx.borrow().clone();
                    match health(&snap, alive) {
                        Ok(()) => (StatusCode::OK, "ok\n".to_string()).into_response(),
                        Err(why) => {
                            (StatusCode::SERVICE_UNAVAILABLE, format!("{why}\n")).into_response()
                        }
                    }
                }
            }),
        );
    let app = match control {
        Some(c) => app.merge(c),
        None => app,
    };
    serve_bounded(listener, app, Limits::for_this_process(), tls, cancel).await
}

/// A TLS acceptor from a certificate chain and its private key, PEM files (rustls, with ring:
/// TLS 1.2 and 1.3, safe defaults, no client certificates).
pub fn tls_acceptor(
    cert: &std::path::Path,
    key: &std::path::Path,
) -> Result<tokio_rustls::TlsAcceptor, String> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    use tokio_rustls::rustls;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .and_then(|it| it.collect::<Result<_, _>>())
        .map_err(|e| format!("{}: not a PEM certificate chain: {e}", cert.display()))?;
    if certs.is_empty() {
        return Err(format!("{}: no certificate in it", cert.display()));
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| format!("{}: not a PEM private key: {e}", key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| {
            format!(
                "{}: the key does not fit the certificate: {e}",
                cert.display()
            )
        })?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(cfg)))
}

/// A connection's byte stream, plain or TLS.
trait Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Io for T {}

/// How the agent's HTTP server bounds what a client can hold.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Limits {
    /// Connections served at once; one more is closed at once (its file descriptor freed).
    pub connections: usize,
    /// Time a client has to send a request's headers.
    pub header_read: std::time::Duration,
    /// Time a connection may stay idle (no request being answered on it); a stream being
    /// answered is not idle.
    pub connection: std::time::Duration,
}

impl Limits {
    /// Half of this process's file-descriptor limit (the rest is for the journal, the source
    /// and the cluster), between 8 and 1,024 connections; headers within 5 s, 60 s per
    /// connection.
    pub(crate) fn for_this_process() -> Limits {
        let fds = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
            .map_or(1024, |(soft, _)| soft);
        Limits {
            connections: usize::try_from(fds / 2).unwrap_or(1024).clamp(8, 1024),
            header_read: std::time::Duration::from_secs(5),
            connection: std::time::Duration::from_secs(60),
        }
    }
}

/// One connection the server holds, as the eviction sees it.
struct Held {
    /// Requests being answered on it now (and streams being sent).
    busy: Arc<std::sync::atomic::AtomicUsize>,
    /// When it last finished a request, or was accepted (milliseconds since the server began).
    idle_since: AtomicU64,
    /// Closes it.
    evict: CancellationToken,
}

/// The connections held, for eviction when every slot is taken.
#[derive(Default)]
struct HeldSet {
    conns: Vec<Arc<Held>>,
}

impl HeldSet {
    /// Close the connection that has waited longest without a request being answered on it
    /// (one still sending its headers, or idling between requests); false when every
    /// connection is answering a request.
    fn evict_idlest(&self) -> bool {
        use std::sync::atomic::Ordering::Relaxed;
        let idlest = self
            .conns
            .iter()
            .filter(|c| c.busy.load(Relaxed) == 0 && !c.evict.is_cancelled())
            .min_by_key(|c| c.idle_since.load(Relaxed));
        idlest.inspect(|c| c.evict.cancel()).is_some()
    }
}

/// Serve `app` with `limits`: a slow or idle client is closed at the header-read timeout or
/// when idle for `limits.connection` (a stream being sent is not idle), and no more than `limits.connections` are held. When every slot
/// is taken, a new client takes the slot of the connection that has waited longest without a
/// request in progress (a client still sending its headers, or idling between requests): slow
/// clients cannot starve `/healthz` (which answers from the last snapshot, waiting on nothing),
/// however many there are. Only when every held connection is answering a request is a new
/// one closed at once.
pub(crate) async fn serve_bounded(
    listener: tokio::net::TcpListener,
    app: axum::Router,
    limits: Limits,
    tls: Option<tokio_rustls::TlsAcceptor>,
    cancel: CancellationToken,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioIo, TokioTimer};
    use std::sync::atomic::Ordering::Relaxed;
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.connections));
    let held = Arc::new(std::sync::Mutex::new(HeldSet::default()));
    let began = std::time::Instant::now();
    let now_ms = move || u64::try_from(began.elapsed().as_millis()).unwrap_or(u64::MAX);
    let service = hyper_util::service::TowerToHyperService::new(app);
    loop {
        let (stream, peer) = tokio::select! {
            _ = cancel.cancelled() => return Ok(()),
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    // out of file descriptors or a connection reset before accept: wait a
                    // little rather than spin, and go on serving
                    tracing::warn!("agent accept error: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let permit = match slots.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(_) => {
                let evicted = held.lock().is_ok_and(|h| h.evict_idlest());
                if !evicted {
                    drop(stream);
                    continue;
                }
                // the evicted connection's task gives its slot back as it ends
                match tokio::time::timeout(
                    std::time::Duration::from_secs(1),
                    slots.clone().acquire_owned(),
                )
                .await
                {
                    Ok(Ok(p)) => p,
                    _ => {
                        drop(stream);
                        continue;
                    }
                }
            }
        };
        let me = {
            let Ok(mut h) = held.lock() else {
                drop(stream);
                continue;
            };
            let me = Arc::new(Held {
                busy: Arc::new(0.into()),
                idle_since: now_ms().into(),
                evict: cancel.child_token(),
            });
            h.conns.push(me.clone());
            me
        };
        let service = service.clone();
        let held = held.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            let _permit = permit;
            // the handshake within the header bound: a client that stalls in it is closed
            let stream: Box<dyn Io> = match tls {
                None => Box::new(stream),
                Some(acceptor) => {
                    match tokio::time::timeout(limits.header_read, acceptor.accept(stream)).await {
                        Ok(Ok(s)) => Box::new(s),
                        Ok(Err(e)) => {
                            tracing::info!(peer = %peer, "TLS handshake failed: {e}");
                            forget(&held, &me);
                            return;
                        }
                        Err(_) => {
                            forget(&held, &me);
                            return;
                        }
                    }
                }
            };
            let mut b = hyper::server::conn::http1::Builder::new();
            b.timer(TokioTimer::new())
                .header_read_timeout(limits.header_read)
                .max_buf_size(64 << 10);
            let counted = {
                let me = me.clone();
                hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
                    use hyper::service::Service as _;
                    req.extensions_mut()
                        .insert(crate::control::server::Peer(peer));
                    req.extensions_mut()
                        .insert(crate::control::server::Busy(me.busy.clone()));
                    let me = me.clone();
                    me.busy.fetch_add(1, Relaxed);
                    let answer = service.call(req);
                    async move {
                        let r = answer.await;
                        me.idle_since.store(now_ms(), Relaxed);
                        me.busy.fetch_sub(1, Relaxed);
                        r
                    }
                })
            };
            let conn = b.serve_connection(TokioIo::new(stream), counted);
            // idle past the bound: nothing being answered, nothing asked for that long
            let idle = {
                let me = me.clone();
                async move {
                    let limit = u64::try_from(limits.connection.as_millis()).unwrap_or(u64::MAX);
                    loop {
                        let since = me.idle_since.load(Relaxed);
                        let now = now_ms();
                        if me.busy.load(Relaxed) == 0 && now.saturating_sub(since) >= limit {
                            return;
                        }
                        let wait = limit.saturating_sub(now.saturating_sub(since)).max(100);
                        tokio::time::sleep(std::time::Duration::from_millis(wait)).await;
                    }
                }
            };
            tokio::select! {
                _ = conn => {}
                _ = idle => {}
                _ = me.evict.cancelled() => {}
            }
            forget(&held, &me);
        });
    }
}

/// A connection the server no longer holds.
fn forget(held: &std::sync::Mutex<HeldSet>, me: &Arc<Held>) {
    if let Ok(mut h) = held.lock() {
        h.conns.retain(|c| !Arc::ptr_eq(c, me));
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::engine::EngineConfig;
    use crate::harness::{drive, start};

    async fn start_bounded(limits: Limits) -> (std::net::SocketAddr, CancellationToken) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = axum::Router::new()
            .route("/healthz", axum::routing::get(|| async { "ok\n" }))
            .route(
                "/slow",
                axum::routing::get(|| async {
                    tokio::time::sleep(std::time::Duration::from_secs(10)).await;
                    "late\n"
                }),
            );
        let cancel = CancellationToken::new();
        tokio::spawn(serve_bounded(listener, app, limits, None, cancel.clone()));
        (addr, cancel)
    }

    async fn get_health(addr: std::net::SocketAddr) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut out = String::new();
        let _ = s.read_to_string(&mut out).await;
        out
    }

    #[tokio::test]
    async fn slow_clients_do_not_starve_health_and_are_closed_at_the_header_timeout() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        use tokio::time::{Duration, Instant, timeout};
        let limits = Limits {
            connections: 256,
            header_read: Duration::from_millis(500),
            connection: Duration::from_secs(30),
        };
        let (addr, cancel) = start_bounded(limits).await;
        let mut slow = Vec::new();
        for _ in 0..200 {
            let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
            // headers begun, never finished
            s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
                .await
                .unwrap();
            slow.push(s);
        }
        let t0 = Instant::now();
        let answer = timeout(Duration::from_secs(1), get_health(addr)).await;
        let answer = answer.unwrap_or_else(|_| panic!("no answer within 1 s"));
        assert!(
            answer.starts_with("HTTP/1.1 200") && answer.ends_with("ok\n"),
            "{answer}"
        );
        assert!(t0.elapsed() < Duration::from_secs(1));
        // every slow client is closed by the server (at the header timeout), not held forever
        let mut buf = [0u8; 512];
        for s in &mut slow {
            let r = timeout(Duration::from_secs(5), s.read(&mut buf)).await;
            assert!(r.is_ok(), "a slow client was still held after 5 s");
        }
        cancel.cancel();
    }

    /// Eight connection slots, timeouts long enough not to free any during a test.
    const EIGHT_SLOTS: Limits = Limits {
        connections: 8,
        header_read: std::time::Duration::from_secs(30),
        connection: std::time::Duration::from_secs(30),
    };

    /// Eight clients, one after another, each having sent `request` (whole or in part).
    async fn occupy(addr: std::net::SocketAddr, request: &[u8]) -> Vec<tokio::net::TcpStream> {
        use tokio::io::AsyncWriteExt;
        let mut held = Vec::new();
        for _ in 0..EIGHT_SLOTS.connections {
            let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
            s.write_all(request).await.unwrap();
            held.push(s);
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        held
    }

    #[tokio::test]
    async fn a_new_client_takes_the_slot_of_the_longest_waiting_header_less_one() {
        use tokio::io::AsyncReadExt;
        use tokio::time::{Duration, Instant, timeout};
        let (addr, cancel) = start_bounded(EIGHT_SLOTS).await;
        // every slot held by a client that never finishes its headers
        let mut held = occupy(addr, b"GET /healthz HTTP/1.1\r\nHost: x\r\n").await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        for round in 0..3 {
            let t0 = Instant::now();
            let answer = timeout(Duration::from_secs(1), get_health(addr))
                .await
                .unwrap_or_else(|_| panic!("no answer within 1 s (round {round})"));
            assert!(answer.ends_with("ok\n"), "{answer}");
            assert!(t0.elapsed() < Duration::from_secs(1));
        }
        // the oldest slow client lost its slot (end of file); the newest ones still hold theirs
        let mut buf = [0u8; 64];
        let first = timeout(Duration::from_secs(5), held[0].read(&mut buf)).await;
        assert!(matches!(first, Ok(Ok(0) | Err(_))), "{first:?}");
        let last = timeout(Duration::from_millis(300), held[7].read(&mut buf)).await;
        assert!(last.is_err(), "the newest slow client was closed: {last:?}");
        cancel.cancel();
    }

    #[tokio::test]
    async fn when_every_connection_is_answering_a_new_one_is_closed_at_once() {
        use tokio::io::AsyncReadExt;
        use tokio::time::{Duration, timeout};
        let (addr, cancel) = start_bounded(EIGHT_SLOTS).await;
        let busy = occupy(addr, b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n").await;
        // every slot is answering a request: the ninth is closed (read gives end of file)
        tokio::time::sleep(Duration::from_millis(300)).await;
        let mut extra = tokio::net::TcpStream::connect(addr).await.unwrap();
        let mut buf = [0u8; 16];
        let n = timeout(Duration::from_secs(5), extra.read(&mut buf))
            .await
            .expect("the connection over the limit was held");
        assert!(matches!(n, Ok(0) | Err(_)), "{n:?}");
        drop(busy);
        // slots come back when clients leave
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(get_health(addr).await.ends_with("ok\n"));
        cancel.cancel();
    }

    #[test]
    fn health_fails_on_down_stale_or_stopped() {
        let (mut w, mut e) = start(3, 2, 1.7e9, EngineConfig::default());
        drive(&mut w, &mut e, 5);
        let mut snap = e.snapshot(None, 0);
        assert_eq!(health(&snap, true), Ok(()));
        assert!(health(&snap, false).unwrap_err().contains("stopped"));
        snap.t += HEALTH_MAX_DATA_AGE + 10.0;
        assert!(health(&snap, true).unwrap_err().contains("stale"));
        snap.t -= HEALTH_MAX_DATA_AGE + 10.0;
        snap.source.state = SourceState::Down {
            error: "connection refused".into(),
        };
        assert!(
            health(&snap, true)
                .unwrap_err()
                .contains("connection refused")
        );
    }
}

//! The control routes: `GET /v1/stream` (the fleet, as frames) and `POST /v1/commands` (a
//! decision, applied once per id), each authenticated and authorised; refusals are 401 (who
//! are you?), 403 naming the verb, 429 (too many failures), 413 and 400 (a request too large
//! or malformed), never a panic.

use super::Verb;
use super::auth::{Authority, Denied, Identity};
use super::feed::Feed;
use super::wire::{self, CommandReply, Hello};
use crate::engine::Command;
use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// The address of the peer of a connection, put on each request by the server.
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub std::net::SocketAddr);

/// The count of what a connection is answering, put on each request by the server: a
/// stream holds it ([`Busy::hold`]) while it is sent, so that the connection is not taken
/// for idle.
#[derive(Debug, Clone)]
pub struct Busy(pub Arc<std::sync::atomic::AtomicUsize>);

/// Held while a stream is sent.
#[derive(Debug)]
pub struct BusyGuard(Arc<std::sync::atomic::AtomicUsize>);

impl Busy {
    /// Count one more thing being answered until the guard is dropped.
    pub fn hold(&self) -> BusyGuard {
        self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        BusyGuard(self.0.clone())
    }
}

impl Drop for BusyGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// A command for the engine task, with where its answer goes.
#[derive(Debug)]
pub struct Ask {
    /// Who (authenticated).
    pub user: String,
    /// What.
    pub command: Command,
    /// The id the client gave it (the engine applies it once per user and id).
    pub id: String,
    /// What the engine said of it, and whether it had been applied before (and was not again).
    pub reply: oneshot::Sender<(Vec<String>, bool)>,
}

/// Command ids remembered (with their user; the oldest forgotten first) so that a retry is
/// applied once.
pub const REMEMBERED_IDS: usize = 4096;

type Key = (String, String);

#[derive(Default)]
struct Seen {
    replies: HashMap<Key, CommandReply>,
    order: VecDeque<Key>,
    /// Sent to the engine, which has not answered yet.
    pending: std::collections::HashSet<Key>,
}

impl Seen {
    fn remember(&mut self, key: Key, reply: CommandReply) {
        self.pending.remove(&key);
        self.replies.insert(key.clone(), reply);
        self.order.push_back(key);
        while self.order.len() > REMEMBERED_IDS {
            if let Some(old) = self.order.pop_front() {
                self.replies.remove(&old);
            }
        }
    }
}

/// What the control routes need.
pub struct Control {
    /// Who may do what.
    pub authority: Authority,
    /// The stream.
    pub feed: Arc<Feed>,
    /// Where commands go (the engine task).
    pub asks: mpsc::Sender<Ask>,
    /// The agent's source, in a few words.
    pub source: String,
    /// The engine's settings.
    pub settings: crate::journal::Settings,
    seen: tokio::sync::Mutex<Seen>,
}

impl Control {
    /// The control API over these parts.
    pub fn new(
        authority: Authority,
        feed: Arc<Feed>,
        asks: mpsc::Sender<Ask>,
        source: String,
        settings: crate::journal::Settings,
    ) -> Control {
        Control {
            authority,
            feed,
            asks,
            source,
            settings,
            seen: tokio::sync::Mutex::new(Seen::default()),
        }
    }
}

/// How long a console may wait for its base.
const BASE_WAIT: std::time::Duration = std::time::Duration::from_secs(60);
/// A beat is sent when nothing else was for this long.
pub const BEAT_EVERY: std::time::Duration = std::time::Duration::from_secs(2);
/// How long a command may wait for the engine.
const ENGINE_WAIT: std::time::Duration = std::time::Duration::from_secs(10);
/// How long a command's body may take to arrive.
const BODY_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

fn refuse(d: &Denied) -> Response {
    let code = match d {
        Denied::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
        Denied::Forbidden { .. } => StatusCode::FORBIDDEN,
        Denied::Throttled { .. } => StatusCode::TOO_MANY_REQUESTS,
        Denied::Unverifiable(_) => StatusCode::SERVICE_UNAVAILABLE,
    };
    let mut r = (code, format!("{d}\n")).into_response();
    if let Denied::Unauthenticated(_) = d {
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Bearer realm=\"pitcrew\""),
        );
    }
    if let Denied::Throttled { retry_after } = d
        && let Ok(v) = header::HeaderValue::from_str(&retry_after.to_string())
    {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    r
}

fn peer_of(req: &Request) -> std::net::IpAddr {
    req.extensions()
        .get::<Peer>()
        .map_or(std::net::IpAddr::from([0, 0, 0, 0]), |p| p.0.ip())
}

fn header_of(req: &Request) -> Option<String> {
    req.headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// Who is calling (and, given a verb, whether they may): the refusal's answer otherwise.
async fn caller(
    control: &Control,
    auth: Option<&str>,
    addr: std::net::IpAddr,
    verb: Option<Verb>,
) -> Result<Identity, Box<Response>> {
    let checked = match verb {
        Some(v) => control.authority.check(auth, addr, v).await,
        None => control.authority.authenticate(auth, addr).await,
    };
    checked.map_err(|d| {
        if !matches!(d, Denied::Forbidden { .. }) {
            tracing::info!(peer = %addr, "control request refused: {d}");
        }
        Box::new(refuse(&d))
    })
}

/// The control routes, to merge beside `/metrics` and `/healthz`.
pub fn routes(control: Arc<Control>) -> axum::Router {
    use axum::routing::{get, post};
    let c1 = control.clone();
    axum::Router::new()
        .route("/v1/stream", get(move |req| stream(c1.clone(), req)))
        .route(
            "/v1/commands",
            post(move |req| command(control.clone(), req)),
        )
}

async fn stream(control: Arc<Control>, req: Request) -> Response {
    let who = match caller(
        &control,
        header_of(&req).as_deref(),
        peer_of(&req),
        Some(Verb::Watch),
    )
    .await
    {
        Ok(w) => w,
        Err(r) => return *r,
    };
    let joined = match control.feed.join(BASE_WAIT).await {
        Ok(j) => j,
        Err(why) => {
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                format!("no stream yet: {why}\n"),
            )
                .into_response();
        }
    };
    tracing::info!(user = %who.user, "console attached");
    let busy = req.extensions().get::<Busy>().map(Busy::hold);
    let hello = wire::hello(&Hello {
        protocol: wire::PROTOCOL,
        pitcrew: env!("CARGO_PKG_VERSION").to_string(),
        source: control.source.clone(),
        settings: control.settings.clone(),
        you: who.user.clone(),
        verbs: control.authority.verbs(&who).await,
    });
    let mut first: Vec<Bytes> = vec![Bytes::from(hello), joined.base];
    first.extend(joined.since);
    let head = futures::stream::iter(first.into_iter().map(Ok::<_, std::convert::Infallible>));
    let user = who.user;
    let live = futures::stream::unfold(
        (joined.live, busy, user),
        |(mut rx, busy, user)| async move {
            match tokio::time::timeout(BEAT_EVERY, rx.recv()).await {
                Ok(Ok(f)) => Some((Ok(f), (rx, busy, user))),
                Err(_) => Some((Ok(Bytes::from(wire::beat())), (rx, busy, user))),
                Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(n))) => {
                    // too far behind: the console resyncs from a new base
                    tracing::info!(user = %user, "console {n} frames behind: dropped, it resyncs");
                    None
                }
                Ok(Err(_)) => None,
            }
        },
    );
    use futures::StreamExt;
    // frames are reference-counted: a base is held once however many consoles take it
    let body = head.chain(live);
    (
        [(header::CONTENT_TYPE, "application/x-pitcrew-stream")],
        Body::from_stream(body),
    )
        .into_response()
}

async fn command(control: Arc<Control>, req: Request) -> Response {
    // who first: an unknown caller learns nothing of what they sent
    let who = match caller(&control, header_of(&req).as_deref(), peer_of(&req), None).await {
        Ok(w) => w,
        Err(r) => return *r,
    };
    let body = req.into_body();
    let bytes = match tokio::time::timeout(
        BODY_WAIT,
        axum::body::to_bytes(body, wire::MAX_COMMAND_BYTES),
    )
    .await
    {
        Err(_) => {
            return (StatusCode::REQUEST_TIMEOUT, "the body came too slowly\n").into_response();
        }
        Ok(Err(_)) => {
            return (
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("a command is at most {} bytes\n", wire::MAX_COMMAND_BYTES),
            )
                .into_response();
        }
        Ok(Ok(b)) => b,
    };
    let request = match wire::parse_command(&bytes) {
        Ok(r) => r,
        Err(e) => return (StatusCode::BAD_REQUEST, format!("{e}\n")).into_response(),
    };
    let verb = Verb::of(&request.command);
    if let Err(d) = control.authority.authorize(&who, verb).await {
        return refuse(&d);
    }
    apply(control, who, request).await
}

/// Apply a command once per (user, id): a retry gets the first answer. The command is handed
/// to a task of its own that records the engine's answer whatever becomes of this request (a
/// client that gives up and retries gets that answer, or is told to wait, never a second
/// application); no lock is held while the engine works.
async fn apply(control: Arc<Control>, who: Identity, request: wire::CommandRequest) -> Response {
    let key = (who.user.clone(), request.id.clone());
    let done = {
        let mut seen = control.seen.lock().await;
        if let Some(r) = seen.replies.get(&key) {
            let mut r = r.clone();
            r.repeated = true;
            return axum::Json(r).into_response();
        }
        if seen.pending.contains(&key) {
            return (
                StatusCode::CONFLICT,
                "this command is still being applied: ask again with the same id\n",
            )
                .into_response();
        }
        seen.pending.insert(key.clone());
        let (done_tx, done_rx) = oneshot::channel::<Option<CommandReply>>();
        let c = control.clone();
        let (user, command, id) = (who.user, request.command, request.id);
        tokio::spawn(async move {
            let (tx, rx) = oneshot::channel();
            let said = match c
                .asks
                .send(Ask {
                    user,
                    command,
                    id: id.clone(),
                    reply: tx,
                })
                .await
            {
                Ok(()) => rx.await.ok(),
                Err(_) => None,
            };
            let mut seen = c.seen.lock().await;
            let reply = said.map(|(said, repeated)| CommandReply { id, said, repeated });
            match &reply {
                Some(r) => seen.remember(key, r.clone()),
                None => {
                    seen.pending.remove(&key);
                }
            }
            let _ = done_tx.send(reply);
        });
        done_rx
    };
    match tokio::time::timeout(ENGINE_WAIT, done).await {
        Ok(Ok(Some(reply))) => axum::Json(reply).into_response(),
        Ok(_) => (StatusCode::SERVICE_UNAVAILABLE, "the engine has stopped\n").into_response(),
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "the engine did not answer in time; it has the command and will apply it: ask again with the same id to learn what it said\n",
        )
            .into_response(),
    }
}

//! `pitcrew attach`: the console on an agent. The agent's engine is re-run here from its
//! stream (a base, then every event it applies), so every screen is the stand-alone console's;
//! commands go to the agent, which applies them once in the caller's name and says what came
//! of them. No actuator, no journal and no source exist here: the agent is the executor.
//!
//! A link that drops is shown at once (DISCONNECTED in the status bar), no command is sent
//! while it is down, and it reconnects with backoff and resyncs from a new base.
//!
//! Several agents (one per shard of namespaces) are followed side by side, each by a task of its
//! own, and drawn as one fleet ([`super::merge`]); a command goes to the agent that owns what it
//! names, and one for the whole fleet (the phase, automating a class, a note) to every agent, or
//! to none while one is disconnected, so that the shards stay alike.

use super::merge::{merge, split_id};
use super::*;
use crate::clients::agent::{AgentClient, AgentError};
use crate::control::wire::{CommandRequest, Decoder, Frame, Hello, PROTOCOL};
use crate::engine::{Command, LinkView};

/// Everything `pitcrew attach` is started with.
#[derive(Debug, Clone)]
pub struct AttachOptions {
    /// The agents' URLs (one per shard of namespaces).
    pub urls: Vec<String>,
    /// Agents found through the Kubernetes API server (besides the URLs).
    pub kube: Option<KubeTarget>,
    /// The file holding the bearer token.
    pub token_file: Option<std::path::PathBuf>,
    /// A CA certificate (PEM) to trust for the agent's TLS.
    pub ca: Option<std::path::PathBuf>,
    /// Send no command at all.
    pub read_only: bool,
    /// Theme name or path.
    pub theme: String,
    /// Keymap name or path.
    pub keymap: String,
    /// No Unicode.
    pub ascii: bool,
    /// Capture the mouse.
    pub mouse: bool,
    /// Data-driven redraws per second at most.
    pub refresh_hz: f64,
}

/// Agents reached through the Kubernetes API server: the Service `service` in each namespace.
#[derive(Debug, Clone)]
pub struct KubeTarget {
    /// The kubeconfig context (the current one when `None`).
    pub context: Option<String>,
    /// One agent per namespace.
    pub namespaces: Vec<String>,
    /// The agent's Service.
    pub service: String,
}

/// No frame for this long (a beat comes every [`crate::control::server::BEAT_EVERY`]): the link is taken for dead.
const SILENCE: Duration = Duration::from_secs(6);
/// Pauses between reconnections: doubling from the first to the last.
const BACKOFF_FIRST: Duration = Duration::from_millis(500);
const BACKOFF_LAST: Duration = Duration::from_secs(15);
/// A link that held this long is taken for steady: its next loss starts from the first pause.
const STEADY: Duration = Duration::from_secs(30);
/// How long one connection attempt may take (the agent may make a base first).
const CONNECT_WAIT: Duration = Duration::from_secs(75);

/// Run the console attached to an agent.
pub fn run_attach(opts: AttachOptions) -> anyhow::Result<()> {
    let paths = Paths::from_env();
    let (theme, keymap) = load_look(&paths, &opts.theme, &opts.keymap)?;
    let token = match &opts.token_file {
        Some(p) => crate::config::SecretRef {
            env: None,
            file: Some(p.clone()),
        }
        .read()
        .map_err(|e| anyhow::anyhow!(e))?
        .filter(|t| !t.is_empty()),
        None => None,
    };
    let ca = match &opts.ca {
        Some(p) => Some(
            std::fs::read(p).with_context(|| format!("cannot read the CA file {}", p.display()))?,
        ),
        None => None,
    };
    anyhow::ensure!(
        !opts.urls.is_empty() || opts.kube.as_ref().is_some_and(|k| !k.namespaces.is_empty()),
        "no agent given: a URL, or --namespace N to find it through the Kubernetes API server"
    );
    let mut clients = Vec::new();
    for url in &opts.urls {
        let c =
            AgentClient::new(url, token.clone(), ca.as_deref()).map_err(|e| anyhow::anyhow!(e))?;
        anyhow::ensure!(
            !clients.iter().any(|o: &AgentClient| o.url() == c.url()),
            "{url} is given twice"
        );
        clients.push(c);
    }
    let rt = runtime()?;
    let forwards = CancellationToken::new();
    let r = rt.block_on(async {
        if let Some(k) = &opts.kube {
            clients.extend(through_kube(k, token.clone(), ca.as_deref(), &forwards).await?);
        }
        attach_console(opts, clients, theme, keymap).await
    });
    forwards.cancel();
    rt.shutdown_timeout(STOP_BLOCKING);
    r
}

/// Clients of the agents of `k`, each through a port-forward of the Kubernetes API server.
async fn through_kube(
    k: &KubeTarget,
    token: Option<String>,
    ca: Option<&[u8]>,
    cancel: &CancellationToken,
) -> anyhow::Result<Vec<AgentClient>> {
    use super::via_kube;
    let kube = crate::clients::kube::client(k.context.as_deref())
        .await
        .map_err(|e| anyhow::anyhow!(e))?;
    let mut out = Vec::new();
    for ns in &k.namespaces {
        let found = via_kube::find(&kube, ns, &k.service)
            .await
            .map_err(|e| anyhow::anyhow!(e))?;
        let (tls, host) = (found.tls, found.host.clone());
        let local = via_kube::forward(
            kube.clone(),
            ns.clone(),
            k.service.clone(),
            found,
            cancel.clone(),
        )
        .await
        .map_err(|e| anyhow::anyhow!(e))?;
        // over TLS the certificate is checked against the Service's name, whatever port the
        // forward listens on
        let client = if tls {
            AgentClient::new_at(
                &format!("https://{host}:{}", local.port()),
                token.clone(),
                ca,
                Some(local),
            )
        } else {
            AgentClient::new(&format!("http://{local}"), token.clone(), ca)
        }
        .map_err(|e| anyhow::anyhow!(e))?;
        out.push(client);
    }
    Ok(out)
}

async fn attach_console(
    opts: AttachOptions,
    clients: Vec<AgentClient>,
    theme: Theme,
    keymap: Keymap,
) -> anyhow::Result<()> {
    let cancel = CancellationToken::new();
    spawn_signal_watch(cancel.clone());
    let (focus_tx, focus_rx) = watch::channel::<Option<String>>(None);
    let (cmd_tx, cmd_rx) = mpsc::channel::<Event>(16);
    let mut parts = Vec::new();
    let mut routes = Vec::new();
    let mut tasks = Vec::new();
    let names: Vec<String> = clients.iter().map(|c| c.url().to_string()).collect();
    for client in clients {
        let link = Link::new(client, opts.read_only);
        let (part_tx, part_rx) = watch::channel(Arc::new(link.snapshot(None)));
        let (route_tx, route_rx) = mpsc::channel::<Command>(16);
        tasks.push(tokio::spawn(follow(
            link,
            part_tx,
            focus_rx.clone(),
            route_rx,
            cancel.clone(),
            opts.refresh_hz,
        )));
        parts.push(part_rx);
        routes.push(route_tx);
    }
    let first: Vec<Arc<Snapshot>> = parts.iter().map(|p| p.borrow().clone()).collect();
    let (snap_tx, snap_rx) = watch::channel(Arc::new(merge(&first, 0, &[])));
    tasks.push(tokio::spawn(gather(
        parts,
        routes,
        snap_tx,
        cmd_rx,
        opts.read_only,
        cancel.clone(),
        opts.refresh_hz,
    )));
    let (mut term, guard) = match terminal::setup(opts.mouse, theme.mode() == ColorMode::None) {
        Ok(t) => t,
        Err(e) => {
            cancel.cancel();
            return Err(e).context("cannot set up the terminal (is this a TTY?)");
        }
    };
    let mut ui = Ui::new(
        opts.ascii,
        opts.mouse,
        Capabilities {
            clock_control: false,
            inject: false,
            replay: false,
        },
        crate::operator::os_account(),
    );
    ui.flash = Some(format!("attaching to {}…", names.join(", ")));
    let channels = Channels {
        snapshots: snap_rx,
        focus: focus_tx,
        commands: cmd_tx,
        playback: None,
    };
    let stop = cancel.clone();
    let result = tui::run(
        &mut term,
        &mut ui,
        &theme,
        &keymap,
        channels,
        stop,
        opts.refresh_hz,
    )
    .await;
    cancel.cancel();
    drop(guard);
    let _ = tokio::time::timeout(Duration::from_secs(2), futures::future::join_all(tasks)).await;
    result
}

/// Notices the console keeps (the newest), of its own and of each link.
const NOTICES_KEPT: usize = 20;

/// Draw the agents' fleets as one and hand each command to the agent(s) it is for.
async fn gather(
    mut parts: Vec<watch::Receiver<Arc<Snapshot>>>,
    routes: Vec<mpsc::Sender<Command>>,
    snap_tx: watch::Sender<Arc<Snapshot>>,
    mut commands: mpsc::Receiver<Event>,
    read_only: bool,
    cancel: CancellationToken,
    hz: f64,
) {
    let mut notices: Vec<String> = Vec::new();
    let mut seq = 0u64;
    let mut dirty = false;
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / hz.clamp(0.5, 30.0)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => break,
            c = commands.recv() => {
                let Some(ev) = c else { break };
                if let Event::Command { command, .. } = ev
                    && let Some(why) = route(command, &parts, &routes, read_only)
                {
                    notices.push(why);
                    let keep = notices.len().saturating_sub(NOTICES_KEPT);
                    notices.drain(..keep);
                    dirty = true;
                }
            }
            _ = tick.tick() => {
                let changed = parts.iter().any(|p| p.has_changed().unwrap_or(false));
                if changed || dirty {
                    let latest: Vec<Arc<Snapshot>> =
                        parts.iter_mut().map(|p| p.borrow_and_update().clone()).collect();
                    seq += 1;
                    if snap_tx.send(Arc::new(merge(&latest, seq, &notices))).is_err() {
                        break;
                    }
                    dirty = false;
                }
            }
        }
    }
}

/// Hand a command to the agent that owns what it names, or to every agent; what the console
/// has to say when it sends nothing.
fn route(
    command: Command,
    parts: &[watch::Receiver<Arc<Snapshot>>],
    routes: &[mpsc::Sender<Command>],
    read_only: bool,
) -> Option<String> {
    let n = routes.len();
    if read_only {
        return Some("read-only: no command sent".into());
    }
    let owner = match &command {
        Command::Approve { id } | Command::Veto { id, .. } => Some(split_id(*id, n)),
        Command::Inject { model, .. } => {
            match parts
                .iter()
                .position(|p| p.borrow().rows.iter().any(|r| r.meta.key() == *model))
            {
                Some(k) => Some((k, 0)),
                None => return Some(format!("{model} is on none of the agents: not sent")),
            }
        }
        Command::SetPhase { .. } | Command::SetClassMode { .. } | Command::Note { .. } => None,
    };
    match owner {
        Some((k, local)) => {
            let command = match command {
                Command::Approve { .. } => Command::Approve { id: local },
                Command::Veto { reason, .. } => Command::Veto { id: local, reason },
                other => other,
            };
            match routes.get(k) {
                Some(r) if r.try_send(command).is_ok() => None,
                _ => Some("the console is busy sending: command not sent, try again".into()),
            }
        }
        None => {
            // for the whole fleet: every shard or none, so that they stay alike
            let down: Vec<String> = parts
                .iter()
                .flat_map(|p| p.borrow().links.clone())
                .filter(|l| !l.live)
                .map(|l| l.agent)
                .collect();
            if n > 1 && !down.is_empty() {
                return Some(format!(
                    "DISCONNECTED from {}: not sent to any agent (a command for the whole fleet goes to all or none)",
                    down.join(", ")
                ));
            }
            // room on every route first, so that it goes to all or to none
            if routes.iter().any(|r| r.capacity() == 0) {
                return Some("the console is busy sending: command not sent, try again".into());
            }
            let mut busy = false;
            for r in routes {
                busy |= r.try_send(command.clone()).is_err();
            }
            busy.then(|| "the console is busy sending: not every agent got the command".into())
        }
    }
}

/// One agent as the console follows it.
pub struct Link {
    client: AgentClient,
    read_only: bool,
    hello: Option<Hello>,
    engine: Option<Engine>,
    decoder: Decoder,
    /// Why the link is down (`None`: following the stream).
    down: Option<String>,
    /// When the agent last sent anything.
    heard: tokio::time::Instant,
    /// What the console has to say (command results, refusals), newest last.
    notices: Vec<String>,
    /// An empty engine, for the snapshot before the first base.
    blank: Engine,
}

impl Link {
    /// Not yet connected.
    pub fn new(client: AgentClient, read_only: bool) -> Link {
        Link {
            client,
            read_only,
            hello: None,
            engine: None,
            decoder: Decoder::default(),
            down: Some("connecting…".into()),
            heard: tokio::time::Instant::now(),
            notices: Vec::new(),
            blank: Engine::new(crate::engine::EngineConfig::default()),
        }
    }

    fn host(&self) -> String {
        let u = self.client.url();
        u.split("://").nth(1).unwrap_or(u).to_string()
    }

    /// What the console draws: the re-run engine's snapshot, and how the link stands.
    pub fn snapshot(&self, focus: Option<&str>) -> Snapshot {
        let mut s = match &self.engine {
            Some(e) => e.snapshot(focus, 1000),
            None => {
                let mut s = self.blank.snapshot(None, 0);
                s.source.label = self.client.url().to_string();
                s.source.state = SourceState::Down {
                    error: self.down.clone().unwrap_or_default(),
                };
                s
            }
        };
        if let Some(h) = &self.hello {
            s.source.label = format!("{} @ {}", h.source, self.host());
        }
        if let Some(why) = &self.down
            && self.engine.is_some()
        {
            // what is shown is as old as the link's silence: the data age says so
            s.source.state = SourceState::Down {
                error: format!("DISCONNECTED: {why}"),
            };
            s.t += self.heard.elapsed().as_secs_f64() * s.source.speed.max(1.0);
        }
        if self.read_only {
            s.read_only = true;
            s.actuator = None;
        }
        // the agent's "this pitcrew" is the agent, not this console
        if s.executor.as_deref() == Some(crate::actuators::lease::EXECUTOR_HERE) {
            s.executor = Some("executor: the agent".into());
        }
        s.links = vec![LinkView {
            agent: self.host(),
            live: self.down.is_none(),
            why: self.down.clone(),
            quiet: self.heard.elapsed().as_secs_f64(),
            you: self.hello.as_ref().map(|h| h.you.clone()),
            age: self.engine.as_ref().and(s.data_age()),
            executor: s.executor.clone(),
        }];
        if !self.notices.is_empty() {
            let mut n = s.notices.as_ref().clone();
            n.extend(self.notices.iter().cloned());
            s.notices = Arc::new(n);
        }
        s
    }

    /// Frames received: applied to the re-run engine; an error ends the stream.
    fn receive(&mut self, bytes: &[u8]) -> Result<(), String> {
        self.heard = tokio::time::Instant::now();
        self.decoder.push(bytes);
        while let Some(f) = self.decoder.frame()? {
            match f {
                Frame::Hello(h) => {
                    if h.protocol != PROTOCOL || h.pitcrew != env!("CARGO_PKG_VERSION") {
                        return Err(format!(
                            "the agent runs pitcrew {} (protocol {}), this console is {} (protocol {PROTOCOL}): attach with the same version",
                            h.pitcrew,
                            h.protocol,
                            env!("CARGO_PKG_VERSION")
                        ));
                    }
                    self.hello = Some(*h);
                }
                Frame::Base { state, .. } => {
                    let cfg = self
                        .hello
                        .as_ref()
                        .ok_or("a base before the hello")?
                        .settings
                        .config();
                    self.engine = Some(Engine::restore(cfg, &state)?);
                    self.down = None;
                }
                Frame::Event(ev) => {
                    let e = self.engine.as_mut().ok_or("an event before the base")?;
                    // the agent acts; here the engine only follows, its effects go nowhere
                    let _ = e.apply(*ev);
                }
                Frame::Beat => {}
            }
        }
        Ok(())
    }

    fn lost(&mut self, why: String) {
        if self.down.is_none() {
            self.notices
                .push(format!("DISCONNECTED from {}: {why}", self.host()));
            let keep = self.notices.len().saturating_sub(NOTICES_KEPT);
            self.notices.drain(..keep);
        }
        self.down = Some(why);
        self.decoder = Decoder::default();
    }
}

/// Follow the agent: keep the stream, re-run the engine, publish snapshots, send commands.
async fn follow(
    mut link: Link,
    snap_tx: watch::Sender<Arc<Snapshot>>,
    mut focus: watch::Receiver<Option<String>>,
    mut commands: mpsc::Receiver<Command>,
    cancel: CancellationToken,
    hz: f64,
) {
    let (said_tx, mut said_rx) = mpsc::channel::<String>(64);
    let mut conn: Option<reqwest::Response> = None;
    // a connection attempt runs apart, bounded, so that the screen, the commands and quitting
    // never wait for it
    let mut connecting: Option<tokio::task::JoinHandle<Result<reqwest::Response, AgentError>>> =
        None;
    let mut connected_at = tokio::time::Instant::now();
    let mut retry_at = tokio::time::Instant::now();
    let mut backoff = BACKOFF_FIRST;
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / hz.clamp(0.5, 30.0)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut dirty = true;
    loop {
        tokio::select! {
            _ = cancel.cancelled() => break,
            chunk = async {
                match conn.as_mut() {
                    Some(r) => tokio::time::timeout(SILENCE, r.chunk()).await,
                    None => std::future::pending().await,
                }
            } => {
                let why = match chunk {
                    Ok(Ok(Some(bytes))) => link.receive(&bytes).err(),
                    Ok(Ok(None)) => Some("the agent closed the stream".to_string()),
                    Ok(Err(e)) => Some(format!("the stream broke: {}", crate::clients::error_chain(&e))),
                    Err(_) => Some(format!("nothing from the agent for {} s", SILENCE.as_secs())),
                };
                if let Some(why) = why {
                    conn = None;
                    // a link that held a while starts again from the shortest pause; one
                    // that keeps dropping (too slow for the stream, a damaged frame, another
                    // version) waits longer each time
                    if connected_at.elapsed() > STEADY {
                        backoff = BACKOFF_FIRST;
                    }
                    link.lost(why);
                    retry_at = tokio::time::Instant::now() + jitter(backoff);
                    backoff = (backoff * 2).min(BACKOFF_LAST);
                }
                dirty = true;
            }
            _ = tokio::time::sleep_until(retry_at), if conn.is_none() && connecting.is_none() => {
                let client = link.client.clone();
                connecting = Some(tokio::spawn(async move {
                    tokio::time::timeout(CONNECT_WAIT, client.stream())
                        .await
                        .unwrap_or_else(|_| Err(AgentError::Unreachable {
                            url: client.url().to_string(),
                            why: format!("no stream within {} s", CONNECT_WAIT.as_secs()),
                        }))
                }));
            }
            r = async {
                match connecting.as_mut() {
                    Some(h) => h.await,
                    None => std::future::pending().await,
                }
            } => {
                connecting = None;
                match r {
                    Ok(Ok(resp)) => {
                        conn = Some(resp);
                        link.heard = tokio::time::Instant::now();
                        connected_at = tokio::time::Instant::now();
                    }
                    Ok(Err(e)) => {
                        let refused = !e.transient();
                        link.lost(short(&e));
                        // a refusal is not cured by hammering: the slowest pace
                        backoff = if refused { BACKOFF_LAST } else { (backoff * 2).min(BACKOFF_LAST) };
                        retry_at = tokio::time::Instant::now() + jitter(backoff);
                    }
                    Err(e) => {
                        link.lost(format!("the connection attempt failed: {e}"));
                        retry_at = tokio::time::Instant::now() + jitter(BACKOFF_LAST);
                    }
                }
                dirty = true;
            }
            c = commands.recv() => {
                let Some(command) = c else { break };
                send(&link, command, &said_tx);
            }
            Some(said) = said_rx.recv() => {
                link.notices.push(said);
                let keep = link.notices.len().saturating_sub(NOTICES_KEPT);
                link.notices.drain(..keep);
                dirty = true;
            }
            r = focus.changed() => {
                if r.is_err() { break; }
                dirty = true;
            }
            _ = tick.tick() => {
                // the link's quiet time moves even when nothing else does
                if dirty || link.down.is_some() {
                    let f = focus.borrow().clone();
                    if snap_tx.send(Arc::new(link.snapshot(f.as_deref()))).is_err() {
                        break;
                    }
                    dirty = false;
                }
            }
        }
    }
}

/// A refusal or a failure in a few words.
fn short(e: &AgentError) -> String {
    match e {
        AgentError::Refused { status, text, .. } => format!("refused ({status}): {text}"),
        AgentError::Unreachable { why, .. } => why.clone(),
    }
}

/// `d` give or take a quarter, so that consoles do not reconnect in step.
fn jitter(d: Duration) -> Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |t| t.subsec_nanos());
    let f = 0.75 + 0.5 * (f64::from(nanos % 1000) / 1000.0);
    d.mul_f64(f)
}

/// A fresh command id: this process, this moment, a counter.
fn command_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!(
        "{}-{t:x}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Send a command (not while read-only or disconnected); what comes of it is said on `said`.
fn send(link: &Link, command: Command, said: &mpsc::Sender<String>) {
    if link.read_only {
        let _ = said.try_send("read-only: no command sent".into());
        return;
    }
    if let Some(why) = &link.down {
        let _ = said.try_send(format!(
            "DISCONNECTED from {} ({why}): command not sent, nothing changed",
            link.host()
        ));
        return;
    }
    let client = link.client.clone();
    let said = said.clone();
    tokio::spawn(async move {
        let req = CommandRequest {
            id: command_id(),
            command,
        };
        let text = match client.command(&req).await {
            Ok(r) if r.said.is_empty() => "the agent applied it; it had nothing to say".into(),
            Ok(r) => r.said.join("; "),
            // the agent may have it: what came of it is not known (the same id asked again
            // would say, and never applies it twice)
            Err(e) if e.transient() => format!(
                "command sent, outcome not known yet ({}): see the Audit screen",
                short(&e)
            ),
            Err(e) => format!("command not applied: {}", short(&e)),
        };
        let _ = said.send(text).await;
    });
}

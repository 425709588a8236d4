//! The registry poll task: reads the model registry for the models the engine task names (it
//! asks every minute, with the engine's own list and time, not the UI's snapshot) and turns
//! champion versions and new candidates into events. With advisories configured
//! (`[security] advisories`, a directory read once at the start, or `osv_api`, asked at each
//! scan for the packages the models require), it also reads, every [`VULN_SCAN_SECS`], the
//! requirements each model's serving version logged, and hands what they are known to be
//! vulnerable to to the engine ([`Event::Findings`]).

use crate::clients::mlflow::Registry;
use crate::clients::osv::OsvClient;
use crate::engine::Event;
use crate::security::index::Index;
use crate::sources::mlflow::CandidateWatch;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

/// Seconds between two reads of the model registry.
pub(crate) const REGISTRY_POLL_SECS: u64 = 60;

/// Seconds of the engine's time between two scans of what the models run.
pub(crate) const VULN_SCAN_SECS: f64 = 3600.0;

/// Where a scan's advisories come from.
#[derive(Clone)]
pub enum Advisories {
    /// An index built once (a directory of records).
    Index(Arc<Index>),
    /// An OSV API, asked at each scan for the packages the models require.
    Api(Arc<OsvClient>),
}

/// What the engine task asks the registry poll: every model the engine knows, in its order,
/// and the engine's time.
pub(crate) type Ask = (Vec<crate::fleet::ModelMeta>, f64);

/// A poll task's next ask; `None` once it is cancelled or the engine task is gone.
pub(super) async fn next_ask(
    asks: &mut mpsc::Receiver<Ask>,
    cancel: &CancellationToken,
) -> Option<Ask> {
    tokio::select! {
        _ = cancel.cancelled() => None,
        ask = asks.recv() => ask,
    }
}

/// Read the registry for the models of each [`Ask`] the engine task sends (every
/// [`REGISTRY_POLL_SECS`]): champion versions and new candidates go to the engine as events;
/// how it went goes to `status` (shown in the status bar).
pub(super) async fn poll_registry(
    registry: Registry,
    mut asks: mpsc::Receiver<Ask>,
    busy: Arc<AtomicBool>,
    advisories: Option<(Advisories, crate::domain::Severity)>,
    tx: mpsc::Sender<Event>,
    status: watch::Sender<Option<String>>,
    cancel: CancellationToken,
) {
    let mut watch = CandidateWatch::new();
    let mut scanned = f64::NEG_INFINITY;
    loop {
        let Some((metas, t)) = next_ask(&mut asks, &cancel).await else {
            return;
        };
        busy.store(true, Ordering::Release);
        poll_once(&registry, &mut watch, &metas, t, &tx, &status, &cancel).await;
        if let Some((advisories, patch_at)) = &advisories
            && !metas.is_empty()
            && t - scanned >= VULN_SCAN_SECS
        {
            scanned = t;
            let events = tokio::select! {
                _ = cancel.cancelled() => return,
                e = scan_vulnerabilities(&registry, advisories, &metas, *patch_at, t) => e,
            };
            for ev in events {
                if tx.send(ev).await.is_err() {
                    return;
                }
            }
        }
        busy.store(false, Ordering::Release);
        if tx.is_closed() || cancel.is_cancelled() {
            return;
        }
    }
}

/// What each model's serving version logged as its requirements, matched against the
/// advisories: one [`Event::Findings`] a model whose requirements could be read (an empty one
/// closes what was open), with what a patch at `patch_at` would pin instead. A model that logged none, or could not be read, is left as it was
/// (the reason in the log); so is every model when the OSV API cannot be read (never reported
/// clean on advisories not read).
pub async fn scan_vulnerabilities(
    registry: &Registry,
    advisories: &Advisories,
    metas: &[crate::fleet::ModelMeta],
    patch_at: crate::domain::Severity,
    t: f64,
) -> Vec<Event> {
    let names = metas
        .iter()
        .map(|m| registry.registered_name(&m.namespace, &m.name))
        .collect();
    let read = registry.logged_requirements_of(names).await;
    let mut targets = Vec::new();
    for (m, (_, logged)) in metas.iter().zip(read) {
        let key = m.key();
        let text = match logged {
            Ok(Some(f)) => crate::security::requirements::from_logged(f.file, &f.text),
            Ok(None) => continue,
            Err(e) => Err(e.to_string()),
        };
        match text {
            Ok(requirements) => targets.push(crate::security::scan::Target {
                model: key,
                requirements,
            }),
            Err(e) => tracing::warn!("requirements of {key} not read: {e}"),
        }
    }
    let index = match advisories {
        Advisories::Index(i) => i.clone(),
        Advisories::Api(api) if !targets.is_empty() => {
            let packages = crate::security::scan::packages(&targets);
            match api.index(&packages).await {
                Ok(i) => Arc::new(i),
                Err(e) => {
                    tracing::warn!("no vulnerability scan: {e}");
                    return Vec::new();
                }
            }
        }
        Advisories::Api(_) => return Vec::new(),
    };
    targets
        .into_iter()
        .map(|target| {
            let found = crate::security::scan::vulnerabilities(&index, &target.requirements);
            let bumps =
                crate::security::bump::for_findings(&index, &target.requirements, &found, patch_at);
            Event::Findings {
                t,
                scanner: crate::domain::Scanner::Requirements,
                found,
                bumps,
                model: target.model,
            }
        })
        .collect()
}

/// One read of the registry for `metas` at the engine's time `t`: its events to the engine,
/// how it went to `status`.
async fn poll_once(
    registry: &Registry,
    watch: &mut CandidateWatch,
    metas: &[crate::fleet::ModelMeta],
    t: f64,
    tx: &mpsc::Sender<Event>,
    status: &watch::Sender<Option<String>>,
    cancel: &CancellationToken,
) {
    if metas.is_empty() {
        return;
    }
    let poll = tokio::select! {
        _ = cancel.cancelled() => return,
        p = watch.poll(registry, metas, t) => p,
    };
    for ev in poll.events {
        if tx.send(ev).await.is_err() {
            return;
        }
    }
    let unregistered = poll.errors.iter().filter(|(_, e)| e.is_not_found()).count();
    let failed: Vec<_> = poll
        .errors
        .iter()
        .filter(|(_, e)| !e.is_not_found())
        .collect();
    for (key, e) in &failed {
        tracing::warn!("registry read for {key}: {e}");
    }
    let text = match failed.first() {
        Some((key, e)) if failed.len() == metas.len() => {
            format!("registry DOWN ({key}: {e})")
        }
        Some((key, _)) => format!(
            "registry: {} of {} models unreadable (first {key}; see the log)",
            failed.len(),
            metas.len()
        ),
        None if unregistered > 0 => format!(
            "registry ok, {unregistered} of {} models not registered",
            metas.len()
        ),
        None => "registry ok".to_string(),
    };
    let _ = status.send(Some(text));
}

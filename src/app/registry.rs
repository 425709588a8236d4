//! The registry poll task: reads the model registry for every model the engine knows and turns
//! champion versions and new candidates into events.

use crate::clients::mlflow::Registry;
use crate::engine::{Event, Snapshot};
use crate::sources::mlflow::CandidateWatch;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

/// Seconds between two reads of the model registry.
pub(crate) const REGISTRY_POLL_SECS: u64 = 60;

/// Read the registry for every model the engine knows, now and every
/// [`REGISTRY_POLL_SECS`]: champion versions and new candidates go to the engine as events;
/// how it went goes to `status` (shown in the status bar).
pub(super) async fn poll_registry(
    registry: Registry,
    snaps: watch::Receiver<Arc<Snapshot>>,
    tx: mpsc::Sender<Event>,
    status: watch::Sender<Option<String>>,
    cancel: CancellationToken,
) {
    let mut watch = CandidateWatch::new();
    loop {
        let (metas, t) = {
            let snap = snaps.borrow();
            let mut rows: Vec<_> = snap.rows.iter().collect();
            rows.sort_by_key(|r| r.index);
            // the poll names models by their position: only when the rows are the whole fleet
            let whole = rows.iter().enumerate().all(|(i, r)| r.index as usize == i);
            let metas: Vec<crate::fleet::ModelMeta> = if whole {
                rows.iter().map(|r| (*r.meta).clone()).collect()
            } else {
                Vec::new()
            };
            (metas, snap.t)
        };
        if !metas.is_empty() {
            let poll = tokio::select! {
                _ = cancel.cancelled() => return,
                p = watch.poll(&registry, &metas, t) => p,
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
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_secs(if metas.is_empty() { 2 } else { REGISTRY_POLL_SECS })) => {}
        }
    }
}

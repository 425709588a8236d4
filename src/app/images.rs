//! The image scan task: for the models the engine task names (every
//! [`super::registry::VULN_SCAN_SECS`]), reads trivy-operator's reports of their serving images
//! ([`crate::sources::images`]) and hands each model's findings to the engine
//! ([`Event::Findings`] of the images scanner, with the bumps a rebuild at the policy's
//! severity makes, [`crate::security::bump::for_image`]). A model not scanned keeps its last findings; a
//! namespace that cannot be read, or a model whose Deployment is not there, is said once as a
//! notice (again only when what is wrong changes).

use super::registry::next_ask;
use crate::config::KubeConfig;
use crate::domain::Scanner;
use crate::engine::Event;
use crate::sources::images::NotScanned;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Scan the serving images of the models of each ask, until cancelled or the engine is gone.
pub(super) async fn poll_images(
    client: kube::Client,
    cfg: KubeConfig,
    patch_at: crate::domain::Severity,
    mut asks: mpsc::Receiver<super::registry::Ask>,
    busy: Arc<AtomicBool>,
    tx: mpsc::Sender<Event>,
    cancel: CancellationToken,
) {
    let mut said: BTreeSet<String> = BTreeSet::new();
    loop {
        let Some((metas, t)) = next_ask(&mut asks, &cancel).await else {
            return;
        };
        busy.store(true, Ordering::Release);
        let keys: Vec<String> = metas.iter().map(crate::fleet::ModelMeta::key).collect();
        let scan = tokio::select! {
            _ = cancel.cancelled() => return,
            s = crate::sources::images::scan(&client, &cfg, &keys) => s,
        };
        let (events, problems) = events_of(scan, t, patch_at);
        // each problem said once, while it lasts
        let fresh: Vec<String> = problems.difference(&said).cloned().collect();
        said = problems;
        for ev in events
            .into_iter()
            .chain(fresh.into_iter().map(|text| Event::Notice {
                t,
                text: format!("image scan: {text}"),
            }))
        {
            if tx.send(ev).await.is_err() {
                return;
            }
        }
        busy.store(false, Ordering::Release);
    }
}

/// One scan's findings as events (with the bumps of a rebuild at `patch_at`), and what went
/// wrong in a few lines (a failed namespace once, models without a Deployment counted).
fn events_of(
    scan: crate::sources::images::Scan,
    t: f64,
    patch_at: crate::domain::Severity,
) -> (Vec<Event>, BTreeSet<String>) {
    let mut events = Vec::new();
    let mut problems = BTreeSet::new();
    let mut no_deployment = Vec::new();
    for (key, r) in scan.models {
        match r {
            Ok(m) => {
                if let Some(found) = m.found {
                    events.push(Event::Findings {
                        t,
                        model: key,
                        scanner: Scanner::Images,
                        bumps: crate::security::bump::for_image(&found, patch_at),
                        found,
                    });
                }
            }
            Err(NotScanned::Failed(e)) => {
                problems.insert(e.to_string());
            }
            Err(NotScanned::NoDeployment { name }) => no_deployment.push(format!("{key} ({name})")),
        }
    }
    if let Some(first) = no_deployment.first() {
        problems.insert(format!(
            "{} models have no Deployment (kubernetes.deployment_template) to follow their reports to, the first: {first}",
            no_deployment.len()
        ));
    }
    problems.extend(scan.unread);
    (events, problems)
}

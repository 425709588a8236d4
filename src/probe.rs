//! `pitcrew check --config FILE --probe [--from T --to T]`: try every endpoint the config names
//! and say what answered — read-only requests only (a query per signal, the registry's model
//! list, the Lease of each namespace), so probing a production cluster changes nothing. With a
//! window, each signal is asked over that window (what history mode will read): how many
//! series and points it holds, and whether the step fits the data's own resolution.

use crate::actuators::kube::KubeActuator;
use crate::actuators::lease::Role;
use crate::clients::mlflow::MlflowClient;
use crate::clients::prometheus::{POINTS_PER_REQUEST, PromClient};
use crate::config::Config;
use crate::domain::time::datetime;
use crate::sources::resolution::{series_resolution, step_warning};
use std::fmt;

/// What one probe found.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeLine {
    /// `prometheus`, `mlflow` or `kubernetes`.
    pub system: &'static str,
    /// What was tried.
    pub what: String,
    /// What answered, or why not.
    pub outcome: Result<String, String>,
}

impl fmt::Display for ProbeLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.outcome {
            Ok(m) => write!(f, "ok    {:<11} {}: {m}", self.system, self.what),
            Err(e) => write!(f, "FAIL  {:<11} {}: {e}", self.system, self.what),
        }
    }
}

/// Probe every system of `cfg`, Prometheus at now or over `window`; an empty list when it
/// names none.
pub async fn probe(cfg: &Config, window: Option<(f64, f64)>) -> Vec<ProbeLine> {
    let mut out = Vec::new();
    if let Some(p) = &cfg.prometheus {
        match PromClient::new(p) {
            Err(e) => out.push(ProbeLine {
                system: "prometheus",
                what: crate::clients::prometheus::redact_url(&p.url),
                outcome: Err(e.to_string()),
            }),
            Ok(client) => {
                let now = crate::clock::unix_now();
                for (signal, q) in p.queries.iter() {
                    if let Some((from, to)) = window {
                        out.push(ProbeLine {
                            system: "prometheus",
                            what: format!("query {} over the window", signal.name()),
                            outcome: probe_window(&client, q, from, to, p.step_seconds).await,
                        });
                        continue;
                    }
                    let outcome = match client.query(q, now).await {
                        Ok(r) => {
                            let mut m = format!("{} series", r.series.len());
                            if r.series.is_empty() {
                                m.push_str(" (no model has data for this query now)");
                            }
                            if let Some(w) = r.warnings.first() {
                                m.push_str(&format!("; warning: {w}"));
                            }
                            Ok(m)
                        }
                        Err(e) => Err(e.to_string()),
                    };
                    out.push(ProbeLine {
                        system: "prometheus",
                        what: format!("query {}", signal.name()),
                        outcome,
                    });
                }
            }
        }
    }
    if let Some(m) = &cfg.mlflow {
        match MlflowClient::new(m) {
            Err(e) => out.push(ProbeLine {
                system: "mlflow",
                what: crate::redact::url(&m.tracking_uri),
                outcome: Err(e.to_string()),
            }),
            Ok(client) => {
                let outcome = match client.search_registered_models(None).await {
                    Ok(models) => Ok(format!("{} registered models", models.len())),
                    Err(e) => Err(e.to_string()),
                };
                out.push(ProbeLine {
                    system: "mlflow",
                    what: "registered models".into(),
                    outcome,
                });
            }
        }
    }
    if let Some(k) = &cfg.kubernetes {
        match KubeActuator::new(k, true, Role::Console).await {
            Err(e) => out.push(ProbeLine {
                system: "kubernetes",
                what: k
                    .context
                    .clone()
                    .unwrap_or_else(|| "current context".into()),
                outcome: Err(e.to_string()),
            }),
            Ok(kube) => {
                for ns in cfg.namespaces(k) {
                    let outcome = match kube.leases().holder(&ns, jiff::Timestamp::now()).await {
                        Ok(Some(h)) => Ok(format!("lease {} held by {h}", k.lease_name)),
                        Ok(None) => Ok(format!("lease {} free", k.lease_name)),
                        Err(e) => Err(e.to_string()),
                    };
                    out.push(ProbeLine {
                        system: "kubernetes",
                        what: format!("namespace {ns}"),
                        outcome,
                    });
                }
            }
        }
    }
    out
}

/// A signal over `[from, to]`: its coverage at a step coarse enough for one request per series,
/// then its first points at the configured step, to measure the data's resolution.
async fn probe_window(
    client: &PromClient,
    q: &str,
    from: f64,
    to: f64,
    step: f64,
) -> Result<String, String> {
    let step = if step.is_finite() && step > 0.0 {
        step
    } else {
        15.0
    };
    let coarse = step.max((to - from) / POINTS_PER_REQUEST as f64).ceil();
    let r = client
        .query_range(q, from, to, coarse)
        .await
        .map_err(|e| e.to_string())?;
    let points: usize = r.series.iter().map(|s| s.points.len()).sum();
    if points == 0 {
        return Ok(format!(
            "{} series, no data between {} and {} UTC",
            r.series.len(),
            datetime(from),
            datetime(to)
        ));
    }
    // the earliest first point and the latest last point of any series
    let (first, last) = r
        .series
        .iter()
        .filter_map(|s| Some((s.points.first()?.0, s.points.last()?.0)))
        .fold((to, from), |(a, b), (f, l)| (a.min(f), b.max(l)));
    let mut m = format!(
        "{} series with data from {} to {} UTC",
        r.series.len(),
        datetime(first),
        datetime(last)
    );
    // the resolution, at the step history mode will use, from where the data begin
    let fine_end = (first + step * POINTS_PER_REQUEST as f64).min(to);
    let fine = client
        .query_range_once(q, first, fine_end, step)
        .await
        .map_err(|e| e.to_string())?;
    match series_resolution(fine.series.iter().map(|s| s.points.as_slice())) {
        Some(res) => match step_warning(step, res) {
            Some(w) => m.push_str(&format!("; warning: {w}")),
            None => m.push_str(&format!(
                "; a new value every {res:.0} s, step {step:.0} s fits"
            )),
        },
        None => m.push_str("; too few changing values to measure the data's resolution"),
    }
    if let Some(w) = r.warnings.first() {
        m.push_str(&format!("; warning: {w}"));
    }
    Ok(m)
}

/// `check --probe`: probe `cfg` (over `window` when given), print a line per endpoint and a
/// summary; true when every endpoint answered.
pub fn run_and_print(cfg: &Config, window: Option<(f64, f64)>) -> bool {
    let Ok(rt) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        eprintln!("pitcrew check: cannot start the async runtime");
        return false;
    };
    let lines = rt.block_on(probe(cfg, window));
    if lines.is_empty() {
        println!("probe: the config names no Prometheus, MLflow or Kubernetes");
    }
    for l in &lines {
        println!("{l}");
    }
    let failed = lines.iter().filter(|l| l.outcome.is_err()).count();
    if failed > 0 {
        println!(
            "probe: {failed} of {} endpoints did not answer",
            lines.len()
        );
        return false;
    }
    println!("probe: all {} answered", lines.len());
    true
}

//! `pitcrew check --config FILE --probe`: try every endpoint the config names and say what
//! answered — read-only requests only (a query per signal, the registry's model list, the
//! Lease of each namespace), so probing a production cluster changes nothing.

use crate::config::Config;
use crate::remediate::kube::KubeActuator;
use crate::remediate::lease::Role;
use crate::sources::mlflow::MlflowClient;
use crate::sources::prometheus::PromClient;
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

/// Probe every system of `cfg`; an empty list when it names none.
pub async fn probe(cfg: &Config) -> Vec<ProbeLine> {
    let mut out = Vec::new();
    if let Some(p) = &cfg.prometheus {
        match PromClient::new(p) {
            Err(e) => out.push(ProbeLine {
                system: "prometheus",
                what: crate::sources::prometheus::redact_url(&p.url),
                outcome: Err(e.to_string()),
            }),
            Ok(client) => {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_secs_f64())
                    .unwrap_or(0.0);
                for (signal, q) in p.queries.iter() {
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
                what: m.tracking_uri.clone(),
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
                let mut namespaces: Vec<String> = cfg
                    .models
                    .keys()
                    .filter_map(|key| key.split_once('/').map(|(n, _)| n.to_string()))
                    .collect();
                namespaces.push(k.namespace.clone());
                namespaces.sort();
                namespaces.dedup();
                for ns in namespaces {
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

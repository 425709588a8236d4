//! The projection of the engine's state into a [`Snapshot`] (rows, deploy views, focus).

use super::*;

impl Engine {
    pub(super) fn deploy_view(
        &self,
        m: &ModelState,
        version: &str,
        at: f64,
    ) -> snapshot::DeployView {
        let rec = deploy_record(m, &self.cfg.objectives, at, f64::NAN);
        let advice = self.deploy_model.as_ref().map(|dm| {
            let f = m.plan.plan().map(|p| &p.forecast);
            (
                dm.advise(&rec, at.max(self.t), f, &AdviceConfig::default()),
                dm.rmse_secs,
            )
        });
        snapshot::DeployView {
            version: version.to_string(),
            at,
            trained_on: self.deploys.len(),
            advice,
        }
    }

    pub(super) fn row(&self, i: usize) -> FleetRow {
        let m = &self.models[i];
        let mut spark = [[f32::NAN; SPARK_LEN]; 3];
        for (k, sig) in [Signal::RequestRate, Signal::LatencyP95, Signal::ErrorRate]
            .into_iter()
            .enumerate()
        {
            let n = m.history.mid_len().min(SPARK_LEN);
            for (j, v) in m.history.minute_tail(sig, SPARK_LEN).enumerate() {
                spark[k][SPARK_LEN - n + j] = v;
            }
        }
        FleetRow {
            index: i as u32,
            incident: m.incident,
            next_scale: m.plan.sizing().and_then(|z| z.plan.next_scale_event),
            meta: m.meta.clone(),
            status: m.status,
            reason: m.reason.clone(),
            values: m.smooth,
            spark,
            last_seen: m.history.last_time(),
            vuln: super::vulns::worst(&m.vulns),
        }
    }

    /// Build the projection the UI draws; `focus` names the model whose detail is included.
    pub fn snapshot(&self, focus: Option<&str>, log_tail: usize) -> Snapshot {
        let rows: Vec<FleetRow> = (0..self.models.len()).map(|i| self.row(i)).collect();
        let mut counts = StatusCounts::default();
        for r in &rows {
            match r.status {
                Status::Ok => counts.ok += 1,
                Status::Warn => counts.warn += 1,
                Status::Crit => counts.crit += 1,
                Status::Unknown => counts.unknown += 1,
            }
        }
        let detail = focus.and_then(|k| self.index.get(k)).map(|&i| {
            let m = &self.models[i as usize];
            Arc::new(ModelDetail {
                row: rows[i as usize].clone(),
                history: m.history.clone(),
                anomalies: m.watch.recent.iter().cloned().collect(),
                plan: m.plan.clone(),
                deploy: m
                    .pending_deploy
                    .as_ref()
                    .map(|(version, at)| self.deploy_view(m, version, *at)),
            })
        });
        let skip = self.log.len().saturating_sub(log_tail);
        Snapshot {
            seq: self.seq,
            t: self.t,
            last_data: self.last_data,
            source: self.source.clone(),
            phase: self.phase,
            read_only: self.cfg.read_only,
            rows: Arc::new(rows),
            detail,
            log: Arc::new(self.log.iter().skip(skip).cloned().collect()),
            counts,
            notices: Arc::new(self.notices.clone()),
            incidents: Arc::new(self.incidents.iter().cloned().collect()),
            budget: self.cfg.replica_budget.map(|b| BudgetView {
                budget: b,
                wanted: self
                    .models
                    .iter()
                    .filter_map(|m| m.plan.sizing().map(|z| z.plan.desired_now))
                    .sum(),
                cuts: self.budget_cuts.clone(),
            }),
            remediations: Arc::new(self.remediations.iter().cloned().collect()),
            audit: Arc::new(self.audit.iter().cloned().collect()),
            stats: Arc::new(self.stats.clone()),
            overrides: self.overrides.clone(),
            playbooks: self.cfg.playbooks.clone(),
            actuator: if self.cfg.read_only {
                None
            } else {
                self.cfg.actuator.clone()
            },
            counters: self.counters(),
            executor: self.edge_status(EdgeKind::Executor).map(str::to_string),
            registry: self.edge_status(EdgeKind::Registry).map(str::to_string),
            links: Vec::new(),
            vulns: Arc::new(self.vulns()),
            deadlines: self.cfg.deadlines,
        }
    }
}

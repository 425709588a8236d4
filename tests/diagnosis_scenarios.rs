//! Diagnosis on simulated incidents: for every scenario of the simulator, the injected cause is
//! the top hypothesis of the incident opened on the target model, and the incident resolves once
//! the fault is fixed.

use pitcrew::domain::Cause;
use pitcrew::domain::{Action, IncidentKind};
use pitcrew::engine::EngineConfig;
use pitcrew::engine::incident::Incident;
use pitcrew::harness::{drive, start};
use pitcrew::sim::scenario;

const T0: f64 = 1_764_000_000.0;

fn expected(kind: IncidentKind) -> Cause {
    match kind {
        IncidentKind::LatencySpike => Cause::DegradedPod,
        IncidentKind::ErrorBurst => Cause::PodErrors,
        IncidentKind::AccuracyDrift => Cause::DataDrift,
        IncidentKind::TrafficSurge => Cause::TrafficSurge,
        IncidentKind::MemoryLeak => Cause::MemoryLeak,
        IncidentKind::BadDeploy => Cause::BadDeploy,
    }
}

fn fix(kind: IncidentKind) -> Action {
    match kind {
        IncidentKind::LatencySpike | IncidentKind::ErrorBurst | IncidentKind::MemoryLeak => {
            Action::Restart
        }
        IncidentKind::AccuracyDrift | IncidentKind::BadDeploy => Action::Rollback,
        IncidentKind::TrafficSurge => Action::Scale { replicas: 400 },
    }
}

#[test]
fn injected_cause_is_the_top_hypothesis_in_every_scenario() {
    let mut report = Vec::new();
    for kind in IncidentKind::ALL {
        let sc = scenario::find(kind.name()).expect("scenario");
        let (mut world, mut engine) = start(11, 15, T0, EngineConfig::default());
        // a day of history so that detectors know the daily pattern
        drive(&mut world, &mut engine, 17_280);
        let live = world.time();
        world.schedule(sc.schedule(live, 15));
        let target_key = world.models[sc.items[0].1].meta.key();
        // up to 3 hours for the incident to show and be diagnosed
        let mut found: Option<Incident> = None;
        for _ in 0..(3 * 720 / 12) {
            drive(&mut world, &mut engine, 12);
            let snap = engine.snapshot(None, 0);
            if let Some(inc) = snap.incidents.iter().find(|i| {
                i.key == target_key && i.is_open() && !i.hypotheses.is_empty() && i.onset >= live
            }) && inc.top().map(|h| h.cause) == Some(expected(kind))
            {
                found = Some(inc.clone());
                break;
            }
        }
        let snap = engine.snapshot(None, 0);
        let inc = found.unwrap_or_else(|| {
            panic!(
                "{kind}: no incident on {target_key} with top cause {:?}; incidents: {:#?}",
                expected(kind),
                snap.incidents
                    .iter()
                    .map(|i| (
                        i.key.clone(),
                        i.onset - live,
                        i.hypotheses
                            .iter()
                            .map(|h| (h.cause, h.confidence))
                            .collect::<Vec<_>>()
                    ))
                    .collect::<Vec<_>>()
            )
        });
        let delay = inc.onset - (live + sc.items[0].0);
        report.push(format!("{kind}: detected after {:.0} s", delay.max(0.0)));
        // fix it and check that the incident resolves
        let idx = sc.items[0].1;
        if kind == IncidentKind::AccuracyDrift {
            world.act(idx, &Action::Retrain).expect("retrain");
            drive(&mut world, &mut engine, 1800 / 5 + 12);
            let cand = world.models[idx]
                .candidates()
                .last()
                .map(|c| c.0)
                .expect("candidate");
            world
                .act(
                    idx,
                    &Action::Canary {
                        version: cand,
                        share: 1.0,
                    },
                )
                .expect("promote");
        } else {
            world.act(idx, &fix(kind)).expect("fix");
        }
        let mut resolved = false;
        for _ in 0..(3 * 720 / 12) {
            drive(&mut world, &mut engine, 12);
            let snap = engine.snapshot(None, 0);
            if snap
                .incidents
                .iter()
                .any(|i| i.id == inc.id && !i.is_open())
            {
                resolved = true;
                break;
            }
        }
        assert!(
            resolved,
            "{kind}: incident #{} did not resolve after the fix",
            inc.id
        );
    }
    println!("{}", report.join("\n"));
}

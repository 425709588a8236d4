//! Re-make the recorded incidents in `fixtures/incidents/` (deterministic: same code, same
//! files). `cargo run --release --example record_fixtures`
use pitcrew::domain::IncidentKind;
use pitcrew::policy::autonomy::Phase;
use pitcrew::record::{Act, Session, record};

fn main() -> std::io::Result<()> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/incidents");
    std::fs::create_dir_all(&dir)?;
    let m = |min: f64| min * 60.0;
    let base = |phase, duration: f64, script| Session {
        seed: 11,
        models: 4,
        backfill: m(75.0),
        duration: m(duration),
        phase,
        user: "oncall-ann".into(),
        script,
    };
    let sessions = vec![
        (
            "latency-spike-approved",
            base(
                Phase::Augmentation,
                40.0,
                vec![
                    (m(2.0), Act::Inject(1, IncidentKind::LatencySpike)),
                    (m(10.0), Act::ApprovePending),
                ],
            ),
        ),
        (
            "surge-vetoed-false-alarm",
            base(
                Phase::Augmentation,
                40.0,
                vec![
                    (m(2.0), Act::Inject(0, IncidentKind::TrafficSurge)),
                    (
                        m(12.0),
                        Act::VetoPending(
                            "false alarm: planned load test, capacity reserved (CHG-2211)".into(),
                        ),
                    ),
                ],
            ),
        ),
        (
            "bad-deploy-rollback-autonomy",
            base(
                Phase::Autonomy,
                45.0,
                vec![(m(2.0), Act::Inject(2, IncidentKind::BadDeploy))],
            ),
        ),
        (
            "leak-and-errors-evolution",
            base(
                Phase::Evolution,
                70.0,
                vec![
                    (m(2.0), Act::Inject(1, IncidentKind::MemoryLeak)),
                    (m(5.0), Act::Inject(3, IncidentKind::ErrorBurst)),
                    (
                        m(30.0),
                        Act::Note("leak is back after each restart: filed BUG-77".into()),
                    ),
                ],
            ),
        ),
        (
            "drift-retrain-canary",
            base(
                Phase::Autonomy,
                205.0,
                vec![(m(2.0), Act::Inject(3, IncidentKind::AccuracyDrift))],
            ),
        ),
        (
            "surge-scale-fails-undone",
            base(
                Phase::Autonomy,
                100.0,
                vec![
                    (m(2.0), Act::Inject(0, IncidentKind::TrafficSurge)),
                    (m(9.0), Act::Inject(0, IncidentKind::LatencySpike)),
                    (m(30.0), Act::ExternalScaleBy(2, 0.5)),
                    (m(62.0), Act::ApprovePending),
                    (m(80.0), Act::ApprovePending),
                ],
            ),
        ),
        (
            "patch-canary-autonomy",
            base(Phase::Autonomy, 100.0, vec![(m(1.0), Act::Scan)]),
        ),
    ];
    for (name, s) in sessions {
        let path = dir.join(format!("{name}.jsonl"));
        record(&path, &s)?;
        println!("{}", path.display());
    }
    Ok(())
}

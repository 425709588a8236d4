//! Record a long session (for profiling): `cargo run --release --example record_long -- HOURS MODELS OUT`
use pitcrew::domain::IncidentKind;
use pitcrew::policy::autonomy::Phase;
use pitcrew::record::{Act, Session, record};
fn main() -> std::io::Result<()> {
    let a: Vec<String> = std::env::args().collect();
    let hours: f64 = a[1].parse().unwrap_or(24.0);
    let models: usize = a[2].parse().unwrap_or(100);
    let script = (0..(hours as usize))
        .map(|h| {
            (
                h as f64 * 3600.0 + 600.0,
                Act::Inject((h * 7) % models, IncidentKind::ALL[h % 6]),
            )
        })
        .collect();
    let t = std::time::Instant::now();
    record(
        std::path::Path::new(&a[3]),
        &Session {
            seed: 3,
            models,
            backfill: 0.0,
            duration: hours * 3600.0,
            phase: Phase::Autonomy,
            user: "bench".into(),
            script,
        },
    )?;
    println!("{:.1} s", t.elapsed().as_secs_f64());
    Ok(())
}

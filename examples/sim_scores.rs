//! How often the detectors fire on a quiet simulated fleet (no incidents): alarms per
//! model-day at several thresholds. `cargo run --release --example sim_scores`.
use pitcrew::detect::Ensemble;
use pitcrew::domain::Signal;
use pitcrew::sim::SimWorld;

fn main() {
    let n = 15;
    let mut w = SimWorld::new(5, n, 1_764_000_000.0);
    let mut dets: Vec<Vec<Ensemble>> = (0..n)
        .map(|_| (0..5).map(|_| Ensemble::new()).collect())
        .collect();
    let steps = 3 * 17_280; // three days
    let ths = [0.5, 0.6, 0.7, 0.8, 0.9];
    let mut counts = [[0usize; 5]; 5];
    for k in 0..steps {
        let s = w.step();
        for (m, smp) in s.iter().enumerate() {
            for (j, sig) in [
                Signal::RequestRate,
                Signal::LatencyP95,
                Signal::ErrorRate,
                Signal::Accuracy,
                Signal::Cpu,
            ]
            .iter()
            .enumerate()
            {
                let v = f64::from(smp.get(*sig));
                let sc = dets[m][j].update(w.time(), v);
                if k > 17_280 {
                    for (ti, th) in ths.iter().enumerate() {
                        if sc.score >= *th {
                            counts[j][ti] += 1;
                        }
                    }
                }
            }
        }
    }
    let days = (steps - 17_280) as f64 / 17_280.0 * n as f64;
    for (j, c) in counts.iter().enumerate() {
        println!(
            "signal {j}: alarms per model-day at {ths:?}: {:?}",
            c.iter()
                .map(|x| format!("{:.2}", *x as f64 / days))
                .collect::<Vec<_>>()
        );
    }
}

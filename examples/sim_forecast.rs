//! Forecast the simulated fleet's demand: which periods are found with how much history.
//! `cargo run --release --example sim_forecast`.
use pitcrew::domain::Signal;
use pitcrew::sim::{SIM_STEP, SimWorld};

fn main() {
    let mut w = SimWorld::new(42, 15, 1_764_000_000.0);
    let mut acc = vec![Vec::new(); 15];
    let mut sums = [0.0; 15];
    let per = (300.0 / SIM_STEP) as usize;
    for k in 1..=(8 * 17_280) {
        let s = w.step();
        for m in 0..15 {
            sums[m] += f64::from(s[m].get(Signal::RequestRate));
        }
        if k % per == 0 {
            for m in 0..15 {
                acc[m].push((w.time(), sums[m] / per as f64));
                sums[m] = 0.0;
            }
        }
    }
    for days in [2.1, 3.0, 7.0] {
        let n = (days * 288.0) as usize;
        for m in [0usize, 3, 9] {
            let h = &acc[m][acc[m].len() - n..];
            match pitcrew::forecast::forecast(h, 72) {
                Ok(f) => println!(
                    "{days} d model {m}: periods {:?} {}",
                    f.periods,
                    &f.method[..f.method.len().min(60)]
                ),
                Err(e) => println!("{days} d model {m}: {e}"),
            }
        }
    }
}

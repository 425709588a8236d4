//! Criterion benchmarks of detection, forecasting and the deployment predictor:
//! - the detector ensemble, samples per second on one core (target ≥ 2 million/s);
//! - fit and forecast one day ahead for 1,000 series of two weeks of 5-minute data, and for one
//!   series of 20,000 points
//!   (target < 1 s on one core);
//! - the deployment-duration predictor: train on 1,000 rows (< 30 ms), predict (< 100 µs);
//! - scanning 1,000 models × 50 pinned requirements against the whole PyPA advisory database
//!   (`../shared/data/security`), once its index is built (target < 200 ms).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use pitcrew::detect::Ensemble;
use pitcrew::forecast::deploy::{DurationModel, synthetic_records};
use pitcrew::forecast::eval::{forecast_many, synthetic_5min_series};
use std::hint::black_box;

/// The binary's allocator, so that what is timed is what pitcrew runs.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn detection(c: &mut Criterion) {
    // a noisy daily pattern at 5-minute steps, with a level shift
    let n = 200_000usize;
    let data: Vec<(f64, f64)> = (0..n)
        .map(|i| {
            let t = 1.4e9 + i as f64 * 300.0;
            let day = (t / 86_400.0 * std::f64::consts::TAU).sin();
            let noise = ((i * 7919) % 1000) as f64 / 1000.0 - 0.5;
            let shift = if i > n / 2 { 20.0 } else { 0.0 };
            (t, 100.0 + 30.0 * day + 5.0 * noise + shift)
        })
        .collect();
    let mut e = Ensemble::new();
    for &(t, v) in &data {
        e.update(t, v);
    }
    println!(
        "ensemble state per series: {} bytes (target < 65536)",
        e.state_bytes()
    );
    let mut g = c.benchmark_group("detect");
    g.throughput(Throughput::Elements(n as u64));
    g.sample_size(20);
    g.bench_function("ensemble_200k_samples", |b| {
        b.iter(|| {
            let mut e = Ensemble::new();
            let mut s = 0.0;
            for &(t, v) in &data {
                s += e.update(t, v).score;
            }
            black_box(s)
        })
    });
    g.finish();
}

fn forecasting(c: &mut Criterion) {
    let series = synthetic_5min_series(1000, 14 * 288, 7);
    let mut g = c.benchmark_group("forecast");
    g.sample_size(10);
    g.bench_function("1000_series_2w_5min_one_day_ahead", |b| {
        b.iter(|| black_box(forecast_many(&series, 288)))
    });
    let long = synthetic_5min_series(1, 20_000, 11);
    g.bench_function("one_series_20000_points_one_day_ahead", |b| {
        b.iter(|| black_box(forecast_many(&long, 288)))
    });
    g.finish();
}

fn deploy(c: &mut Criterion) {
    let rows = synthetic_records(1000, 3);
    c.bench_function("deploy_train_1000_rows", |b| {
        b.iter(|| black_box(DurationModel::train(&rows).expect("train")))
    });
    let model = DurationModel::train(&rows).expect("train");
    c.bench_function("deploy_predict", |b| {
        b.iter(|| black_box(model.predict(&rows[17])))
    });
}

fn security_scan(c: &mut Criterion) {
    use pitcrew::security::index::Index;
    use pitcrew::security::scan::{Target, scan};
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/data/security/pypa-advisory-database");
    let (records, _) = pitcrew::security::osv::load_dir(&dir).expect("../shared/data/security");
    let index = Index::build(&records, "PyPI");
    // 50 packages (those with the most versions named, then by name), each model pinning one
    // of the versions the data names, spread over them: some affected, some not
    let mut packages: Vec<(usize, String, Vec<String>)> = index
        .package_names()
        .map(|p| {
            let versions: Vec<String> = index
                .known_versions(p)
                .iter()
                .map(|v| v.to_string())
                .collect();
            (versions.len(), p.to_string(), versions)
        })
        .collect();
    packages.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    packages.truncate(50);
    let targets: Vec<Target> = (0..1_000)
        .map(|m| Target {
            model: format!("model-{m}"),
            requirements: packages
                .iter()
                .enumerate()
                .map(|(k, (_, name, versions))| {
                    format!("{name}=={}\n", versions[(m * 7 + k * 13) % versions.len()])
                })
                .collect(),
        })
        .collect();
    let report = scan(&index, &targets);
    println!(
        "scan: {} findings over {} pins ({} advisories indexed)",
        report.findings.len(),
        report.pinned,
        index.len()
    );
    c.bench_function("scan_1000_models_50_pins", |b| {
        b.iter(|| black_box(scan(&index, &targets).findings.len()))
    });
}

criterion_group!(benches, detection, forecasting, deploy, security_scan);
criterion_main!(benches);

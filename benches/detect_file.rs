//! `pitcrew detect` on a 5-million-row file, end to end (parse, score, write). Prints seconds
//! and rows per second; run with `cargo bench --bench detect_file`.

use std::io::Write;
use std::time::Instant;

fn main() {
    let rows = 5_000_000usize;
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("big.csv");
    {
        let f = std::fs::File::create(&input).expect("create");
        let mut w = std::io::BufWriter::new(f);
        writeln!(w, "timestamp,value").expect("write");
        let t0 = 1_400_000_000i64;
        for i in 0..rows {
            let t = t0 + i as i64 * 60;
            let ts = jiff::Timestamp::from_second(t).expect("ts");
            let v = 100.0
                + 30.0 * ((t as f64) / 86_400.0 * std::f64::consts::TAU).sin()
                + ((i * 7919) % 1000) as f64 / 100.0;
            writeln!(w, "{},{v:.3}", ts.strftime("%Y-%m-%d %H:%M:%S")).expect("write");
        }
    }
    let size = std::fs::metadata(&input).map(|m| m.len()).unwrap_or(0);
    let out = dir.path().join("out");
    let start = Instant::now();
    let summary =
        pitcrew::detect::detect_files(std::slice::from_ref(&input), &out).expect("detect");
    let secs = start.elapsed().as_secs_f64();
    println!("{summary}");
    println!(
        "detect: {rows} rows ({:.0} MB) in {secs:.2} s = {:.2} M rows/s end to end",
        size as f64 / 1e6,
        rows as f64 / secs / 1e6
    );
}

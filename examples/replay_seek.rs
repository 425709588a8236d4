//! Seek to the end of a recording (for profiling): `cargo run --release --example replay_seek -- FILE`
fn main() {
    let f = std::env::args().nth(1).expect("FILE");
    let rec = std::sync::Arc::new(
        pitcrew::replay::Recording::open(std::path::Path::new(&f)).expect("open"),
    );
    let t = std::time::Instant::now();
    let mut p = pitcrew::replay::Player::new(rec).expect("player");
    p.seek_events(usize::MAX);
    println!("{:.2} s", t.elapsed().as_secs_f64());
}

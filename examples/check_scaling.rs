//! `pitcrew check` on themes with a problem on every line, over sizes: the time per line must
//! stay flat (linear time) up to the file-size limit. Prints, per size, the lines, the
//! problems found, the time and the time per line, and the ratio of the largest file's time
//! per line to the smallest's (target: below 2; it was quadratic before issue 15).
//!
//! `cargo run --release --example check_scaling`
use pitcrew::tui::theme::Theme;
use std::fmt::Write as _;
use std::time::Instant;

fn main() {
    let dir = std::env::temp_dir().join(format!("pitcrew-check-scaling-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let mut per_line = Vec::new();
    println!(
        "{:>8} {:>9} {:>9} {:>12}",
        "lines", "problems", "seconds", "µs per line"
    );
    let mut lines = 2_000;
    loop {
        // unknown scopes, then a palette of unknown colours: two kinds of problem
        let mut text = String::from("inherits = \"default\"\n");
        for i in 0..lines / 2 {
            let _ = writeln!(text, "\"ui.nokey{i}\" = {{ fg = \"red\" }}");
        }
        text.push_str("[palette]\n");
        for i in 0..lines / 2 {
            let _ = writeln!(text, "c{i} = \"nocolour{i}\"");
        }
        if text.len() as u64 > pitcrew::files::MAX_TEXT_BYTES {
            break;
        }
        let f = dir.join(format!("t{lines}.toml"));
        std::fs::write(&f, &text).expect("write");
        let t0 = Instant::now();
        let problems = Theme::check(&f.display().to_string(), &[]);
        let s = t0.elapsed().as_secs_f64();
        per_line.push(s / lines as f64);
        println!(
            "{lines:>8} {:>9} {s:>9.3} {:>12.1}",
            problems.len(),
            s / lines as f64 * 1e6
        );
        lines *= 2;
    }
    let _ = std::fs::remove_dir_all(&dir);
    let (first, last) = (per_line[0], per_line[per_line.len() - 1]);
    println!(
        "time per line, largest / smallest file: {:.2} (target < 2: linear)",
        last / first
    );
}

//! What an attached console costs: the bytes per second one console receives from an agent
//! of 1,000 simulated models at 1× speed once its history is loaded, and the agent's CPU with
//! no console and with 20 consoles attached. Real processes on loopback: the agent is the
//! release binary (build it first), the consoles are raw readers of the stream (the bytes on
//! the wire, HTTP framing included).
//!
//!     cargo build --release && cargo run --release --example attach_load [-- MODELS SECONDS]

use std::io::{Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

fn cpu_seconds(pid: u32) -> f64 {
    // utime and stime, fields 14 and 15 of /proc/PID/stat, in clock ticks
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |x| x.1);
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // /proc counts in USER_HZ, which Linux fixes at 100 whatever the kernel's own tick
    (ticks(11) + ticks(12)) / 100.0
}

/// The value of an unlabelled metric in `/metrics` text.
fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}

/// A console's connection: counts every byte it receives.
fn reader(addr: String, token: String, bytes: Arc<AtomicU64>, stop: Arc<AtomicBool>) {
    let mut s = std::net::TcpStream::connect(&addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_millis(500))).ok();
    write!(
        s,
        "GET /v1/stream HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\r\n"
    )
    .expect("write");
    let mut buf = vec![0u8; 1 << 16];
    while !stop.load(Ordering::Relaxed) {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                bytes.fetch_add(n as u64, Ordering::Relaxed);
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => break,
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let models: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(1000);
    let secs: u64 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(60);
    let bin = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/release/pitcrew");
    assert!(
        bin.exists(),
        "build the release binary first: cargo build --release"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let token = "attach-load-token".to_string();
    std::fs::write(
        dir.path().join("tokens.toml"),
        format!(
            "[[tokens]]\nuser = \"load\"\nrole = \"viewer\"\nsha256 = \"{}\"\n",
            pitcrew::control::auth::token_hash(&token)
        ),
    )
    .expect("tokens");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let addr = format!("127.0.0.1:{port}");
    let mut agent = std::process::Command::new(&bin)
        .args(["agent", "--listen", &addr, "--tokens"])
        .arg(dir.path().join("tokens.toml"))
        .args(["--models", &models.to_string(), "--phase", "augmentation"])
        .env("PITCREW_DATA", dir.path().join("data"))
        .env("PITCREW_CONFIG", dir.path().join("config"))
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("agent");
    let pid = agent.id();
    // the history is loaded when the agent says it has every model and is no longer loading
    let t0 = Instant::now();
    loop {
        std::thread::sleep(Duration::from_millis(500));
        let mut s = match std::net::TcpStream::connect(&addr) {
            Ok(s) => s,
            Err(_) => continue,
        };
        let _ = write!(s, "GET /metrics HTTP/1.0\r\n\r\n");
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        if metric(&out, "pitcrew_models") == Some(models as f64)
            && metric(&out, "pitcrew_source_backfilling") == Some(0.0)
        {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(600),
            "the agent never finished loading"
        );
    }
    println!(
        "agent of {models} models loaded its history in {:.1} s",
        t0.elapsed().as_secs_f64()
    );
    std::thread::sleep(Duration::from_secs(5));

    let measure = |consoles: usize| -> (f64, f64) {
        let stop = Arc::new(AtomicBool::new(false));
        let counters: Vec<Arc<AtomicU64>> =
            (0..consoles).map(|_| Arc::new(AtomicU64::new(0))).collect();
        let handles: Vec<_> = counters
            .iter()
            .map(|c| {
                let (a, t, c, s) = (addr.clone(), token.clone(), c.clone(), stop.clone());
                std::thread::spawn(move || reader(a, t, c, s))
            })
            .collect();
        // the base and the frames since are the join, not the steady state
        std::thread::sleep(Duration::from_secs(10));
        let b0: u64 = counters.iter().map(|c| c.load(Ordering::Relaxed)).sum();
        let c0 = cpu_seconds(pid);
        let w0 = Instant::now();
        std::thread::sleep(Duration::from_secs(secs));
        let wall = w0.elapsed().as_secs_f64();
        let cpu = (cpu_seconds(pid) - c0) / wall;
        let b1: u64 = counters.iter().map(|c| c.load(Ordering::Relaxed)).sum();
        stop.store(true, Ordering::Relaxed);
        for h in handles {
            let _ = h.join();
        }
        let per_console = if consoles == 0 {
            0.0
        } else {
            (b1 - b0) as f64 / wall / consoles as f64
        };
        (per_console, cpu)
    };
    let (_, idle_cpu) = measure(0);
    let (bps, one_cpu) = measure(1);
    let (bps20, cpu20) = measure(20);
    println!("over {secs} s at 1x speed, after each console's join (10 s):");
    println!("  bytes per second to one console: {bps:.0} B/s (target < 4096)");
    println!("  per console with 20 attached:    {bps20:.0} B/s");
    println!(
        "  agent CPU: {:.1} % of a core with no console, {:.1} % with one, {:.1} % with 20 (target < 100 %)",
        idle_cpu * 100.0,
        one_cpu * 100.0,
        cpu20 * 100.0
    );
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGTERM,
    );
    let _ = agent.wait();
}

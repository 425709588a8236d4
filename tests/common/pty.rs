//! The real binary in a real pseudo-terminal: spawn it, type, read the screen as a person
//! would see it (the output replayed through a terminal emulator), wait for it to exit and
//! check that the terminal was restored.

use portable_pty::{Child, CommandBuilder, MasterPty, PtySize, native_pty_system};
use std::io::{Read, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A running console.
pub struct Session {
    pub cols: u16,
    pub rows: u16,
    pub master: Box<dyn MasterPty + Send>,
    pub child: Box<dyn Child + Send + Sync>,
    pub writer: Box<dyn Write + Send>,
    pub out: Arc<Mutex<Vec<u8>>>,
    pub dirs: tempfile::TempDir,
}

/// The binary in a pseudo-terminal of `cols`×`rows`, its config and data dirs private.
pub fn spawn(args: &[&str], envs: &[(&str, &str)], cols: u16, rows: u16) -> Session {
    spawn_with_config(args, envs, cols, rows, None)
}

/// Like [`spawn`], with a `config.toml` in the config dir.
pub fn spawn_with_config(
    args: &[&str],
    envs: &[(&str, &str)],
    cols: u16,
    rows: u16,
    config: Option<&str>,
) -> Session {
    let pty = native_pty_system();
    let pair = pty
        .openpty(PtySize {
            rows,
            cols,
            pixel_width: 0,
            pixel_height: 0,
        })
        .expect("openpty");
    let dirs = tempfile::tempdir().expect("tempdir");
    if let Some(c) = config {
        std::fs::create_dir_all(dirs.path().join("config")).expect("config dir");
        std::fs::write(dirs.path().join("config/config.toml"), c).expect("config");
    }
    let mut cmd = CommandBuilder::new(env!("CARGO_BIN_EXE_pitcrew"));
    cmd.args(["--start", "1764000000", "--backfill", "1"]);
    cmd.args(args);
    cmd.env("TERM", "xterm-256color");
    cmd.env_remove("NO_COLOR");
    cmd.env_remove("COLORTERM");
    cmd.env("PITCREW_CONFIG", dirs.path().join("config"));
    cmd.env("PITCREW_DATA", dirs.path().join("data"));
    for (k, v) in envs {
        // an empty value means the variable is not set at all
        if v.is_empty() {
            cmd.env_remove(k);
        } else {
            cmd.env(k, v);
        }
    }
    let child = pair.slave.spawn_command(cmd).expect("spawn pitcrew");
    drop(pair.slave);
    let mut reader = pair.master.try_clone_reader().expect("reader");
    let writer = pair.master.take_writer().expect("writer");
    let out = Arc::new(Mutex::new(Vec::new()));
    let sink = out.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 8192];
        loop {
            match reader.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => sink.lock().expect("lock").extend_from_slice(&buf[..n]),
            }
        }
    });
    Session {
        cols,
        rows,
        master: pair.master,
        child,
        writer,
        out,
        dirs,
    }
}

impl Session {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.out.lock().expect("lock")).into_owned()
    }

    /// What a person would see now: the output replayed through a terminal emulator.
    pub fn screen(&self) -> String {
        let mut p = vt100::Parser::new(self.rows, self.cols, 0);
        p.process(&self.out.lock().expect("lock"));
        p.screen().contents()
    }

    pub fn wait_for(&self, needle: &str, secs: u64) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while Instant::now() < deadline {
            if self.screen().contains(needle) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "'{needle}' did not appear within {secs}s; screen:\n{}",
            self.screen()
        );
    }

    /// Wait until `needle` is on screen and `gone` is not (a dialog closed, say).
    pub fn wait_for_without(&self, needle: &str, gone: &str, secs: u64) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while Instant::now() < deadline {
            let screen = self.screen();
            if screen.contains(needle) && !screen.contains(gone) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "'{needle}' without '{gone}' did not come within {secs}s; screen:\n{}",
            self.screen()
        );
    }

    pub fn send(&mut self, s: &str) {
        self.writer.write_all(s.as_bytes()).expect("write");
        self.writer.flush().expect("flush");
    }

    pub fn wait_exit(&mut self, secs: u64) -> portable_pty::ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while Instant::now() < deadline {
            if let Some(st) = self.child.try_wait().expect("try_wait") {
                // let the reader drain the last bytes
                std::thread::sleep(Duration::from_millis(200));
                return st;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        panic!(
            "pitcrew did not exit within {secs}s; output:\n{}",
            self.text()
        );
    }

    /// Whether the terminal is as the console leaves it (main screen last, canonical mode).
    pub fn looks_restored(&self) -> bool {
        let out = self.text();
        let tio = self.master.get_termios().expect("termios of the pty");
        out.rfind("\x1b[?1049l") > out.rfind("\x1b[?1049h")
            && tio
                .local_flags
                .contains(nix::sys::termios::LocalFlags::ICANON)
    }

    /// Whether the console holds the terminal (alternate screen last, raw mode).
    pub fn looks_taken(&self) -> bool {
        let out = self.text();
        let tio = self.master.get_termios().expect("termios of the pty");
        out.rfind("\x1b[?1049h") > out.rfind("\x1b[?1049l")
            && !tio
                .local_flags
                .contains(nix::sys::termios::LocalFlags::ICANON)
    }

    /// Wait until `f` holds.
    pub fn wait_until(&self, what: &str, secs: u64, f: impl Fn(&Session) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while Instant::now() < deadline {
            if f(self) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "{what} did not happen within {secs}s; screen:\n{}",
            self.screen()
        );
    }

    pub fn assert_restored(&self) {
        let out = self.text();
        let leave = out.rfind("\x1b[?1049l").expect("left the alternate screen");
        let enter = out
            .rfind("\x1b[?1049h")
            .expect("entered the alternate screen");
        assert!(
            leave > enter,
            "the alternate screen was left after it was entered"
        );
        assert!(
            out[leave..].contains("\x1b[?25h")
                || out[..leave].rfind("\x1b[?25h") > out.rfind("\x1b[?25l"),
            "cursor shown again"
        );
        let tio = self.master.get_termios().expect("termios of the pty");
        use nix::sys::termios::LocalFlags;
        assert!(
            tio.local_flags.contains(LocalFlags::ICANON),
            "canonical mode restored"
        );
        assert!(tio.local_flags.contains(LocalFlags::ECHO), "echo restored");
    }
}

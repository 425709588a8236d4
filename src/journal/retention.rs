//! Journal retention: the data dir keeps at most so many bytes and days of session journals.
//!
//! Whole sessions are pruned, oldest first (a session's parts go together, so that what is
//! kept can still be replayed from its header); the session being written is never touched,
//! nor one another console on this machine is still writing (its process, named in the file
//! name, is alive), nor any file that is not a session journal.

use crate::config::JournalRetentionConfig;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// How much journal a data dir keeps.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Retention {
    /// Total bytes of every session's journal.
    pub max_total_bytes: u64,
    /// Sessions whose newest file is older than this are deleted (seconds).
    pub max_age_secs: f64,
}

impl Retention {
    /// The retention a config's `[journal]` section asks for (the defaults without one).
    pub fn of(config: &crate::config::Config) -> Retention {
        Retention::of_section(&config.journal.clone().unwrap_or_default())
    }

    /// The retention a `[journal]` section asks for.
    fn of_section(j: &JournalRetentionConfig) -> Retention {
        Retention {
            max_total_bytes: (j.max_total_mib.max(0.0) * 1024.0 * 1024.0) as u64,
            max_age_secs: j.max_age_days.max(0.0) * 86_400.0,
        }
    }
}

/// The config's defaults (declared there once).
impl Default for Retention {
    fn default() -> Self {
        Retention::of_section(&JournalRetentionConfig::default())
    }
}

/// What a pruning did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Pruned {
    /// Sessions deleted.
    pub sessions: usize,
    /// Bytes deleted.
    pub bytes: u64,
    /// Bytes of journal left (the open session's included).
    pub kept: u64,
    /// Files that could not be deleted, with why.
    pub errors: Vec<String>,
}

/// The session a journal file belongs to: its name without `.jsonl` and without the part
/// number (`session-X.3.jsonl` → `session-X`); `None` for any other file.
fn session_of(name: &str) -> Option<&str> {
    let stem = name.strip_prefix("session-").map(|_| name)?;
    let stem = stem.strip_suffix(".jsonl")?;
    Some(match stem.rsplit_once('.') {
        Some((s, part)) if !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()) => s,
        _ => stem,
    })
}

/// The session's process (`session-<start>-<pid>`) is still running here.
fn written_by_a_live_process(stem: &str) -> bool {
    let Some(pid) = stem
        .rsplit_once('-')
        .and_then(|(_, p)| p.parse::<u32>().ok())
    else {
        return false;
    };
    pid != std::process::id() && Path::new(&format!("/proc/{pid}")).exists()
}

struct Session {
    files: Vec<(PathBuf, u64)>,
    newest: SystemTime,
}

/// Delete the oldest sessions' journals in `dir` until the rest fits `r`. `open` is the stem
/// of the session being written (kept whatever its size). A missing `dir` prunes nothing.
pub(crate) fn prune(dir: &Path, open: Option<&str>, r: &Retention, now: SystemTime) -> Pruned {
    let mut out = Pruned::default();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    let mut sessions: BTreeMap<String, Session> = BTreeMap::new();
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(stem) = session_of(name) else {
            continue;
        };
        let Ok(meta) = e.metadata() else { continue };
        if !meta.is_file() {
            continue;
        }
        let modified = meta.modified().unwrap_or(now);
        let s = sessions.entry(stem.to_string()).or_insert(Session {
            files: Vec::new(),
            newest: SystemTime::UNIX_EPOCH,
        });
        s.files.push((e.path(), meta.len()));
        s.newest = s.newest.max(modified);
    }
    let mut total: u64 = sessions
        .values()
        .flat_map(|s| s.files.iter().map(|f| f.1))
        .sum();
    // oldest first (the name, which starts with the start time, breaks ties)
    let mut order: Vec<(&String, &Session)> = sessions.iter().collect();
    order.sort_by(|a, b| a.1.newest.cmp(&b.1.newest).then_with(|| a.0.cmp(b.0)));
    for (stem, s) in order {
        if open == Some(stem.as_str()) || written_by_a_live_process(stem) {
            continue;
        }
        let age = now
            .duration_since(s.newest)
            .map_or(0.0, |d| d.as_secs_f64());
        if total <= r.max_total_bytes && age <= r.max_age_secs {
            continue;
        }
        for (path, len) in &s.files {
            match std::fs::remove_file(path) {
                Ok(()) => {
                    total = total.saturating_sub(*len);
                    out.bytes += len;
                }
                Err(e) => out.errors.push(format!("{}: {e}", path.display())),
            }
        }
        out.sessions += 1;
    }
    out.kept = total;
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn write(dir: &Path, name: &str, bytes: usize, age_secs: u64) {
        let p = dir.join(name);
        std::fs::write(&p, vec![b'x'; bytes]).expect("write");
        let t = SystemTime::now() - Duration::from_secs(age_secs);
        let f = std::fs::File::options().write(true).open(&p).expect("open");
        f.set_modified(t).expect("mtime");
    }

    #[test]
    fn session_names_group_parts_and_ignore_other_files() {
        assert_eq!(session_of("session-A-1.jsonl"), Some("session-A-1"));
        assert_eq!(session_of("session-A-1.3.jsonl"), Some("session-A-1"));
        assert_eq!(session_of("pitcrew.log"), None);
        assert_eq!(session_of("notes.jsonl"), None);
        assert_eq!(session_of("session-A-1.jsonl.tmp"), None);
    }

    #[test]
    fn oldest_sessions_go_first_whole_and_the_open_one_stays() {
        let d = tempfile::tempdir().expect("tempdir");
        write(d.path(), "session-a.jsonl", 400, 500);
        write(d.path(), "session-a.1.jsonl", 400, 400);
        write(d.path(), "session-b.jsonl", 300, 300);
        write(d.path(), "session-c.jsonl", 300, 200);
        write(d.path(), "session-open.jsonl", 2000, 100);
        write(d.path(), "outcomes.json", 5000, 900);
        let r = Retention {
            max_total_bytes: 2700,
            max_age_secs: 1e9,
        };
        let p = prune(d.path(), Some("session-open"), &r, SystemTime::now());
        // 3400 bytes of journal: a (800) goes, then 2600 fit
        assert_eq!((p.sessions, p.bytes, p.kept), (1, 800, 2600));
        assert!(!d.path().join("session-a.1.jsonl").exists());
        assert!(d.path().join("session-b.jsonl").exists());
        assert!(d.path().join("outcomes.json").exists(), "not a journal");
        // the open session alone is over the bound: it stays, everything else goes
        let r = Retention {
            max_total_bytes: 100,
            max_age_secs: 1e9,
        };
        let p = prune(d.path(), Some("session-open"), &r, SystemTime::now());
        assert_eq!((p.sessions, p.kept), (2, 2000));
        assert!(d.path().join("session-open.jsonl").exists());
    }

    #[test]
    fn sessions_past_the_age_go_whatever_the_size() {
        let d = tempfile::tempdir().expect("tempdir");
        write(d.path(), "session-old.jsonl", 10, 10 * 86_400);
        write(d.path(), "session-new.jsonl", 10, 60);
        let r = Retention {
            max_total_bytes: u64::MAX,
            max_age_secs: 86_400.0,
        };
        let p = prune(d.path(), None, &r, SystemTime::now());
        assert_eq!(p.sessions, 1);
        assert!(!d.path().join("session-old.jsonl").exists());
        assert!(d.path().join("session-new.jsonl").exists());
    }

    #[test]
    fn a_session_whose_process_runs_is_kept() {
        let d = tempfile::tempdir().expect("tempdir");
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .expect("sleep");
        let live = format!("session-x-{}", child.id());
        write(d.path(), &format!("{live}.jsonl"), 100, 1000);
        write(d.path(), "session-y-4294967.jsonl", 100, 1000);
        let r = Retention {
            max_total_bytes: 0,
            max_age_secs: 0.0,
        };
        let p = prune(d.path(), None, &r, SystemTime::now());
        let _ = child.kill();
        let _ = child.wait();
        assert_eq!(p.sessions, 1);
        assert!(d.path().join(format!("{live}.jsonl")).exists());
    }

    #[test]
    fn a_missing_dir_prunes_nothing() {
        let p = prune(
            Path::new("/nonexistent/pitcrew-journal"),
            None,
            &Retention::default(),
            SystemTime::now(),
        );
        assert_eq!(p, Pruned::default());
    }

    #[test]
    fn the_retention_is_the_configs_with_its_defaults_for_what_it_leaves_out() {
        use crate::config::{Config, diagnostics::SourceText};
        let parse = |text: &'static str| {
            Config::parse(&SourceText::new("c.toml", std::borrow::Cow::Borrowed(text))).unwrap()
        };
        let default = Retention {
            max_total_bytes: 1 << 30,
            max_age_secs: 30.0 * 86_400.0,
        };
        assert_eq!(Retention::default(), default);
        assert_eq!(Retention::of(&parse("")), default);
        let week = Retention::of(&parse("[journal]\nmax_age_days = 7\n"));
        assert_eq!(week.max_total_bytes, default.max_total_bytes);
        assert_eq!(week.max_age_secs, 7.0 * 86_400.0);
    }
}

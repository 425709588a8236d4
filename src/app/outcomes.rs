//! The outcome statistics' file in the data directory (`outcomes.json`): read when a session
//! starts, written after each verified outcome. The policy holds the numbers
//! ([`OutcomeStats`]); the edge that owns the data directory reads and writes them.

use crate::policy::OutcomeStats;
use std::path::Path;

/// Reads the statistics; a missing file is empty statistics, a damaged one an error (the caller
/// keeps the file and starts empty, saying so).
pub(super) fn load(path: &Path) -> Result<OutcomeStats, String> {
    match crate::files::read_text(path, crate::files::MAX_TEXT_BYTES) {
        Ok(t) => serde_json::from_str(&t).map_err(|e| {
            format!(
                "{} is damaged ({e}); starting with no outcomes",
                path.display()
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(OutcomeStats::default()),
        Err(e) => Err(format!("{} cannot be read: {e}", path.display())),
    }
}

/// Writes the statistics atomically (temporary file, then rename), readable by the owner only.
pub(super) fn save(stats: &OutcomeStats, path: &Path) -> Result<(), String> {
    let tmp = path.with_extension("json.tmp");
    let text = serde_json::to_string_pretty(stats).map_err(|e| e.to_string())?;
    crate::files::write_private(&tmp, text.as_bytes())
        .map_err(|e| format!("{}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, path).map_err(|e| format!("{}: {e}", path.display()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn stats_round_trip_and_damaged_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("outcomes.json");
        assert_eq!(load(&p).unwrap(), OutcomeStats::default());
        let mut s = OutcomeStats::default();
        s.record("restart-leak", "a/b", true);
        s.record("restart-leak", "a/b", false);
        s.record("restart-leak", "a/c", true);
        save(&s, &p).unwrap();
        let l = load(&p).unwrap();
        assert_eq!(l, s);
        assert_eq!(l.playbook("restart-leak").rate(), Some((2.0 / 3.0, 3)));
        assert_eq!(l.model("restart-leak", "a/b").rate(), Some((0.5, 2)));
        std::fs::write(&p, "{not json").unwrap();
        assert!(load(&p).unwrap_err().contains("damaged"));
    }
}

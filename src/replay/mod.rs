//! Read-only replay of recorded sessions: open a journal (an index of its events, not the file
//! in memory), re-run the engine over it, check that the re-run reproduces what was recorded
//! (`--verify`), and summarise it as an incident report (`--summary`).
//!
//! Damaged recordings are read as far as possible: a truncated last line (a crash), corrupt
//! lines and records of kinds from a newer version are reported with their line number and
//! skipped.

mod player;
mod recording;
mod summary;
mod verify;

pub use player::{PlayState, Player};
pub use recording::{Idx, Mark, Reader, Recording, StoredCheckpoint};
pub use summary::{IncidentSummary, Summary, summary, summary_markdown};
pub use verify::{Verification, verify};

/// Why a recording cannot be replayed at all.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// The file cannot be read.
    #[error("{path}: {source}")]
    Io {
        /// File.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
    /// Not a pitcrew journal.
    #[error("{0}")]
    Format(String),
}

/// Damaged lines reported one by one (the rest are counted).
const MAX_PROBLEMS: usize = 1000;

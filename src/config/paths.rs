//! Where pitcrew keeps its files: config (themes, keymaps, playbooks, config.toml), data
//! (journals, logs, learned outcomes) and state.
//!
//! Defaults come from the platform's conventions (`directories`); `PITCREW_CONFIG` and
//! `PITCREW_DATA` override the config and data directories. A data directory that cannot be
//! written (a locked-down bastion) is not fatal: the console runs without journal and logs and
//! says so.

use std::path::{Path, PathBuf};

/// Resolved directories.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paths {
    /// Config directory (`config.toml`, `themes/`, `keymaps/`, `playbooks/`).
    pub config_dir: PathBuf,
    /// Data directory (journals, logs, outcome statistics).
    pub data_dir: PathBuf,
    /// State directory.
    pub state_dir: PathBuf,
}

impl Paths {
    /// Resolve from the environment (`get` reads a variable; injected for tests).
    pub fn resolve(get: impl Fn(&str) -> Option<String>) -> Paths {
        let dirs = directories::ProjectDirs::from("dev", "pitcrew", "pitcrew");
        let fallback = std::env::temp_dir().join("pitcrew");
        let env_path = |k: &str| get(k).filter(|v| !v.is_empty()).map(PathBuf::from);
        let config_dir = env_path("PITCREW_CONFIG")
            .or_else(|| dirs.as_ref().map(|d| d.config_dir().to_path_buf()))
            .unwrap_or_else(|| fallback.join("config"));
        let data_dir = env_path("PITCREW_DATA")
            .or_else(|| dirs.as_ref().map(|d| d.data_dir().to_path_buf()))
            .unwrap_or_else(|| fallback.join("data"));
        let state_dir = env_path("PITCREW_DATA")
            .map(|p| p.join("state"))
            .or_else(|| {
                dirs.as_ref()
                    .and_then(|d| d.state_dir().map(Path::to_path_buf))
            })
            .unwrap_or_else(|| data_dir.join("state"));
        Paths {
            config_dir,
            data_dir,
            state_dir,
        }
    }

    /// From the process environment.
    pub fn from_env() -> Paths {
        Paths::resolve(|k| std::env::var(k).ok())
    }

    /// Where user themes are looked up.
    pub fn themes_dir(&self) -> PathBuf {
        self.config_dir.join("themes")
    }

    /// Where user keymaps are looked up.
    pub fn keymaps_dir(&self) -> PathBuf {
        self.config_dir.join("keymaps")
    }

    /// The default config file.
    pub(crate) fn config_file(&self) -> PathBuf {
        self.config_dir.join("config.toml")
    }

    /// Make sure the data directory exists and can be written (owner-only permissions).
    /// Returns why not, when it cannot.
    pub(crate) fn ensure_data_dir(&self) -> Result<(), String> {
        let dir = &self.data_dir;
        // created owner-only; one that exists keeps the permissions its owner gave it
        crate::files::create_private_dir(dir)
            .map_err(|e| format!("data dir {} cannot be created: {e}", dir.display()))?;
        let probe = dir.join(format!(".write-probe-{}", std::process::id()));
        std::fs::write(&probe, b"ok")
            .map_err(|e| format!("data dir {} is not writable: {e}", dir.display()))?;
        let _ = std::fs::remove_file(&probe);
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn env_overrides_win() {
        let p = Paths::resolve(|k| match k {
            "PITCREW_CONFIG" => Some("/etc/pc".into()),
            "PITCREW_DATA" => Some("/var/pc".into()),
            _ => None,
        });
        assert_eq!(p.config_dir, PathBuf::from("/etc/pc"));
        assert_eq!(p.data_dir, PathBuf::from("/var/pc"));
        assert_eq!(p.themes_dir(), PathBuf::from("/etc/pc/themes"));
        let d = Paths::resolve(|_| None);
        assert_ne!(d.config_dir, PathBuf::from("/etc/pc"));
    }

    #[test]
    fn unwritable_data_dir_is_reported_not_fatal() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("not-a-dir");
        std::fs::write(&file, b"x").unwrap();
        let p = Paths {
            config_dir: tmp.path().into(),
            data_dir: file.join("sub"),
            state_dir: tmp.path().into(),
        };
        let err = p.ensure_data_dir().unwrap_err();
        assert!(err.contains("cannot be created"), "{err}");
        let ok = Paths {
            data_dir: tmp.path().join("data"),
            ..p
        };
        assert!(ok.ensure_data_dir().is_ok());
    }
}

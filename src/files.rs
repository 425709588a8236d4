//! Local files, read from outside and written in private.
//!
//! Every read of a file someone else may have written is bounded: a size limit checked while
//! reading (not from the metadata, which `/dev/zero`, a FIFO or a growing file do not honour),
//! so a runaway input is refused with a clear error instead of being loaded. CSV inputs, which
//! may be gigabytes, are streamed instead; they are bounded per line ([`LineBound`]).
//!
//! Files pitcrew writes for itself (journals, outcome statistics, the log) are its owner's only
//! (0600), and so are the directories it creates (0700) — but a directory that already exists is
//! never re-permissioned: it belongs to whoever made it (`/tmp` is 1777 for a reason).

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::Path;

/// Size limit of a text file pitcrew parses whole: themes, keymaps, configs, playbooks,
/// outcome statistics. Far above any real one (they are kilobytes).
pub const MAX_TEXT_BYTES: u64 = 4 << 20;

/// Size limit of a secret file (a bearer token, a password).
pub(crate) const MAX_SECRET_BYTES: u64 = 64 << 10;

/// Size limit of one line of a CSV input.
pub(crate) const MAX_LINE_BYTES: usize = 1 << 20;

/// `n` bytes in words (`4 MiB`).
pub(crate) fn bytes_text(n: u64) -> String {
    const K: u64 = 1 << 10;
    if n >= K * K && n.is_multiple_of(K * K) {
        format!("{} MiB", n / (K * K))
    } else if n >= K && n.is_multiple_of(K) {
        format!("{} KiB", n / K)
    } else {
        format!("{n} bytes")
    }
}

/// Read at most `limit` bytes of `path` as UTF-8 text; a longer file is an
/// [`io::ErrorKind::InvalidData`] error that says the limit, and is never read past it.
pub fn read_text(path: &Path, limit: u64) -> io::Result<String> {
    let f = File::open(path)?;
    let mut buf = Vec::new();
    f.take(limit + 1).read_to_end(&mut buf)?;
    if buf.len() as u64 > limit {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "it is larger than {} (the limit for this kind of file); is it the right file?",
                bytes_text(limit)
            ),
        ));
    }
    String::from_utf8(buf).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "it is not UTF-8 text (byte {})",
                e.utf8_error().valid_up_to()
            ),
        )
    })
}

/// A reader that fails once more than `max` bytes pass without a newline: a streamed CSV
/// cannot grow one record without end (`/dev/zero`, a binary file given by mistake).
pub(crate) struct LineBound<R> {
    inner: R,
    max: usize,
    run: usize,
}

impl<R: Read> LineBound<R> {
    /// Bound `inner`'s lines to `max` bytes.
    pub fn new(inner: R, max: usize) -> LineBound<R> {
        LineBound { inner, max, run: 0 }
    }
}

impl<R: Read> Read for LineBound<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        for &b in &buf[..n] {
            if b == b'\n' {
                self.run = 0;
            } else {
                self.run += 1;
                if self.run > self.max {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!(
                            "a line is longer than {}: this is not a CSV of timestamps and values",
                            bytes_text(self.max as u64)
                        ),
                    ));
                }
            }
        }
        Ok(n)
    }
}

/// Create `dir` and any missing parents, owner-only (0700). Directories that exist keep their
/// permissions.
pub(crate) fn create_private_dir(dir: &Path) -> io::Result<()> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(dir)
}

/// Write a new file readable by its owner only (0600), replacing any old one.
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut f = open_private(path, true)?;
    f.write_all(bytes)?;
    f.sync_all()
}

/// Open `path` for writing, created owner-only (0600): truncated, or appended to. A file that
/// exists with wider permissions is narrowed to 0600 (it is pitcrew's own file).
pub(crate) fn open_private(path: &Path, truncate: bool) -> io::Result<File> {
    let mut o = OpenOptions::new();
    o.write(true).create(true);
    if truncate {
        o.truncate(true);
    } else {
        o.append(true);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    let f = o.open(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if f.metadata()?.permissions().mode() & 0o077 != 0 {
            f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        }
    }
    Ok(f)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn an_endless_file_is_refused_at_the_limit() {
        let e = read_text(Path::new("/dev/zero"), 1 << 16).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        assert!(e.to_string().contains("64 KiB"), "{e}");
    }

    #[test]
    fn a_file_at_the_limit_is_read() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("t");
        std::fs::write(&p, "x".repeat(100)).unwrap();
        assert_eq!(read_text(&p, 100).unwrap().len(), 100);
        assert!(read_text(&p, 99).is_err());
    }

    #[test]
    fn an_endless_line_is_refused() {
        let mut r = LineBound::new(File::open("/dev/zero").unwrap(), 1000);
        let mut sink = Vec::new();
        let e = r.read_to_end(&mut sink).unwrap_err();
        assert!(e.to_string().contains("longer than 1000 bytes"), "{e}");
        assert!(sink.len() < 1 << 20);
        let lines = "a,b\n".repeat(1000);
        let mut ok = LineBound::new(lines.as_bytes(), 4);
        ok.read_to_end(&mut sink).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn existing_directories_keep_their_mode_and_new_ones_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        let shared = d.path().join("shared");
        std::fs::create_dir(&shared).unwrap();
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o1777)).unwrap();
        create_private_dir(&shared).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode(&shared), 0o1777);
        let mine = shared.join("a/b");
        create_private_dir(&mine).unwrap();
        assert_eq!(mode(&mine), 0o700);
        assert_eq!(mode(&shared.join("a")), 0o700);
        let f = mine.join("f");
        std::fs::write(&f, "x").unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
        drop(open_private(&f, false).unwrap());
        assert_eq!(mode(&f), 0o600);
    }
}

//! Terminal set-up and restoration on every exit path, and the output filter that removes
//! colour escape sequences when colour is off (`NO_COLOR`).

use crossterm::event::{DisableMouseCapture, EnableMouseCapture};
use crossterm::execute;
use crossterm::terminal::{
    EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
};
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use std::io::{self, Write};
use std::sync::Once;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

static ACTIVE: AtomicBool = AtomicBool::new(false);
static HOOK: Once = Once::new();

/// Bytes written to the terminal so far (all sessions of this process).
pub(crate) static BYTES_OUT: AtomicU64 = AtomicU64::new(0);

/// A writer that can drop colour from SGR sequences and counts what it writes.
pub struct TermWriter<W: Write> {
    inner: W,
    strip_color: bool,
    pending: Vec<u8>,
    out: Vec<u8>,
}

impl<W: Write> TermWriter<W> {
    /// Wrap a writer.
    pub fn new(inner: W, strip_color: bool) -> Self {
        TermWriter {
            inner,
            strip_color,
            pending: Vec::new(),
            out: Vec::with_capacity(16 * 1024),
        }
    }

    /// The wrapped writer.
    pub fn get_ref(&self) -> &W {
        &self.inner
    }

    fn filter_sgr(seq: &[u8]) -> Option<Vec<u8>> {
        // seq = ESC [ params m
        let params = &seq[2..seq.len() - 1];
        let text = std::str::from_utf8(params).ok()?;
        if text.is_empty() {
            return Some(seq.to_vec());
        }
        let parts: Vec<&str> = text.split(';').collect();
        let mut keep: Vec<&str> = Vec::new();
        let mut i = 0;
        while i < parts.len() {
            let p = parts[i].parse::<u32>().unwrap_or(0);
            match p {
                38 | 48 | 58 => {
                    // extended colour: 5;n or 2;r;g;b
                    let kind = parts.get(i + 1).and_then(|s| s.parse::<u32>().ok());
                    i += match kind {
                        Some(5) => 3,
                        Some(2) => 5,
                        _ => 1,
                    };
                    continue;
                }
                30..=37 | 39 | 40..=47 | 49 | 59 | 90..=97 | 100..=107 => {}
                _ => keep.push(parts[i]),
            }
            i += 1;
        }
        if keep.is_empty() {
            return None;
        }
        let mut v = b"\x1b[".to_vec();
        v.extend_from_slice(keep.join(";").as_bytes());
        v.push(b'm');
        Some(v)
    }

    fn feed(&mut self, buf: &[u8]) {
        if !self.strip_color {
            self.out.extend_from_slice(buf);
            return;
        }
        for &b in buf {
            if self.pending.is_empty() {
                if b == 0x1b {
                    self.pending.push(b);
                } else {
                    self.out.push(b);
                }
                continue;
            }
            self.pending.push(b);
            let len = self.pending.len();
            if len == 2 && b != b'[' {
                // not a CSI: pass through
                self.out.append(&mut self.pending);
                continue;
            }
            if len > 2 && (0x40..=0x7e).contains(&b) {
                let seq = std::mem::take(&mut self.pending);
                if b == b'm' {
                    if let Some(s) = Self::filter_sgr(&seq) {
                        self.out.extend_from_slice(&s);
                    }
                } else {
                    self.out.extend_from_slice(&seq);
                }
            } else if len > 64 {
                self.out.append(&mut self.pending);
            }
        }
    }
}

impl<W: Write> Write for TermWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.feed(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if !self.out.is_empty() {
            BYTES_OUT.fetch_add(self.out.len() as u64, Ordering::Relaxed);
            self.inner.write_all(&self.out)?;
            self.out.clear();
        }
        self.inner.flush()
    }
}

/// The console's terminal type.
pub(crate) type Term = Terminal<CrosstermBackend<TermWriter<io::Stdout>>>;

/// Put the terminal back as it was: raw mode off, main screen, cursor shown, mouse released.
/// Safe to call more than once and when the terminal is gone (errors are ignored: a dropped SSH
/// session has nowhere to write to).
pub fn restore() {
    if ACTIVE.swap(false, Ordering::SeqCst) {
        let _ = disable_raw_mode();
        let mut out = io::stdout();
        let _ = execute!(
            out,
            DisableMouseCapture,
            LeaveAlternateScreen,
            crossterm::cursor::Show
        );
        let _ = out.flush();
    }
}

/// Restores the terminal when dropped (normal return, `?` errors, unwinding panics).
pub struct Guard;

impl Drop for Guard {
    fn drop(&mut self) {
        restore();
    }
}

/// Enter raw mode and the alternate screen; install a panic hook that restores the terminal
/// before the panic message is printed.
pub fn setup(mouse: bool, strip_color: bool) -> io::Result<(Term, Guard)> {
    HOOK.call_once(|| {
        let prev = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore();
            prev(info);
        }));
    });
    enable_raw_mode()?;
    ACTIVE.store(true, Ordering::SeqCst);
    let guard = Guard;
    let mut out = io::stdout();
    execute!(out, EnterAlternateScreen, crossterm::cursor::Hide)?;
    if mouse {
        execute!(out, EnableMouseCapture)?;
    }
    let backend = CrosstermBackend::new(TermWriter::new(io::stdout(), strip_color));
    let mut term = Terminal::new(backend)?;
    full_redraw(&mut term)?;
    Ok((term, guard))
}

/// Clear the screen and forget what was drawn, so the next frame is drawn in full. Unlike
/// `Terminal::clear` this never asks the terminal for the cursor position: over a slow SSH link
/// that query can time out.
pub(crate) fn full_redraw(term: &mut Term) -> io::Result<()> {
    let size = term.size()?;
    term.resize(ratatui::layout::Rect::new(0, 0, size.width, size.height))
}

/// Take the terminal back after it was left (raw mode, alternate screen, hidden cursor,
/// mouse) and draw the next frame in full: after a suspension, or when the process was
/// stopped and continued by someone else (a shell's job control may have reset the tty).
pub(crate) fn reenter(term: &mut Term, mouse: bool) -> io::Result<()> {
    enable_raw_mode()?;
    ACTIVE.store(true, Ordering::SeqCst);
    let mut out = io::stdout();
    execute!(out, EnterAlternateScreen, crossterm::cursor::Hide)?;
    if mouse {
        execute!(out, EnableMouseCapture)?;
    }
    full_redraw(term)
}

/// Suspend like any terminal program on ctrl-z or SIGTSTP: put the terminal back, stop this
/// process (SIGSTOP: the shell gets its prompt back), and when continued take the terminal
/// back and redraw.
#[cfg(unix)]
pub fn suspend(term: &mut Term, mouse: bool) -> io::Result<()> {
    restore();
    let _ = io::stdout().flush();
    let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGSTOP);
    // continued (SIGCONT)
    reenter(term, mouse)
}

/// Turn mouse capture on or off.
pub(crate) fn set_mouse(on: bool) -> io::Result<()> {
    let mut out = io::stdout();
    if on {
        execute!(out, EnableMouseCapture)
    } else {
        execute!(out, DisableMouseCapture)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filtered(input: &[u8]) -> Vec<u8> {
        let mut w = TermWriter::new(Vec::new(), true);
        // feed byte by byte to exercise split sequences
        for b in input {
            w.write_all(&[*b]).unwrap();
        }
        w.flush().unwrap();
        w.get_ref().clone()
    }

    #[test]
    fn strips_colours_keeps_attributes_and_text() {
        assert_eq!(filtered(b"\x1b[38;5;196mhi\x1b[39m"), b"hi");
        assert_eq!(filtered(b"\x1b[1;31mX\x1b[0m"), b"\x1b[1mX\x1b[0m");
        assert_eq!(filtered(b"\x1b[48;2;1;2;3;7m"), b"\x1b[7m");
        assert_eq!(filtered(b"\x1b[10;20H\x1b[?25l"), b"\x1b[10;20H\x1b[?25l");
        assert_eq!(filtered("é ▶".as_bytes()), "é ▶".as_bytes());
    }

    #[test]
    fn passes_everything_when_colour_is_on() {
        let mut w = TermWriter::new(Vec::new(), false);
        w.write_all(b"\x1b[31mred").unwrap();
        w.flush().unwrap();
        assert_eq!(w.get_ref().as_slice(), b"\x1b[31mred");
    }
}

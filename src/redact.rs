//! What comes from outside, made safe to show, log and journal — one home for every print, log
//! line, journal entry and error message:
//! - [`url`]: a URL without its credentials. Parsed, never pattern-matched: user name and
//!   password go, so do the values of query parameters that carry secrets (`token`, `key`,
//!   `password`, signatures …) and the fragment; a string that does not parse as a URL is not
//!   shown at all (a password with an unencoded `/` must not leak through a failed parse).
//! - [`text`]: upstream text (an error message from a server, a label) with its control
//!   characters (escape sequences, newlines) replaced and clipped to a length.
//! - [`OneLine`]: a log writer that keeps one event on one line, so a value cannot forge a
//!   line of the log.

use std::io::Write;

/// What stands in for a secret.
pub(crate) const HIDDEN: &str = "REDACTED";

/// Query parameters whose values are secrets (compared without case, `-` and `_`).
const SECRET_PARAMS: &[&str] = &[
    "token",
    "accesstoken",
    "idtoken",
    "refreshtoken",
    "apikey",
    "key",
    "password",
    "passwd",
    "pwd",
    "secret",
    "clientsecret",
    "signature",
    "sig",
    "auth",
    "authorization",
    "xamzsignature",
    "xamzcredential",
    "xamzsecuritytoken",
    "session",
    "sessionid",
    "code",
];

fn is_secret_param(name: &str) -> bool {
    let n: String = name
        .chars()
        .filter(|c| *c != '-' && *c != '_')
        .flat_map(char::to_lowercase)
        .collect();
    SECRET_PARAMS.contains(&n.as_str()) || n.ends_with("token") || n.ends_with("secret")
}

/// `raw` as a URL that can be shown: no user info, no secret query values, no fragment.
pub fn url(raw: &str) -> String {
    match reqwest::Url::parse(raw.trim()) {
        Ok(u) => url_of(&u),
        Err(e) => format!("(a URL that does not parse, not shown: {e})"),
    }
}

/// [`url`] of a parsed URL.
pub(crate) fn url_of(u: &reqwest::Url) -> String {
    let mut u = u.clone();
    // both fail only for URLs that cannot have user info, which then have none
    let _ = u.set_username("");
    let _ = u.set_password(None);
    u.set_fragment(None);
    if u.query().is_some() {
        let pairs: Vec<(String, String)> = u
            .query_pairs()
            .map(|(k, v)| {
                let v = if is_secret_param(&k) {
                    HIDDEN.to_string()
                } else {
                    v.into_owned()
                };
                (k.into_owned(), v)
            })
            .collect();
        u.query_pairs_mut().clear().extend_pairs(pairs);
    }
    u.to_string()
}

/// `s` with every control character replaced by a space and clipped to `max` characters
/// (`…` marks the cut).
pub fn text(s: &str, max: usize) -> String {
    let mut out = String::with_capacity(s.len().min(max * 4 + 4));
    for (n, c) in s.chars().enumerate() {
        if n == max {
            out.push('…');
            break;
        }
        out.push(if c.is_control() { ' ' } else { c });
    }
    out
}

/// A writer for the log: each write is one formatted event; control characters inside it
/// (newlines, escape sequences) are written as `\n`, `\u{1b}` …, and only the event's own
/// final newline ends a line.
pub(crate) struct OneLine<W>(pub W);

impl<W: Write> Write for OneLine<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let (body, end) = match buf.split_last() {
            Some((b'\n', body)) => (body, true),
            _ => (buf, false),
        };
        let mut out = Vec::with_capacity(buf.len() + 8);
        for &b in body {
            match b {
                b'\n' => out.extend_from_slice(b"\\n"),
                b'\r' => out.extend_from_slice(b"\\r"),
                b'\t' => out.push(b'\t'),
                0..0x20 | 0x7f => out.extend_from_slice(format!("\\u{{{b:x}}}").as_bytes()),
                _ => out.push(b),
            }
        }
        if end {
            out.push(b'\n');
        }
        self.0.write_all(&out)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn every_credential_form_is_hidden() {
        for (raw, secret) in [
            ("https://user:pw@prom.example:9090/sub", "pw"),
            ("http://mlflow-user:hunter2@mlflow:5000", "hunter2"),
            ("https://u:p%2Fa%40ss@h/x", "p%2Fa"),
            ("https://h/api?token=s3cr3t&x=1", "s3cr3t"),
            ("https://h/api?X-Amz-Signature=abc123&a=b", "abc123"),
            ("https://h/api?access_token=tok9#frag", "tok9"),
            ("https://h/api?apiKey=k7", "k7"),
            // an unencoded '/' in the password: the URL does not parse and is not shown
            ("https://user:pa9/ss@prom:9090/api", "pa9"),
            ("https://user:pa9/ss@prom:9090/api", "user"),
        ] {
            let shown = url(raw);
            assert!(!shown.contains(secret), "{raw} -> {shown}");
        }
        assert_eq!(
            url("https://user:pw@prom.example:9090/sub?step=15"),
            "https://prom.example:9090/sub?step=15"
        );
        assert_eq!(
            url("https://h/q?token=a&b=c"),
            format!("https://h/q?token={HIDDEN}&b=c")
        );
    }

    #[test]
    fn upstream_text_is_one_clipped_line() {
        let evil = format!(
            "bad\x1b[2J\x1b]0;owned\x07\nforged line{}",
            "x".repeat(1000)
        );
        let t = text(&evil, 50);
        assert!(!t.chars().any(char::is_control), "{t:?}");
        assert_eq!(t.chars().count(), 51);
        assert!(t.ends_with('…'));
        assert_eq!(text("short", 50), "short");
    }

    #[test]
    fn a_value_cannot_forge_a_log_line() {
        let mut w = OneLine(Vec::new());
        w.write_all(b"INFO model a/b\nERROR forged \x1b[31m\n")
            .unwrap();
        let s = String::from_utf8(w.0).unwrap();
        assert_eq!(s.lines().count(), 1, "{s}");
        assert!(s.ends_with("\\u{1b}[31m\n"), "{s}");
    }
}

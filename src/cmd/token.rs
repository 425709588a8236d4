//! `pitcrew token`: make a bearer token for the agent's control API. The token goes to a file
//! readable by its owner only; what the agent's tokens file needs (the token's SHA-256, the
//! user and the role) is printed — never the token.

use pitcrew::control::Role;
use pitcrew::control::auth::{new_token, token_hash};
use std::process::ExitCode;

/// The arguments of this command.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Whose token it is (as journaled with their decisions).
    #[arg(long)]
    pub user: String,
    /// viewer, approver or admin.
    #[arg(long, value_parser = parse_role)]
    pub role: Role,
    /// Where the token is written (created, readable by its owner only; never overwritten).
    #[arg(long, value_name = "FILE")]
    pub out: std::path::PathBuf,
}

fn parse_role(s: &str) -> Result<Role, String> {
    Role::from_name(s).ok_or_else(|| format!("unknown role '{s}': use viewer, approver or admin"))
}

/// Runs the command; the exit code says how it went.
pub fn run(args: Args) -> ExitCode {
    let user = args.user.trim();
    if user.is_empty() || user.contains(['"', '\\']) || user.chars().any(char::is_control) {
        eprintln!("pitcrew token: the user name must be printable, without quotes or backslashes");
        return ExitCode::from(2);
    }
    let token = match new_token() {
        Ok(t) => t,
        Err(e) => {
            eprintln!("pitcrew token: {e}");
            return ExitCode::from(1);
        }
    };
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    let written = o.open(&args.out).and_then(|mut f| {
        use std::io::Write;
        writeln!(f, "{token}")?;
        f.sync_all()
    });
    if let Err(e) = written {
        eprintln!(
            "pitcrew token: cannot create {} (it must not exist yet): {e}",
            args.out.display()
        );
        return ExitCode::from(1);
    }
    println!(
        "# add to the agent's tokens file (the token itself is in {}):\n[[tokens]]\nuser = \"{user}\"\nrole = \"{}\"\nsha256 = \"{}\"",
        args.out.display(),
        args.role.name(),
        token_hash(&token)
    );
    ExitCode::SUCCESS
}

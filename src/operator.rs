//! Who is at the console: the name every decision is journaled under.
//!
//! It comes from the OS account of the process (its uid, looked up through the system's user
//! database, so LDAP and SSSD accounts on a bastion resolve too), not from `$USER`, which is
//! often unset (root over SSH, a container) and can say anything. The config's
//! `[operator] name` overrides it for shared accounts; an account with no name is recorded as
//! `uid N`, never as "unknown".

/// The operator's name: the config's override when set, else the OS account's.
pub(crate) fn operator_name(config: &crate::config::Config) -> String {
    config
        .operator
        .as_ref()
        .and_then(|o| o.name.as_deref())
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(clean)
        .unwrap_or_else(os_account)
}

/// The name of the OS account the process runs as (`uid N` when the account has none), with
/// the invoking user when run through sudo (`root (sudo from ann)`).
pub fn os_account() -> String {
    let uid = nix::unistd::Uid::current();
    let name = nix::unistd::User::from_uid(uid)
        .ok()
        .flatten()
        .map(|u| clean(&u.name))
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| format!("uid {uid}"));
    match std::env::var("SUDO_USER") {
        Ok(by) if uid.is_root() && !by.trim().is_empty() && by.trim() != name => {
            format!("{name} (sudo from {})", clean(by.trim()))
        }
        _ => name,
    }
}

/// A name as it may be journaled: no control characters, at most 64 characters.
fn clean(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_os_account_has_a_name_whatever_the_environment_says() {
        let name = os_account();
        assert!(!name.is_empty());
        assert_ne!(name, "unknown");
        // this process's account, looked up by uid: the same as the id command says
        let out = std::process::Command::new("id")
            .arg("-un")
            .output()
            .expect("id -un runs");
        assert!(out.status.success(), "id -un");
        let expected = String::from_utf8_lossy(&out.stdout).trim().to_string();
        assert!(name.starts_with(&expected), "{name} vs id -un {expected}");
    }

    #[test]
    fn the_config_overrides_and_is_cleaned() {
        let mut c = crate::config::Config::default();
        assert_eq!(operator_name(&c), os_account());
        c.operator = Some(crate::config::OperatorConfig {
            name: Some("  ann\u{1b}[31m on call ".into()),
        });
        assert_eq!(operator_name(&c), "ann[31m on call");
        c.operator = Some(crate::config::OperatorConfig {
            name: Some("   ".into()),
        });
        assert_eq!(operator_name(&c), os_account());
    }
}

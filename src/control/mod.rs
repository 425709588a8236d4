//! The agent's control API: what an attached console may ask of the agent that executes.
//!
//! - [`auth`]: who is calling (a bearer token, checked against a tokens file of hashed tokens)
//!   and what they may do (a role's verbs), with failed attempts rate-limited;
//! - [`kube_auth`]: the same asked of the Kubernetes API server (TokenReview, then
//!   SubjectAccessReview on `remediations.pitcrew.dev`), failing closed;
//! - [`wire`]: the stream's frames — the agent's settings, a base (the engine's state and the
//!   observation table), then every event the agent's engine applies, observations encoded
//!   compactly — and the command request and reply;
//! - [`feed`]: the agent's side of the stream: frames encoded once, shared by every console,
//!   never waited for;
//! - [`server`]: the routes `/v1/stream` and `/v1/commands` beside `/metrics` and `/healthz`.
//!
//! An attached console rebuilds the agent's engine from the stream (a live replay: base, then
//! events), so every screen is the same as the stand-alone console's and the agent's own, and
//! sends commands back; the agent applies them once, journaled with the caller's identity.

pub mod auth;
pub mod feed;
pub mod kube_auth;
pub mod server;
pub mod wire;

use crate::engine::Command;
use serde::{Deserialize, Serialize};

/// What a caller may do: the verbs of the resource `remediations` of the API group
/// `pitcrew.dev` (also the verbs a Kubernetes SubjectAccessReview is asked about).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verb {
    /// Read the fleet once.
    Get,
    /// Follow the fleet's stream.
    Watch,
    /// Approve a proposal (or accept an inconclusive outcome).
    Approve,
    /// Veto a proposal, with a reason.
    Veto,
    /// Set how a class of action is handled in a phase.
    Automate,
    /// Change the autonomy phase.
    Phase,
    /// Write a note in the journal.
    Note,
    /// Inject an incident into a simulated fleet.
    Inject,
}

impl Verb {
    /// Every verb, in the order roles list them.
    pub const ALL: [Verb; 8] = [
        Verb::Get,
        Verb::Watch,
        Verb::Approve,
        Verb::Veto,
        Verb::Automate,
        Verb::Phase,
        Verb::Note,
        Verb::Inject,
    ];

    /// The verb's name (as Kubernetes RBAC writes it).
    pub fn name(self) -> &'static str {
        match self {
            Verb::Get => "get",
            Verb::Watch => "watch",
            Verb::Approve => "approve",
            Verb::Veto => "veto",
            Verb::Automate => "automate",
            Verb::Phase => "phase",
            Verb::Note => "note",
            Verb::Inject => "inject",
        }
    }

    /// The verb a command needs.
    pub fn of(command: &Command) -> Verb {
        match command {
            Command::Approve { .. } => Verb::Approve,
            Command::Veto { .. } => Verb::Veto,
            Command::SetClassMode { .. } => Verb::Automate,
            Command::SetPhase { .. } => Verb::Phase,
            Command::Note { .. } => Verb::Note,
            Command::Inject { .. } => Verb::Inject,
        }
    }
}

/// The roles a team gives its people, each a set of verbs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Watches the fleet; decides nothing.
    Viewer,
    /// Watches, approves and vetoes proposals, writes notes.
    Approver,
    /// Everything: also the phase, what is automated, and injections on a simulated fleet.
    Admin,
}

impl Role {
    /// Every role, least first.
    pub const ALL: [Role; 3] = [Role::Viewer, Role::Approver, Role::Admin];

    /// The role's name.
    pub fn name(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Approver => "approver",
            Role::Admin => "admin",
        }
    }

    /// The role by its name.
    pub fn from_name(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.name() == s)
    }

    /// The verbs the role grants.
    pub fn verbs(self) -> &'static [Verb] {
        match self {
            Role::Viewer => &[Verb::Get, Verb::Watch],
            Role::Approver => &[
                Verb::Get,
                Verb::Watch,
                Verb::Approve,
                Verb::Veto,
                Verb::Note,
            ],
            Role::Admin => &Verb::ALL,
        }
    }

    /// The role grants `verb`.
    pub fn allows(self, verb: Verb) -> bool {
        self.verbs().contains(&verb)
    }
}

/// The user roles as Kubernetes Roles on the resource `remediations` of the API group
/// `pitcrew.dev` (no CRD is needed: a SubjectAccessReview asks about the verb by name), one
/// per role with exactly its verbs, for `pitcrew rbac --users`.
pub fn user_roles_yaml(namespace: &str) -> String {
    let mut y = format!(
        "# The user roles of pitcrew's control API in namespace {namespace}: bind people or groups\n\
         # to them with a RoleBinding. The verbs are those the agent asks a SubjectAccessReview\n\
         # about, on the resource remediations of the API group pitcrew.dev.\n"
    );
    for r in Role::ALL {
        let verbs: Vec<String> = r
            .verbs()
            .iter()
            .map(|v| format!("\"{}\"", v.name()))
            .collect();
        y.push_str(&format!(
            "---\n\
             apiVersion: rbac.authorization.k8s.io/v1\n\
             kind: Role\n\
             metadata:\n  name: pitcrew-{name}\n  namespace: {namespace}\n\
             rules:\n  - apiGroups: [\"pitcrew.dev\"]\n    resources: [\"remediations\"]\n    verbs: [{verbs}]\n",
            name = r.name(),
            verbs = verbs.join(", ")
        ));
    }
    y
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_printed_roles_grant_exactly_each_roles_verbs() {
        let y = user_roles_yaml("mlops");
        for r in Role::ALL {
            let at = y
                .find(&format!("name: pitcrew-{}", r.name()))
                .expect("the role is printed");
            let line = y[at..]
                .lines()
                .find(|l| l.trim_start().starts_with("verbs:"))
                .expect("verbs");
            let listed: Vec<&str> = line
                .split(['[', ']', ',', '"', ' '])
                .filter(|w| !w.is_empty() && *w != "verbs:")
                .collect();
            let want: Vec<&str> = r.verbs().iter().map(|v| v.name()).collect();
            assert_eq!(listed, want, "{}", r.name());
        }
    }

    #[test]
    fn roles_nest_and_every_verb_is_granted_by_some_role() {
        for v in Verb::ALL {
            assert!(Role::Admin.allows(v), "{v:?}");
        }
        for v in Role::Viewer.verbs() {
            assert!(Role::Approver.allows(*v));
        }
        assert!(!Role::Viewer.allows(Verb::Approve));
        assert!(!Role::Approver.allows(Verb::Phase));
        for r in Role::ALL {
            assert_eq!(Role::from_name(r.name()), Some(r));
        }
    }
}

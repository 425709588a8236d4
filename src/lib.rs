//! pitcrew: a full-screen terminal console for running machine-learning models in production.
//!
//! Architecture (see the README): sources turn the world into [`engine::Event`]s; the pure,
//! deterministic [`engine::Engine`] turns them into state, a [`engine::Snapshot`] for the UI and
//! [`engine::Effect`]s for the actuators.
#![forbid(unsafe_code)]

pub mod actuators;
pub mod agent;
pub mod app;
pub mod check;
pub mod chunked;
pub mod cli_time;
pub mod clients;
pub mod clock;
pub mod config;
pub mod control;
pub mod detect;
pub mod diagnosis;
pub mod domain;
pub mod engine;
pub mod files;
pub mod fleet;
pub mod forecast;
pub mod harness;
pub mod journal;
pub mod operator;
pub mod policy;
pub mod probe;
pub mod record;
pub mod redact;
pub mod replay;
pub mod rng;
pub mod security;
pub mod sim;
pub mod sources;
pub mod tui;

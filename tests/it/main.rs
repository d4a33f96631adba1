//! One integration-test binary: the real app over HTTP, and the real CLI.

#[path = "../common/mod.rs"]
mod common;

mod cli;
mod csrf;
mod hardening;
mod instances;
mod language;
mod login;
mod operations;
mod outage;
mod sessions;
mod setup;
mod store_races;
mod throttle;
mod two_step;

//! One integration-test binary: the real app over HTTP, and the real CLI.

#[path = "../common/mod.rs"]
mod common;

mod api;
mod audit;
mod caddy;
mod cli;
mod config_file;
mod csrf;
mod email_change;
mod fd_limit;
mod forward_auth;
mod gateway;
mod guard;
mod hardening;
mod instances;
mod invitations;
mod language;
mod login;
mod metrics;
mod nginx;
mod notifications;
mod operations;
mod outage;
mod pages_prefix;
mod password_change;
mod password_reset;
mod serve;
mod sessions;
mod setup;
mod storage_faults;
mod store_races;
mod systemd;
mod throttle;
mod two_step;

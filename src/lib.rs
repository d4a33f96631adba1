//! nidan (二段): a self-hosted sign-in service with two-step verification.
//!
//! Layers point down: `web` → `auth` → `store`, `crypto`. See `docs/architecture.md`.

pub mod api;
pub mod app;
pub mod auth;
pub mod cli;
pub mod clock;
pub mod config;
pub mod config_file;
pub mod crypto;
pub mod fd_limit;
pub mod gateway;
pub mod guard;
pub mod listener;
pub mod mail;
pub mod metrics;
pub mod otp;
pub mod store;
pub mod web;

pub use app::{App, RunningApp};
pub use config::Config;

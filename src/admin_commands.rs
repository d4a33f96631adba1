//! The administrator's commands: `nidan user …` (accounts, invitations) and `nidan audit`.

use std::io::{IsTerminal, Read, Write};
use std::sync::Arc;

use anyhow::{Context, bail};
use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;

use nidan::app::Installation;
use nidan::cli::{AuditArgs, InviteArgs, StoreArgs, UserCommand};
use nidan::clock::{SystemClock, format_utc, format_utc_seconds};

use super::store_config;

async fn invite(auth: &nidan::auth::AuthService, args: InviteArgs) -> anyhow::Result<()> {
    let public_url = args.public_url.context(
        "--public-url is needed for the link (the address people open nidan at; also NIDAN_PUBLIC_URL or public-url in the configuration file)",
    )?;
    let mut config = nidan::Config::new(std::path::Path::new("."));
    config.public_url = Some(public_url.clone());
    config.pages_prefix = args.pages_prefix.unwrap_or_default();
    config.listen = "127.0.0.1:0".parse()?;
    config.check()?;
    let mailer = match &args.mail.smtp_url {
        Some(url) => Some(nidan::mail::SmtpNotifier::new(url, &args.mail.smtp_from)?),
        None => None,
    };
    let base = format!(
        "{}{}",
        public_url.trim_end_matches('/'),
        config.pages_prefix
    );
    let invited = auth
        .clone()
        .with_link_base(&base)
        .invite(&args.email, args.admin)
        .await?;
    let link = invited.link;
    let email = nidan::auth::normalise_email(&args.email)?;
    println!("{}", link.0);
    eprintln!(
        "invited {email}{}: the link above works once, until {}",
        if args.admin { " (administrator)" } else { "" },
        nidan::clock::format_utc(invited.expires_at)
    );
    if let Some(mailer) = mailer {
        let notice = nidan::auth::Notice::Invitation {
            link,
            expires_at: invited.expires_at,
        };
        mailer
            .send(&email, &notice, auth.now())
            .await
            .map_err(|e| {
                anyhow::anyhow!(
                    "the invitation was not emailed ({e}); give the link above yourself"
                )
            })?;
        eprintln!("emailed to {email}");
    }
    Ok(())
}

pub(crate) async fn user(store_args: StoreArgs, command: UserCommand) -> anyhow::Result<()> {
    let (auth, _) = nidan::app::prepare(
        &store_config(store_args),
        Arc::new(SystemClock),
        Installation::Existing,
    )
    .await?;
    match command {
        UserCommand::Add {
            email,
            password_stdin,
            admin,
        } => {
            let password = read_password(password_stdin)?;
            let user = auth.add_user(&email, &password, admin).await?;
            println!(
                "created {}{}",
                user.email,
                if user.is_admin {
                    " (administrator)"
                } else {
                    ""
                }
            );
        }
        UserCommand::List => {
            println!(
                "{:<40} {:<6} {:<6} {:<6}",
                "EMAIL", "ADMIN", "2FA", "LOCKED"
            );
            for u in auth.list_users().await? {
                println!(
                    "{:<40} {:<6} {:<6} {:<6}",
                    u.email,
                    yes_no(u.is_admin),
                    if u.two_step { "on" } else { "off" },
                    yes_no(u.locked)
                );
            }
        }
        UserCommand::Reset2fa { email } => {
            auth.reset_two_step(&email).await?;
            println!("two-step verification is off for {email}; every session of it has ended");
        }
        UserCommand::SetPassword {
            email,
            password_stdin,
        } => {
            let password = read_password(password_stdin)?;
            auth.set_password(&email, &password).await?;
            println!("password changed; every session of {email} has ended");
        }
        UserCommand::Unlock { email } => {
            auth.unlock(&email).await?;
            println!("unlocked {email}");
        }
        UserCommand::Delete { email } => {
            auth.delete_user(&email).await?;
            println!("deleted {email}");
        }
        UserCommand::Invite(args) => invite(&auth, args).await?,
        UserCommand::Invites => {
            println!("{:<40} {:<6} {:<20}", "EMAIL", "ADMIN", "UNTIL");
            let now = auth.now();
            for i in auth.invitations().await? {
                let until = nidan::clock::format_utc(i.expires_at);
                let expired = if i.expires_at <= now {
                    " (expired)"
                } else {
                    ""
                };
                println!("{:<40} {:<6} {until}{expired}", i.email, yes_no(i.is_admin));
            }
        }
        UserCommand::RevokeInvite { email } => {
            auth.revoke_invitation(&email).await?;
            println!("revoked the invitation of {email}; its link no longer works");
        }
    }
    Ok(())
}

pub(crate) async fn audit(store_args: StoreArgs, args: AuditArgs) -> anyhow::Result<()> {
    let (auth, _) = nidan::app::prepare(
        &store_config(store_args),
        Arc::new(SystemClock),
        Installation::Existing,
    )
    .await?;
    let since = auth.now() - i64::try_from(args.since.as_secs()).unwrap_or(i64::MAX / 2);
    let events = auth
        .audit_log(args.user.as_deref(), since, i64::from(args.limit))
        .await?;
    let mut out = std::io::stdout().lock();
    let row = |time: &str, event: &str, email: &str, ip: &str, detail: &str, agent: &str| {
        format!("{time:<19}  {event:<26} {email:<32} {ip:<15} {detail:<12} {agent}")
    };
    if !args.json {
        let header = row("TIME (UTC)", "EVENT", "EMAIL", "IP", "DETAIL", "USER AGENT");
        writeln!(out, "{}", header.trim_end())?;
    }
    for e in events {
        // An event of a kind this version does not know keeps its name in the detail.
        let kind = e.kind.map_or("unknown", nidan::auth::EventKind::as_str);
        let detail = e.detail.to_stored();
        if args.json {
            let line = serde_json::json!({
                "at": e.at,
                "time": format_utc(e.at),
                "email": e.email,
                "user_id": e.user_id,
                "event": kind,
                "detail": detail,
                "ip": e.origin.ip,
                "user_agent": e.origin.user_agent,
            });
            writeln!(out, "{line}")?;
        } else {
            let or_dash = |s: &str| {
                if s.is_empty() {
                    "-".to_owned()
                } else {
                    s.to_owned()
                }
            };
            let line = row(
                &format_utc_seconds(e.at),
                kind,
                &e.email,
                &or_dash(&e.origin.ip),
                &or_dash(&detail),
                &or_dash(&e.origin.user_agent),
            );
            writeln!(out, "{}", line.trim_end())?;
        }
    }
    Ok(())
}

fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

/// The whole of standard input (less one trailing line break) with `--password-stdin`;
/// otherwise asked twice on the terminal, not echoed.
fn read_password(password_stdin: bool) -> anyhow::Result<SecretString> {
    if !password_stdin {
        return prompt_password_twice();
    }
    let mut input = String::new();
    std::io::stdin()
        .read_to_string(&mut input)
        .context("standard input is not valid UTF-8 text")?;
    let trimmed = input
        .strip_suffix('\n')
        .map(|s| s.strip_suffix('\r').unwrap_or(s))
        .unwrap_or(&input);
    if trimmed.is_empty() {
        bail!("the password on standard input is empty");
    }
    Ok(SecretString::from(trimmed.to_owned()))
}

fn prompt_password_twice() -> anyhow::Result<SecretString> {
    if !std::io::stdin().is_terminal() {
        bail!(
            "no terminal to ask for the password on: give it on standard input with --password-stdin"
        );
    }
    // rpassword reads from the controlling terminal with echo off, and restores it.
    let first = SecretString::from(
        rpassword::prompt_password("New password: ").context("reading the password")?,
    );
    let again = SecretString::from(
        rpassword::prompt_password("The same again: ").context("reading the password")?,
    );
    if first.expose_secret().is_empty() {
        bail!("the password is empty; nothing changed");
    }
    if !bool::from(
        first
            .expose_secret()
            .as_bytes()
            .ct_eq(again.expose_secret().as_bytes()),
    ) {
        bail!("the two passwords differ; nothing changed");
    }
    Ok(first)
}

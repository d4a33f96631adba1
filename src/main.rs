//! The `nidan` binary: parse the command line and call into the library.
//! Failures print exactly one line on stderr and exit with 1.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::parser::ValueSource;
use clap::{ArgMatches, CommandFactory, FromArgMatches};
use secrecy::SecretString;
use tracing_subscriber::EnvFilter;

use nidan::App;
use nidan::app::Installation;
use nidan::auth::AuthPolicy;
use nidan::cli::{Cli, Command, ConfigCommand, LogFormat, ServeArgs, StoreArgs};
use nidan::clock::SystemClock;
use nidan::config::Config;
use nidan::config_file::ConfigFile;

mod admin_commands;
use admin_commands::{audit, user};

fn main() -> ExitCode {
    return_large_blocks_to_the_system();
    read_renamed_variables();
    let (cli, matches, file) = match parse_command_line() {
        Ok(parsed) => parsed,
        Err(code) => return code,
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run(cli, &matches, file.as_ref())) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", one_line(&e));
            ExitCode::from(1)
        }
    }
}

/// The error and its causes on one line, each said once: most of our errors already name
/// their cause in their own message.
fn one_line(error: &anyhow::Error) -> String {
    let mut message = String::new();
    for cause in error.chain() {
        let text = cause.to_string().replace('\n', " ");
        if !message.contains(&text) {
            if !message.is_empty() {
                message.push_str(": ");
            }
            message.push_str(&text);
        }
    }
    message
}

/// argon2id takes 19 MiB per hash. glibc raises its mmap threshold after the first such
/// block is freed and from then on keeps these blocks in the heap; fixing the threshold
/// makes every large block go back to the system when its hash is done, so that memory
/// stays bounded by the hashes in flight.
fn return_large_blocks_to_the_system() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt changes a malloc tunable; it is called first thing, on one thread.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 * 1024);
    }
}

/// A variable set under its old name counts under the new one (the new one wins when both
/// are set), with one line saying so.
fn read_renamed_variables() {
    for (old, new) in nidan::cli::RENAMED_VARIABLES {
        let Some(value) = std::env::var_os(old) else {
            continue;
        };
        if std::env::var_os(new).is_none() {
            // SAFETY: called first thing in main, before any other thread exists.
            unsafe { std::env::set_var(new, value) };
            eprintln!("warning: {old} is now called {new}; the old name is read for now");
        } else {
            eprintln!("warning: {old} is ignored: {new} is set");
        }
    }
}

/// The flags; with `--config`, the file's values become the flags' defaults.
fn parse_command_line() -> Result<(Cli, ArgMatches, Option<ConfigFile>), ExitCode> {
    let first = Cli::command()
        .try_get_matches()
        .and_then(|m| Cli::from_arg_matches(&m).map(|cli| (cli, m)));
    let (cli, matches) = first.map_err(clap_failed)?;
    let Some(path) = cli.store.config.clone() else {
        return Ok((cli, matches, None));
    };
    let file = ConfigFile::load(&path).map_err(|e| {
        eprintln!("error: {e}");
        ExitCode::from(1)
    })?;
    let command = file.apply(Cli::command()).map_err(|e| {
        eprintln!("error: {e}");
        ExitCode::from(1)
    })?;
    // The flags and variables parsed above: what fails now is a value from the file.
    let (cli, matches) = command
        .try_get_matches()
        .and_then(|m| Cli::from_arg_matches(&m).map(|cli| (cli, m)))
        .map_err(|e| match file.explain(&e) {
            Some(message) => {
                eprintln!("error: {message}");
                ExitCode::from(1)
            }
            None => clap_failed(e),
        })?;
    Ok((cli, matches, Some(file)))
}

/// `--help` and `--version` print and succeed; a usage error prints its first line.
fn clap_failed(e: clap::Error) -> ExitCode {
    if !e.use_stderr() {
        let _ = e.print();
        return ExitCode::SUCCESS;
    }
    let text = e.to_string();
    let first = text
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("error");
    eprintln!("{first} (see nidan --help)");
    ExitCode::from(1)
}

async fn run(cli: Cli, matches: &ArgMatches, file: Option<&ConfigFile>) -> anyhow::Result<()> {
    match cli.command {
        Command::Config {
            command: ConfigCommand::Check(args),
        } => config_check(cli.store, args, matches, file),
        Command::Serve(args) => serve(cli.store, args).await,
        Command::Migrate => {
            let config = store_config(cli.store);
            nidan::app::prepare(
                &config,
                Arc::new(SystemClock),
                Installation::CreateIfMissing,
            )
            .await?;
            println!(
                "database is up to date: {}",
                redact_url(&config.database_url())
            );
            Ok(())
        }
        Command::Backup { file } => {
            if file.exists() {
                bail!("{} exists already: name a new file", file.display());
            }
            let (auth, _) = nidan::app::prepare(
                &store_config(cli.store),
                Arc::new(SystemClock),
                Installation::Existing,
            )
            .await?;
            auth.backup(&file).await?;
            println!("backed up to {}", file.display());
            Ok(())
        }
        Command::User { command } => user(cli.store, command).await,
        Command::Audit(args) => audit(cli.store, args).await,
    }
}

async fn serve(store: StoreArgs, args: ServeArgs) -> anyhow::Result<()> {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match args.log_format {
        LogFormat::Json => logs.json().init(),
        LogFormat::Text => logs.with_ansi(std::io::stderr().is_terminal()).init(),
    }
    let shutdown_timeout = args.shutdown_timeout;
    // Before anything opens a descriptor; said once serving, so that a failed start is one line.
    let raised = nidan::fd_limit::raise();
    let config = serve_config(store, args);
    let warnings = config.warnings(&nidan::web::own_paths().to_string());
    let app = App::spawn(config, Arc::new(SystemClock)).await?;
    match raised {
        Ok((before, after)) if after > before => {
            tracing::info!(before, after, "open-file limit raised to the hard limit");
        }
        Ok((_, limit)) => tracing::info!(limit, "open-file limit"),
        Err(error) => tracing::warn!(%error, "could not raise the open-file limit"),
    }
    for warning in warnings {
        tracing::warn!("{warning}");
    }
    tracing::info!(url = %app.public_url, "nidan is serving");
    if let Some(addr) = app.metrics_addr {
        tracing::info!(metrics = %format!("http://{addr}/metrics"), "metrics served apart");
    }
    if let Some(url) = &app.setup_url {
        tracing::info!("no account yet: open the setup link printed on stderr");
        eprintln!("\nCreate the first administrator at:\n\n    {url}\n");
    }
    shutdown_signal().await;
    tracing::info!("shutting down: finishing requests in flight");
    let open = app.open_connections();
    match tokio::time::timeout(shutdown_timeout, app.stop()).await {
        Ok(stopped) => stopped.context("server stopped with an error")?,
        Err(_) => {
            // An unclean stop is not a success: the supervisor and the operator hear of it.
            let cut = open.count();
            tracing::error!(
                cut,
                "shutdown deadline passed: requests still in flight were cut"
            );
            bail!(
                "the shutdown deadline ({}) cut {cut} request{} still in flight",
                humantime::format_duration(shutdown_timeout),
                if cut == 1 { "" } else { "s" }
            );
        }
    }
    tracing::info!("stopped");
    Ok(())
}

/// What `serve` runs with, from its flags (and their variables and the file).
fn serve_config(store: StoreArgs, args: ServeArgs) -> Config {
    let min_password_chars = usize::from(store.min_password_length);
    let mut config = Config::new(store.data_dir);
    config.database_url = store.database_url;
    config.listen = args.listen;
    config.public_url = args.public_url;
    config.cookie_domain = args.cookie_domain;
    config.upstreams = args.upstreams;
    config.allowed_redirect_domains = args.allowed_redirect_domains;
    config.access = nidan::auth::access::AccessRules {
        rules: args.access_rules,
        require_two_step: args.require_two_step,
    };
    config.db = nidan::store::DbSettings {
        max_connections: args.db_max_connections.max(1),
        statement_timeout: args.db_statement_timeout,
    };
    config.secret_key = std::env::var("NIDAN_SECRET_KEY")
        .ok()
        .map(SecretString::from);
    config.trusted_proxies = args.trusted_proxies;
    config.audit_retention = args.audit_retention;
    config.smtp_url = args.mail.smtp_url.map(SecretString::from);
    config.smtp_from = args.mail.smtp_from;
    config.metrics_listen = args.metrics_listen;
    config.pages_prefix = args.pages_prefix.unwrap_or_default();
    config.connections = nidan::listener::ConnectionLimits {
        header_read_timeout: args.header_read_timeout,
        max_connections: args.max_connections as usize,
        max_per_client: args.max_connections_per_client as usize,
        ..Default::default()
    };
    config.policy = AuthPolicy {
        session_idle_timeout: args.session_idle_timeout.as_secs() as i64,
        session_lifetime: args.session_lifetime.as_secs() as i64,
        hash_concurrency: args.hash_concurrency.map(usize::from),
        totp_issuer: args.totp_issuer,
        min_password_chars,
        ..AuthPolicy::default()
    };
    config
}

/// `nidan config check`: everything `serve` would refuse is refused here too; the
/// effective values are printed as a TOML file would hold them, with their sources.
fn config_check(
    store: StoreArgs,
    args: ServeArgs,
    matches: &ArgMatches,
    file: Option<&ConfigFile>,
) -> anyhow::Result<()> {
    let config = serve_config(store, args);
    config.check()?;
    if let Some(url) = &config.smtp_url {
        use secrecy::ExposeSecret;
        nidan::mail::SmtpNotifier::new(url.expose_secret(), &config.smtp_from)?;
    }
    let check = matches
        .subcommand_matches("config")
        .and_then(|m| m.subcommand_matches("check"))
        .context("config check expected")?;
    let command = Cli::command();
    let check_command = command
        .find_subcommand("config")
        .and_then(|c| c.find_subcommand("check"))
        .context("config check expected")?;
    let args = command
        .get_arguments()
        .filter(|a| a.is_global_set())
        .chain(check_command.get_arguments());
    let mut out = std::io::stdout().lock();
    if let Some(file) = file {
        writeln!(out, "# configuration file: {}", file.path.display())?;
    }
    for arg in args {
        let (Some(long), id) = (arg.get_long(), arg.get_id().as_str()) else {
            continue;
        };
        if long == "config" {
            continue;
        }
        let source = match check.value_source(id) {
            Some(ValueSource::CommandLine) => "flag",
            Some(ValueSource::EnvVariable) => "environment",
            Some(ValueSource::DefaultValue)
                if file.is_some_and(|f| f.values.contains_key(long)) =>
            {
                "file"
            }
            Some(_) => "default",
            None => {
                writeln!(out, "# {long} (not set)")?;
                continue;
            }
        };
        let values: Vec<String> = check
            .get_raw(id)
            .into_iter()
            .flatten()
            .map(|v| {
                let v = v.to_string_lossy();
                let shown = if matches!(long, "database-url" | "smtp-url") {
                    redact_url(&v)
                } else {
                    v.into_owned()
                };
                format!("{shown:?}")
            })
            .collect();
        let repeatable = matches!(arg.get_action(), clap::ArgAction::Append);
        let value = match values.as_slice() {
            [one] if !repeatable => one.clone(),
            many => format!("[{}]", many.join(", ")),
        };
        writeln!(out, "{long} = {value}  # {source}")?;
    }
    let key_source = if config.secret_key.is_some() {
        "NIDAN_SECRET_KEY".to_owned()
    } else {
        config.data_dir.join("secret.key").display().to_string()
    };
    writeln!(out, "# server key: from {key_source} (not shown)")?;
    writeln!(out, "# the configuration is valid")?;
    for warning in config.warnings(&nidan::web::own_paths().to_string()) {
        eprintln!("warning: {warning}");
    }
    Ok(())
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}

/// The configuration every command shares: where the data and the key are.
fn store_config(store: StoreArgs) -> Config {
    let mut config = Config::new(store.data_dir);
    config.database_url = store.database_url;
    config.policy.min_password_chars = usize::from(store.min_password_length);
    config.secret_key = std::env::var("NIDAN_SECRET_KEY")
        .ok()
        .map(SecretString::from);
    config
}

/// `user invite`: the link on standard output, and by email when SMTP is set.
fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}://***{}", &url[..scheme], &url[at..])
        }
        _ => url.to_owned(),
    }
}

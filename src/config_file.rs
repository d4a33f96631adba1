//! `--config nidan.toml`: every `serve` flag (and `--data-dir`, `--database-url`) has a key
//! of the same name. The file's values become the flags' defaults, so that a flag beats
//! its `NIDAN_*` variable, which beats the file, which beats the built-in default.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use clap::Command;

/// The subcommands whose flags the file sets: `serve` and `config check` (same flags), and
/// `user invite` (its link's public URL and prefix, and the mail settings).
const TARGETS: [&[&str]; 3] = [&["serve"], &["config", "check"], &["user", "invite"]];

#[derive(Debug, thiserror::Error)]
pub enum ConfigFileError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} line {line} is not valid TOML: {message}")]
    Syntax {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error(
        "{path}: unknown key {key:?}{hint} (the keys are the flags of `nidan serve`, e.g. listen, public-url)"
    )]
    UnknownKey {
        path: PathBuf,
        key: String,
        /// `; did you mean "…"?` when a key is close.
        hint: String,
    },
    #[error("{path} line {line}: {key} must be a string, number, boolean or a list of them")]
    BadValue {
        path: PathBuf,
        line: usize,
        key: String,
    },
}

/// The file's settings: flag name → its values (more than one for repeatable flags).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigFile {
    pub path: PathBuf,
    pub values: BTreeMap<String, Vec<String>>,
    /// The line each key is on, for messages about its value.
    pub lines: BTreeMap<String, usize>,
}

impl ConfigFile {
    pub fn load(path: &Path) -> Result<Self, ConfigFileError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigFileError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(path, &text)
    }

    pub fn parse(path: &Path, text: &str) -> Result<Self, ConfigFileError> {
        let line_of = |offset: usize| {
            1 + text.as_bytes()[..offset.min(text.len())]
                .iter()
                .filter(|b| **b == b'\n')
                .count()
        };
        let table: BTreeMap<toml::Spanned<String>, toml::Value> =
            toml::from_str(text).map_err(|e: toml::de::Error| ConfigFileError::Syntax {
                path: path.to_owned(),
                line: line_of(e.span().map_or(0, |s| s.start)),
                message: e.message().trim_end().replace('\n', "; "),
            })?;
        let mut values = BTreeMap::new();
        let mut lines = BTreeMap::new();
        for (key, value) in table {
            let line = line_of(key.span().start);
            let key = key.into_inner();
            let bad = || ConfigFileError::BadValue {
                path: path.to_owned(),
                line,
                key: key.clone(),
            };
            let list = match value {
                toml::Value::Array(items) => items
                    .into_iter()
                    .map(|v| scalar(v).ok_or_else(bad))
                    .collect::<Result<Vec<_>, _>>()?,
                other => vec![scalar(other).ok_or_else(bad)?],
            };
            let key = key.replace('_', "-");
            lines.insert(key.clone(), line);
            values.insert(key, list);
        }
        Ok(Self {
            path: path.to_owned(),
            values,
            lines,
        })
    }

    /// A flag's value refused by its parser, said as the file's line and key when the value
    /// came from this file; `None` when the error is about something else.
    pub fn explain(&self, error: &clap::Error) -> Option<String> {
        use clap::error::{ContextKind, ContextValue};
        let Some(ContextValue::String(arg)) = error.get(ContextKind::InvalidArg) else {
            return None;
        };
        // "--listen <LISTEN>"
        let key = arg.strip_prefix("--")?.split(' ').next()?;
        let line = self.lines.get(key)?;
        let value = match error.get(ContextKind::InvalidValue) {
            Some(ContextValue::String(v)) => v.clone(),
            _ => return None,
        };
        let reason = match std::error::Error::source(error) {
            Some(source) => source.to_string(),
            None => match error.get(ContextKind::ValidValue) {
                Some(ContextValue::Strings(valid)) => {
                    format!("must be one of {}", valid.join(", "))
                }
                _ => "not a valid value".to_owned(),
            },
        };
        Some(format!(
            "{} line {line}: {key} = {value:?}: {reason}",
            self.path.display()
        ))
    }

    /// The command with the file's values as defaults; a key no flag has is an error.
    pub fn apply(&self, mut command: Command) -> Result<Command, ConfigFileError> {
        for (key, values) in &self.values {
            let defaults: Vec<clap::builder::OsStr> = values
                .iter()
                .map(|v| clap::builder::Str::from(v.clone()).into())
                .collect();
            let mut found = false;
            if let Some(id) = flag_id(&command, key).filter(|_| key != "config") {
                command = command.mut_arg(id, |a| a.default_values(defaults.clone()));
                found = true;
            }
            for path in TARGETS {
                if let Some(id) = sub(&command, path).and_then(|c| flag_id(c, key)) {
                    command = mut_sub(command, path, |c| {
                        c.mut_arg(id, |a| a.default_values(defaults.clone()))
                    });
                    found = true;
                }
            }
            if !found {
                return Err(ConfigFileError::UnknownKey {
                    path: self.path.clone(),
                    key: key.clone(),
                    hint: closest_key(&command, key)
                        .map(|k| format!("; did you mean {k:?}?"))
                        .unwrap_or_default(),
                });
            }
        }
        Ok(command)
    }
}

fn scalar(value: toml::Value) -> Option<String> {
    match value {
        toml::Value::String(s) => Some(s),
        toml::Value::Integer(i) => Some(i.to_string()),
        toml::Value::Float(f) => Some(f.to_string()),
        toml::Value::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The id of the argument behind `--key`, if `command` has one.
/// The flag name nearest to a mistyped key (`trusted-proxies` → `trusted-proxy`), if any is
/// near enough to be a typo.
fn closest_key(command: &Command, key: &str) -> Option<String> {
    std::iter::once(command)
        .chain(TARGETS.iter().filter_map(|path| sub(command, path)))
        .flat_map(|c| c.get_arguments().filter_map(|a| a.get_long()))
        .filter(|long| *long != "config")
        .map(|long| (strsim::jaro_winkler(key, long), long))
        .filter(|(score, _)| *score > 0.85)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, long)| long.to_owned())
}

fn flag_id(command: &Command, key: &str) -> Option<String> {
    command
        .get_arguments()
        .find(|a| a.get_long() == Some(key))
        .map(|a| a.get_id().as_str().to_owned())
}

fn sub<'a>(command: &'a Command, path: &[&str]) -> Option<&'a Command> {
    path.iter()
        .try_fold(command, |c, name| c.find_subcommand(name))
}

fn mut_sub(command: Command, path: &[&str], f: impl FnOnce(Command) -> Command) -> Command {
    match path {
        [] => f(command),
        [first, rest @ ..] => command.mut_subcommand(*first, |c| mut_sub(c, rest, f)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, FromArgMatches};

    use crate::cli::{Cli, Command as Sub};

    fn serve_args(file: &str, argv: &[&str]) -> Result<crate::cli::ServeArgs, String> {
        let file = ConfigFile::parse(Path::new("nidan.toml"), file).map_err(|e| e.to_string())?;
        let command = file.apply(Cli::command()).map_err(|e| e.to_string())?;
        let matches = command
            .try_get_matches_from(argv)
            .map_err(|e| e.to_string())?;
        match Cli::from_arg_matches(&matches)
            .map_err(|e| e.to_string())?
            .command
        {
            Sub::Serve(args) => Ok(args),
            _ => Err("not serve".into()),
        }
    }

    #[test]
    fn the_file_sets_defaults_and_a_flag_wins() {
        let file = r#"
            listen = "127.0.0.1:9000"
            session_idle_timeout = "1h"
            allowed-redirect-domain = ["a.example", "b.example"]
            require-2fa = true
            db-max-connections = 3
        "#;
        let args = serve_args(file, &["nidan", "serve"]).unwrap();
        assert_eq!(args.listen.port(), 9000);
        assert_eq!(args.session_idle_timeout.as_secs(), 3600);
        assert_eq!(args.allowed_redirect_domains, ["a.example", "b.example"]);
        assert!(args.require_two_step);
        assert_eq!(args.db_max_connections, 3);
        let flagged = serve_args(file, &["nidan", "serve", "--listen", "127.0.0.1:9001"]).unwrap();
        assert_eq!(flagged.listen.port(), 9001);
        assert_eq!(
            flagged.session_lifetime.as_secs(),
            7 * 86400,
            "the built-in default"
        );
    }

    #[test]
    fn bad_files_are_refused_with_the_reason() {
        let unknown = serve_args("lisen = \"x\"", &["nidan", "serve"]).unwrap_err();
        assert!(
            unknown.contains("unknown key \"lisen\"; did you mean \"listen\"?"),
            "{unknown}"
        );
        let plural =
            serve_args("trusted-proxies = [\"127.0.0.1\"]", &["nidan", "serve"]).unwrap_err();
        assert!(
            plural.contains("did you mean \"trusted-proxy\"?"),
            "{plural}"
        );
        let far = serve_args("colour = \"blue\"", &["nidan", "serve"]).unwrap_err();
        assert!(!far.contains("did you mean"), "{far}");
        let syntax = serve_args("listen = ", &["nidan", "serve"]).unwrap_err();
        assert!(syntax.contains("not valid TOML"), "{syntax}");
        let table = serve_args("[listen]\na = 1", &["nidan", "serve"]).unwrap_err();
        assert!(table.contains("listen must be"), "{table}");
        let value = serve_args("listen = \"nowhere\"", &["nidan", "serve"]).unwrap_err();
        assert!(value.contains("nowhere"), "{value}");
        let config = serve_args("config = \"other.toml\"", &["nidan", "serve"]).unwrap_err();
        assert!(config.contains("unknown key"), "{config}");
    }
}

//! `--config FILE`: the flags of `serve` (and `demo`) in a TOML file, one
//! key per flag, named as the flag without its dashes (`database-url`,
//! `chat-rate`; `_` works for `-`).
//!
//! The file is turned into flags and parsed by the same clap definitions
//! as the command line, so a key means exactly what its flag means and is
//! checked the same way. Precedence: a flag on the command line, then its
//! environment variable, then the file, then the default: a key whose
//! flag came from the command line or the environment is not applied.
//! Unknown keys are an error naming the key, the file and the line.

use std::ffi::OsString;
use std::fmt::Write as _;
use std::path::Path;

use clap::parser::ValueSource;
use clap::{Arg, ArgAction, ArgMatches, Command};

/// Flags that are not keys: the file itself and clap's own.
const NOT_KEYS: &[&str] = &["config", "help", "version"];

/// The subcommands that read `--config`.
pub const WITH_CONFIG: &[&str] = &["serve", "demo"];

/// The flags `file` (read from `path`) adds to a command line whose
/// matches are `matches`: `sub` is the subcommand's definition and `root`
/// the binary's (for its global flags, `log-level` and `log-format`).
pub fn flags_from_file(
    root: &Command,
    sub: &Command,
    matches: &ArgMatches,
    path: &Path,
    text: &str,
) -> Result<Vec<OsString>, String> {
    let shown = path.display();
    let doc = toml_edit::Document::parse(text.to_string())
        .map_err(|e| format!("{shown}: not TOML: {e}"))?;
    let mut out = Vec::new();
    for (name, item) in doc.as_table().iter() {
        let line = doc
            .as_table()
            .get_key_value(name)
            .and_then(|(k, _)| k.span())
            .map_or(0, |s| text[..s.start].matches('\n').count() + 1);
        let at = format!("{shown}:{line}");
        let key = name.replace('_', "-");
        let Some(arg) = find_arg(root, sub, &key) else {
            return Err(format!(
                "{at}: unknown key `{name}` (not a flag of `livescore {}`; `livescore config example` lists them)",
                sub.get_name()
            ));
        };
        let id = arg.get_id().as_str();
        if matches!(
            matches.value_source(id),
            Some(ValueSource::CommandLine | ValueSource::EnvVariable)
        ) {
            continue;
        }
        let value = item
            .as_value()
            .ok_or_else(|| format!("{at}: `{name}` must be a value, not a table"))?;
        out.extend(flag_values(arg, &key, value).map_err(|e| format!("{at}: `{name}`: {e}"))?);
    }
    Ok(out)
}

fn find_arg<'a>(root: &'a Command, sub: &'a Command, key: &str) -> Option<&'a Arg> {
    if NOT_KEYS.contains(&key) {
        return None;
    }
    sub.get_arguments()
        .chain(root.get_arguments().filter(|a| a.is_global_set()))
        .find(|a| {
            a.get_long() == Some(key) || a.get_all_aliases().is_some_and(|all| all.contains(&key))
        })
}

/// One key's value as flags.
fn flag_values(arg: &Arg, key: &str, value: &toml_edit::Value) -> Result<Vec<OsString>, String> {
    use toml_edit::Value as V;
    let switch = matches!(arg.get_action(), ArgAction::SetTrue);
    let scalar = |v: &V| -> Result<String, String> {
        match v {
            V::String(s) => Ok(s.value().clone()),
            V::Integer(i) => Ok(i.value().to_string()),
            V::Float(f) => Ok(f.value().to_string()),
            V::Boolean(b) => Ok(b.value().to_string()),
            V::Datetime(d) => Ok(d.value().to_string()),
            V::Array(_) | V::InlineTable(_) => Err("a list or table inside a list".into()),
        }
    };
    if switch {
        return match value {
            V::Boolean(b) if *b.value() => Ok(vec![format!("--{key}").into()]),
            V::Boolean(_) => Ok(Vec::new()),
            _ => Err("true or false".into()),
        };
    }
    match value {
        V::Array(items) => {
            let items = items.iter().map(scalar).collect::<Result<Vec<_>, _>>()?;
            if items.is_empty() {
                return Ok(Vec::new());
            }
            Ok(match arg.get_value_delimiter() {
                Some(d) => vec![format!("--{key}={}", items.join(&d.to_string())).into()],
                None => items
                    .into_iter()
                    .map(|v| format!("--{key}={v}").into())
                    .collect(),
            })
        }
        V::InlineTable(_) => Err("a value, not a table".into()),
        v => Ok(vec![format!("--{key}={}", scalar(v)?).into()]),
    }
}

/// A commented file with every key of `sub` (and the global ones), set to
/// its default, or commented out with an example when it has none: what
/// `livescore config example` prints, valid as it stands.
pub fn example(root: &Command, sub: &Command) -> String {
    let mut out = String::from(
        "# livescore configuration (`livescore serve --config FILE`).\n\
         # Every key is a flag of `livescore serve` without its dashes.\n\
         # A flag on the command line or its environment variable beats the file.\n",
    );
    let args = root
        .get_arguments()
        .filter(|a| a.is_global_set())
        .chain(sub.get_arguments());
    for arg in args {
        let Some(key) = arg.get_long() else { continue };
        if NOT_KEYS.contains(&key) || arg.is_hide_set() {
            continue;
        }
        let help = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
        let (what, example) = match help.split_once("Example: ") {
            Some((w, e)) => (w.trim(), Some(e.trim())),
            None => (help.trim(), None),
        };
        out.push('\n');
        for line in wrap(what, 76) {
            let _ = writeln!(out, "# {line}");
        }
        if let Some(env) = arg.get_env() {
            let _ = writeln!(out, "# env: {}", env.to_string_lossy());
        }
        let defaults = arg.get_default_values();
        if matches!(arg.get_action(), ArgAction::SetTrue) {
            let _ = writeln!(out, "{key} = false");
        } else if let [default] = defaults {
            let _ = writeln!(out, "{key} = {}", toml_literal(&default.to_string_lossy()));
        } else {
            let shown = example
                .and_then(|e| e.strip_prefix(&format!("--{key}")))
                .map(|v| v.trim().trim_matches(|c| c == '\'' || c == '"'))
                // A shell command in the help's example is no value here.
                .map(|v| if v.starts_with("$(") { "…" } else { v })
                .unwrap_or("");
            let _ = writeln!(out, "# {key} = {}", toml_literal(shown));
        }
    }
    out
}

/// A default as TOML: a number stays a number, anything else a string.
fn toml_literal(s: &str) -> String {
    if s.parse::<i64>().is_ok() || (s.parse::<f64>().is_ok_and(f64::is_finite) && s.contains('.')) {
        s.to_string()
    } else {
        toml_edit::Value::from(s).to_string().trim().to_string()
    }
}

fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.len() + 1 + word.len() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

/// Parses `argv` by `root` (the binary's command, or one with the
/// environment switched off) with the file named by `--config` (serve,
/// demo) read into it: its keys become flags after those given, skipped
/// where the command line or the environment already set the flag.
/// Returns the parsed command line and the flags the file gave (none
/// without a file).
pub fn parse_with_file(
    root: &Command,
    argv: &[OsString],
) -> Result<(crate::cli::Cli, Vec<OsString>), String> {
    use clap::FromArgMatches;
    let rendered = |e: clap::Error| e.render().to_string().trim().to_string();
    let matches = root.clone().try_get_matches_from(argv).map_err(rendered)?;
    let mut flags = Vec::new();
    let mut full = matches;
    if let Some((name, sub)) = full.subcommand() {
        if let (true, Some(path)) = (
            WITH_CONFIG.contains(&name),
            sub.get_one::<std::path::PathBuf>("config"),
        ) {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("--config {}: {e}", path.display()))?;
            let sub_cmd = root.find_subcommand(name).expect("a parsed subcommand");
            flags = flags_from_file(root, sub_cmd, sub, path, &text)?;
            let mut with_file = argv.to_vec();
            with_file.extend(flags.iter().cloned());
            let shown = path.display().to_string();
            full = root
                .clone()
                .try_get_matches_from(&with_file)
                .map_err(|e| format!("a value in {shown} is not accepted: {}", rendered(e)))?;
        }
    }
    let cli = crate::cli::Cli::from_arg_matches(&full).map_err(rendered)?;
    Ok((cli, flags))
}

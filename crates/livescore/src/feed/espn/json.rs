//! Reading fields out of ESPN's JSON: typed lookups by path whose errors
//! say what was found, and the caps on what is echoed or kept.

use serde_json::{Map, Value};

/// Longest value echoed back in an error, in characters (see scorestrip).
pub(super) const MAX_SHOWN_CHARS: usize = 40;

/// Longest extra text kept (a last play can be a paragraph); a hostile
/// feed cannot make every game event huge.
pub(super) const MAX_EXTRA_CHARS: usize = 300;

/// A value quoted and cut to [`MAX_SHOWN_CHARS`], for error messages.
pub(super) fn shown(value: &Value) -> String {
    let text = match value {
        Value::String(s) => format!("{s:?}"),
        other => other.to_string(),
    };
    let cut: String = text.chars().take(MAX_SHOWN_CHARS).collect();
    if cut.len() < text.len() {
        format!("{cut}…")
    } else {
        cut
    }
}

/// The value at `path` under `obj`, if every step is an object key.
pub(super) fn at<'v>(obj: &'v Map<String, Value>, path: &[&str]) -> Option<&'v Value> {
    let (first, rest) = path.split_first()?;
    rest.iter()
        .try_fold(obj.get(*first)?, |v, key| v.as_object()?.get(*key))
}

/// An unsigned integer at `path` (JSON number, integral, in range).
pub(super) fn uint<T: TryFrom<u64>>(obj: &Map<String, Value>, path: &[&str]) -> Result<T, String> {
    let value = at(obj, path).ok_or("is missing")?;
    value
        .as_u64()
        .and_then(|n| T::try_from(n).ok())
        .ok_or_else(|| format!("is not a whole number in range: {}", shown(value)))
}

/// A non-empty string at `path`.
pub(super) fn text<'v>(obj: &'v Map<String, Value>, path: &[&str]) -> Result<&'v str, String> {
    match at(obj, path) {
        None => Err("is missing".into()),
        Some(Value::String(s)) if s.is_empty() => Err("is empty".into()),
        Some(Value::String(s)) => Ok(s),
        Some(other) => Err(format!("is not a string: {}", shown(other))),
    }
}

/// An extra fact (a name, a venue): taken when it is a non-empty string,
/// skipped otherwise. Extras never reject a document: a scoreboard without
/// a venue is still right, one without a score is not.
pub(super) fn extra(obj: &Map<String, Value>, path: &[&str]) -> Option<String> {
    text(obj, path)
        .ok()
        .map(|s| s.chars().take(MAX_EXTRA_CHARS).collect())
}

/// `value`, cut for an error message.
pub(super) fn cut(value: &str) -> String {
    value.chars().take(MAX_SHOWN_CHARS).collect()
}

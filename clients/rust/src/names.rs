//! Typed helpers for AIP resource names.

/// `organizations/{id}`.
pub fn organization(id: &str) -> String {
    format!("organizations/{id}")
}

/// `models/{id}`.
pub fn model(id: &str) -> String {
    format!("models/{id}")
}

/// `models/{model}/releases/{release}`.
pub fn release(model: &str, release: &str) -> String {
    format!("models/{model}/releases/{release}")
}

/// `benchmarks/{id}`.
pub fn benchmark(id: &str) -> String {
    format!("benchmarks/{id}")
}

/// `benchmarkResults/{id}`.
pub fn benchmark_result(id: &str) -> String {
    format!("benchmarkResults/{id}")
}

/// `disclosures/{id}`.
pub fn disclosure(id: &str) -> String {
    format!("disclosures/{id}")
}

/// `indicators/{id}`.
pub fn indicator(id: &str) -> String {
    format!("indicators/{id}")
}

/// The id (last segment) of a resource name.
pub fn id_of(name: &str) -> &str {
    name.rsplit('/').next().unwrap_or(name)
}

/// Turns free text into a resource id: lowercase ASCII letters and digits,
/// other runs of characters folded to one hyphen, starting with a letter,
/// at most 63 characters. `"Google DeepMind "` becomes `google-deepmind`.
/// Signs that tell names apart are spelled out: `HumanEval+` becomes
/// `humaneval-plus`, `<128k` becomes `lt-128k`. Returns `None` when nothing
/// usable is left.
pub fn slug(text: &str) -> Option<String> {
    let spelled = text
        .trim()
        .replace('+', " plus ")
        .replace('<', " lt ")
        .replace('>', " gt ")
        .replace('&', " and ")
        .replace('%', " pct ");
    let mut out = String::new();
    let mut hyphen = false;
    for c in spelled.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            if hyphen && !out.is_empty() {
                out.push('-');
            }
            hyphen = false;
            out.push(c);
        } else {
            hyphen = true;
        }
    }
    if out.is_empty() {
        return None;
    }
    if !out.as_bytes()[0].is_ascii_lowercase() {
        out.insert_str(0, "x-");
    }
    out.truncate(63);
    while out.ends_with('-') {
        out.pop();
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_valid_ids() {
        assert_eq!(
            slug(" Google DeepMind \n").as_deref(),
            Some("google-deepmind")
        );
        assert_eq!(
            slug("GPT-4o (2024-05-13)").as_deref(),
            Some("gpt-4o-2024-05-13")
        );
        assert_eq!(slug("3.5 Sonnet").as_deref(), Some("x-3-5-sonnet"));
        assert_eq!(slug("!!!"), None);
        assert_eq!(slug("HumanEval+").as_deref(), Some("humaneval-plus"));
        assert_eq!(
            slug("graphwalks-bfs-<128k").as_deref(),
            Some("graphwalks-bfs-lt-128k")
        );
        assert!(slug(&"a".repeat(100)).is_some_and(|s| s.len() == 63));
        assert_eq!(release("grok", "grok-4"), "models/grok/releases/grok-4");
        assert_eq!(id_of("models/grok/releases/grok-4"), "grok-4");
    }
}

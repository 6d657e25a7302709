//! Field-level validation failures, gathered so one response names every bad field at once.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::RangeInclusive;

/// Failed fields and why, e.g. `title` → `must be 1 to 200 characters`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldErrors(BTreeMap<String, String>);

impl FieldErrors {
    pub fn single(field: impl Into<String>, problem: impl Into<String>) -> Self {
        let mut errors = Self::default();
        errors.add(field, problem);
        errors
    }

    pub fn add(&mut self, field: impl Into<String>, problem: impl Into<String>) {
        self.0.entry(field.into()).or_insert_with(|| problem.into());
    }

    /// Keeps the value of a passed rule, records the problem of a failed one.
    pub fn check<T>(&mut self, field: &str, result: Result<T, &'static str>) -> Option<T> {
        result.map_err(|problem| self.add(field, problem)).ok()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(f, p)| (f.as_str(), p.as_str()))
    }
}

impl fmt::Display for FieldErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (field, problem)) in self.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{field} {problem}")?;
        }
        Ok(())
    }
}

/// A field the request must carry.
pub fn required<T>(value: Option<T>) -> Result<T, &'static str> {
    value.ok_or("is required")
}

/// Trims `raw` and checks its length in characters against `chars`, answering `problem` when it
/// is out of range. PostgreSQL text cannot hold NUL, so NUL is refused here, not in the database.
pub fn trimmed_text<'a>(
    raw: &'a str,
    chars: RangeInclusive<usize>,
    problem: &'static str,
) -> Result<&'a str, &'static str> {
    let text = raw.trim();
    if text.contains('\0') {
        return Err("must not contain NUL characters");
    }
    if !chars.contains(&text.chars().count()) {
        return Err(problem);
    }
    Ok(text)
}

/// Optional text: absent, `null` or blank means none; else trimmed, at most `max` characters.
pub fn optional_text(
    raw: Option<&str>,
    max: usize,
    problem: &'static str,
) -> Result<Option<String>, &'static str> {
    match raw.map(str::trim) {
        None | Some("") => Ok(None),
        Some(text) => Ok(Some(trimmed_text(text, 1..=max, problem)?.to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_every_failed_field_in_a_stable_order() {
        let mut errors = FieldErrors::default();
        errors.add("title", "must be 1 to 200 characters");
        errors.add("description", "must be at most 1000 characters");
        assert_eq!(
            errors.to_string(),
            "description must be at most 1000 characters; title must be 1 to 200 characters"
        );
    }

    #[test]
    fn the_first_problem_of_a_field_is_kept() {
        let mut errors = FieldErrors::single("email", "is required");
        errors.add("email", "is too long");
        assert_eq!(errors.to_string(), "email is required");
    }

    #[test]
    fn optional_text_is_none_when_absent_or_blank() {
        assert_eq!(optional_text(None, 3, "bad"), Ok(None));
        assert_eq!(optional_text(Some(" \t "), 3, "bad"), Ok(None));
        assert_eq!(optional_text(Some(" ab "), 3, "bad"), Ok(Some("ab".into())));
        assert_eq!(optional_text(Some("abcd"), 3, "bad"), Err("bad"));
        assert_eq!(
            optional_text(Some("a\0"), 3, "bad"),
            Err("must not contain NUL characters")
        );
    }

    #[test]
    fn text_is_trimmed_and_nul_is_refused() {
        assert_eq!(trimmed_text("  a b \n", 1..=3, "bad"), Ok("a b"));
        assert_eq!(trimmed_text("abcd", 1..=3, "bad"), Err("bad"));
        assert_eq!(trimmed_text("   ", 1..=3, "bad"), Err("bad"));
        assert_eq!(trimmed_text("ééé", 1..=3, "bad"), Ok("ééé"));
        assert_eq!(
            trimmed_text("a\0b", 1..=3, "bad"),
            Err("must not contain NUL characters")
        );
    }
}

//! Task fields whose only constructors enforce the contract's rules.

use crate::validation::{optional_text, trimmed_text};

/// A trimmed title of 1 to 200 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskTitle(String);

impl TaskTitle {
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        Ok(Self(
            trimmed_text(raw, 1..=200, "must be 1 to 200 characters")?.to_owned(),
        ))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// At most 1000 characters; `null`, `""` (or only whitespace) mean no description.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TaskDescription(Option<String>);

impl TaskDescription {
    pub fn parse(raw: Option<&str>) -> Result<Self, &'static str> {
        optional_text(raw, 1000, "must be at most 1000 characters").map(Self)
    }

    pub fn as_deref(&self) -> Option<&str> {
        self.0.as_deref()
    }
}

/// A task id from the path. Anything that is not a positive integer names no task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskId(i64);

impl TaskId {
    pub fn parse(raw: &str) -> Option<Self> {
        if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        raw.parse().ok().filter(|id| *id > 0).map(Self)
    }

    pub fn get(self) -> i64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_are_trimmed_and_hold_1_to_200_characters() {
        assert_eq!(
            TaskTitle::parse("  Buy milk \n").unwrap().as_str(),
            "Buy milk"
        );
        assert!(TaskTitle::parse(&"é".repeat(200)).is_ok());
        for bad in ["", "   ", "\t\n"] {
            assert_eq!(TaskTitle::parse(bad), Err("must be 1 to 200 characters"));
        }
        assert_eq!(
            TaskTitle::parse(&"t".repeat(201)),
            Err("must be 1 to 200 characters")
        );
        assert_eq!(
            TaskTitle::parse("a\0b"),
            Err("must not contain NUL characters")
        );
    }

    #[test]
    fn empty_or_null_descriptions_mean_none() {
        assert_eq!(TaskDescription::parse(None).unwrap().as_deref(), None);
        assert_eq!(TaskDescription::parse(Some("")).unwrap().as_deref(), None);
        assert_eq!(TaskDescription::parse(Some("  ")).unwrap().as_deref(), None);
        assert_eq!(
            TaskDescription::parse(Some(" notes ")).unwrap().as_deref(),
            Some("notes")
        );
        assert!(TaskDescription::parse(Some(&"d".repeat(1000))).is_ok());
        assert_eq!(
            TaskDescription::parse(Some(&"d".repeat(1001))),
            Err("must be at most 1000 characters")
        );
    }

    #[test]
    fn only_positive_decimal_integers_are_task_ids() {
        assert_eq!(TaskId::parse("42").map(TaskId::get), Some(42));
        assert_eq!(
            TaskId::parse("9223372036854775807").map(TaskId::get),
            Some(i64::MAX)
        );
        for bad in [
            "",
            "0",
            "-1",
            "+1",
            " 1",
            "1.0",
            "1e3",
            "abc",
            "9223372036854775808",
            "١٢",
        ] {
            assert_eq!(TaskId::parse(bad), None, "{bad:?}");
        }
    }
}

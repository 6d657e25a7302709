//! Account fields whose only constructors enforce the signup rules.

use secrecy::SecretString;

use crate::validation::{optional_text, trimmed_text};

/// A trimmed, lower-cased address with one `@` and a dotted domain, at most 254 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        const PROBLEM: &str = "must be a valid email address of at most 254 characters";
        let email = trimmed_text(raw, 3..=254, PROBLEM)?.to_lowercase();
        let (local, domain) = email.split_once('@').ok_or(PROBLEM)?;
        let labels_ok = domain.contains('.') && domain.split('.').all(|label| !label.is_empty());
        let clean = !email.chars().any(|c| c.is_whitespace() || c.is_control());
        if local.is_empty()
            || domain.contains('@')
            || !labels_ok
            || !clean
            || email.chars().count() > 254
        {
            return Err(PROBLEM);
        }
        Ok(Self(email))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A new password: at least 8 characters, at most 72 bytes (bcrypt's limit: never truncated).
pub struct NewPassword(SecretString);

impl NewPassword {
    pub fn parse(raw: String) -> Result<Self, &'static str> {
        if raw.chars().count() < 8 {
            return Err("must be at least 8 characters");
        }
        if raw.len() > 72 {
            return Err("must be at most 72 bytes in UTF-8");
        }
        if raw.contains('\0') {
            return Err("must not contain NUL characters");
        }
        Ok(Self(SecretString::from(raw)))
    }

    pub fn secret(&self) -> &SecretString {
        &self.0
    }
}

/// An optional display name: trimmed, at most 100 characters; blank means none.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DisplayName(Option<String>);

impl DisplayName {
    pub fn parse(raw: Option<&str>) -> Result<Self, &'static str> {
        optional_text(raw, 100, "must be at most 100 characters").map(Self)
    }

    pub fn as_deref(&self) -> Option<&str> {
        self.0.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_trimmed_and_lower_cased() {
        assert_eq!(
            Email::parse("  Ada@Example.COM ").unwrap().as_str(),
            "ada@example.com"
        );
        assert_eq!(
            Email::parse("ÉMILE@exämple.fr").unwrap().as_str(),
            "émile@exämple.fr"
        );
    }

    #[test]
    fn malformed_emails_are_refused() {
        let long = format!("{}@example.com", "a".repeat(243));
        for bad in [
            "",
            "   ",
            "ada",
            "@example.com",
            "ada@",
            "ada@example",
            "ada@@example.com",
            "a@b@example.com",
            "ada@example..com",
            "ada@.example.com",
            "ada@example.com.",
            "ada lovelace@example.com",
            "ada@exa\tmple.com",
            "ada\0@example.com",
            &long,
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} was accepted");
        }
        let longest = format!("{}@example.com", "a".repeat(242));
        assert_eq!(longest.len(), 254);
        assert!(Email::parse(&longest).is_ok());
    }

    #[test]
    fn passwords_need_8_characters_and_fit_in_72_bytes() {
        for (password, ok) in [
            ("1234567", false),
            ("12345678", true),
            ("ééééééé", false),
            ("éééééééé", true),
            (&"p".repeat(72), true),
            (&"p".repeat(73), false),
            (&"é".repeat(37), false), // 37 characters, 74 bytes
            ("abc\0defgh", false),
        ] {
            assert_eq!(
                NewPassword::parse(password.to_owned()).is_ok(),
                ok,
                "{password:?}"
            );
        }
    }

    #[test]
    fn names_are_optional_trimmed_and_bounded() {
        assert_eq!(DisplayName::parse(None).unwrap().as_deref(), None);
        assert_eq!(DisplayName::parse(Some("   ")).unwrap().as_deref(), None);
        assert_eq!(
            DisplayName::parse(Some(" Ada ")).unwrap().as_deref(),
            Some("Ada")
        );
        assert!(DisplayName::parse(Some(&"n".repeat(100))).is_ok());
        assert!(DisplayName::parse(Some(&"n".repeat(101))).is_err());
    }
}

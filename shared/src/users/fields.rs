//! Account fields whose only constructors enforce the signup rules.

use secrecy::{ExposeSecret, SecretString};
use unicode_normalization::UnicodeNormalization;
use zxcvbn::Score;

use crate::validation::{optional_text, trimmed_text};

/// A trimmed, NFC-normalised, lower-cased address with one `@` and a dotted domain, at most 254
/// characters. NFC: an address typed with a composed "é" and one with "e" + a combining accent
/// are one account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        const PROBLEM: &str = "must be a valid email address of at most 254 characters";
        let raw: String = raw.nfc().collect();
        let email = trimmed_text(&raw, 3..=254, PROBLEM)?.to_lowercase();
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

/// The longest new password, in characters as typed. bcrypt reads 72 bytes; longer ones are
/// pre-hashed (see `auth::password`), so any script gets at least 64 characters.
pub const MAX_PASSWORD_CHARS: usize = 256;

/// A new password (ASVS 5.0 V6, NIST SP 800-63B): NFKC-normalised, 8 to 256 characters in any
/// script, and hard to guess. zxcvbn estimates how many guesses it takes, with its embedded
/// lists of common and breached passwords, names and words, and the account's own email and
/// name as extra words; an estimate under 10^8 guesses (its score 0 to 2) is refused. Offline:
/// no password leaves the function. No composition rules: length and guessability only.
pub struct NewPassword(SecretString);

impl NewPassword {
    /// `context`: the account's email and name, which the password must not be built from.
    pub fn parse(raw: String, context: &[&str]) -> Result<Self, &'static str> {
        // Lengths hold both as typed (as the contract's schema counts) and normalised: NFKC
        // may make a string longer ("ﬁ" is "fi") or shorter (a composed accent).
        let typed = raw.chars().count();
        if typed > MAX_PASSWORD_CHARS {
            return Err("must be at most 256 characters");
        }
        let secret = SecretString::from(raw.nfkc().collect::<String>());
        // The typed form is wiped when dropped, as the secret will be.
        drop(SecretString::from(raw));
        let password = secret.expose_secret();
        if typed < 8 || password.chars().count() < 8 {
            return Err("must be at least 8 characters");
        }
        if password.contains('\0') {
            return Err("must not contain NUL characters");
        }
        if !hard_to_guess(password, context) {
            return Err(
                "is too easy to guess: avoid common passwords, names, dates and \
                        anything from your email; a few unrelated words make a strong one",
            );
        }
        Ok(Self(secret))
    }

    pub fn secret(&self) -> &SecretString {
        &self.0
    }
}

/// Whether zxcvbn puts `password` at 10^8 guesses or more (its score 3), with the context as
/// extra words, and still does once every context word (an email, its local part and domain
/// labels, a name's words) is cut out of it: "ada.lovelace1815" for ada.lovelace@... leaves
/// "1815". zxcvbn alone only knows a context word when it stands whole in the password.
fn hard_to_guess(password: &str, context: &[&str]) -> bool {
    let mut words: Vec<String> = Vec::new();
    for item in context {
        let item = item.to_lowercase();
        words.extend(
            item.split(['@', '.', '-', '_', '+', ' '])
                .filter(|w| w.chars().count() >= 3)
                .map(str::to_owned),
        );
        words.push(item);
    }
    // Longest first, so a whole email goes before its parts.
    words.sort_by_key(|w| std::cmp::Reverse(w.len()));
    let inputs: Vec<&str> = words.iter().map(String::as_str).collect();
    let mut rest = password.to_lowercase();
    for word in &words {
        rest = rest.replace(word.as_str(), "");
    }
    [password, rest.as_str()]
        .iter()
        .all(|candidate| zxcvbn::zxcvbn(candidate, &inputs).score() >= Score::Three)
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

    fn new_password(raw: &str, context: &[&str]) -> Result<String, &'static str> {
        NewPassword::parse(raw.to_owned(), context).map(|p| p.secret().expose_secret().to_owned())
    }

    #[test]
    fn passwords_are_8_to_256_characters_in_any_script() {
        let cjk = "鸟语花香春暖花开风和日丽万紫千红".repeat(4); // 64 characters, 192 bytes
        let cyrillic = "съешь же ещё этих мягких французских булок да выпей чаю"; // 55, 101 bytes
        for (password, ok) in [
            ("Zq8!vR2", false),
            ("Zq8!vR2#kd", true),
            (cjk.as_str(), true),
            (cyrillic, true),
            (&"Zq8!vR2#".repeat(32), true),
            (&"Zq8!vR2#".repeat(32).replacen('Z', "ZZ", 1), false),
            ("Zq8!v\0R2#x", false),
        ] {
            assert_eq!(new_password(password, &[]).is_ok(), ok, "{password:?}");
        }
    }

    #[test]
    fn common_breached_and_personal_passwords_are_refused() {
        for weak in [
            "password",
            "password123",
            "12345678",
            "qwertyuiop",
            "iloveyou1",
            "letmein!!",
            "P@ssw0rd!",
            "abcdefgh",
        ] {
            assert!(new_password(weak, &[]).is_err(), "{weak:?}");
        }
        let context = ["ada.lovelace@analytical.example", "Ada Lovelace"];
        for personal in [
            "adalovelace1815",
            "lovelace.analytical",
            "AdaLovelace!!",
            "ada.lovelace@analytical",
            "ADA.LOVELACE@ANALYTICAL.EXAMPLE",
        ] {
            assert!(new_password(personal, &context).is_err(), "{personal:?}");
        }
        for strong in [
            "correct horse battery",
            "purple-otter-kite-91",
            "Tr0ub4dor&3x",
        ] {
            assert!(new_password(strong, &context).is_ok(), "{strong:?}");
        }
    }

    #[test]
    fn passwords_and_emails_are_normalised() {
        // NFKC: full-width letters and a ligature are their plain forms.
        assert_eq!(
            new_password("ｃｏｒｒｅｃｔ horse ﬁrebattery", &[]).unwrap(),
            "correct horse firebattery"
        );
        // NFC: "e" + combining acute is "é".
        assert_eq!(
            Email::parse("e\u{301}mile@example.fr").unwrap(),
            Email::parse("\u{e9}mile@example.fr").unwrap()
        );
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

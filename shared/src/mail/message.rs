//! What each [`Mail`] says, as a proper message: `From`, `To`, `Subject`, `Date`, a `Message-ID`
//! in the sender's domain, and plain-text and HTML alternatives that both carry the link.

use lettre::Message;
use lettre::message::{Mailbox, MultiPart};
use uuid::Uuid;

use super::{Mail, MailKind};

/// The words of one message: subject, paragraphs before the link, the link, paragraphs after.
struct Words<'a> {
    subject: &'static str,
    before: Vec<String>,
    link: Option<(&'static str, &'a str)>,
    after: Vec<String>,
}

fn words(kind: &MailKind) -> Words<'_> {
    let ignore = "If you did not ask for this, you can ignore this message.".to_owned();
    match kind {
        MailKind::VerifyAddress { link } => Words {
            subject: "Confirm your email address",
            before: vec!["Confirm that this address is yours by opening the link below.".into()],
            link: Some(("Confirm my address", link)),
            after: vec!["The link works once, for 24 hours.".into(), ignore],
        },
        MailKind::ConfirmNewAddress { link } => Words {
            subject: "Confirm your new email address",
            before: vec![
                "Someone signed in to your todo account asked to use this address for it. \
                 Open the link below to confirm the change."
                    .into(),
            ],
            link: Some(("Use this address", link)),
            after: vec!["The link works once, for 24 hours.".into(), ignore],
        },
        MailKind::AddressChangeRequested { new_address } => Words {
            subject: "Your email address is about to change",
            before: vec![
                format!(
                    "Someone signed in to your todo account asked to change its address to \
                     {new_address}. It changes only when a link sent there is used."
                ),
                "If this was not you, change your password now: that ends every other session."
                    .into(),
            ],
            link: None,
            after: Vec::new(),
        },
        MailKind::ResetPassword { link } => Words {
            subject: "Reset your password",
            before: vec![
                "Someone asked to reset the password of the todo account with this address. \
                 Open the link below to choose a new one."
                    .into(),
            ],
            link: Some(("Choose a new password", link)),
            after: vec![
                "The link works once, for 30 minutes; a newer link replaces it.".into(),
                ignore,
            ],
        },
        MailKind::PasswordChanged => Words {
            subject: "Your password was changed",
            before: vec![
                "The password of your todo account was just reset, and every session of the \
                 account was ended."
                    .into(),
                "If this was not you, reset your password again right away from the sign-in page."
                    .into(),
            ],
            link: None,
            after: Vec::new(),
        },
    }
}

/// The message for `mail`, from `from`.
pub fn render(mail: &Mail, from: &Mailbox) -> Result<Message, lettre::error::Error> {
    let words = words(&mail.kind);
    let to: Mailbox = mail
        .to
        .parse()
        .map_err(|_| lettre::error::Error::MissingTo)?;
    let mut text = words.before.join("\n\n");
    let mut html = paragraphs(&words.before);
    if let Some((label, link)) = words.link {
        text.push_str(&format!("\n\n{link}"));
        html.push_str(&format!(
            "<p><a href=\"{0}\">{1}</a></p><p>Or paste this address into your browser:<br>{0}</p>",
            escape(link),
            escape(label)
        ));
    }
    if !words.after.is_empty() {
        text.push_str("\n\n");
        text.push_str(&words.after.join("\n\n"));
        html.push_str(&paragraphs(&words.after));
    }
    text.push('\n');
    let html = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{}</title></head>\
         <body>{html}</body></html>",
        escape(words.subject)
    );
    Message::builder()
        .from(from.clone())
        .to(to)
        .subject(words.subject)
        .date_now()
        .message_id(Some(format!(
            "<{}@{}>",
            Uuid::new_v4(),
            from.email.domain()
        )))
        .multipart(MultiPart::alternative_plain_html(text, html))
}

fn paragraphs(lines: &[String]) -> String {
    lines
        .iter()
        .map(|l| format!("<p>{}</p>", escape(l)))
        .collect()
}

/// Text as HTML: addresses and links come from people, and must stay text.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn formatted(kind: MailKind) -> String {
        let mail = Mail {
            to: "ada@example.com".into(),
            user: Uuid::nil(),
            kind,
        };
        let from: Mailbox = "Todo <no-reply@todo.example>".parse().unwrap();
        String::from_utf8(render(&mail, &from).unwrap().formatted()).unwrap()
    }

    #[test]
    fn a_reset_mail_carries_its_headers_and_the_link_in_both_parts() {
        let link = "https://app.example/reset-password?token=abc_DEF-123";
        let message = formatted(MailKind::ResetPassword { link: link.into() });
        for header in [
            "From: Todo <no-reply@todo.example>",
            "To: ada@example.com",
            "Subject: Reset your password",
            "Date: ",
            "Message-ID: <",
        ] {
            assert!(message.contains(header), "{header} missing in\n{message}");
        }
        assert!(message.contains("@todo.example>"), "{message}");
        assert!(message.contains("multipart/alternative"), "{message}");
        assert!(
            message.contains("text/plain") && message.contains("text/html"),
            "{message}"
        );
        // Both parts are quoted-printable (their lines run past 76 characters): undone here as
        // a mail reader does, for the two soft line breaks and `=` this text can hold.
        let decoded = message.replace("=\r\n", "").replace("=3D", "=");
        assert_eq!(
            decoded.matches(link).count(),
            3,
            "text, href and the pasted copy: {message}"
        );
    }

    #[test]
    fn an_address_in_a_notice_is_text_not_markup() {
        let message = formatted(MailKind::AddressChangeRequested {
            new_address: "<b>x</b>@example.com".into(),
        });
        assert!(
            message.contains("&lt;b&gt;x&lt;/b&gt;@example.com"),
            "{message}"
        );
        assert!(!message.contains("<b>x</b>@example.com</p>"), "{message}");
    }
}

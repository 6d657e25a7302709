//! How mail leaves: over SMTP (`SMTP_URL`, lettre) anywhere, or by Amazon SES v2 `SendEmail`
//! with the function's own role in AWS (no SMTP password to keep). Both send the same MIME
//! message.

use std::time::Duration;

use aws_sdk_sesv2::error::DisplayErrorContext;
use aws_sdk_sesv2::primitives::Blob;
use aws_sdk_sesv2::types::{Destination, EmailContent, RawMessage};
use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use reqwest::Url;

use crate::secrets;

/// How long one SMTP exchange may take before it is given up (and retried, see `deliver`).
const SMTP_TIMEOUT: Duration = Duration::from_secs(5);

/// Why the mail settings are unusable: names the variable, never a password.
#[derive(Debug, thiserror::Error)]
#[error("{name} is invalid: {problem}")]
pub struct MailConfigError {
    name: &'static str,
    problem: String,
}

pub enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Ses(aws_sdk_sesv2::Client),
}

/// The sender and the way out, from the environment: `EMAIL_FROM` (`Todo <no-reply@…>`), and
/// `SMTP_URL` when set, else SES (region and credentials the usual AWS way).
pub struct Sender {
    pub from: Mailbox,
    transport: Transport,
}

impl Sender {
    pub async fn from_env() -> Result<Self, MailConfigError> {
        let get = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let from = get("EMAIL_FROM").ok_or(MailConfigError {
            name: "EMAIL_FROM",
            problem: "is not set (the sender, e.g. `Todo <no-reply@example.com>`)".into(),
        })?;
        let from = from.trim().parse().map_err(|_| MailConfigError {
            name: "EMAIL_FROM",
            problem: "is not a mail address (`Name <address>` or `address`)".into(),
        })?;
        let transport = match get("SMTP_URL") {
            Some(url) => Transport::Smtp(smtp(url.trim())?),
            None => Transport::Ses(aws_sdk_sesv2::Client::new(
                &secrets::aws_config_from_env().await,
            )),
        };
        Ok(Self { from, transport })
    }

    pub fn new(from: Mailbox, transport: Transport) -> Self {
        Self { from, transport }
    }

    /// Hands one message over; the error says why not (never the message's content).
    pub async fn send(&self, message: &Message) -> Result<(), String> {
        match &self.transport {
            Transport::Smtp(smtp) => smtp
                .send(message.clone())
                .await
                .map(drop)
                .map_err(|e| format!("SMTP: {e}")),
            Transport::Ses(ses) => {
                let raw = RawMessage::builder()
                    .data(Blob::new(message.formatted()))
                    .build()
                    .map_err(|e| format!("SES: {e}"))?;
                let to = message.envelope().to().iter().map(ToString::to_string);
                ses.send_email()
                    .destination(
                        Destination::builder()
                            .set_to_addresses(Some(to.collect()))
                            .build(),
                    )
                    .content(EmailContent::builder().raw(raw).build())
                    .send()
                    .await
                    .map(drop)
                    .map_err(|e| format!("SES: {}", DisplayErrorContext(&e)))
            }
        }
    }
}

/// An SMTP transport for `url`: `smtps://host[:465]` (TLS from the start),
/// `smtp://host[:587]?tls=required` (STARTTLS), with `user:password@` when the server wants it;
/// plain `smtp://` only to this machine (a local inbox), where nothing crosses a network.
pub fn smtp(url: &str) -> Result<AsyncSmtpTransport<Tokio1Executor>, MailConfigError> {
    let invalid = |problem: &str| MailConfigError {
        name: "SMTP_URL",
        problem: problem.to_owned(),
    };
    let parsed = Url::parse(url).map_err(|_| invalid("not a URL (smtp://host:port)"))?;
    let host = parsed.host_str().unwrap_or_default();
    let tls_required = parsed
        .query_pairs()
        .any(|(key, value)| key == "tls" && value == "required");
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    match parsed.scheme() {
        "smtps" => {}
        "smtp" if tls_required || loopback => {}
        "smtp" => {
            return Err(invalid(
                "sends in plain text to another machine: use smtps://, or smtp://…?tls=required",
            ));
        }
        _ => return Err(invalid("must be an smtp:// or smtps:// URL")),
    }
    Ok(AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
        .map_err(|_| invalid("not an SMTP URL lettre understands"))?
        .timeout(Some(SMTP_TIMEOUT))
        .build())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_smtp_is_refused_beyond_this_machine() {
        assert!(smtp("smtp://127.0.0.1:1025").is_ok());
        assert!(smtp("smtp://localhost:1025").is_ok());
        assert!(smtp("smtps://mail.example.com").is_ok());
        assert!(smtp("smtp://mail.example.com:587?tls=required").is_ok());
        let refused = smtp("smtp://user:hunter2@mail.example.com:25")
            .err()
            .unwrap();
        assert!(refused.to_string().contains("plain text"), "{refused}");
        assert!(!refused.to_string().contains("hunter2"), "{refused}");
        assert!(smtp("http://mail.example.com").is_err());
    }
}

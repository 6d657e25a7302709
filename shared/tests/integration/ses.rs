//! Mail through Amazon SES v2 with the real SDK, against moto's server mode: `make test` starts
//! moto and points the SDK at it (`AWS_ENDPOINT_URL_SESV2`, dummy credentials). moto keeps what
//! it was sent, which its `/moto-api/data.json` shows.

use std::time::{Duration, SystemTime};

use aws_config::BehaviorVersion;
use shared::mail::deliver::send;
use shared::mail::{Mail, MailKind, Sender, Transport};
use shared::secrets;
use uuid::Uuid;

async fn emulator() -> (aws_sdk_sesv2::Client, String) {
    let endpoint = std::env::var("AWS_ENDPOINT_URL_SESV2")
        .expect("AWS_ENDPOINT_URL_SESV2 must point at an SES emulator (`make test` starts moto)");
    let config = secrets::aws_config_with(aws_config::defaults(BehaviorVersion::latest())).await;
    (aws_sdk_sesv2::Client::new(&config), endpoint)
}

/// A sending domain of this test's own, verified (moto verifies a domain identity at once).
async fn verified_sender(ses: &aws_sdk_sesv2::Client) -> String {
    let domain = format!("t{}.example", Uuid::new_v4().simple());
    ses.create_email_identity()
        .email_identity(&domain)
        .send()
        .await
        .unwrap();
    domain
}

/// The raw messages moto holds whose source is `from`.
async fn sent_from(endpoint: &str, from: &str) -> Vec<serde_json::Value> {
    let body = reqwest::get(format!("{endpoint}/moto-api/data.json"))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let data: serde_json::Value = serde_json::from_slice(&body).unwrap();
    data["ses"]["RawMessage"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|m| m["source"] == from)
        .collect()
}

fn reset_mail(to: &str) -> Mail {
    Mail {
        to: to.into(),
        user: Uuid::new_v4(),
        kind: MailKind::ResetPassword {
            link: "https://app.example/reset-password?token=abc".into(),
        },
    }
}

#[tokio::test]
async fn a_mail_goes_out_through_ses_as_one_raw_mime_message_from_the_identity() {
    let (ses, endpoint) = emulator().await;
    let domain = verified_sender(&ses).await;
    let from = format!("no-reply@{domain}");
    let sender = Sender::new(
        format!("Todo <{from}>").parse().unwrap(),
        Transport::Ses(ses),
    );
    let deadline = SystemTime::now() + Duration::from_secs(30);
    assert!(send(&sender, &reset_mail("ada@example.com"), deadline).await);

    let sent = sent_from(&endpoint, &from).await;
    assert_eq!(sent.len(), 1, "{sent:?}");
    let raw = sent[0]["raw_data"].as_str().unwrap();
    for part in [
        "Subject: Reset your password",
        "To: ada@example.com",
        "Message-ID: <",
        &format!("@{domain}>"),
        "multipart/alternative",
        "text/plain",
        "text/html",
    ] {
        assert!(raw.contains(part), "{part} missing in\n{raw}");
    }
    assert!(
        sent[0]["destinations"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d == "ada@example.com")
    );
}

#[tokio::test]
async fn a_mail_ses_refuses_is_reported_not_sent() {
    let (ses, endpoint) = emulator().await;
    // An identity nobody verified: SES refuses to send from it.
    let from = format!("no-reply@t{}.example", Uuid::new_v4().simple());
    let sender = Sender::new(from.parse().unwrap(), Transport::Ses(ses));
    // Too close to the deadline for a retry: the first refusal is final.
    let deadline = SystemTime::now() + Duration::from_secs(2);
    assert!(!send(&sender, &reset_mail("ada@example.com"), deadline).await);
    assert!(sent_from(&endpoint, &from).await.is_empty());
}

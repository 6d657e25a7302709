//! `POST /api/auth/signup` `{"email", "password", "name"?}` → 201 session, and a link to
//! `{APP_URL}/verify-email` mailed to the address (after the answer). Signups per address are
//! throttled with 429 and `Retry-After`.

use std::convert::Infallible;

use serde::Deserialize;

use crate::App;
use crate::auth::DeviceToken;
use crate::error::{Error, Result};
use crate::http::{
    Body, Method, Request, Response, StatusCode, json_body, respond, source_address,
};
use crate::links::{self, LinkToken, Purpose, SignupLink};
use crate::mail::MailKind;
use crate::users::{DisplayName, Email, NewAccount, NewPassword};
use crate::validation::{FieldErrors, required};
use crate::{events, sessions, throttle};

#[derive(Deserialize)]
struct SignupBody {
    email: Option<String>,
    password: Option<String>,
    name: Option<String>,
}

impl TryFrom<SignupBody> for NewAccount {
    type Error = Error;

    fn try_from(body: SignupBody) -> Result<Self> {
        let mut errors = FieldErrors::default();
        // The password must not be built from the email or name, as typed.
        let context = [body.email.as_deref(), body.name.as_deref()];
        let context: Vec<&str> = context.into_iter().flatten().collect();
        let password = errors.check(
            "password",
            required(body.password).and_then(|p| NewPassword::parse(p, &context)),
        );
        let email = errors.check("email", required(body.email).and_then(|e| Email::parse(&e)));
        let name = errors.check("name", DisplayName::parse(body.name.as_deref()));
        let (Some(email), Some(password), Some(name)) = (email, password, name) else {
            return Err(Error::Validation(errors));
        };
        Ok(Self {
            email,
            password,
            name,
        })
    }
}

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>, Infallible> {
    respond(req, &[Method::POST], |req| signup(app, req)).await
}

async fn signup(app: &App, req: Request) -> Result<Response<Body>> {
    let account: NewAccount = json_body::<SignupBody>(&req)?.try_into()?;
    events::about_email(&app.throttle.pseudonym(&account.email));
    // Counted before the attempt, so taken emails cost an attacker probing for them too.
    let keys = app.throttle.signup_keys(source_address(&req));
    throttle::attempt(&app.db, &keys).await?;
    let hash = app.passwords.hash(account.password.secret()).await?;
    let link = LinkToken::generate()?;
    let verification = SignupLink {
        token: &link,
        address_keys: app
            .throttle
            .mail_keys(Purpose::Verify, account.email.as_str()),
        ttl_seconds: app.email.verify_ttl_seconds,
    };
    let (user, link_issued) =
        links::create_account(&app.db, &account.email, &account.name, &hash, verification)
            .await
            .inspect_err(|error| {
                if let Error::EmailTaken = error {
                    events::signup("email taken");
                }
            })?;
    events::about(user.key);
    events::signup("created");
    if link_issued {
        let link = app.link("verify-email", &link);
        app.mail(
            account.email.as_str(),
            user.key,
            MailKind::VerifyAddress { link },
        );
    }
    let device = DeviceToken::generate()?;
    let issued = sessions::start(&app.db, user.key, app.sessions, Some(&device)).await?;
    super::session(app, user, &issued, Some(&device), StatusCode::CREATED)
}

//! The `email` Lambda function: wiring only; the handler lives in `shared::handlers::email`.
//! Its mail goes out after the answer (`shared::mail::deliver`).

use lambda_http::Error;
use shared::{App, handlers::email, mail};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    shared::logging::init();
    let app = App::load().await?;
    mail::deliver::run(&app.outbox, |req| email::handle(&app, req)).await
}

//! The `signout` Lambda function: wiring only; the handler lives in `shared::handlers::signout`.

use lambda_http::{Error, run, service_fn};
use shared::{App, handlers::signout};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    shared::logging::init();
    let app = App::load().await?;
    run(service_fn(|req| signout::handle(&app, req))).await
}

//! The `verify` Lambda function: wiring only; the handler lives in `shared::handlers::verify`.

use lambda_http::{Error, run, service_fn};
use shared::{App, handlers::verify};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    shared::logging::init();
    let app = App::load().await?;
    run(service_fn(|req| verify::handle(&app, req))).await
}

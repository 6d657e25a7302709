//! The `sessions` Lambda function: wiring only; the handler lives in `shared::handlers::sessions`.

use lambda_http::{Error, run, service_fn};
use shared::{App, handlers::sessions};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    shared::logging::init();
    let app = App::load().await?;
    run(service_fn(|req| sessions::handle(&app, req))).await
}

//! The `me` Lambda function: wiring only; the handler lives in `shared::handlers::me`.

use lambda_http::{Error, run, service_fn};
use shared::{App, handlers::me};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    shared::logging::init();
    let app = App::load().await?;
    run(service_fn(|req| me::handle(&app, req))).await
}

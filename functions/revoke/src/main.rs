//! The `revoke` Lambda function: wiring only; the handler lives in `shared::handlers::revoke`.

use lambda_http::{Error, run, service_fn};
use shared::{App, handlers::revoke};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    shared::logging::init();
    let app = App::load().await?;
    run(service_fn(|req| revoke::handle(&app, req))).await
}

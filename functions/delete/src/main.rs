//! The `delete` Lambda function: wiring only; the handler lives in `shared::handlers::delete`.

use lambda_http::{Error, run, service_fn};
use shared::{App, handlers::delete};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_http::tracing::init_default_subscriber();
    let app = App::from_env().await?;
    run(service_fn(|req| delete::handle(&app, req))).await
}

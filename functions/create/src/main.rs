//! The `create` Lambda function: wiring only; the handler lives in `shared::handlers::create`.

use lambda_http::{Error, run, service_fn};
use shared::{App, handlers::create};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_http::tracing::init_default_subscriber();
    let app = App::from_env().await?;
    run(service_fn(|req| create::handle(&app, req))).await
}

//! The `fallback` Lambda function: answers every request no route matches with the contract's
//! 404 or 405. Wiring only; it needs no configuration, database or keys, so it starts fastest.

use lambda_http::{Error, run, service_fn};
use shared::handlers::fallback;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    shared::logging::init();
    run(service_fn(fallback::handle)).await
}

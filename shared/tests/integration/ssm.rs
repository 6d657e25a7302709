//! Secrets from SSM Parameter Store through the real SDK, against moto's server mode.
//! `make test` starts moto and points the SDK at it (`AWS_ENDPOINT_URL_SSM`, dummy credentials).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use aws_sdk_ssm::types::ParameterType;
use secrecy::ExposeSecret;
use shared::config::{Config, ConfigError};
use shared::secrets;
use uuid::Uuid;

const DATABASE_URL: &str =
    "postgres://app:pa55word@ep-example-pooler.eu-central-1.aws.neon.tech/neondb?sslmode=require";
const JWT_SECRET: &str = "a-secret-from-ssm-that-is-longer-than-32-bytes";

async fn emulator() -> aws_sdk_ssm::Client {
    assert!(
        std::env::var("AWS_ENDPOINT_URL_SSM").is_ok(),
        "AWS_ENDPOINT_URL_SSM must point at an SSM emulator (`make test` starts moto)"
    );
    secrets::client_from_env().await
}

/// Parameter names of this test's own, so tests never share state.
fn names() -> (String, String) {
    let prefix = format!("/todo-test/{}", Uuid::new_v4().simple());
    (
        format!("{prefix}/database-url"),
        format!("{prefix}/jwt-secret"),
    )
}

async fn put(client: &aws_sdk_ssm::Client, name: &str, value: &str, kind: ParameterType) {
    client
        .put_parameter()
        .name(name)
        .value(value)
        .r#type(kind)
        .send()
        .await
        .unwrap();
}

/// Both secrets in SecureString parameters of this test's own; their names.
async fn both_stored(client: &aws_sdk_ssm::Client) -> (String, String) {
    let (db_param, jwt_param) = names();
    put(client, &db_param, DATABASE_URL, ParameterType::SecureString).await;
    put(client, &jwt_param, JWT_SECRET, ParameterType::SecureString).await;
    (db_param, jwt_param)
}

/// Loads with both secrets named by parameter and nothing else in the environment.
async fn load_both(db_param: &str, jwt_param: &str) -> Result<Config, ConfigError> {
    load(&[
        ("DATABASE_URL_PARAMETER", db_param),
        ("JWT_SECRET_PARAMETER", jwt_param),
    ])
    .await
}

async fn load(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let vars: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Config::load_with(|name| vars.get(name).cloned(), emulator).await
}

#[tokio::test]
async fn both_secrets_are_read_from_their_secure_string_parameters() {
    let client = emulator().await;
    let (db_param, jwt_param) = both_stored(&client).await;

    let config = load_both(&db_param, &jwt_param).await.unwrap();
    assert_eq!(config.tokens.secret.expose_secret(), JWT_SECRET);
    assert_eq!(config.database.get_dbname(), Some("neondb"));
    assert_eq!(config.database.get_user(), Some("app"));
}

#[tokio::test]
async fn a_missing_parameter_is_named_in_the_error() {
    let client = emulator().await;
    let (db_param, jwt_param) = names();
    put(
        &client,
        &db_param,
        DATABASE_URL,
        ParameterType::SecureString,
    )
    .await;

    let error = load_both(&db_param, &jwt_param).await.unwrap_err();
    let message = error.to_string();
    assert!(matches!(error, ConfigError::Ssm(_)));
    assert!(
        message.contains(&jwt_param) && message.contains("does not exist"),
        "{message}"
    );
    assert!(!message.contains("pa55word"), "{message}");
}

#[tokio::test]
async fn a_parameter_that_is_not_a_secure_string_is_refused() {
    let client = emulator().await;
    let (db_param, jwt_param) = names();
    put(
        &client,
        &db_param,
        DATABASE_URL,
        ParameterType::SecureString,
    )
    .await;
    put(&client, &jwt_param, JWT_SECRET, ParameterType::String).await;

    let message = load_both(&db_param, &jwt_param)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        message.contains(&jwt_param) && message.contains("must be a SecureString"),
        "{message}"
    );
    assert!(!message.contains(JWT_SECRET), "{message}");
}

#[tokio::test]
async fn the_environment_overrides_ssm_without_calling_it() {
    let vars: HashMap<&str, &str> = [
        ("DATABASE_URL", "postgres://localhost/app"),
        ("JWT_SECRET", JWT_SECRET),
        ("DATABASE_URL_PARAMETER", "/does/not/exist"),
        ("JWT_SECRET_PARAMETER", "/does/not/exist/either"),
    ]
    .into();
    let never = || async { panic!("SSM must not be called when the environment has the secrets") };
    let config = Config::load_with(|name| vars.get(name).map(|v| v.to_string()), never)
        .await
        .unwrap();
    assert_eq!(config.database.get_dbname(), Some("app"));
}

#[tokio::test]
async fn only_the_secret_missing_from_the_environment_comes_from_ssm() {
    let client = emulator().await;
    let (db_param, jwt_param) = names();
    put(&client, &jwt_param, JWT_SECRET, ParameterType::SecureString).await;

    let config = load(&[
        ("DATABASE_URL", "postgres://localhost/from-env"),
        ("DATABASE_URL_PARAMETER", &db_param), // does not exist: must not be asked for
        ("JWT_SECRET_PARAMETER", &jwt_param),
    ])
    .await
    .unwrap();
    assert_eq!(config.database.get_dbname(), Some("from-env"));
    assert_eq!(config.tokens.secret.expose_secret(), JWT_SECRET);
}

#[tokio::test]
async fn an_unreachable_ssm_fails_within_seconds_naming_the_parameters() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let vars: HashMap<&str, &str> = [
        ("DATABASE_URL_PARAMETER", "/todo/prod/database-url"),
        ("JWT_SECRET_PARAMETER", "/todo/prod/jwt-secret"),
    ]
    .into();
    let unreachable = || {
        secrets::client_with(
            aws_config::defaults(aws_config::BehaviorVersion::latest()).endpoint_url(closed),
        )
    };

    let started = Instant::now();
    let message = Config::load_with(|name| vars.get(name).map(|v| v.to_string()), unreachable)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
    assert!(
        message.contains("/todo/prod/database-url, /todo/prod/jwt-secret cannot be read"),
        "{message}"
    );
}

#[tokio::test]
async fn neither_a_value_nor_a_parameter_name_says_what_to_set() {
    let error = load(&[("JWT_SECRET", JWT_SECRET)]).await.unwrap_err();
    assert_eq!(error.to_string(), "DATABASE_URL is not set");
}

#[tokio::test]
async fn during_a_key_rotation_the_previous_secret_comes_from_its_own_parameter_in_the_same_call() {
    let client = emulator().await;
    let (db_param, jwt_param) = both_stored(&client).await;
    let previous_param = format!("{jwt_param}-previous");
    let previous = "the secret before the rotation, 32 bytes or more";
    put(
        &client,
        &previous_param,
        previous,
        ParameterType::SecureString,
    )
    .await;

    let config = load(&[
        ("DATABASE_URL_PARAMETER", &db_param),
        ("JWT_SECRET_PARAMETER", &jwt_param),
        ("JWT_PREVIOUS_SECRET_PARAMETER", &previous_param),
    ])
    .await
    .unwrap();
    let secrets: Vec<&str> = config.tokens.secrets().map(|s| s.expose_secret()).collect();
    assert_eq!(secrets, [JWT_SECRET, previous]);
    // Outside a rotation the parameter is empty, which is no parameter at all.
    let config = load(&[
        ("DATABASE_URL_PARAMETER", &db_param),
        ("JWT_SECRET_PARAMETER", &jwt_param),
        ("JWT_PREVIOUS_SECRET_PARAMETER", ""),
    ])
    .await
    .unwrap();
    assert_eq!(config.tokens.secrets().count(), 1);
}

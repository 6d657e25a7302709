//! Secrets from SSM Parameter Store, read once per cold start for the settings the environment
//! does not carry (which ones, and the variables naming their parameters, is `config`'s to
//! say). One `GetParameters` call, with decryption.

use std::collections::HashMap;
use std::time::Duration;

use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, ConfigLoader, SdkConfig};
use aws_sdk_ssm::Client;
use aws_sdk_ssm::error::DisplayErrorContext;
use aws_sdk_ssm::types::ParameterType;
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};

/// Why a parameter could not be used: names it and what is wrong, never its value.
#[derive(Debug, thiserror::Error)]
#[error("SSM parameter {parameter} {problem}")]
pub struct SsmError {
    parameter: String,
    problem: String,
}

/// A client configured the usual way (`AWS_REGION`, the function role's credentials,
/// `AWS_ENDPOINT_URL` for emulators).
pub async fn client_from_env() -> Client {
    Client::new(&aws_config_from_env().await)
}

/// The AWS configuration from the environment, loaded once per execution environment: the SSM
/// client and the mail functions' SES client share it (and its HTTP client) at cold start.
pub async fn aws_config_from_env() -> SdkConfig {
    static LOADED: tokio::sync::OnceCell<SdkConfig> = tokio::sync::OnceCell::const_new();
    LOADED
        .get_or_init(|| aws_config_with(aws_config::defaults(BehaviorVersion::latest())))
        .await
        .clone()
}

/// A client from `loader` on our HTTP client, giving up within seconds when SSM is unreachable.
/// The longest an AWS call may take, retries included: SSM answers in tens of milliseconds in
/// its region, and a cold start must fit its other deadlines in the function's timeout too (see
/// [`crate::app::COLD_START_DEADLINE`]).
pub const AWS_OPERATION_TIMEOUT: Duration = Duration::from_secs(2);

pub async fn client_with(loader: ConfigLoader) -> Client {
    Client::new(&aws_config_with(loader).await)
}

/// The AWS configuration every client here uses: our HTTP client (rustls on ring), and seconds,
/// not minutes, before an unreachable service is given up on.
pub async fn aws_config_with(loader: ConfigLoader) -> SdkConfig {
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https();
    let timeouts = TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(1))
        .operation_timeout(AWS_OPERATION_TIMEOUT)
        .build();
    loader
        .http_client(http)
        .timeout_config(timeouts)
        .load()
        .await
}

/// Reads `wanted` (setting name, parameter name) and returns the values by setting name. Errors
/// name the parameter and what is wrong with it, never a value.
pub async fn fetch(
    client: &Client,
    wanted: &[(&'static str, String)],
) -> Result<HashMap<&'static str, String>, SsmError> {
    let names: Vec<String> = wanted.iter().map(|(_, name)| name.clone()).collect();
    let output = client
        .get_parameters()
        .set_names(Some(names.clone()))
        .with_decryption(true)
        .send()
        .await
        .map_err(|e| SsmError {
            parameter: names.join(", "),
            problem: format!("cannot be read: {}", DisplayErrorContext(&e)),
        })?;
    if let Some(missing) = output.invalid_parameters().first() {
        return Err(SsmError {
            parameter: missing.clone(),
            problem: "does not exist (or is in another region or account)".into(),
        });
    }
    let mut values = HashMap::new();
    for (setting, name) in wanted {
        let parameter = output
            .parameters()
            .iter()
            .find(|p| p.name() == Some(name.as_str()))
            .ok_or_else(|| SsmError {
                parameter: name.clone(),
                problem: "was not returned by SSM".into(),
            })?;
        if parameter.r#type() != Some(&ParameterType::SecureString) {
            return Err(SsmError {
                parameter: name.clone(),
                problem: "must be a SecureString (it holds a secret)".into(),
            });
        }
        let value = parameter.value().unwrap_or_default().to_owned();
        values.insert(*setting, value);
    }
    Ok(values)
}

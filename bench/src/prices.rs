//! AWS list prices the cost tables use, all in one place. US East (N. Virginia), on-demand,
//! the first pricing tier (a small app never leaves it). Written down on [`WRITTEN_ON`] from AWS's
//! published pricing pages (aws.amazon.com/lambda/pricing, /api-gateway/pricing), unchanged since
//! arm64 Lambda launched in 2021; this machine cannot reach them, so check them before deciding.

pub const WRITTEN_ON: &str = "2026-12-02";
pub const REGION: &str = "us-east-1";

/// Lambda on arm64 (Graviton2), per GB-second of billed duration (billed per 1 ms).
pub const LAMBDA_ARM64_PER_GB_SECOND: f64 = 0.000_013_333_4;
/// Lambda requests, per million.
pub const LAMBDA_PER_MILLION_REQUESTS: f64 = 0.20;
/// HTTP API requests (up to 512 KB each), per million, the first 300 million a month.
pub const HTTP_API_PER_MILLION_REQUESTS: f64 = 1.00;

/// Memory at which a function has one full vCPU; below it, a proportional share of one.
pub const MB_PER_VCPU: u64 = 1769;
/// The smallest memory size; above it, any whole number of MB.
pub const MIN_MEMORY_MB: u64 = 128;

/// The memory size a function needs for a peak resident set of `bytes`: the next whole MB, at
/// least the smallest size.
pub fn memory_for(bytes: u64) -> u64 {
    bytes.div_ceil(1 << 20).max(MIN_MEMORY_MB)
}

/// Dollars of compute per million invocations billed `billed_ms` on average at `memory_mb`.
pub fn compute_per_million(billed_ms: f64, memory_mb: u64) -> f64 {
    billed_ms / 1000.0 * memory_mb as f64 / 1024.0 * LAMBDA_ARM64_PER_GB_SECOND * 1e6
}

/// What every request adds, whatever the backend: Lambda's request charge and the HTTP API's.
pub fn per_million_requests() -> f64 {
    LAMBDA_PER_MILLION_REQUESTS + HTTP_API_PER_MILLION_REQUESTS
}

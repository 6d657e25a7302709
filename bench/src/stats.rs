//! Timing samples and their summary.

use std::time::{Duration, Instant};

/// min / median / p99 of a set of durations.
#[derive(Debug, Clone, Copy)]
pub struct Summary {
    pub min: Duration,
    pub median: Duration,
    pub p99: Duration,
}

impl Summary {
    pub fn of(mut samples: Vec<Duration>) -> Self {
        assert!(!samples.is_empty(), "no samples");
        samples.sort();
        let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
        Self {
            min: samples[0],
            median: at(0.5),
            p99: at(0.99),
        }
    }

    pub fn row(&self) -> String {
        format!(
            "{} | {} | {}",
            fmt(self.min),
            fmt(self.median),
            fmt(self.p99)
        )
    }
}

pub fn fmt(d: Duration) -> String {
    let us = d.as_secs_f64() * 1e6;
    if us < 1.0 {
        format!("{:.0} ns", us * 1e3)
    } else if us < 1000.0 {
        format!("{us:.1} µs")
    } else {
        format!("{:.2} ms", us / 1e3)
    }
}

/// Times `f` `n` times after `n / 10` warm-up runs.
pub async fn time<F, Fut, T>(n: usize, mut f: F) -> Summary
where
    F: FnMut(usize) -> Fut,
    Fut: Future<Output = T>,
{
    for i in 0..n / 10 {
        std::hint::black_box(f(i).await);
    }
    let mut samples = Vec::with_capacity(n);
    for i in 0..n {
        let started = Instant::now();
        std::hint::black_box(f(n / 10 + i).await);
        samples.push(started.elapsed());
    }
    Summary::of(samples)
}

/// Times two operations alternately, so drift in the machine affects both alike.
pub async fn time_pair<A, AF, B, BF, TA, TB>(n: usize, mut a: A, mut b: B) -> (Summary, Summary)
where
    A: FnMut(usize) -> AF,
    AF: Future<Output = TA>,
    B: FnMut(usize) -> BF,
    BF: Future<Output = TB>,
{
    for i in 0..n / 10 {
        std::hint::black_box(a(i).await);
        std::hint::black_box(b(i).await);
    }
    let (mut sa, mut sb) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for i in n / 10..n / 10 + n {
        let started = Instant::now();
        std::hint::black_box(a(i).await);
        sa.push(started.elapsed());
        let started = Instant::now();
        std::hint::black_box(b(i).await);
        sb.push(started.elapsed());
    }
    (Summary::of(sa), Summary::of(sb))
}

/// How many times the floor's median the handler's is.
pub fn ratio(handler: &Summary, floor: &Summary) -> f64 {
    handler.median.as_secs_f64() / floor.median.as_secs_f64()
}

//! Retries with backoff and the circuit breaker around the client.

use super::*;

/// State of a [`CircuitBreaker`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum BreakerState {
    /// Requests go out; counting consecutive failures.
    Closed {
        /// Consecutive failures so far.
        failures: u32,
    },
    /// No request goes out until `until` (seconds on the breaker's clock).
    Open {
        /// End of the cool-down.
        until: f64,
    },
    /// One probe is out; its result closes or re-opens the breaker.
    HalfOpen,
}

/// A circuit breaker on an injected clock (seconds, any monotonic origin): opens after
/// `threshold` consecutive failures; while open nothing is allowed; after the cool-down one
/// probe is allowed (half-open); a success closes it, a failure opens it again with a longer
/// cool-down (exponential with jitter, from backon).
#[derive(Debug)]
pub struct CircuitBreaker {
    threshold: u32,
    state: BreakerState,
    builder: ExponentialBuilder,
    cooldowns: <ExponentialBuilder as BackoffBuilder>::Backoff,
    opened: u32,
}

impl CircuitBreaker {
    /// Opens after `threshold` (≥ 1) consecutive failures; cool-downs start at `base` seconds
    /// and double up to `max` (each plus a random jitter of up to itself). `seed` fixes the
    /// jitter (tests).
    pub fn new(threshold: u32, base: f64, max: f64, seed: Option<u64>) -> CircuitBreaker {
        let base = if base.is_finite() && base > 0.0 {
            base
        } else {
            1.0
        };
        let max = if max.is_finite() && max >= base {
            max
        } else {
            base
        };
        let mut builder = ExponentialBuilder::new()
            .with_min_delay(Duration::from_secs_f64(base))
            .with_max_delay(Duration::from_secs_f64(max))
            .with_factor(2.0)
            .without_max_times()
            .with_jitter();
        if let Some(s) = seed {
            builder = builder.with_jitter_seed(s);
        }
        CircuitBreaker {
            threshold: threshold.max(1),
            state: BreakerState::Closed { failures: 0 },
            builder,
            cooldowns: builder.build(),
            opened: 0,
        }
    }

    /// The state.
    pub fn state(&self) -> BreakerState {
        self.state
    }

    /// True when open or half-open.
    pub fn is_open(&self) -> bool {
        !matches!(self.state, BreakerState::Closed { .. })
    }

    /// How many times it opened since it was last closed.
    pub fn times_opened(&self) -> u32 {
        self.opened
    }

    /// May a request go out at `now`? Moves an open breaker past its cool-down to half-open
    /// (this request is the probe).
    pub fn allow(&mut self, now: f64) -> bool {
        match self.state {
            BreakerState::Closed { .. } => true,
            BreakerState::Open { until } if now >= until => {
                self.state = BreakerState::HalfOpen;
                true
            }
            BreakerState::Open { .. } | BreakerState::HalfOpen => false,
        }
    }

    /// Seconds until a request is allowed (0 when closed; infinite while a probe is out).
    pub(crate) fn retry_in(&self, now: f64) -> f64 {
        match self.state {
            BreakerState::Closed { .. } => 0.0,
            BreakerState::Open { until } => (until - now).max(0.0),
            BreakerState::HalfOpen => f64::INFINITY,
        }
    }

    /// A request succeeded (or the server answered sanely): close.
    pub(crate) fn on_success(&mut self) {
        if self.is_open() {
            self.cooldowns = self.builder.build();
        }
        self.opened = 0;
        self.state = BreakerState::Closed { failures: 0 };
    }

    /// A request failed at `now`.
    pub(crate) fn on_failure(&mut self, now: f64) {
        match self.state {
            BreakerState::Closed { failures } if failures + 1 < self.threshold => {
                self.state = BreakerState::Closed {
                    failures: failures + 1,
                };
            }
            BreakerState::Closed { .. } | BreakerState::HalfOpen => self.open(now),
            // a failure reported while open (a request that was already out): stay open
            BreakerState::Open { .. } => {}
        }
    }

    fn open(&mut self, now: f64) {
        let d = self
            .cooldowns
            .next()
            .map_or(MAX_COOLDOWN, |d| d.as_secs_f64());
        self.opened += 1;
        self.state = BreakerState::Open { until: now + d };
    }
}

/// Delays between the attempts of one request: exponential from `min_delay` with jitter, at
/// most [`RETRIES`], and in total at most `budget` seconds.
pub(crate) fn retry_delays(min_delay: f64, budget: f64) -> impl Iterator<Item = Duration> {
    ExponentialBuilder::new()
        .with_min_delay(Duration::from_secs_f64(min_delay.max(0.001)))
        .with_max_delay(Duration::from_secs_f64(budget.max(0.001)))
        .with_factor(2.0)
        .with_max_times(RETRIES)
        .with_total_delay(Some(Duration::from_secs_f64(budget.max(0.0))))
        .with_jitter()
        .build()
}

/// A client behind the breaker, with retries: what the source uses.
#[derive(Debug)]
pub struct Guarded {
    client: PromClient,
    breaker: CircuitBreaker,
    origin: tokio::time::Instant,
    min_delay: f64,
    budget: f64,
    requests: u64,
}

#[derive(Clone, Copy)]
pub(super) enum Call {
    Instant(f64),
    Range(f64, f64, f64),
}

impl Guarded {
    /// Wrap `client`; the breaker's cool-down starts at `step` seconds; retries of one
    /// request wait at most `step / 2` in total.
    pub fn new(client: PromClient, step: f64) -> Guarded {
        let step = if step.is_finite() && step > 0.0 {
            step
        } else {
            15.0
        };
        Guarded {
            client,
            breaker: CircuitBreaker::new(BREAKER_THRESHOLD, step, MAX_COOLDOWN.max(step), None),
            origin: tokio::time::Instant::now(),
            min_delay: (step / 10.0).clamp(0.05, 1.0),
            budget: step / 2.0,
            requests: 0,
        }
    }

    /// The client.
    pub fn client(&self) -> &PromClient {
        &self.client
    }

    /// The breaker.
    pub fn breaker(&self) -> &CircuitBreaker {
        &self.breaker
    }

    /// Requests sent so far (attempts, retries included).
    pub fn requests(&self) -> u64 {
        self.requests
    }

    /// Seconds since this client was made: the clock its breaker's cool-downs run on.
    pub fn now(&self) -> f64 {
        self.origin.elapsed().as_secs_f64()
    }

    /// An instant query through the breaker, with retries.
    pub async fn query(&mut self, promql: &str, time: f64) -> Answer {
        self.call(promql, Call::Instant(time)).await
    }

    /// A range query in pieces ([`RangePieces`]: split, halved when too large, joined)
    /// through the breaker, with retries for each piece.
    pub async fn query_range(&mut self, promql: &str, start: f64, end: f64, step: f64) -> Answer {
        let mut pieces = RangePieces::new(start, end, step);
        while let Some((s, e)) = pieces.next() {
            let r = self.call(promql, Call::Range(s, e, step)).await;
            pieces.answer((s, e), r)?;
        }
        Ok(pieces.joined())
    }

    async fn call(&mut self, promql: &str, what: Call) -> Answer {
        let mut delays = retry_delays(self.min_delay, self.budget);
        loop {
            let now = self.now();
            if !self.breaker.allow(now) {
                return Err(PromError::CircuitOpen {
                    url: self.client.url().to_string(),
                    query: promql.to_string(),
                    retry_in_s: self.breaker.retry_in(now),
                });
            }
            self.requests += 1;
            let r = match what {
                Call::Instant(t) => self.client.query(promql, t).await,
                Call::Range(s, e, step) => self.client.query_range_once(promql, s, e, step).await,
            };
            match r {
                Ok(v) => {
                    self.breaker.on_success();
                    return Ok(v);
                }
                Err(e) => {
                    if e.is_server_fault() {
                        self.breaker.on_failure(self.now());
                    } else {
                        self.breaker.on_success();
                    }
                    if !e.is_retryable() || self.breaker.is_open() {
                        return Err(e);
                    }
                    match delays.next() {
                        Some(d) => {
                            tracing::debug!("retrying in {d:?}: {e}");
                            tokio::time::sleep(d).await;
                        }
                        None => return Err(e),
                    }
                }
            }
        }
    }
}

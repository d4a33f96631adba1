//! Prometheus metrics (prometheus-client): one registry per running app, so that tests
//! and several apps in one process never share counters.

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// The route pattern (never the raw path: setup links carry tokens).
    pub route: &'static str,
    pub method: &'static str,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub route: &'static str,
}

#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum SignInResult {
    ok,
    wrong_password,
    throttled,
    second_step_ok,
    second_step_failed,
    locked,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabels {
    pub result: SignInResult,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PoolLabels {
    pub state: &'static str,
}

type Buckets = fn() -> Histogram;

pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    request_seconds: Family<RouteLabels, Histogram, Buckets>,
    sign_ins: Family<ResultLabels, Counter>,
    backup_codes_used: Counter,
    pub active_sessions: Gauge,
    pub db_connections: Family<PoolLabels, Gauge>,
}

fn latency_buckets() -> Histogram {
    // 100 µs to about 3.3 s.
    Histogram::new(exponential_buckets(0.0001, 2.0, 16))
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("nidan");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests by route pattern, method and status",
            requests.clone(),
        );
        let request_seconds =
            Family::<RouteLabels, Histogram, Buckets>::new_with_constructor(latency_buckets);
        registry.register(
            "http_request_duration_seconds",
            "Time to answer, by route pattern",
            request_seconds.clone(),
        );
        let sign_ins = Family::<ResultLabels, Counter>::default();
        registry.register("sign_ins", "Sign-in steps by result", sign_ins.clone());
        let backup_codes_used = Counter::default();
        registry.register(
            "backup_codes_used",
            "Backup codes spent at sign-in",
            backup_codes_used.clone(),
        );
        let active_sessions = Gauge::default();
        registry.register(
            "active_sessions",
            "Sessions neither expired nor idle (read at scrape time)",
            active_sessions.clone(),
        );
        let db_connections = Family::<PoolLabels, Gauge>::default();
        registry.register(
            "db_connections",
            "Database pool connections: open, idle, max",
            db_connections.clone(),
        );
        Self {
            registry,
            requests,
            request_seconds,
            sign_ins,
            backup_codes_used,
            active_sessions,
            db_connections,
        }
    }
}

impl Metrics {
    pub fn request(&self, route: &'static str, method: &'static str, status: u16, seconds: f64) {
        self.requests
            .get_or_create(&RequestLabels {
                route,
                method,
                status,
            })
            .inc();
        self.request_seconds
            .get_or_create(&RouteLabels { route })
            .observe(seconds);
    }

    pub fn sign_in(&self, result: SignInResult) {
        self.sign_ins.get_or_create(&ResultLabels { result }).inc();
    }

    pub fn backup_code_used(&self) {
        self.backup_codes_used.inc();
    }

    /// The OpenMetrics text exposition of every metric.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_show_in_the_exposition() {
        let m = Metrics::default();
        m.sign_in(SignInResult::wrong_password);
        m.sign_in(SignInResult::wrong_password);
        m.request("/login", "POST", 200, 0.002);
        let text = m.encode();
        assert!(
            text.contains("nidan_sign_ins_total{result=\"wrong_password\"} 2"),
            "{text}"
        );
        assert!(text.contains(
            "nidan_http_requests_total{route=\"/login\",method=\"POST\",status=\"200\"} 1"
        ));
        assert!(text.contains("nidan_http_request_duration_seconds_count{route=\"/login\"} 1"));
        assert!(text.ends_with("# EOF\n"));
    }
}

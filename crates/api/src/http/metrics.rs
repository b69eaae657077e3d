//! The HTTP layer's metrics: requests by method, route template and status, and their latency,
//! in the application's registry (`app::Metrics::registry`), rendered with the rest.

use actix_web::http::Method;
use app::{counter_vec, histogram_vec};
use prometheus::{HistogramVec, IntCounterVec, Registry};

pub struct HttpMetrics {
    requests: IntCounterVec,
    duration: HistogramVec,
}

impl HttpMetrics {
    /// Registers the request metrics in `registry` (once per registry).
    pub fn new(registry: &Registry) -> Self {
        let labels = &["method", "route", "status"];
        Self {
            requests: counter_vec(
                registry,
                "http_requests_total",
                "HTTP requests by method, route template and status",
                labels,
            ),
            duration: histogram_vec(
                registry,
                "http_request_duration_seconds",
                "HTTP request latency by method, route template and status",
                labels,
            ),
        }
    }

    /// One answered request. The labels are bounded whatever the client sends: a method outside
    /// HTTP's standard ones is `OTHER`, the route is the matched template (`(unmatched)` when
    /// none), the status a number.
    pub fn observe(&self, method: &Method, route: &str, status: u16, seconds: f64) {
        let status = status.to_string();
        let labels = [method_label(method), route, status.as_str()];
        self.requests.with_label_values(&labels).inc();
        self.duration.with_label_values(&labels).observe(seconds);
    }
}

/// The `method` label: one of HTTP's standard methods, else `OTHER`.
fn method_label(method: &Method) -> &'static str {
    const STANDARD: [Method; 9] = [
        Method::GET,
        Method::HEAD,
        Method::POST,
        Method::PUT,
        Method::DELETE,
        Method::CONNECT,
        Method::OPTIONS,
        Method::TRACE,
        Method::PATCH,
    ];
    STANDARD
        .iter()
        .find(|m| *m == method)
        .map_or("OTHER", |m| m.as_str())
}

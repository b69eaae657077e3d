//! The HTTP layer's metrics: requests by method, route template and status, and their latency,
//! in the application's registry (`app::Metrics::registry`), rendered with the rest.

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

    /// One answered request.
    pub fn observe(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let status = status.to_string();
        let labels = [method, route, status.as_str()];
        self.requests.with_label_values(&labels).inc();
        self.duration.with_label_values(&labels).observe(seconds);
    }
}

//! Prometheus metrics, served in OpenMetrics text on their own port.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct ReviewLabels {
    pub outcome: &'static str,
    pub mode: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct RuleLabels {
    pub rule: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct ResultLabels {
    pub result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct ReasonLabels {
    pub reason: &'static str,
}

/// Review latency buckets, in seconds: the engine takes microseconds, the API
/// server's timeout is seconds.
const LATENCY_BUCKETS: [f64; 12] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0,
];

pub(crate) struct Metrics {
    pub registry: Registry,
    pub reviews: Family<ReviewLabels, Counter>,
    pub rejected: Family<ReasonLabels, Counter>,
    pub latency: Histogram,
    pub patch_operations: Family<RuleLabels, Counter>,
    pub profile_reloads: Family<ResultLabels, Counter>,
    pub certificate_reloads: Family<ResultLabels, Counter>,
    pub config_reloads: Family<ResultLabels, Counter>,
    pub certificate_expiry: Gauge,
    /// Set from `certificate_expiry` at each scrape.
    pub certificate_seconds_to_expiry: Gauge,
    pub in_flight: Gauge,
    pub connections_closed_idle: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("pod_hardener");
        let reviews = Family::default();
        registry.register(
            "reviews",
            "AdmissionReviews answered, by outcome and mode",
            reviews.clone(),
        );
        let rejected = Family::default();
        registry.register(
            "rejected_requests",
            "Requests answered with a 4xx, by reason",
            rejected.clone(),
        );
        let latency = Histogram::new(LATENCY_BUCKETS);
        registry.register(
            "review_duration_seconds",
            "Time from full body to response",
            latency.clone(),
        );
        let patch_operations = Family::default();
        registry.register(
            "patch_changes",
            "Changes made by each rule",
            patch_operations.clone(),
        );
        let profile_reloads = Family::default();
        registry.register(
            "profile_reloads",
            "Profile file reloads, by result",
            profile_reloads.clone(),
        );
        let certificate_reloads = Family::default();
        registry.register(
            "certificate_reloads",
            "Certificate reloads, by result",
            certificate_reloads.clone(),
        );
        let config_reloads = Family::default();
        registry.register(
            "config_reloads",
            "Configuration file reloads, by result",
            config_reloads.clone(),
        );
        let certificate_expiry = Gauge::default();
        registry.register(
            "certificate_expiry_timestamp_seconds",
            "notAfter of the serving certificate, Unix time",
            certificate_expiry.clone(),
        );
        let certificate_seconds_to_expiry = Gauge::default();
        registry.register(
            "certificate_expiry_seconds",
            "Seconds until the serving certificate expires (negative once expired)",
            certificate_seconds_to_expiry.clone(),
        );
        let in_flight = Gauge::default();
        registry.register(
            "in_flight_reviews",
            "Reviews being processed",
            in_flight.clone(),
        );
        let connections_closed_idle = Counter::default();
        registry.register(
            "connections_closed_idle",
            "Connections closed after server.idle_timeout_s without a request",
            connections_closed_idle.clone(),
        );
        Metrics {
            registry,
            reviews,
            rejected,
            latency,
            patch_operations,
            profile_reloads,
            certificate_reloads,
            config_reloads,
            certificate_expiry,
            certificate_seconds_to_expiry,
            in_flight,
            connections_closed_idle,
        }
    }
}

impl Metrics {
    pub fn encode(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String");
        out
    }
}

//! `sentinel_receiver_bad_requests_total{component_id, reason}`: requests a receiver
//! answered with a client error, counted once per request by the server that refused it.

use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;

use crate::SelfMetrics;

/// Requests answered with a client error, by reason. Each reason is one series of
/// `sentinel_receiver_bad_requests_total{component_id, reason}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadRequest {
    MalformedProtobuf,
    MalformedJson,
    BodyTooLarge,
    CorruptCompression,
    UnsupportedContentType,
    UnsupportedContentEncoding,
    MethodNotAllowed,
    NotFound,
    BodyReadFailed,
    /// Missing or wrong bearer token (`auth`).
    Unauthenticated,
    /// Over a per-request limit (items, attributes, nesting, decoded size).
    OverLimit,
}

impl BadRequest {
    const ALL: [BadRequest; 11] = [
        BadRequest::MalformedProtobuf,
        BadRequest::MalformedJson,
        BadRequest::BodyTooLarge,
        BadRequest::CorruptCompression,
        BadRequest::UnsupportedContentType,
        BadRequest::UnsupportedContentEncoding,
        BadRequest::MethodNotAllowed,
        BadRequest::NotFound,
        BadRequest::BodyReadFailed,
        BadRequest::Unauthenticated,
        BadRequest::OverLimit,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            BadRequest::MalformedProtobuf => "malformed_protobuf",
            BadRequest::MalformedJson => "malformed_json",
            BadRequest::BodyTooLarge => "body_too_large",
            BadRequest::CorruptCompression => "corrupt_compression",
            BadRequest::UnsupportedContentType => "unsupported_content_type",
            BadRequest::UnsupportedContentEncoding => "unsupported_content_encoding",
            BadRequest::MethodNotAllowed => "method_not_allowed",
            BadRequest::NotFound => "not_found",
            BadRequest::BodyReadFailed => "body_read_failed",
            BadRequest::Unauthenticated => "unauthenticated",
            BadRequest::OverLimit => "over_limit",
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BadRequestLabels {
    component_id: String,
    reason: &'static str,
}

type BadRequestFamily = Family<BadRequestLabels, Counter>;

fn bad_request_family(metrics: &Arc<SelfMetrics>) -> BadRequestFamily {
    metrics.family(
        "receiver_bad_requests",
        "Requests a receiver answered with a client error (malformed, too large, unsupported), by reason",
        BadRequestFamily::default,
    )
}

/// The bad-request counters of one receiver, created up front so the hot path never
/// allocates label sets.
#[derive(Clone)]
pub struct BadRequests {
    component_id: String,
    counters: [Counter; BadRequest::ALL.len()],
}

impl BadRequests {
    pub fn new(metrics: &Arc<SelfMetrics>, component_id: &str) -> BadRequests {
        let family = bad_request_family(metrics);
        let counters = BadRequest::ALL.map(|reason| {
            family
                .get_or_create(&BadRequestLabels {
                    component_id: component_id.to_string(),
                    reason: reason.as_str(),
                })
                .clone()
        });
        BadRequests {
            component_id: component_id.to_string(),
            counters,
        }
    }

    /// Counts one bad request; what was wrong goes to the debug log only, as clients
    /// are told in the response.
    pub fn record(&self, reason: BadRequest, detail: &dyn std::fmt::Display) {
        // `ALL` lists the variants in declaration order, so the discriminant indexes it.
        self.counters[reason as usize].inc();
        tracing::debug!(component = %self.component_id, reason = reason.as_str(), %detail, "Bad request.");
    }
}

//! Splitting a payload into pieces of at most N items, keeping each item's resource and
//! scope. One generic walk serves all three signals.

use sentinel_pipeline::otlp::collector::logs::v1::ExportLogsServiceRequest;
use sentinel_pipeline::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use sentinel_pipeline::otlp::collector::trace::v1::ExportTraceServiceRequest;
use sentinel_pipeline::signal::data_point_count;
use sentinel_pipeline::Payload;

/// Splits `payload` into pieces of at most `max` items (a single metric heavier than
/// `max` travels alone).
pub fn split(payload: Payload, max: usize) -> Vec<Payload> {
    match payload {
        Payload::Traces(req) => split_levels(
            req.resource_spans,
            max,
            |r| &mut r.scope_spans,
            |s| &mut s.spans,
            |_| 1,
        )
        .into_iter()
        .map(|resource_spans| Payload::Traces(ExportTraceServiceRequest { resource_spans }))
        .collect(),
        Payload::Logs(req) => split_levels(
            req.resource_logs,
            max,
            |r| &mut r.scope_logs,
            |s| &mut s.log_records,
            |_| 1,
        )
        .into_iter()
        .map(|resource_logs| Payload::Logs(ExportLogsServiceRequest { resource_logs }))
        .collect(),
        Payload::Metrics(req) => split_levels(
            req.resource_metrics,
            max,
            |r| &mut r.scope_metrics,
            |s| &mut s.metrics,
            |m| data_point_count(m.data.as_ref()).max(1),
        )
        .into_iter()
        .map(|resource_metrics| Payload::Metrics(ExportMetricsServiceRequest { resource_metrics }))
        .collect(),
    }
}

/// The walk: resources hold scopes, scopes hold items of some weight.
fn split_levels<R: Clone, S: Clone, I>(
    resources: Vec<R>,
    max: usize,
    scopes_of: fn(&mut R) -> &mut Vec<S>,
    items_of: fn(&mut S) -> &mut Vec<I>,
    weight: fn(&I) -> usize,
) -> Vec<Vec<R>> {
    let mut pieces: Vec<Vec<R>> = Vec::new();
    let mut current: Vec<R> = Vec::new();
    let mut current_weight = 0;
    for mut resource in resources {
        let scopes = std::mem::take(scopes_of(&mut resource));
        let mut open_resource: Option<R> = None;
        for mut scope in scopes {
            let items = std::mem::take(items_of(&mut scope));
            let mut open_scope: Option<S> = None;
            for item in items {
                let w = weight(&item);
                if current_weight > 0 && current_weight + w > max {
                    close_scope(&mut open_resource, &mut open_scope, scopes_of);
                    if let Some(r) = open_resource.take() {
                        current.push(r);
                    }
                    pieces.push(std::mem::take(&mut current));
                    current_weight = 0;
                }
                let scope_slot = open_scope.get_or_insert_with(|| scope.clone());
                items_of(scope_slot).push(item);
                open_resource.get_or_insert_with(|| resource.clone());
                current_weight += w;
            }
            close_scope(&mut open_resource, &mut open_scope, scopes_of);
        }
        if let Some(r) = open_resource.take() {
            current.push(r);
        }
    }
    if !current.is_empty() {
        pieces.push(current);
    }
    pieces
}

fn close_scope<R, S>(
    resource: &mut Option<R>,
    scope: &mut Option<S>,
    scopes_of: fn(&mut R) -> &mut Vec<S>,
) {
    if let (Some(r), Some(s)) = (resource.as_mut(), scope.take()) {
        scopes_of(r).push(s);
    }
}

//! Splitting a payload into pieces of at most N items, keeping each item's resource and
//! scope. One generic walk over the OTLP nesting serves all three signals.

use sentinel_pipeline::signal::data_point_count;
use sentinel_pipeline::visit::{ExportRequest, ResourceGroup, ScopeGroup};
use sentinel_pipeline::Payload;

/// Splits `payload` into pieces of at most `max` items (a single metric heavier than
/// `max` travels alone).
pub fn split(payload: Payload, max: usize) -> Vec<Payload> {
    match payload {
        Payload::Traces(req) => pieces(req, max, |_| 1, Payload::Traces),
        Payload::Logs(req) => pieces(req, max, |_| 1, Payload::Logs),
        Payload::Metrics(req) => pieces(
            req,
            max,
            |metric| data_point_count(metric.data.as_ref()).max(1),
            Payload::Metrics,
        ),
    }
}

fn pieces<Q: ExportRequest>(
    request: Q,
    max: usize,
    weight: impl Fn(&Q::Item) -> usize,
    payload: fn(Q) -> Payload,
) -> Vec<Payload>
where
    Q::Group: Clone,
    Q::Scope: Clone,
{
    split_request(request, max, weight)
        .into_iter()
        .map(payload)
        .collect()
}

/// The walk: each item moves into the current piece under a copy of its resource and
/// scope (without their other children); a piece is closed when the next item would
/// not fit.
fn split_request<Q: ExportRequest>(
    mut request: Q,
    max: usize,
    weight: impl Fn(&Q::Item) -> usize,
) -> Vec<Q>
where
    Q::Group: Clone,
    Q::Scope: Clone,
{
    let mut pieces: Vec<Q> = Vec::new();
    let mut current: Vec<Q::Group> = Vec::new();
    let mut current_weight = 0;
    for mut resource in std::mem::take(request.groups_mut()) {
        let scopes = std::mem::take(resource.scopes_mut());
        let mut open_resource: Option<Q::Group> = None;
        for mut scope in scopes {
            let items = std::mem::take(scope.items_mut());
            let mut open_scope: Option<Q::Scope> = None;
            for item in items {
                let w = weight(&item);
                if current_weight > 0 && current_weight + w > max {
                    close_scope(&mut open_resource, &mut open_scope);
                    if let Some(r) = open_resource.take() {
                        current.push(r);
                    }
                    pieces.push(request_of(std::mem::take(&mut current)));
                    current_weight = 0;
                }
                let scope_slot = open_scope.get_or_insert_with(|| scope.clone());
                scope_slot.items_mut().push(item);
                open_resource.get_or_insert_with(|| resource.clone());
                current_weight += w;
            }
            close_scope(&mut open_resource, &mut open_scope);
        }
        if let Some(r) = open_resource.take() {
            current.push(r);
        }
    }
    if !current.is_empty() {
        pieces.push(request_of(current));
    }
    pieces
}

fn request_of<Q: ExportRequest>(groups: Vec<Q::Group>) -> Q {
    let mut request = Q::default();
    *request.groups_mut() = groups;
    request
}

fn close_scope<R: ResourceGroup>(resource: &mut Option<R>, scope: &mut Option<R::Scope>) {
    if let (Some(r), Some(s)) = (resource.as_mut(), scope.take()) {
        r.scopes_mut().push(s);
    }
}

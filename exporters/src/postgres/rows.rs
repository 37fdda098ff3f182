//! Spans and log records as COPY BINARY rows, written straight into the COPY stream.

use std::borrow::Cow;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::span::{Event, Link};
use sentinel_pipeline::visit::{ExportRequest, ResourceGroup, ScopeGroup};
use tokio_postgres::types::{ToSql, Type};

use super::copy::{CopyWriter, WriteError};
use super::sanitize::{int_attribute, string_attribute, write_json_string, Cleaner};
use super::types::{optional_id, trace_uuid, Jsonb, RowContext};

pub const SPAN_COLUMNS: &str = "ts, trace_id, span_id, parent_span_id, trace_state, service_name, span_name, span_kind, duration_ns, status_code, status_message, http_route, http_status_code, gen_ai_model, scope_name, scope_version, attributes, resource_attributes, events, links";
pub const SPAN_TYPES: [Type; 20] = [
    Type::TIMESTAMPTZ,
    Type::UUID,
    Type::BYTEA,
    Type::BYTEA,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::INT2,
    Type::INT8,
    Type::INT2,
    Type::TEXT,
    Type::TEXT,
    Type::INT4,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::JSONB,
    Type::JSONB,
    Type::JSONB,
    Type::JSONB,
];

pub const LOG_COLUMNS: &str = "ts, observed_ts, service_name, severity_number, severity_text, event_name, body, trace_id, span_id, flags, scope_name, attributes, resource_attributes";
pub const LOG_TYPES: [Type; 13] = [
    Type::TIMESTAMPTZ,
    Type::TIMESTAMPTZ,
    Type::TEXT,
    Type::INT2,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::UUID,
    Type::BYTEA,
    Type::INT4,
    Type::TEXT,
    Type::JSONB,
    Type::JSONB,
];

/// `service.name` of a resource (OTel's default when missing).
pub fn service_name(cleaner: &mut Cleaner, resource: Option<&Resource>) -> String {
    let attributes = resource.map(|r| r.attributes.as_slice()).unwrap_or(&[]);
    cleaner
        .text(string_attribute(attributes, "service.name").unwrap_or("unknown_service"))
        .into_owned()
}

fn resource_json(cleaner: &mut Cleaner, resource: Option<&Resource>) -> String {
    let attributes = resource.map(|r| r.attributes.as_slice()).unwrap_or(&[]);
    let json = cleaner.attributes_json(attributes);
    // Cutting a resource attribute flags the resource JSON itself: it has no row of its own.
    if cleaner.truncated {
        let mut json = json;
        Cleaner::flag_truncated(&mut json);
        cleaner.reset();
        return json;
    }
    json
}

/// Service name and attributes JSON of a resource, cleaned once for all its rows.
fn resource_columns(cleaner: &mut Cleaner, resource: Option<&Resource>) -> (String, String) {
    let service = service_name(cleaner, resource);
    let json = resource_json(cleaner, resource);
    cleaner.reset();
    (service, json)
}

/// Borrowed unless cleaning changed it: no copy per column.
fn empty_to_none(s: Cow<'_, str>) -> Option<Cow<'_, str>> {
    (!s.is_empty()).then_some(s)
}

/// Writes every span of `request`; returns the number of rows.
pub async fn write_spans(
    writer: &mut CopyWriter,
    request: &ExportTraceServiceRequest,
    ctx: &mut RowContext,
) -> Result<usize, WriteError> {
    let mut rows = 0;
    let mut attributes = String::new();
    for group in request.groups() {
        let (service, resource_json) = resource_columns(&mut ctx.cleaner, group.resource());
        for (scope, span) in group.items() {
            let ts = ctx.clamp(span.start_time_unix_nano);
            let duration = span
                .end_time_unix_nano
                .saturating_sub(span.start_time_unix_nano)
                .min(i64::MAX as u64) as i64;
            let status = span.status.as_ref();
            let c = &mut ctx.cleaner;
            let trace_state = empty_to_none(c.text(&span.trace_state));
            let name = c.text(&span.name);
            let status_message = status.and_then(|s| empty_to_none(c.text(&s.message)));
            let http_route = string_attribute(&span.attributes, "http.route").map(|v| c.text(v));
            let http_status = int_attribute(&span.attributes, "http.response.status_code")
                .or_else(|| int_attribute(&span.attributes, "http.status_code"))
                .and_then(|v| i32::try_from(v).ok());
            let model =
                string_attribute(&span.attributes, "gen_ai.request.model").map(|v| c.text(v));
            let scope_name = scope.and_then(|s| empty_to_none(c.text(&s.name)));
            let scope_version = scope.and_then(|s| empty_to_none(c.text(&s.version)));
            let events = (!span.events.is_empty()).then(|| events_json(c, &span.events));
            let links = (!span.links.is_empty()).then(|| links_json(c, &span.links));
            c.attributes_json_into(&mut attributes, &span.attributes);
            ctx.finish_row(&mut attributes);
            let kind = span.kind.clamp(0, i16::MAX as i32) as i16;
            let code = status.map_or(0, |s| s.code.clamp(0, i16::MAX as i32) as i16);
            let row: [&(dyn ToSql + Sync); 20] = [
                &ts,
                &trace_uuid(&span.trace_id),
                &span.span_id.as_slice(),
                &optional_id(&span.parent_span_id),
                &trace_state,
                &service,
                &name,
                &kind,
                &duration,
                &code,
                &status_message,
                &http_route,
                &http_status,
                &model,
                &scope_name,
                &scope_version,
                &Jsonb(&attributes),
                &Jsonb(&resource_json),
                &events.as_deref().map(Jsonb),
                &links.as_deref().map(Jsonb),
            ];
            writer.write(&row).await?;
            rows += 1;
        }
    }
    Ok(rows)
}

fn events_json(c: &mut Cleaner, events: &[Event]) -> String {
    let mut out = String::from("[");
    for (index, event) in events.iter().enumerate() {
        if index > 0 {
            out.push(',');
        }
        out.push_str("{\"time_unix_nano\":");
        out.push_str(&event.time_unix_nano.to_string());
        out.push_str(",\"name\":");
        let name = c.text(&event.name);
        write_json_string(&mut out, &name);
        out.push_str(",\"attributes\":");
        out.push_str(&c.attributes_json(&event.attributes));
        out.push('}');
    }
    out.push(']');
    out
}

fn links_json(c: &mut Cleaner, links: &[Link]) -> String {
    let mut out = String::from("[");
    for (index, link) in links.iter().enumerate() {
        if index > 0 {
            out.push(',');
        }
        out.push_str("{\"trace_id\":\"");
        out.push_str(&const_hex::encode(&link.trace_id));
        out.push_str("\",\"span_id\":\"");
        out.push_str(&const_hex::encode(&link.span_id));
        out.push_str("\",\"attributes\":");
        out.push_str(&c.attributes_json(&link.attributes));
        out.push('}');
    }
    out.push(']');
    out
}

/// Writes every log record of `request`; returns the number of rows.
pub async fn write_logs(
    writer: &mut CopyWriter,
    request: &ExportLogsServiceRequest,
    ctx: &mut RowContext,
) -> Result<usize, WriteError> {
    let mut rows = 0;
    let mut attributes = String::new();
    for group in request.groups() {
        let (service, resource_json) = resource_columns(&mut ctx.cleaner, group.resource());
        // Per scope, not per record: a cut scope name flags the scope's first row only.
        for scope in group.scopes() {
            let scope_name = scope
                .scope()
                .and_then(|s| empty_to_none(ctx.cleaner.text(&s.name)));
            for record in scope.items() {
                // OTLP: when time_unix_nano is unset, the observed time stands in.
                let time = if record.time_unix_nano > 0 {
                    record.time_unix_nano
                } else {
                    record.observed_time_unix_nano
                };
                let ts = ctx.clamp(time);
                let observed = ctx.optional_time(record.observed_time_unix_nano);
                let c = &mut ctx.cleaner;
                let severity_text = empty_to_none(c.text(&record.severity_text));
                let event_name = empty_to_none(c.text(&record.event_name));
                let body = c.body(record.body.as_ref());
                c.attributes_json_into(&mut attributes, &record.attributes);
                ctx.finish_row(&mut attributes);
                let severity = record.severity_number.clamp(0, i16::MAX as i32) as i16;
                let flags = record.flags as i32;
                let trace_id = optional_id(&record.trace_id).map(trace_uuid);
                let row: [&(dyn ToSql + Sync); 13] = [
                    &ts,
                    &observed,
                    &service,
                    &severity,
                    &severity_text,
                    &event_name,
                    &body,
                    &trace_id,
                    &optional_id(&record.span_id),
                    &flags,
                    &scope_name,
                    &Jsonb(&attributes),
                    &Jsonb(&resource_json),
                ];
                writer.write(&row).await?;
                rows += 1;
            }
        }
    }
    Ok(rows)
}

/// Attributes sorted by key, so that the same set in another order hashes alike.
pub fn sorted(attributes: &[KeyValue]) -> Vec<KeyValue> {
    let mut sorted = attributes.to_vec();
    sorted.sort_by(|a, b| a.key.cmp(&b.key));
    sorted
}

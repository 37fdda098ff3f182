//! Logs: records with the same identity seen within `interval` are gathered into one
//! record, emitted when the interval ends with how many it stands for and when the first
//! and last were observed (the Collector's `logdedup` output). The gathered requests'
//! acknowledgements travel with the pending records, so a client is answered only once
//! the record standing for its data is handed on.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use sentinel_pipeline::otlp::collector::logs::v1::ExportLogsServiceRequest;
use sentinel_pipeline::otlp::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use sentinel_pipeline::otlp::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use sentinel_pipeline::otlp::resource::v1::Resource;
use sentinel_pipeline::{Acks, Message, Payload};
use tokio::time::Instant;

use super::key;
use super::DedupConfig;

pub const FIRST_OBSERVED: &str = "first_observed_timestamp";
pub const LAST_OBSERVED: &str = "last_observed_timestamp";

/// `exclude_fields`, split by where they apply.
#[derive(Debug, Default)]
struct Exclusions {
    body: bool,
    body_keys: Vec<String>,
    attributes: Vec<String>,
}

impl Exclusions {
    fn new(fields: &[String]) -> Exclusions {
        let mut exclusions = Exclusions::default();
        for field in fields {
            if field == "body" {
                exclusions.body = true;
            } else if let Some(key) = field.strip_prefix("body.") {
                exclusions.body_keys.push(key.to_string());
            } else if let Some(key) = field.strip_prefix("attributes.") {
                exclusions.attributes.push(key.to_string());
            }
        }
        exclusions
    }

    fn identity(&self, prefix: u64, record: &LogRecord) -> u64 {
        let mut h = key::new_log_hasher(prefix);
        h.u64(record.severity_number as u64);
        h.bytes(record.severity_text.as_bytes());
        h.bytes(record.event_name.as_bytes());
        match record.body.as_ref().and_then(|b| b.value.as_ref()) {
            _ if self.body => h.u64(0),
            Some(any_value::Value::KvlistValue(list)) if !self.body_keys.is_empty() => {
                h.u64(6);
                h.u64(key::attributes(&list.values, |k| {
                    self.body_keys.iter().any(|x| x == k)
                }));
            }
            _ => h.any_value(record.body.as_ref()),
        }
        h.u64(key::attributes(&record.attributes, |k| {
            self.attributes.iter().any(|x| x == k)
        }));
        h.finish()
    }

    /// Excluded fields are not part of the identity, so the emitted record leaves them out.
    fn strip(&self, record: &mut LogRecord) {
        if self.body {
            record.body = None;
        } else if let Some(AnyValue {
            value: Some(any_value::Value::KvlistValue(list)),
        }) = record.body.as_mut()
        {
            list.values.retain(|kv| !self.body_keys.contains(&kv.key));
        }
        record
            .attributes
            .retain(|kv| !self.attributes.contains(&kv.key));
    }
}

struct Aggregate {
    record: LogRecord,
    count: u64,
    first: SystemTime,
    last: SystemTime,
}

/// The pending records of one resource and scope.
struct Group {
    resource: Option<Resource>,
    resource_schema_url: String,
    scope: Option<InstrumentationScope>,
    scope_schema_url: String,
    records: Vec<Aggregate>,
}

pub struct LogAggregator {
    exclusions: Exclusions,
    count_attribute: String,
    interval: Duration,
    max_pending: usize,
    groups: Vec<Group>,
    group_index: HashMap<u64, usize>,
    /// Identity → (group, record) of every pending record.
    record_index: HashMap<u64, (usize, usize)>,
    /// The acknowledgements of every request with a record pending.
    acks: Acks,
    window_end: Option<Instant>,
    /// Emissions forced by `max_pending_logs` rather than by the interval.
    pub early_emits: u64,
}

impl LogAggregator {
    pub fn new(config: &DedupConfig) -> LogAggregator {
        LogAggregator {
            exclusions: Exclusions::new(&config.exclude_fields),
            count_attribute: config.log_count_attribute.clone(),
            interval: config.interval,
            max_pending: config.max_pending_logs,
            groups: Vec::new(),
            group_index: HashMap::new(),
            record_index: HashMap::new(),
            acks: Acks::none(),
            window_end: None,
            early_emits: 0,
        }
    }

    pub fn deadline(&self) -> Option<Instant> {
        self.window_end
    }

    /// Takes in one request's records; returns how many were folded into a pending
    /// record with the same identity. May emit early into `out` when too many are pending.
    pub fn add(
        &mut self,
        req: ExportLogsServiceRequest,
        acks: Acks,
        now: SystemTime,
        out: &mut Vec<Message>,
    ) -> usize {
        self.acks.merge(acks.clone());
        let mut aggregated = 0;
        for resource_logs in req.resource_logs {
            let resource = resource_logs.resource;
            for scope_logs in resource_logs.scope_logs {
                let prefix = key::log_prefix(resource.as_ref(), scope_logs.scope.as_ref());
                let (scope, scope_schema_url) = (scope_logs.scope, scope_logs.schema_url);
                for record in scope_logs.log_records {
                    let identity = self.exclusions.identity(prefix, &record);
                    if let Some(&(group, index)) = self.record_index.get(&identity) {
                        let pending = &mut self.groups[group].records[index];
                        pending.count += 1;
                        pending.last = now;
                        aggregated += 1;
                        continue;
                    }
                    if self.record_index.len() >= self.max_pending {
                        self.early_emits += 1;
                        self.emit(out);
                        // This request still has records to come: it stays unanswered.
                        self.acks = acks.clone();
                    }
                    let group = self.group(
                        prefix,
                        (&resource, &resource_logs.schema_url),
                        (&scope, &scope_schema_url),
                    );
                    self.insert(group, identity, record, now);
                }
            }
        }
        aggregated
    }

    fn group(
        &mut self,
        prefix: u64,
        (resource, resource_schema_url): (&Option<Resource>, &str),
        (scope, scope_schema_url): (&Option<InstrumentationScope>, &str),
    ) -> usize {
        if let Some(&group) = self.group_index.get(&prefix) {
            return group;
        }
        self.groups.push(Group {
            resource: resource.clone(),
            resource_schema_url: resource_schema_url.to_string(),
            scope: scope.clone(),
            scope_schema_url: scope_schema_url.to_string(),
            records: Vec::new(),
        });
        self.group_index.insert(prefix, self.groups.len() - 1);
        self.groups.len() - 1
    }

    fn insert(&mut self, group: usize, identity: u64, mut record: LogRecord, now: SystemTime) {
        self.exclusions.strip(&mut record);
        let records = &mut self.groups[group].records;
        records.push(Aggregate {
            record,
            count: 1,
            first: now,
            last: now,
        });
        self.record_index
            .insert(identity, (group, records.len() - 1));
        self.window_end
            .get_or_insert_with(|| Instant::now() + self.interval);
    }

    /// Hands on everything pending as one request carrying every gathered acknowledgement.
    pub fn emit(&mut self, out: &mut Vec<Message>) {
        self.window_end = None;
        self.record_index.clear();
        self.group_index.clear();
        let acks = std::mem::take(&mut self.acks);
        if self.groups.is_empty() {
            return;
        }
        let resource_logs = std::mem::take(&mut self.groups)
            .into_iter()
            .map(|group| self.resource_logs(group))
            .collect();
        let req = ExportLogsServiceRequest { resource_logs };
        out.push(Message::new(Payload::Logs(req), acks));
    }

    fn resource_logs(&self, group: Group) -> ResourceLogs {
        let log_records = group
            .records
            .into_iter()
            .map(|aggregate| self.finish(aggregate))
            .collect();
        ResourceLogs {
            resource: group.resource,
            scope_logs: vec![ScopeLogs {
                scope: group.scope,
                log_records,
                schema_url: group.scope_schema_url,
            }],
            schema_url: group.resource_schema_url,
        }
    }

    fn finish(&self, aggregate: Aggregate) -> LogRecord {
        let mut record = aggregate.record;
        let ours = [self.count_attribute.as_str(), FIRST_OBSERVED, LAST_OBSERVED];
        record
            .attributes
            .retain(|kv| !ours.contains(&kv.key.as_str()));
        record.attributes.push(attribute(
            &self.count_attribute,
            any_value::Value::IntValue(aggregate.count as i64),
        ));
        for (name, time) in [
            (FIRST_OBSERVED, aggregate.first),
            (LAST_OBSERVED, aggregate.last),
        ] {
            let text = humantime::format_rfc3339_nanos(time).to_string();
            record
                .attributes
                .push(attribute(name, any_value::Value::StringValue(text)));
        }
        record
    }
}

fn attribute(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

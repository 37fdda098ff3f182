use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::*;
use crate::sending::{FsyncPolicy, QueueSettings};

fn span(line: usize, col: usize) -> Span {
    Span::new("t.yaml", line, col)
}

fn s(text: &str, line: usize, col: usize) -> Node {
    Node::new(NodeValue::String(text.into()), span(line, col))
}

fn map(entries: Vec<(Node, Node)>, line: usize, col: usize) -> Node {
    Node::new(NodeValue::Map(entries), span(line, col))
}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
struct Server {
    endpoint: Endpoint,
    #[serde(default)]
    max_mib: u32,
    #[serde(default, with = "humantime_serde")]
    timeout: Option<Duration>,
    #[serde(default)]
    headers: BTreeMap<String, Secret>,
}

#[test]
fn decodes_a_struct_with_defaults() {
    let node = map(
        vec![
            (s("endpoint", 1, 1), s("127.0.0.1:4317", 1, 11)),
            (s("timeout", 2, 1), s("250ms", 2, 10)),
            (s("max_mib", 3, 1), s("8", 3, 10)),
        ],
        1,
        1,
    );
    let server: Server = decode(&node).unwrap();
    assert_eq!(server.endpoint.as_str(), "127.0.0.1:4317");
    assert_eq!(server.timeout, Some(Duration::from_millis(250)));
    assert_eq!(server.max_mib, 8, "numbers written as strings are accepted");
}

#[test]
fn unknown_key_is_reported_at_the_key_with_a_suggestion() {
    let node = map(vec![(s("endpont", 4, 9), s("127.0.0.1:4317", 4, 18))], 4, 9);
    let err = decode::<Server>(&node).unwrap_err();
    assert_eq!((err.span.line, err.span.col), (4, 9));
    assert!(
        err.message.contains("did you mean \"endpoint\""),
        "{}",
        err.message
    );
}

#[test]
fn wrong_type_and_invalid_values_point_at_the_value() {
    let node = map(
        vec![
            (s("endpoint", 1, 1), s("127.0.0.1:4317", 1, 11)),
            (s("max_mib", 2, 1), s("lots", 2, 10)),
        ],
        1,
        1,
    );
    let err = decode::<Server>(&node).unwrap_err();
    assert_eq!((err.span.line, err.span.col), (2, 10), "{err}");
    assert!(err.message.contains("lots"), "{}", err.message);

    let node = map(vec![(s("endpoint", 7, 3), s("localhost", 7, 13))], 7, 3);
    let err = decode::<Server>(&node).unwrap_err();
    assert_eq!((err.span.line, err.span.col), (7, 13));
    assert!(err.message.contains("host:port"), "{}", err.message);
}

#[test]
fn enums_with_options_and_unit_variants() {
    let node = map(
        vec![
            (s("type", 1, 1), s("disk", 1, 7)),
            (
                s("fsync", 2, 1),
                map(vec![(s("interval", 3, 3), s("20ms", 3, 13))], 3, 3),
            ),
        ],
        1,
        1,
    );
    let queue: QueueSettings = decode(&node).unwrap();
    assert_eq!(
        queue.fsync,
        FsyncPolicy::Interval(Duration::from_millis(20))
    );
    let node = map(vec![(s("when_full", 5, 1), s("drop_newest", 5, 12))], 5, 1);
    let err = decode::<QueueSettings>(&node).unwrap_err();
    assert_eq!((err.span.line, err.span.col), (5, 12));
    assert!(err.message.contains("drop_oldest"), "{}", err.message);
}

#[test]
fn null_means_all_defaults() {
    let node = Node::new(NodeValue::Null, span(1, 1));
    let queue: QueueSettings = decode(&node).unwrap();
    assert_eq!(queue, QueueSettings::default());
}

#[derive(Debug, Deserialize, Serialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
struct Dialer {
    endpoint: String,
    tls: Tls,
}

#[derive(Debug, Deserialize, Serialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
struct Tls {
    ca_file: Option<String>,
}

impl Tls {
    fn validate(&self) -> Result<(), ValidationError> {
        match &self.ca_file {
            Some(path) if path.is_empty() => Err(ValidationError::at("ca_file", "is empty")),
            _ => Ok(()),
        }
    }
}

impl ComponentConfig for Dialer {
    fn validate(&self) -> Result<(), ValidationError> {
        self.tls.validate().map_err(|e| e.within("tls"))?;
        if self.endpoint == "plaintext" && self.tls.ca_file.is_some() {
            return Err(ValidationError::at("tls.ca_file", "not with plaintext"));
        }
        if self.endpoint.is_empty() {
            return Err(ValidationError::at("endpoint", "must be set"));
        }
        if self.endpoint == "nowhere" {
            return Err(ValidationError::new("`endpoint` goes nowhere"));
        }
        Ok(())
    }
}

#[test]
fn validation_errors_point_at_the_key_their_path_names() {
    let tls = map(vec![(s("ca_file", 3, 5), s("/ca.pem", 3, 14))], 3, 5);
    let node = map(
        vec![
            (s("endpoint", 1, 3), s("plaintext", 1, 13)),
            (s("tls", 2, 3), tls),
        ],
        1,
        3,
    );
    let err = decode_valid::<Dialer>(&node).unwrap_err().remove(0);
    assert_eq!((err.span.line, err.span.col), (3, 5), "{}", err.message);
    assert_eq!(err.message, "tls.ca_file: not with plaintext");

    // A key left to its default is not written anywhere: the component's node it is.
    let node = map(vec![(s("tls", 7, 3), map(vec![], 8, 5))], 7, 3);
    let err = decode_valid::<Dialer>(&node).unwrap_err().remove(0);
    assert_eq!((err.span.line, err.span.col), (7, 3), "{}", err.message);
    assert_eq!(err.message, "endpoint: must be set");
}

#[test]
fn nested_errors_are_reported_within_their_parent_key() {
    let tls = map(vec![(s("ca_file", 5, 5), s("", 5, 14))], 5, 5);
    let node = map(
        vec![
            (s("endpoint", 3, 3), s("db:5432", 3, 13)),
            (s("tls", 4, 3), tls),
        ],
        3,
        3,
    );
    let err = decode_valid::<Dialer>(&node).unwrap_err().remove(0);
    assert_eq!((err.span.line, err.span.col), (5, 5), "{}", err.message);
    assert_eq!(err.message, "tls.ca_file: is empty");
}

#[test]
fn node_level_errors_are_reported_at_the_node() {
    let node = map(vec![(s("endpoint", 9, 3), s("nowhere", 9, 13))], 9, 1);
    let err = decode_valid::<Dialer>(&node).unwrap_err().remove(0);
    assert_eq!((err.span.line, err.span.col), (9, 1), "{}", err.message);
    assert_eq!(err.message, "`endpoint` goes nowhere");
}

#[test]
fn within_prefixes_the_path_and_keeps_the_message() {
    let nested = ValidationError::at("ca_file", "missing").within("tls");
    assert_eq!(nested, ValidationError::at("tls.ca_file", "missing"));
    assert_eq!(nested.to_string(), "tls.ca_file: missing");
    let node_level = ValidationError::new("`cert_file` and `key_file` go together").within("tls");
    assert_eq!(
        node_level.to_string(),
        "tls: `cert_file` and `key_file` go together"
    );
    assert_eq!(ValidationError::new("plain").to_string(), "plain");
}

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
    // The misspelt key leaves `endpoint` missing: reported once, as the misspelling.
    let all = decode_all::<Server>(&node).unwrap_err();
    assert_eq!(all.len(), 1, "{all:?}");
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

#[derive(Debug, Deserialize, Serialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
struct Limits {
    limit_mib: u64,
    scrapers: Scrapers,
    #[serde(with = "humantime_serde")]
    check_interval: Option<Duration>,
    enabled: bool,
    names: Vec<String>,
}

#[derive(Debug, Deserialize, Serialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
struct Scrapers {
    cpu: Option<Tls>,
}

impl ComponentConfig for Limits {
    fn validate(&self) -> Result<(), ValidationError> {
        match self.names.iter().position(|n| n == "bogus") {
            Some(i) => Err(ValidationError::at(format!("names.{i}"), "unknown name")),
            None => Ok(()),
        }
    }
}

fn limits(yaml: &str) -> Vec<String> {
    let node = parse_yaml("t.yaml", yaml).unwrap().unwrap();
    match decode_valid::<Limits>(&node) {
        Ok(_) => vec![],
        Err(all) => all.iter().map(|d| d.to_string()).collect(),
    }
}

#[test]
fn type_errors_are_phrased_for_users_and_name_the_key() {
    assert_eq!(
        limits("limit_mib: lots\n"),
        ["t.yaml:1:12: `limit_mib` must be a whole number of MiB, not `lots`"]
    );
    assert_eq!(
        limits("scrapers: [cpu]\n"),
        ["t.yaml:1:11: `scrapers` is a map: write `cpu: {}`"]
    );
    assert_eq!(
        limits("scrapers:\n  cpu: true\n"),
        ["t.yaml:2:8: `cpu` must be a map, not `true` (write `cpu: {}` for its defaults)"]
    );
    assert_eq!(
        limits("enabled: maybe\n"),
        ["t.yaml:1:10: `enabled` must be true or false, not `maybe`"]
    );
    assert_eq!(
        limits("names: {a: 1}\n"),
        ["t.yaml:1:8: `names` must be a list, not a map"]
    );
    assert_eq!(
        limits("names: [[x]]\n"),
        ["t.yaml:1:9: each entry of `names` must be a string, not a list"]
    );
    assert_eq!(
        limits("check_interval: 5\n"),
        ["t.yaml:1:17: `check_interval` must be a duration like `5s` or `200ms`, not `5`"]
    );
    assert_eq!(
        limits("limit_mib: -1\n"),
        ["t.yaml:1:12: `limit_mib` must be a whole number of MiB, not `-1`"]
    );
    assert_eq!(
        limits("[1]\n"),
        ["t.yaml:1:1: this setting must be a map, not a list"]
    );
}

#[test]
fn unknown_keys_and_the_configs_own_checks_are_reported_in_one_pass() {
    let yaml = "limitt_mib: 5\nnames: [ok, bogus]\nscrapers:\n  cpuu: {}\n";
    assert_eq!(
        limits(yaml),
        [
            "t.yaml:1:1: unknown key \"limitt_mib\"; did you mean \"limit_mib\"?",
            "t.yaml:2:13: names.1: unknown name",
            "t.yaml:4:3: unknown key \"cpuu\"; did you mean \"cpu\"?",
        ]
    );
    // A wrong type stops decoding, but the unknown keys found on the way are kept.
    let yaml = "limitt_mib: 5\nlimit_mib: lots\n";
    assert_eq!(limits(yaml).len(), 2, "{:?}", limits(yaml));
}

#[test]
fn a_problem_with_a_whole_file_is_shown_without_a_position() {
    let d = Diagnostic::error(Span::new("/etc/missing.yaml", 0, 0), "cannot read");
    assert_eq!(d.to_string(), "/etc/missing.yaml: cannot read");
}

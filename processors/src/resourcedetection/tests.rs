use std::time::Duration;

use sentinel_pipeline::config::{decode_valid, parse_yaml};
use sentinel_pipeline::otlp::common::v1::any_value::Value;
use sentinel_pipeline::otlp::common::v1::KeyValue;
use sentinel_pipeline::{Message, Payload, Processor};

use super::config::{Detector, HostnameSource, ResourceDetectionConfig};
use super::detect::{detect, machine_id, os_hostname, parse_env, EnvError, Host};
use super::ResourceDetectionProcessor;
use crate::test_data::{kv, spans};

fn config(yaml: &str) -> Result<ResourceDetectionConfig, Vec<String>> {
    let node = parse_yaml("r.yaml", yaml).unwrap().unwrap();
    decode_valid(&node).map_err(|all| all.iter().map(|d| d.to_string()).collect())
}

fn pairs(found: &[KeyValue]) -> Vec<(String, String)> {
    found
        .iter()
        .map(|kv| match kv.value.as_ref().and_then(|v| v.value.clone()) {
            Some(Value::StringValue(s)) => (kv.key.clone(), s),
            other => panic!("{other:?}"),
        })
        .collect()
}

fn host(env: Option<&str>, machine_id_files: Vec<std::path::PathBuf>) -> Host {
    Host {
        env_attributes: env.map(str::to_string),
        machine_id_files,
    }
}

#[test]
fn defaults_are_the_collectors() {
    let c = config("detectors: [env, system]\n").unwrap();
    assert_eq!(c.detectors, [Detector::Env, Detector::System]);
    assert!(c.override_existing);
    assert_eq!(c.timeout, Duration::from_secs(5));
    assert_eq!(
        c.system.hostname_sources,
        [HostnameSource::Dns, HostnameSource::Os]
    );
    let attrs = &c.system.resource_attributes;
    assert!(attrs.host_name.enabled && attrs.os_type.enabled);
    assert!(!attrs.host_id.enabled && !attrs.host_arch.enabled);
}

#[test]
fn bad_settings_are_reported_at_their_keys() {
    assert_eq!(
        config("detectors: []\n").unwrap_err(),
        ["r.yaml:1:1: detectors: list at least one detector, e.g. `detectors: [env, system]`"]
    );
    let err = config("detectors: [ec2]\n").unwrap_err();
    assert!(err[0].contains("unknown value \"ec2\""), "{err:?}");
    let err = config(
        "detectors: [system]\nsystem:\n  resource_attributes:\n    host.nam: {enabled: true}\n",
    )
    .unwrap_err();
    assert!(
        err[0].starts_with("r.yaml:4:5: unknown key \"host.nam\""),
        "{err:?}"
    );
}

#[test]
fn system_finds_the_hosts_name_id_and_os() {
    let dir = tempfile_dir();
    let id_file = dir.join("machine-id");
    std::fs::write(&id_file, "0123456789abcdef0123456789abcdef\n").unwrap();
    let c = config(
        "detectors: [system]\nsystem:\n  hostname_sources: [os]\n  resource_attributes:\n    host.id: {enabled: true}\n    host.arch: {enabled: true}\n",
    )
    .unwrap();
    let found = pairs(&detect(&c, &host(None, vec![dir.join("absent"), id_file])));
    let name = os_hostname().unwrap();
    let proc_name = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    assert_eq!(name, proc_name.trim(), "gethostname agrees with the kernel");
    let keys: Vec<&str> = found.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["host.name", "host.id", "os.type", "host.arch"]);
    assert_eq!(found[0].1, name);
    assert_eq!(found[1].1, "0123456789abcdef0123456789abcdef");
    assert_eq!(found[2].1, "linux");
    assert!(
        ["amd64", "arm64"].contains(&found[3].1.as_str()),
        "{found:?}"
    );
}

#[test]
fn dns_source_gives_a_name_that_starts_with_the_short_one() {
    let c = config("detectors: [system]\ntimeout: 2s\n").unwrap();
    let found = pairs(&detect(&c, &host(None, vec![])));
    let short = os_hostname().unwrap();
    // The resolver's canonical name is the FQDN (or the name itself), never another host.
    assert!(found[0].1.starts_with(&short), "{found:?} vs {short}");
}

#[test]
fn env_comes_first_when_listed_first_and_is_percent_decoded() {
    let c = config("detectors: [env, system]\nsystem: {hostname_sources: [os]}\n").unwrap();
    let env = Some("host.name=from-env, deployment.environment=prod%2Ceu ,team=a%20b");
    let found = pairs(&detect(&c, &host(env, vec![])));
    assert_eq!(
        found,
        [
            ("host.name".to_string(), "from-env".to_string()),
            ("deployment.environment".into(), "prod,eu".into()),
            ("team".into(), "a b".into()),
            ("os.type".into(), "linux".into()),
        ]
    );
    assert_eq!(
        parse_env("a=1,broken"),
        Err(EnvError::NotAPair("broken".into()))
    );
    assert_eq!(parse_env("a=%zz"), Err(EnvError::BadEscape("a=%zz".into())));
    // A bad variable gives nothing from env, and the system detector still answers.
    let found = pairs(&detect(&c, &host(Some("oops"), vec![])));
    assert_eq!(found[0].0, "host.name");
}

#[test]
fn missing_machine_id_leaves_host_id_out() {
    assert_eq!(machine_id(&["/nonexistent/machine-id".into()]), None);
}

fn host_name_of(msg: &Message) -> Vec<String> {
    let Payload::Traces(req) = &msg.payload else {
        panic!()
    };
    let attrs = &req.resource_spans[0].resource.as_ref().unwrap().attributes;
    attrs
        .iter()
        .map(|kv| format!("{}={:?}", kv.key, kv.value.as_ref().unwrap().value))
        .collect()
}

#[test]
fn override_replaces_existing_attributes_and_false_only_fills_gaps() {
    let detected = vec![kv("service.name", "detected"), kv("host.name", "h1")];
    for (override_existing, service) in [(true, "detected"), (false, "svc")] {
        let mut p = ResourceDetectionProcessor::new(detected.clone(), override_existing);
        let mut out = Vec::new();
        p.process(Message::unacked(spans("svc", 1)), &mut out);
        assert_eq!(
            host_name_of(&out[0]),
            [
                format!("service.name=Some(StringValue({service:?}))"),
                "host.name=Some(StringValue(\"h1\"))".to_string(),
            ],
            "override: {override_existing}"
        );
    }
}

fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("rd-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

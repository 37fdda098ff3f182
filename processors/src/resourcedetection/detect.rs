//! What the detectors find: `OTEL_RESOURCE_ATTRIBUTES` (`env`) and the host's name, id,
//! OS and architecture (`system`). Runs once per process and config, at build time.

use std::collections::HashMap;
use std::ffi::{CStr, CString};
use std::path::PathBuf;
use std::sync::{mpsc, Arc, Mutex, OnceLock};
use std::time::Duration;

use sentinel_pipeline::otlp::common::v1::{any_value::Value, AnyValue, KeyValue};

use super::config::{Detector, HostnameSource, ResourceDetectionConfig, SystemConfig};

/// Where detection reads from: the real host, or what a test sets up.
pub struct Host {
    /// The value of `OTEL_RESOURCE_ATTRIBUTES`, if set.
    pub env_attributes: Option<String>,
    /// Tried in order for `host.id`.
    pub machine_id_files: Vec<PathBuf>,
}

impl Host {
    pub fn real() -> Host {
        Host {
            env_attributes: std::env::var("OTEL_RESOURCE_ATTRIBUTES").ok(),
            machine_id_files: vec!["/etc/machine-id".into(), "/var/lib/dbus/machine-id".into()],
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EnvError {
    #[error("OTEL_RESOURCE_ATTRIBUTES: `{0}` is not `key=value`")]
    NotAPair(String),
    #[error("OTEL_RESOURCE_ATTRIBUTES: `{0}` has a bad %-escape")]
    BadEscape(String),
}

/// The attributes, detectors in order, the first detector's value winning.
pub fn detect(config: &ResourceDetectionConfig, host: &Host) -> Vec<KeyValue> {
    let mut found: Vec<(String, String)> = Vec::new();
    for detector in &config.detectors {
        let attributes = match detector {
            Detector::Env => env_attributes(host),
            Detector::System => system_attributes(&config.system, config.timeout, host),
        };
        for (key, value) in attributes {
            if !found.iter().any(|(k, _)| *k == key) {
                found.push((key, value));
            }
        }
    }
    found.into_iter().map(|(k, v)| string_kv(k, v)).collect()
}

/// [`detect`] on the real host, once per distinct config in this process (every pipeline
/// builds its own processor); the lookups run off the async runtime's workers.
pub fn detect_once(config: &ResourceDetectionConfig) -> Arc<Vec<KeyValue>> {
    type Key = (Vec<Detector>, SystemConfig, Duration);
    static DONE: OnceLock<Mutex<HashMap<Key, Arc<Vec<KeyValue>>>>> = OnceLock::new();
    let key = (
        config.detectors.clone(),
        config.system.clone(),
        config.timeout,
    );
    let done = DONE.get_or_init(Default::default);
    let mut done = done.lock().unwrap_or_else(|p| p.into_inner());
    done.entry(key)
        .or_insert_with(|| {
            let found = off_runtime(|| detect(config, &Host::real()));
            let shown: Vec<String> = found.iter().map(show).collect();
            tracing::info!("resourcedetection: {}", shown.join(", "));
            Arc::new(found)
        })
        .clone()
}

fn off_runtime<T>(work: impl FnOnce() -> T) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current() {
        Ok(h) if h.runtime_flavor() == RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(work)
        }
        _ => work(),
    }
}

fn show(kv: &KeyValue) -> String {
    match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
        Some(Value::StringValue(s)) => format!("{}={s}", kv.key),
        _ => kv.key.clone(),
    }
}

fn string_kv(key: String, value: String) -> KeyValue {
    KeyValue {
        key,
        value: Some(AnyValue {
            value: Some(Value::StringValue(value)),
        }),
        ..Default::default()
    }
}

fn env_attributes(host: &Host) -> Vec<(String, String)> {
    let Some(text) = &host.env_attributes else {
        return Vec::new();
    };
    parse_env(text).unwrap_or_else(|err| {
        tracing::warn!("resourcedetection env: {err}; no attributes taken from it");
        Vec::new()
    })
}

/// `key1=value1,key2=value2`, values %-encoded (the OpenTelemetry SDK format).
pub fn parse_env(text: &str) -> Result<Vec<(String, String)>, EnvError> {
    let mut out = Vec::new();
    for pair in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let Some((key, value)) = pair.split_once('=') else {
            return Err(EnvError::NotAPair(pair.to_string()));
        };
        let key = key.trim();
        if key.is_empty() {
            return Err(EnvError::NotAPair(pair.to_string()));
        }
        let value =
            percent_decode(value.trim()).ok_or_else(|| EnvError::BadEscape(pair.to_string()))?;
        out.push((key.to_string(), value));
    }
    Ok(out)
}

fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn system_attributes(
    config: &SystemConfig,
    timeout: Duration,
    host: &Host,
) -> Vec<(String, String)> {
    let switches = &config.resource_attributes;
    let mut out = Vec::new();
    if switches.host_name.enabled {
        match hostname(&config.hostname_sources, timeout) {
            Some(name) => out.push(("host.name".to_string(), name)),
            None => tracing::warn!("resourcedetection system: no source gave a host name"),
        }
    }
    if switches.host_id.enabled {
        match machine_id(&host.machine_id_files) {
            Some(id) => out.push(("host.id".to_string(), id)),
            None => tracing::warn!(
                "resourcedetection system: no machine id in {:?}; host.id left out",
                host.machine_id_files
            ),
        }
    }
    if switches.os_type.enabled {
        out.push(("os.type".to_string(), os_type().to_string()));
    }
    if switches.host_arch.enabled {
        out.push(("host.arch".to_string(), host_arch().to_string()));
    }
    out
}

/// The first source that answers.
fn hostname(sources: &[HostnameSource], timeout: Duration) -> Option<String> {
    sources.iter().find_map(|source| match source {
        HostnameSource::Os => os_hostname(),
        HostnameSource::Dns => {
            let short = os_hostname()?;
            let (tx, rx) = mpsc::channel();
            // A resolver that hangs must not hold up the start longer than `timeout`.
            std::thread::spawn(move || {
                let _ = tx.send(canonical_name(&short));
            });
            match rx.recv_timeout(timeout) {
                Ok(found) => found,
                Err(_) => {
                    tracing::warn!(
                        "resourcedetection system: the dns host name lookup took over {timeout:?}"
                    );
                    None
                }
            }
        }
    })
}

/// The kernel's host name (`gethostname`).
pub fn os_hostname() -> Option<String> {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; the kernel NUL-terminates within it.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len() - 1) };
    if rc != 0 {
        return None;
    }
    let name = CStr::from_bytes_until_nul(&buf).ok()?.to_str().ok()?;
    (!name.is_empty()).then(|| name.to_string())
}

/// The resolver's canonical name for `name` (`/etc/hosts`, then DNS): the FQDN.
fn canonical_name(name: &str) -> Option<String> {
    let c_name = CString::new(name).ok()?;
    // SAFETY: zeroed addrinfo is a valid "no hints" value; we set only flags and family.
    let mut hints: libc::addrinfo = unsafe { std::mem::zeroed() };
    hints.ai_flags = libc::AI_CANONNAME;
    hints.ai_family = libc::AF_UNSPEC;
    let mut result: *mut libc::addrinfo = std::ptr::null_mut();
    // SAFETY: valid C strings and out-pointer; the list is freed below.
    let rc = unsafe { libc::getaddrinfo(c_name.as_ptr(), std::ptr::null(), &hints, &mut result) };
    if rc != 0 || result.is_null() {
        return None;
    }
    // SAFETY: `result` is a list getaddrinfo returned; ai_canonname is NUL-terminated.
    let canonical = unsafe {
        let canon = (*result).ai_canonname;
        let text = (!canon.is_null()).then(|| CStr::from_ptr(canon).to_string_lossy().into_owned());
        libc::freeaddrinfo(result);
        text
    };
    canonical.filter(|c| !c.is_empty())
}

/// The first non-empty machine id file, trimmed.
pub fn machine_id(files: &[PathBuf]) -> Option<String> {
    files.iter().find_map(|path| {
        let text = std::fs::read_to_string(path).ok()?;
        let id = text.trim();
        (!id.is_empty()).then(|| id.to_string())
    })
}

/// The semantic conventions' `os.type`.
fn os_type() -> &'static str {
    match std::env::consts::OS {
        "macos" => "darwin",
        other => other,
    }
}

/// The semantic conventions' `host.arch`.
fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "x86",
        "arm" => "arm32",
        "powerpc64" => "ppc64",
        "s390x" => "s390x",
        other => other,
    }
}

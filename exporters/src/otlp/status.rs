//! gRPC status → export outcome, per the OTLP spec's list of retryable codes.

use std::time::Duration;

use prost::Message;
use sentinel_pipeline::ExportError;
use tonic::{Code, Status};

/// `google.rpc.Status`, only as far as needed to find a `RetryInfo` detail.
#[derive(Clone, PartialEq, Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
    #[prost(message, repeated, tag = "3")]
    details: Vec<Any>,
}

#[derive(Clone, PartialEq, Message)]
struct Any {
    #[prost(string, tag = "1")]
    type_url: String,
    #[prost(bytes = "vec", tag = "2")]
    value: Vec<u8>,
}

#[derive(Clone, PartialEq, Message)]
struct RetryInfo {
    #[prost(message, optional, tag = "1")]
    retry_delay: Option<ProtoDuration>,
}

#[derive(Clone, PartialEq, Message)]
struct ProtoDuration {
    #[prost(int64, tag = "1")]
    seconds: i64,
    #[prost(int32, tag = "2")]
    nanos: i32,
}

/// The server's `RetryInfo.retry_delay`, if it sent one.
pub fn retry_delay(status: &Status) -> Option<Duration> {
    let rpc = RpcStatus::decode(status.details()).ok()?;
    let info = rpc
        .details
        .iter()
        .find(|any| any.type_url.ends_with("google.rpc.RetryInfo"))?;
    let delay = RetryInfo::decode(info.value.as_slice()).ok()?.retry_delay?;
    Some(Duration::new(
        delay.seconds.max(0) as u64,
        delay.nanos.max(0) as u32,
    ))
}

pub fn classify(status: &Status) -> ExportError {
    let message = format!("gRPC {:?}: {}", status.code(), status.message());
    match status.code() {
        // Unknown is what tonic reports for broken connections, so it is retried too.
        Code::Unavailable
        | Code::ResourceExhausted
        | Code::DeadlineExceeded
        | Code::Aborted
        | Code::Cancelled
        | Code::OutOfRange
        | Code::DataLoss
        | Code::Unknown => ExportError::Retryable {
            message,
            retry_after: retry_delay(status),
        },
        _ => ExportError::Permanent { message },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_info_is_read_from_details() {
        let info = RetryInfo {
            retry_delay: Some(ProtoDuration {
                seconds: 3,
                nanos: 0,
            }),
        };
        let rpc = RpcStatus {
            code: Code::ResourceExhausted as i32,
            message: "slow down".into(),
            details: vec![Any {
                type_url: "type.googleapis.com/google.rpc.RetryInfo".into(),
                value: info.encode_to_vec(),
            }],
        };
        let status = Status::with_details(
            Code::ResourceExhausted,
            "slow down",
            rpc.encode_to_vec().into(),
        );
        match classify(&status) {
            ExportError::Retryable { retry_after, .. } => {
                assert_eq!(retry_after, Some(Duration::from_secs(3)))
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            classify(&Status::invalid_argument("bad")),
            ExportError::Permanent { .. }
        ));
        assert!(matches!(
            classify(&Status::unavailable("down")),
            ExportError::Retryable {
                retry_after: None,
                ..
            }
        ));
    }
}

//! Tests of the otlp receiver against real sockets on 127.0.0.1.

mod admission;
mod config;
mod decode;
mod forward;
mod grpc;
mod http;
mod support;

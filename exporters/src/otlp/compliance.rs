use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use sentinel_pipeline::otlp::collector::logs::v1::logs_service_server::{
    LogsService, LogsServiceServer,
};
use sentinel_pipeline::otlp::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use sentinel_pipeline::otlp::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use sentinel_pipeline::otlp::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use sentinel_pipeline::otlp::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use sentinel_pipeline::otlp::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use sentinel_pipeline::testing::ExporterCompliance;
use sentinel_pipeline::{Payload, Signal};
use tokio::net::TcpListener;
use tonic::codec::CompressionEncoding;
use tonic::{Request, Response, Status};

use super::OtlpFactory;
use crate::sending::compliance::{counted_by, start_for_compliance};

/// A real OTLP/gRPC server for the three signals that counts the items it accepted.
#[derive(Clone, Default)]
pub(crate) struct CountingServer {
    pub items: Arc<AtomicU64>,
}

impl CountingServer {
    fn count(&self, payload: Payload) {
        self.items
            .fetch_add(payload.item_count() as u64, Ordering::SeqCst);
    }

    pub async fn start(&self) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let gzip = CompressionEncoding::Gzip;
        let incoming = futures::stream::unfold(listener, |listener| async move {
            let accepted = listener.accept().await.map(|(stream, _)| stream);
            Some((accepted, listener))
        });
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(TraceServiceServer::new(self.clone()).accept_compressed(gzip))
                .add_service(MetricsServiceServer::new(self.clone()).accept_compressed(gzip))
                .add_service(LogsServiceServer::new(self.clone()).accept_compressed(gzip))
                .serve_with_incoming(incoming),
        );
        addr
    }
}

#[tonic::async_trait]
impl TraceService for CountingServer {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        self.count(Payload::Traces(request.into_inner()));
        Ok(Response::new(ExportTraceServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl MetricsService for CountingServer {
    async fn export(
        &self,
        request: Request<ExportMetricsServiceRequest>,
    ) -> Result<Response<ExportMetricsServiceResponse>, Status> {
        self.count(Payload::Metrics(request.into_inner()));
        Ok(Response::new(ExportMetricsServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl LogsService for CountingServer {
    async fn export(
        &self,
        request: Request<ExportLogsServiceRequest>,
    ) -> Result<Response<ExportLogsServiceResponse>, Status> {
        self.count(Payload::Logs(request.into_inner()));
        Ok(Response::new(ExportLogsServiceResponse::default()))
    }
}

#[tokio::test]
async fn otlp_meets_the_exporter_contract() {
    for signal in Signal::ALL {
        let server = CountingServer::default();
        let addr = server.start().await;
        let config = format!("endpoint: http://{addr}\ncompression: gzip\n");
        ExporterCompliance::new(&OtlpFactory, &config, signal, start_for_compliance)
            .delivered_items(counted_by(server.items.clone()))
            .run()
            .await;
    }
}

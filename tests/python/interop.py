"""Sends spans, a metric and a log record to Sentinel with the official Python SDK.

Usage: interop.py GRPC_PORT HTTP_PORT
Sends one span per transport (named `python-grpc` and `python-http`) plus a counter and a
log record over gRPC. Exits non-zero if any export fails.
"""

import logging
import sys

from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult


class CheckedExporter:
    """Wraps a span exporter and remembers whether every export succeeded."""

    def __init__(self, inner):
        self.inner = inner
        self.ok = True

    def export(self, spans):
        result = self.inner.export(spans)
        if result != SpanExportResult.SUCCESS:
            self.ok = False
        return result

    def shutdown(self):
        self.inner.shutdown()

    def force_flush(self, timeout_millis=30000):
        return True


def main() -> int:
    grpc_port, http_port = sys.argv[1], sys.argv[2]
    resource = Resource.create({"service.name": "python-interop"})
    failures = []

    for transport, exporter in (
        ("grpc", GrpcSpanExporter(endpoint=f"127.0.0.1:{grpc_port}", insecure=True)),
        ("http", HttpSpanExporter(endpoint=f"http://127.0.0.1:{http_port}/v1/traces")),
    ):
        checked = CheckedExporter(exporter)
        provider = TracerProvider(resource=resource)
        provider.add_span_processor(SimpleSpanProcessor(checked))
        tracer = provider.get_tracer("interop")
        with tracer.start_as_current_span(f"python-{transport}") as span:
            span.set_attribute("transport", transport)
            span.set_attribute("answer", 42)
        provider.shutdown()
        if not checked.ok:
            failures.append(f"span export over {transport}")

    reader = PeriodicExportingMetricReader(
        OTLPMetricExporter(endpoint=f"127.0.0.1:{grpc_port}", insecure=True),
        export_interval_millis=60_000,
    )
    meters = MeterProvider(resource=resource, metric_readers=[reader])
    counter = meters.get_meter("interop").create_counter("python.requests")
    counter.add(5, {"route": "/checkout"})
    if not meters.force_flush():
        failures.append("metric export")
    meters.shutdown()

    loggers = LoggerProvider(resource=resource)
    loggers.add_log_record_processor(
        SimpleLogRecordProcessor(OTLPLogExporter(endpoint=f"127.0.0.1:{grpc_port}", insecure=True))
    )
    logger = logging.getLogger("interop")
    logger.addHandler(LoggingHandler(level=logging.INFO, logger_provider=loggers))
    logger.setLevel(logging.INFO)
    logger.warning("python says hello")
    loggers.shutdown()

    if failures:
        print("failed: " + ", ".join(failures), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

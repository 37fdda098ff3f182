"""The official OpenTelemetry Python SDK exports one span over OTLP/gRPC and one over
OTLP/HTTP to an agent that requires TLS (and, on HTTP, a client certificate) and a
bearer token, once with each of the given tokens. Prints one JSON line per attempt:
{"protocol", "token", "client_cert", "ok"}.

usage: tls_auth.py GRPC_PORT HTTP_PORT CERT_DIR TOKEN...
"""

import json
import sys

import grpc
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult


class Keep(SpanExporter):
    def __init__(self):
        self.spans = []

    def export(self, spans):
        self.spans.extend(spans)
        return SpanExportResult.SUCCESS


def span(name):
    keep = Keep()
    provider = TracerProvider(resource=Resource.create({"service.name": "python-tls"}))
    provider.add_span_processor(SimpleSpanProcessor(keep))
    with provider.get_tracer("tls-auth").start_as_current_span(name):
        pass
    return keep.spans


def main():
    grpc_port, http_port, certs = sys.argv[1], sys.argv[2], sys.argv[3]
    ca = open(f"{certs}/ca.crt", "rb").read()
    for token in sys.argv[4:]:
        headers = {"authorization": f"Bearer {token}"}
        credentials = grpc.ssl_channel_credentials(root_certificates=ca)
        exporter = GrpcExporter(
            endpoint=f"localhost:{grpc_port}", credentials=credentials, headers=headers, timeout=5
        )
        ok = exporter.export(span(f"grpc-{token}")) == SpanExportResult.SUCCESS
        print(json.dumps({"protocol": "grpc", "token": token, "client_cert": False, "ok": ok}))
        exporter.shutdown()
        for client_cert in (True, False):
            identity = {}
            if client_cert:
                identity = {
                    "client_certificate_file": f"{certs}/client.crt",
                    "client_key_file": f"{certs}/client.key",
                }
            exporter = HttpExporter(
                endpoint=f"https://localhost:{http_port}/v1/traces",
                certificate_file=f"{certs}/ca.crt",
                headers=headers,
                timeout=3,
                **identity,
            )
            try:
                ok = exporter.export(span(f"http-{token}-{client_cert}")) == SpanExportResult.SUCCESS
            except Exception:  # a refused handshake may surface as an exception
                ok = False
            print(json.dumps({"protocol": "http", "token": token, "client_cert": client_cert, "ok": ok}))
            exporter.shutdown()
        sys.stdout.flush()


if __name__ == "__main__":
    main()

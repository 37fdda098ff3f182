#!/usr/bin/env python3
"""Writes the provisioned Grafana dashboards in deploy/grafana/dashboards/.

The dashboards are JSON for Grafana's file provisioning; this script is their source, so
the SQL stays readable and every panel is built the same way. Edit here, then run
`python3 deploy/grafana/build_dashboards.py` and commit both. The SQL targets the
`sentinel` schema of the postgres exporter (docs/postgres.md) and is run, with Grafana's
macros expanded, against a PostgreSQL filled by the real agent in
tests/tests/grafana_sql.rs.
"""

import json
import os
import sys

DS = {"type": "grafana-postgresql-datasource", "uid": "sentinel-postgres"}
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "dashboards")

# Series from metric_points joined with their series row, filtered to the time range.
POINTS = """FROM sentinel.metric_points p JOIN sentinel.metric_series s USING (series_id)
WHERE $__timeFilter(p.ts)"""


def query_var(name, label, sql, multi=True):
    return {
        "name": name, "label": label, "type": "query", "datasource": DS,
        "query": sql, "definition": sql, "refresh": 2, "sort": 1,
        "multi": multi, "includeAll": multi, "options": [],
        # Everything selected by default (what the SQL test runs with).
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]} if multi else {},
    }


def textbox(name, label, default=""):
    return {"name": name, "label": label, "type": "textbox", "query": default,
            "current": {"text": default, "value": default}, "options": []}


def panel(kind, title, sql, fmt, x, y, w=12, h=8, **extra):
    p = {
        "type": kind, "title": title, "datasource": DS,
        "gridPos": {"x": x, "y": y, "w": w, "h": h},
        "targets": [{"refId": "A", "datasource": DS, "editorMode": "code", "rawQuery": True,
                     "format": fmt, "rawSql": sql.strip()}],
    }
    p.update(extra)
    return p


def series(title, sql, x, y, unit="short", w=12, **extra):
    return panel("timeseries", title, sql, "time_series", x, y, w=w,
                 fieldConfig={"defaults": {"unit": unit}, "overrides": []}, **extra)


def table(title, sql, x, y, w=24, h=8, **extra):
    return panel("table", title, sql, "table", x, y, w=w, h=h, **extra)


def stat(title, sql, x, y, unit="short", w=6):
    return panel("stat", title, sql, "table", x, y, w=w, h=4,
                 fieldConfig={"defaults": {"unit": unit}, "overrides": []})


def link_column(column, url):
    """A table column whose cells link to `url` (Grafana data link)."""
    return {"fieldConfig": {"defaults": {}, "overrides": [{
        "matcher": {"id": "byName", "options": column},
        "properties": [{"id": "links", "value": [{"title": "Open", "url": url}]}]}]}}


def dashboard(uid, title, panels, variables, tags):
    for i, p in enumerate(panels, start=1):
        p["id"] = i
    return {
        "uid": uid, "title": title, "tags": ["sentinel"] + tags, "editable": True,
        "schemaVersion": 39, "version": 1, "refresh": "30s",
        "time": {"from": "now-1h", "to": "now"}, "timezone": "browser",
        "templating": {"list": variables}, "panels": panels,
        "annotations": {"list": []},
    }


SERVICE_FILTER = "service_name IN ($service)"
ENTRY_SPANS = "(span_kind IN ('server', 'consumer') OR parent_span_id IS NULL)"


def service_overview():
    where = f"WHERE $__timeFilter(ts) AND {SERVICE_FILTER} AND {ENTRY_SPANS}"
    panels = [
        series("Request rate (server, consumer and root spans)", f"""
SELECT $__timeGroupAlias(ts, $__interval), service_name AS metric,
       count(*) * 1000.0 / $__interval_ms AS "requests/s"
FROM sentinel.otel_spans
{where}
GROUP BY 1, 2
ORDER BY 1""", 0, 0, unit="reqps"),
        series("Error rate", f"""
SELECT $__timeGroupAlias(ts, $__interval), service_name AS metric,
       100.0 * count(*) FILTER (WHERE status_code = 'error') / count(*) AS "errors %"
FROM sentinel.otel_spans
{where}
GROUP BY 1, 2
ORDER BY 1""", 12, 0, unit="percent"),
        series("Duration percentiles", f"""
SELECT $__timeGroupAlias(ts, $__interval),
       percentile_cont(0.50) WITHIN GROUP (ORDER BY duration_ns) / 1e6 AS "p50",
       percentile_cont(0.95) WITHIN GROUP (ORDER BY duration_ns) / 1e6 AS "p95",
       percentile_cont(0.99) WITHIN GROUP (ORDER BY duration_ns) / 1e6 AS "p99"
FROM sentinel.otel_spans
{where}
GROUP BY 1
ORDER BY 1""", 0, 8, unit="ms", w=24),
        table("Operations", """
SELECT service_name AS "service", span_name AS "operation", count(*) AS "calls",
       count(*) FILTER (WHERE status_code = 'error') AS "errors",
       percentile_cont(0.95) WITHIN GROUP (ORDER BY duration_ns) / 1e6 AS "p95 ms"
FROM sentinel.otel_spans
WHERE $__timeFilter(ts) AND service_name IN ($service)
GROUP BY 1, 2
ORDER BY 3 DESC
LIMIT 50""", 0, 16),
        table("Recent errors", """
SELECT ts AS "time", service_name AS "service", span_name AS "operation",
       replace(trace_id::text, '-', '') AS "trace ID", status_message AS "message",
       duration_ns / 1e6 AS "duration ms"
FROM sentinel.spans
WHERE $__timeFilter(ts) AND service_name IN ($service) AND status_code = 2
ORDER BY ts DESC
LIMIT 100""", 0, 24, **link_column(
            "trace ID", "/d/sentinel-traces/sentinel-traces?var-trace_id=${__value.raw}&${__url_time_range}")),
    ]
    variables = [query_var("service", "Service", """
SELECT DISTINCT service_name FROM sentinel.otel_spans WHERE $__timeFilter(ts) ORDER BY 1""".strip())]
    return dashboard("sentinel-service-overview", "Sentinel / Service overview", panels, variables,
                     ["traces"])


# The trace shown: the one typed in, else the slowest root span of the selection.
CHOSEN_TRACE = """WITH chosen AS (
  SELECT coalesce(
    CASE WHEN replace('$trace_id', '-', '') ~* '^[0-9a-f]{32}$'
         THEN replace('$trace_id', '-', '')::uuid END,
    (SELECT trace_id FROM sentinel.otel_spans
     WHERE $__timeFilter(ts) AND parent_span_id IS NULL AND service_name IN ($service)
     ORDER BY duration_ns DESC LIMIT 1)) AS trace_id
)"""


def key_values(column):
    """A jsonb object as Grafana's [{key, value}] list."""
    return (f"(SELECT coalesce(jsonb_agg(jsonb_build_object('key', k, 'value', v)), '[]'::jsonb) "
            f"FROM jsonb_each({column}) AS kv(k, v))")


def traces():
    panels = [
        table("Traces (root spans)", """
SELECT r.ts AS "time", replace(r.trace_id::text, '-', '') AS "trace ID",
       r.service_name AS "service", r.span_name AS "root operation",
       r.duration_ns / 1e6 AS "duration ms", r.status_code AS "status",
       (SELECT count(*) FROM sentinel.otel_spans s WHERE s.trace_id = r.trace_id) AS "spans"
FROM sentinel.otel_spans r
WHERE $__timeFilter(r.ts) AND r.parent_span_id IS NULL AND r.service_name IN ($service)
  AND r.duration_ns >= coalesce(nullif('$min_ms', '')::float8, 0) * 1e6
ORDER BY r.ts DESC
LIMIT 100""", 0, 0, h=9, **link_column(
            "trace ID", "/d/sentinel-traces/sentinel-traces?var-trace_id=${__value.raw}&${__url_time_range}")),
        # Field names and types of Grafana's trace data frame (TraceSpanRow): ids as
        # strings, startTime in epoch milliseconds, duration in milliseconds, tags and
        # serviceTags as [{key, value}], logs as [{timestamp, name, fields}].
        panel("traces", "Trace", CHOSEN_TRACE + f"""
SELECT replace(s.trace_id::text, '-', '') AS "traceID",
       encode(s.span_id, 'hex') AS "spanID",
       encode(s.parent_span_id, 'hex') AS "parentSpanID",
       s.span_name AS "operationName",
       s.service_name AS "serviceName",
       {key_values('s.resource_attributes')} AS "serviceTags",
       extract(epoch FROM s.ts) * 1000 AS "startTime",
       s.duration_ns / 1e6 AS "duration",
       {key_values('s.attributes')} AS "tags",
       (SELECT coalesce(jsonb_agg(jsonb_build_object(
                 'timestamp', (e->>'time_unix_nano')::numeric / 1e6, 'name', e->>'name',
                 'fields', {key_values("e->'attributes'")})), '[]'::jsonb)
        FROM jsonb_array_elements(coalesce(s.events, '[]'::jsonb)) AS e) AS "logs",
       coalesce(sentinel.kind_name(s.span_kind), 'unspecified') AS "kind",
       s.status_code AS "statusCode",
       s.status_message AS "statusMessage"
FROM sentinel.spans s JOIN chosen c ON s.trace_id = c.trace_id
ORDER BY s.ts""", "table", 0, 9, w=24, h=14),
        table("Logs of the trace", CHOSEN_TRACE + """
SELECT l.ts AS "time", l.service_name AS "service", l.severity_text AS "severity",
       l.event_name AS "event", l.body AS "body", encode(l.span_id, 'hex') AS "span ID"
FROM sentinel.otel_logs l JOIN chosen c ON l.trace_id = c.trace_id
ORDER BY l.ts""", 0, 23),
    ]
    variables = [
        query_var("service", "Service", """
SELECT DISTINCT service_name FROM sentinel.otel_spans WHERE $__timeFilter(ts) ORDER BY 1""".strip()),
        textbox("min_ms", "Min duration (ms)", "0"),
        textbox("trace_id", "Trace ID (empty: slowest)"),
    ]
    return dashboard("sentinel-traces", "Sentinel / Traces", panels, variables, ["traces"])


HOST = "s.resource_attributes->>'host.name'"


def host_gauge(title, metric, label, unit="percent", scale="* 100", x=0, y=0):
    return series(title, f"""
SELECT $__timeGroupAlias(p.ts, $__interval), {HOST} || ' ' || {label} AS metric,
       avg(p.value) {scale} AS "value"
{POINTS} AND s.metric_name = '{metric}' AND {HOST} IN ($host)
GROUP BY 1, 2
ORDER BY 1""", x, y, unit=unit)


def host_metrics():
    panels = [
        host_gauge("CPU by mode (average over CPUs)", "system.cpu.utilization",
                   "(s.attributes->>'cpu.mode')", x=0, y=0),
        host_gauge("Memory by state", "system.memory.utilization",
                   "(s.attributes->>'system.memory.state')", x=12, y=0),
        series("Load average", f"""
SELECT $__timeGroupAlias(p.ts, $__interval), {HOST} || ' ' || s.metric_name AS metric,
       avg(p.value) AS "value"
{POINTS} AND s.metric_name LIKE 'system.cpu.load\\_average.%' AND {HOST} IN ($host)
GROUP BY 1, 2
ORDER BY 1""", 0, 8),
        host_gauge("Filesystem used", "system.filesystem.utilization",
                   "(s.attributes->>'system.filesystem.mountpoint')", x=12, y=8),
        # Counters become rates per series (lag over the series' own points), then are
        # summed over interfaces.
        series("Network traffic", f"""
WITH rates AS (
  SELECT p.ts, p.series_id, {HOST} || ' ' || (s.attributes->>'network.io.direction') AS metric,
         (p.value - lag(p.value) OVER w) / nullif(extract(epoch FROM p.ts - lag(p.ts) OVER w), 0) AS rate
  {POINTS} AND s.metric_name = 'system.network.io' AND {HOST} IN ($host)
  WINDOW w AS (PARTITION BY p.series_id ORDER BY p.ts)
), per_series AS (
  SELECT $__timeGroup(ts, $__interval) AS bucket, series_id, metric, avg(rate) AS rate
  FROM rates WHERE rate >= 0
  GROUP BY 1, 2, 3
)
SELECT bucket AS "time", metric, sum(rate) AS "bytes/s"
FROM per_series
GROUP BY 1, 2
ORDER BY 1""", 0, 16, unit="Bps", w=24),
    ]
    variables = [query_var("host", "Host", """
SELECT DISTINCT resource_attributes->>'host.name' FROM sentinel.metric_series
WHERE metric_name LIKE 'system.%' AND resource_attributes->>'host.name' IS NOT NULL
ORDER BY 1""".strip())]
    return dashboard("sentinel-host", "Sentinel / Host metrics", panels, variables, ["hostmetrics"])


def gauge_by(title, metrics, label, x, y, unit="short", w=12):
    names = ", ".join(f"'{m}'" for m in metrics)
    return series(title, f"""
SELECT $__timeGroupAlias(p.ts, $__interval), {label} AS metric, avg(p.value) AS "value"
{POINTS} AND s.metric_name IN ({names}) AND s.service_name IN ($service)
GROUP BY 1, 2
ORDER BY 1""", x, y, unit=unit, w=w)


POOL = "(s.attributes->>'db.client.connection.pool.name')"


def connection_pools():
    panels = [
        gauge_by("Client pools: connections by state", ["db.client.connection.count"],
                 f"{POOL} || ' ' || (s.attributes->>'db.client.connection.state')", 0, 0),
        gauge_by("Client pools: pending requests and max", [
            "db.client.connection.pending_requests", "db.client.connection.max"],
            f"{POOL} || ' ' || s.metric_name", 12, 0),
        gauge_by("Servers: connections (PostgreSQL, PgBouncer, Redis)", [
            "postgresql.backends", "postgresql.connection.count", "postgresql.connection.max",
            "pgbouncer.pool.client.active", "pgbouncer.pool.client.waiting",
            "pgbouncer.pool.server.active", "redis.clients.connected", "redis.clients.blocked"],
            "s.metric_name || coalesce(' ' || (s.attributes->>'db.namespace'), '')"
            " || coalesce(' ' || (s.attributes->>'postgresql.connection.state'), '')", 0, 8, w=24),
        table("Targets", """
SELECT DISTINCT ON (s.series_id) s.metric_name AS "check", s.service_name AS "service",
       p.ts AS "last seen", p.value AS "up"
FROM sentinel.metric_points p JOIN sentinel.metric_series s USING (series_id)
WHERE $__timeFilter(p.ts) AND s.metric_name IN ('postgresql.up', 'pgbouncer.up', 'redis.up')
ORDER BY s.series_id, p.ts DESC""", 0, 16),
    ]
    variables = [query_var("service", "Service", """
SELECT DISTINCT service_name FROM sentinel.metric_series
WHERE metric_name LIKE 'db.client.connection%' OR metric_name LIKE 'postgresql.%'
   OR metric_name LIKE 'pgbouncer.%' OR metric_name LIKE 'redis.%'
ORDER BY 1""".strip())]
    return dashboard("sentinel-pools", "Sentinel / Connection pools", panels, variables, ["pools"])


# llm_cost and hook_metrics emit delta sums: a bucket's spend is the sum of its points.
def delta_series(title, metric, label, x, y, unit, where="", w=12, column="value"):
    return series(title, f"""
SELECT $__timeGroupAlias(p.ts, $__interval), {label} AS metric, sum(p.value) AS "{column}"
{POINTS} AND s.metric_name = '{metric}'{where}
GROUP BY 1, 2
ORDER BY 1""", x, y, unit=unit, w=w)


LLM_SERVICE = " AND (s.attributes->>'service.name') IN ($service)"


def llm_cost():
    panels = [
        stat("Spend in range", f"""
SELECT coalesce(sum(p.value), 0) AS "USD"
{POINTS} AND s.metric_name = 'sentinel.llm.cost'{LLM_SERVICE}""", 0, 0, unit="currencyUSD"),
        stat("Unpriced calls", f"""
SELECT coalesce(sum(p.value), 0) AS "calls"
{POINTS} AND s.metric_name = 'sentinel.llm.unpriced'{LLM_SERVICE}""", 6, 0),
        delta_series("Cost by model", "sentinel.llm.cost",
                     "(s.attributes->>'gen_ai.request.model')", 0, 4, "currencyUSD", LLM_SERVICE,
                     column="USD"),
        delta_series("Cost by service", "sentinel.llm.cost",
                     "coalesce(s.attributes->>'service.name', 'unknown')", 12, 4, "currencyUSD",
                     LLM_SERVICE, column="USD"),
        delta_series("Tokens by type", "sentinel.llm.tokens",
                     "(s.attributes->>'gen_ai.token.type')", 0, 12, "short", LLM_SERVICE, w=24,
                     column="tokens"),
        table("Cost by session", f"""
SELECT coalesce(s.attributes->>'session.id', '(none)') AS "session",
       string_agg(DISTINCT s.attributes->>'gen_ai.request.model', ', ') AS "models",
       min(p.ts) AS "first", max(p.ts) AS "last", sum(p.value) AS "USD"
{POINTS} AND s.metric_name = 'sentinel.llm.cost'{LLM_SERVICE}
GROUP BY 1
ORDER BY 5 DESC
LIMIT 50""", 0, 20),
    ]
    variables = [query_var("service", "Service", """
SELECT DISTINCT coalesce(attributes->>'service.name', 'unknown') FROM sentinel.metric_series
WHERE metric_name LIKE 'sentinel.llm.%' ORDER BY 1""".strip())]
    return dashboard("sentinel-llm-cost", "Sentinel / LLM cost", panels, variables, ["llm"])


HOOK = "claude_code.hook."


def claude_code():
    panels = [
        stat("Sessions started", f"""
SELECT coalesce(sum(p.value), 0) AS "sessions"
{POINTS} AND s.metric_name = 'sentinel.hook.sessions'""", 0, 0),
        stat("Tool calls", f"""
SELECT coalesce(sum(p.value), 0) AS "calls"
{POINTS} AND s.metric_name = 'sentinel.hook.tool_calls'""", 6, 0),
        stat("Denied by policy", f"""
SELECT coalesce(sum(p.value), 0) AS "denied"
{POINTS} AND s.metric_name = 'sentinel.hook.blocked'""", 12, 0),
        delta_series("Tool calls by outcome", "sentinel.hook.tool_calls",
                     "(s.attributes->>'outcome')", 0, 4, "short", column="calls"),
        delta_series("Denies by rule", "sentinel.hook.blocked",
                     "(s.attributes->>'sentinel.policy.rule_id')", 12, 4, "short", column="denies"),
        table("Tool calls by tool", f"""
SELECT s.attributes->>'gen_ai.tool.name' AS "tool",
       sum(p.value) FILTER (WHERE s.attributes->>'outcome' = 'success') AS "success",
       sum(p.value) FILTER (WHERE s.attributes->>'outcome' = 'failure') AS "failure",
       sum(p.value) FILTER (WHERE s.attributes->>'outcome' = 'blocked') AS "blocked"
{POINTS} AND s.metric_name = 'sentinel.hook.tool_calls'
GROUP BY 1
ORDER BY 2 DESC NULLS LAST""", 0, 12, w=12),
        table("Sessions", f"""
SELECT attributes->>'session.id' AS "session", min(ts) AS "first event", max(ts) AS "last event",
       count(*) AS "events",
       count(*) FILTER (WHERE event_name = '{HOOK}PreToolUse') AS "tool requests",
       count(*) FILTER (WHERE attributes->>'sentinel.policy.decision' = 'deny') AS "denied",
       max(attributes->>'cwd') AS "cwd"
FROM sentinel.otel_logs
WHERE $__timeFilter(ts) AND event_name LIKE 'claude\\_code.hook.%' AND attributes ? 'session.id'
GROUP BY 1
ORDER BY 3 DESC
LIMIT 50""", 12, 12, w=12),
        table("Denied tool calls", f"""
SELECT ts AS "time", attributes->>'session.id' AS "session",
       attributes->>'gen_ai.tool.name' AS "tool",
       attributes->>'sentinel.policy.rule_id' AS "rule", body AS "event"
FROM sentinel.otel_logs
WHERE $__timeFilter(ts) AND event_name = '{HOOK}PreToolUse'
  AND attributes->>'sentinel.policy.decision' = 'deny'
ORDER BY ts DESC
LIMIT 100""", 0, 20),
    ]
    return dashboard("sentinel-claude-code", "Sentinel / Claude Code activity", panels, [],
                     ["claude-code"])


ALERTS = "FROM sentinel.otel_logs\nWHERE $__timeFilter(ts) AND event_name = 'sentinel.alert'"


def alert_history():
    panels = [
        table("Firing now (latest state per alert)", f"""
SELECT * FROM (
  SELECT DISTINCT ON (attributes->>'fingerprint')
         attributes->>'alertname' AS "alert", attributes->>'state' AS "state",
         severity_text AS "severity", attributes->>'startsAt' AS "since",
         (attributes->'labels')::text AS "labels", body AS "summary",
         (attributes->>'value')::float8 AS "value", attributes->>'fingerprint' AS "fingerprint"
  {ALERTS}
  ORDER BY attributes->>'fingerprint', ts DESC
) latest
WHERE "state" = 'firing'""", 0, 0),
        series("Alerts firing", f"""
SELECT $__timeGroupAlias(ts, $__interval), attributes->>'alertname' AS metric,
       count(DISTINCT attributes->>'fingerprint') AS "firing"
{ALERTS} AND attributes->>'state' = 'firing'
GROUP BY 1, 2
ORDER BY 1""", 0, 8, w=24),
        table("State changes", f"""
SELECT ts AS "time", attributes->>'alertname' AS "alert", attributes->>'state' AS "state",
       severity_text AS "severity", (attributes->'labels')::text AS "labels",
       body AS "summary", (attributes->>'value')::float8 AS "value",
       attributes->>'rule_group' AS "group", attributes->>'fingerprint' AS "fingerprint"
FROM (
  SELECT *, lag(attributes->>'state') OVER (PARTITION BY attributes->>'fingerprint' ORDER BY ts) AS previous
  {ALERTS}
) history
WHERE previous IS DISTINCT FROM attributes->>'state'
ORDER BY ts DESC
LIMIT 200""", 0, 16, h=10),
    ]
    return dashboard("sentinel-alerts", "Sentinel / Alert history", panels, [], ["alerts"])


def main():
    # An output directory argument writes elsewhere (the SQL test checks that the
    # committed JSON is what this script writes).
    out = sys.argv[1] if len(sys.argv) > 1 else OUT
    os.makedirs(out, exist_ok=True)
    for name, build in [("service-overview", service_overview), ("traces", traces),
                        ("host-metrics", host_metrics), ("connection-pools", connection_pools),
                        ("llm-cost", llm_cost), ("claude-code", claude_code),
                        ("alert-history", alert_history)]:
        with open(os.path.join(out, f"{name}.json"), "w") as f:
            json.dump(build(), f, indent=2)
            f.write("\n")
        print(f"wrote dashboards/{name}.json")


if __name__ == "__main__":
    main()

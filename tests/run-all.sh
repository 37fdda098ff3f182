#!/usr/bin/env bash
# Runs every Sentinel test on a fresh Debian machine: installs what the tests need (the Debian
# packages below, the Python packages of tests/python/requirements.txt, cargo-fuzz), builds,
# runs each fuzz target briefly, then the whole workspace's unit and end-to-end tests against
# the real binary.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages: the real services the tests start themselves (an ephemeral PostgreSQL
# cluster via initdb, PgBouncer, Redis), and Python for the interop test. Their packaged
# services are not used: each test starts its own on free loopback ports.
need=()
command -v python3 >/dev/null 2>&1 && python3 -m pip --version >/dev/null 2>&1 || need+=(python3 python3-pip)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
[ -x /usr/sbin/pgbouncer ] || need+=(pgbouncer)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
# unshare, mount and setpriv (namespace, cgroup and unprivileged-user tests), and ip.
command -v unshare >/dev/null 2>&1 && command -v setpriv >/dev/null 2>&1 || need+=(util-linux)
command -v ip >/dev/null 2>&1 || need+=(iproute2)
# umoci: builds and unpacks the OCI image (deploy/container/build-image.sh) without a daemon.
command -v umoci >/dev/null 2>&1 || need+=(umoci)
# Prometheus and promtool: admin /metrics lint and the PromQL, alert-rule and remote-write oracles.
command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1 || need+=(prometheus)
# VictoriaMetrics: the second store of the prometheusremotewrite end-to-end test.
command -v victoria-metrics >/dev/null 2>&1 || need+=(victoria-metrics)
# Building librdkafka (the kafka components) from the rdkafka crate's bundled source.
command -v cmake >/dev/null 2>&1 || need+=(cmake)
[ -f /usr/include/openssl/ssl.h ] && [ -f /usr/include/x86_64-linux-gnu/curl/curl.h -o -f /usr/include/curl/curl.h ] || need+=(libssl-dev libcurl4-openssl-dev)
# Alertmanager and an SMTP server (aiosmtpd) for the notification exporters' tests.
command -v prometheus-alertmanager >/dev/null 2>&1 || need+=(prometheus-alertmanager)
# Headless Chromium: renders the admin status page in the status-page test.
command -v chromium >/dev/null 2>&1 || need+=(chromium)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
fi
python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore \
  -r tests/python/requirements.txt

cargo build --workspace --all-targets
bash tests/fuzz-smoke.sh  # fuzz/ targets ~20 s each (docs/fuzzing.md)
cargo test --workspace --no-fail-fast

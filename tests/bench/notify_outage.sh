#!/usr/bin/env bash
# The issue's 10-minute receiver outage for the notification exporters: the e2e test
# tests/tests/notify_durability.rs `a_receiver_outage_delivers_everything_afterwards_grouped`
# with the outage stretched from 20 s to SECONDS (default 600). Alerts keep arriving and
# being re-sent during the outage into a webhook exporter with a disk queue; when the
# receiver comes back, everything must be delivered, grouped. Prints the count of
# notifications and how long after the receiver came back the last one arrived.
#
# Usage: tests/bench/notify_outage.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/../.."
SENTINEL_NOTIFY_OUTAGE_SECS="${1:-600}" nice -n 10 cargo test -p sentinel-tests --test notify_durability \
  a_receiver_outage_delivers_everything_afterwards_grouped -- --exact --nocapture 2>&1 | grep -E "outage|test result"

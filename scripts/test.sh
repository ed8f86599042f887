#!/usr/bin/env bash
# The whole test suite: formatting, lints, then every test of the workspace.
# Usage: scripts/test.sh   (from anywhere; needs the repository, PostgreSQL and NATS (started if
# down) and Chromium with chromedriver (installed with apt-get if missing; run as root))
set -euo pipefail
cd "$(dirname "$0")/.."

# Waits up to ten seconds for a check to pass.
wait_until() {
    for _ in 1 2 3 4 5 6 7 8 9 10; do
        "$@" && return 0
        sleep 1
    done
    return 1
}

# The store's `postgres_…` tests need a PostgreSQL server on 127.0.0.1:5432 (trust auth,
# database `test`); without one they fail, they are never skipped.
echo "== PostgreSQL on 127.0.0.1:5432"
postgres_answers() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }
if ! postgres_answers; then
    echo "not answering; starting it"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql 2>/dev/null)" main start || true
    # pg_ctlcluster waits for the start; a few more seconds cover a slow first checkpoint.
    wait_until postgres_answers || true
fi
if ! postgres_answers; then
    echo "error: PostgreSQL does not answer on 127.0.0.1:5432, and the postgres_… tests need it." >&2
    echo "Start it with: pg_ctlcluster --skip-systemctl-redirect \$(ls /etc/postgresql) main start" >&2
    exit 1
fi

# The `nats_…` tests need a NATS server with JetStream on 127.0.0.1:4222; without one they fail,
# they are never skipped.
echo "== NATS (JetStream) on 127.0.0.1:4222"
nats_answers() { timeout 2 bash -c 'exec 3<>/dev/tcp/127.0.0.1/4222 && head -c 4 <&3' 2>/dev/null | grep -q INFO; }
if ! nats_answers; then
    echo "not answering; starting it"
    mkdir -p /var/lib/nats-server
    start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- \
        -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log || true
    wait_until nats_answers || true
fi
if ! nats_answers; then
    echo "error: NATS does not answer on 127.0.0.1:4222, and the nats_… tests need it." >&2
    echo "Start it with: nats-server -a 127.0.0.1 -p 4222 -js (Debian: apt-get install nats-server)" >&2
    exit 1
fi

# The `browser_…` tests drive Chromium through chromedriver; without them they fail, they are
# never skipped. Debian's packages keep the two at the same version.
echo "== Chromium and chromedriver"
if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
    echo "missing; installing Debian's chromium and chromium-driver"
    apt-get update
    apt-get install -y --no-install-recommends chromium chromium-driver
fi

# The syslog source's `client_logger_…` tests run util-linux `logger` (Debian: bsdutils);
# without it they fail, they are never skipped.
echo "== logger (util-linux)"
if ! command -v logger >/dev/null 2>&1; then
    echo "missing; installing Debian's bsdutils"
    apt-get update
    apt-get install -y --no-install-recommends bsdutils
fi

# The `client_otel_python_…` test sends logs with the official OpenTelemetry Python SDK and its
# OTLP/HTTP exporter, from a virtualenv at .venv-otel (git-ignored); `client_curl_…` tests need
# curl. Without them they fail, they are never skipped.
echo "== curl, and the OpenTelemetry Python SDK in .venv-otel"
if ! command -v curl >/dev/null 2>&1; then
    echo "missing curl; installing Debian's curl"
    apt-get update
    apt-get install -y --no-install-recommends curl
fi
if ! .venv-otel/bin/python -c 'import opentelemetry.sdk._logs, opentelemetry.exporter.otlp.proto.http' 2>/dev/null; then
    echo "creating .venv-otel with opentelemetry-sdk and opentelemetry-exporter-otlp-proto-http"
    python3 -m venv .venv-otel
    .venv-otel/bin/pip install -q opentelemetry-sdk opentelemetry-exporter-otlp-proto-http
fi

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== tests"
if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --workspace --locked --no-fail-fast
    cargo test --workspace --locked --doc
else
    echo "cargo-nextest not found; running cargo test (install it with: cargo install cargo-nextest)"
    cargo test --workspace --locked --no-fail-fast
fi

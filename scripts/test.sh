#!/usr/bin/env bash
# The whole check, as CI runs it: make sure PostgreSQL and Redis are installed and running and
# Chromium with ChromeDriver is installed (with apt-get on a fresh Debian machine), then fmt,
# clippy and every test (the web app's tests drive headless Chromium), then the Autobahn
# WebSocket conformance suite (scripts/conformance.sh).
#
# Tests create (and drop) their own databases through BELLHOP_TEST_DATABASE_URL, default
# postgres://postgres@127.0.0.1:5432/postgres.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\n== %s\n' "$*"; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

apt_updated=""
apt_install() {
    if [ -z "$apt_updated" ]; then
        as_root apt-get update -qq
        apt_updated=1
    fi
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

pg_up() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }

ensure_postgres() {
    if ! command -v pg_isready >/dev/null || ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
        log "installing PostgreSQL"
        apt_install postgresql postgresql-contrib
    fi
    if ! pg_up; then
        log "starting PostgreSQL"
        local version
        version=$(ls /etc/postgresql | sort -V | tail -n 1)
        as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start
        for _ in $(seq 1 30); do pg_up && break; sleep 1; done
        pg_up || { echo "PostgreSQL did not start" >&2; exit 1; }
    fi
    if [ -z "${BELLHOP_TEST_DATABASE_URL:-}" ]; then
        local trust="postgres://postgres@127.0.0.1:5432/postgres"
        if psql "$trust" -qtAc 'SELECT 1' >/dev/null 2>&1; then
            export BELLHOP_TEST_DATABASE_URL="$trust"
        else
            # A fresh Debian cluster wants a password over TCP: give the postgres role a
            # local test password (this machine's cluster is for tests only).
            log "setting a test password for the postgres role"
            as_root runuser -u postgres -- psql -qc "ALTER ROLE postgres PASSWORD 'bellhop-test'" >/dev/null
            export BELLHOP_TEST_DATABASE_URL="postgres://postgres:bellhop-test@127.0.0.1:5432/postgres"
        fi
    fi
}

ensure_redis() {
    if ! command -v redis-server >/dev/null; then
        log "installing Redis"
        apt_install redis-server
    fi
    if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
        log "starting Redis"
        as_root mkdir -p /var/lib/redis /var/log/redis
        as_root redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" \
            --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log
        for _ in $(seq 1 30); do redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && break; sleep 1; done
    fi
    export BELLHOP_TEST_REDIS_URL="${BELLHOP_TEST_REDIS_URL:-redis://127.0.0.1:6379}"
}

ensure_chromium() {
    # The web app's end-to-end tests drive Debian's headless Chromium through chromedriver.
    if ! command -v chromedriver >/dev/null || ! command -v chromium >/dev/null; then
        log "installing Chromium and ChromeDriver"
        apt_install chromium chromium-driver
    fi
    export BELLHOP_CHROMEDRIVER="${BELLHOP_CHROMEDRIVER:-$(command -v chromedriver)}"
    export BELLHOP_CHROMIUM="${BELLHOP_CHROMIUM:-$(command -v chromium)}"
}

ensure_postgres
ensure_redis
ensure_chromium

log "cargo fmt --check"
cargo fmt --all -- --check

log "cargo clippy -D warnings"
cargo clippy --all-targets --locked -- -D warnings

log "cargo test"
out=$(mktemp)
trap 'rm -f "$out"' EXIT
set +e
cargo test --locked --all-features 2>&1 | tee "$out"
status=${PIPESTATUS[0]}
set -e
# One plain closing line for the whole run (cargo prints one per test binary).
awk '/^test result:/ { p += $4; f += $6 } END { printf "\ntests: %d passed, %d failed\n", p, f }' "$out"
[ "$status" -eq 0 ] || exit "$status"

# RFC 6455 framing against the Autobahn|Testsuite (needs a Python 2.7; without one it says
# how to get it and passes).
log "WebSocket conformance (Autobahn, sections 1-10)"
scripts/conformance.sh

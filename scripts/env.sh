# Shared by ./run, ./test and .ci/run: a virtualenv with the project, a running PostgreSQL and Redis.
# shellcheck shell=bash

SBT_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$SBT_ROOT/.venv"
PYTHON="${PYTHON:-python3}"

ensure_venv() {
    if [ ! -x "$VENV/bin/python" ]; then
        echo "==> creating virtualenv in $VENV"
        "$PYTHON" -m venv "$VENV"
    fi
    # Installs exactly what requirements-dev.lock pins (hash-checked), then SBT itself, editable, without
    # touching those pins. Reinstalls when the lock file changed since the last install, or with SBT_REINSTALL=1.
    # Regenerate the lock file with the command in its header (see CONTRIBUTING.md).
    local lock="$SBT_ROOT/requirements-dev.lock" stamp="$VENV/.sbt-lock.sha256" digest
    digest="$(sha256sum "$lock" | cut -d' ' -f1)"
    if [ "${SBT_REINSTALL:-0}" = 1 ] || [ "$(cat "$stamp" 2>/dev/null)" != "$digest" ] \
        || ! "$VENV/bin/python" -c "import importlib.util as u, sys; sys.exit(not all(u.find_spec(m) for m in ('app', 'pytest', 'fastapi')))" >/dev/null 2>&1; then
        echo "==> installing SBT and its development dependencies (requirements-dev.lock)"
        rm -f "$stamp"
        "$VENV/bin/python" -m pip install --quiet --require-hashes -r "$lock"
        "$VENV/bin/python" -m pip install --quiet --no-deps -e "$SBT_ROOT"
        echo "$digest" >"$stamp"
    fi
}

ensure_postgres() {
    local host=127.0.0.1 port=5432
    if pg_isready -q -h "$host" -p "$port" 2>/dev/null; then
        return 0
    fi
    echo "==> PostgreSQL is not answering on $host:$port; trying to start it"
    if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
        local version
        for version in $(ls /etc/postgresql); do
            pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
        done
    elif command -v pg_ctl >/dev/null 2>&1 && [ -n "${PGDATA:-}" ]; then
        pg_ctl -D "$PGDATA" -l "$PGDATA/server.log" start || true
    else
        echo "ERROR: PostgreSQL is not installed here (no pg_ctlcluster or pg_ctl); SBT's tests need it at $host:$port" >&2
        return 1
    fi
    local attempt
    for attempt in $(seq 1 30); do
        if pg_isready -q -h "$host" -p "$port"; then
            echo "==> PostgreSQL is up"
            return 0
        fi
        sleep 1
    done
    echo "ERROR: PostgreSQL did not come up on $host:$port within 30 s" >&2
    return 1
}

# Redis shares rate limits and client status between replicas (SBT_REDIS_URL); the tests that cover it use it here.
ensure_redis() {
    local host=127.0.0.1 port=6379
    if redis-cli -h "$host" -p "$port" ping >/dev/null 2>&1; then
        return 0
    fi
    echo "==> Redis is not answering on $host:$port; trying to start it"
    if ! command -v redis-server >/dev/null 2>&1; then
        echo "ERROR: redis-server is not installed here (Debian package redis-server); SBT's tests need Redis at $host:$port" >&2
        return 1
    fi
    redis-server --bind "$host" --port "$port" --save "" --appendonly no --daemonize yes || true
    local attempt
    for attempt in $(seq 1 30); do
        if redis-cli -h "$host" -p "$port" ping >/dev/null 2>&1; then
            echo "==> Redis is up"
            return 0
        fi
        sleep 1
    done
    echo "ERROR: Redis did not come up on $host:$port within 30 s" >&2
    return 1
}

# pytest exits 5 when it collected nothing: for us that is a broken suite, never a pass.
run_pytest() {
    local status=0
    "$VENV/bin/python" -m pytest "$@" || status=$?
    if [ "$status" -eq 5 ]; then
        echo "ERROR: pytest collected no tests ($*)" >&2
        return 1
    fi
    return "$status"
}

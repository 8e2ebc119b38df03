# shellcheck shell=bash
# Source me (`source .ci/postgres.sh`): make sure a throwaway PostgreSQL server runs on
# 127.0.0.1 for the memory tests, then export EXO_TEST_POSTGRES_DSN.
#
# - Installs the Debian `postgresql` package with apt-get when no server binaries are found.
# - Runs its own cluster (data directory $EXO_PG_DATA, port $EXO_PG_PORT) as the `postgres` OS
#   user, listening on 127.0.0.1 only (TCP, password auth) plus a Unix socket inside the data
#   directory (peer auth, used here to create the role and database). It never touches the
#   distribution's own `main` cluster.
# - Idempotent and fast when already done: no apt-get, no initdb, no restart; it only checks that
#   the server is up and the role and database exist.
# - Durability settings are off (fsync, synchronous_commit): this server holds test data only.
#
# Override before sourcing if needed (the password must be URL-safe):
#   EXO_PG_PORT=55432 EXO_PG_DATA=/var/lib/postgresql/exo-ci
#   EXO_PG_USER=exo EXO_PG_PASSWORD=exo-test EXO_PG_DB=exo_test
#
# On failure it prints what went wrong, returns non-zero and leaves the DSN unset.

: "${EXO_PG_PORT:=55432}"
: "${EXO_PG_DATA:=/var/lib/postgresql/exo-ci}"
: "${EXO_PG_USER:=exo}"
: "${EXO_PG_PASSWORD:=exo-test}"
: "${EXO_PG_DB:=exo_test}"

_exo_pg_setup() (
    set -euo pipefail
    cd /  # the postgres user may not be able to read the caller's directory

    as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
    as_postgres() {
        if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else sudo -u postgres -- "$@"; fi
    }
    find_bindir() {
        # The newest installed server version's binaries, if any.
        local dir
        dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
        if [ -n "$dir" ] && [ -x "$dir/postgres" ]; then echo "$dir"; fi
    }

    local bindir
    bindir=$(find_bindir)
    if [ -z "$bindir" ]; then
        echo "postgres.sh: installing PostgreSQL with apt-get" >&2
        as_root apt-get update -qq
        as_root env DEBIAN_FRONTEND=noninteractive \
            apt-get install -y -qq --no-install-recommends postgresql >/dev/null
        bindir=$(find_bindir)
        [ -n "$bindir" ] || { echo "postgres.sh: no server binaries after install" >&2; exit 1; }
    fi

    if [ ! -s "$EXO_PG_DATA/PG_VERSION" ]; then
        echo "postgres.sh: creating a cluster in $EXO_PG_DATA" >&2
        as_root mkdir -p "$EXO_PG_DATA"
        as_root chown postgres:postgres "$EXO_PG_DATA"
        as_root chmod 700 "$EXO_PG_DATA"
        as_postgres "$bindir/initdb" -D "$EXO_PG_DATA" -U postgres --no-locale -E UTF8 \
            --auth-local=peer --auth-host=scram-sha-256 >/dev/null
        as_postgres tee -a "$EXO_PG_DATA/postgresql.conf" >/dev/null <<CONF
# --- added by exo .ci/postgres.sh: a loopback-only throwaway test server
listen_addresses = '127.0.0.1'
port = $EXO_PG_PORT
unix_socket_directories = '$EXO_PG_DATA'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 200
CONF
    fi

    if ! as_postgres "$bindir/pg_ctl" -D "$EXO_PG_DATA" status >/dev/null 2>&1; then
        echo "postgres.sh: starting the server on 127.0.0.1:$EXO_PG_PORT" >&2
        as_postgres "$bindir/pg_ctl" -D "$EXO_PG_DATA" -l "$EXO_PG_DATA/server.log" -w -t 60 \
            start >/dev/null || {
            echo "postgres.sh: the server did not start; its log:" >&2
            as_root tail -n 30 "$EXO_PG_DATA/server.log" >&2
            exit 1
        }
    fi

    # Create (or refresh) the login role and the database it owns.
    as_postgres "$bindir/psql" -h "$EXO_PG_DATA" -p "$EXO_PG_PORT" -U postgres -d postgres \
        -X -q -v ON_ERROR_STOP=1 \
        -v user="$EXO_PG_USER" -v pw="$EXO_PG_PASSWORD" -v db="$EXO_PG_DB" >/dev/null <<'SQL'
SELECT format('CREATE ROLE %I LOGIN', :'user')
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'user') \gexec
SELECT format('ALTER ROLE %I LOGIN PASSWORD %L', :'user', :'pw') \gexec
SELECT format('CREATE DATABASE %I OWNER %I', :'db', :'user')
 WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'db') \gexec
SQL
)

if _exo_pg_setup; then
    # sslmode=disable: the server has no TLS, and asyncpg's TLS probe on the side connection
    # it opens to cancel a query logs "unexpected connection_lost()" noise (asyncpg #1211).
    export EXO_TEST_POSTGRES_DSN="postgresql://${EXO_PG_USER}:${EXO_PG_PASSWORD}@127.0.0.1:${EXO_PG_PORT}/${EXO_PG_DB}?sslmode=disable"
else
    echo "postgres.sh: PostgreSQL setup failed; EXO_TEST_POSTGRES_DSN is not set" >&2
    unset -f _exo_pg_setup
    # `return` when sourced; `exit` when run as a script.
    return 1 2>/dev/null || exit 1
fi
unset -f _exo_pg_setup

# Throwaway PgBouncer in transaction pooling mode in front of the cluster of pg-cluster.sh.
# Source this file after pg-cluster.sh, then
#   pgbouncer_start     # needs pg_cluster_start first; exports WEFT_TEST_PGBOUNCER_* (below)
#   pgbouncer_stop      # stop it and remove its files (safe to call twice)
# PgBouncer listens on 127.0.0.1 only, at a port found free at start, and reaches the server over
# its Unix socket. It refuses to run as root, so as root it runs as the 'postgres' user, like the
# server. Two databases: weft_test (the cluster's) and weft_test_second (created here), so the
# multi-database tests get a second database that needs no startup 'options' (which PgBouncer
# refuses).
#
# Exports:
#   WEFT_TEST_PGBOUNCER_URL         postgresql URI of weft_test through PgBouncer (no weft options)
#   WEFT_TEST_PGBOUNCER_URL2        the same for weft_test_second
#   WEFT_TEST_PGBOUNCER_SESSION_URL weft_test through a pool in session mode (named statements work)
#   WEFT_TEST_PGBOUNCER_PORT / _ADMIN_URL (the 'pgbouncer' admin console, for SHOW commands)

_pgb_dir=""

pgbouncer_start() {
    [ -n "${WEFT_TEST_PG_SOCKET_DIR:-}" ] || { echo "pgbouncer: start the PostgreSQL cluster first" >&2; return 1; }
    command -v pgbouncer >/dev/null || { echo "pgbouncer: not installed (Debian package pgbouncer)" >&2; return 1; }
    _pgb_dir=$(mktemp -d /tmp/weft-pgbouncer.XXXXXX) || return 1
    chmod 700 "$_pgb_dir"
    _pg_as_owner "$WEFT_TEST_PG_BIN/psql" -q -h "$WEFT_TEST_PG_SOCKET_DIR" -p "$WEFT_TEST_PG_PORT" -U postgres -d postgres \
        -c "CREATE DATABASE weft_test_second" >/dev/null 2>&1 || true
    echo '"postgres" ""' > "$_pgb_dir/userlist.txt"
    local port tries=0
    while :; do
        port=$(( 20000 + (RANDOM % 20000) ))
        tries=$((tries + 1))
        _pg_port_free "$port" && break
        [ $tries -ge 20 ] && { echo "pgbouncer: no free port" >&2; return 1; }
    done
    local server="host=$WEFT_TEST_PG_SOCKET_DIR port=$WEFT_TEST_PG_PORT user=postgres"
    cat > "$_pgb_dir/pgbouncer.ini" <<INI
[databases]
weft_test = $server dbname=weft_test
weft_test_second = $server dbname=weft_test_second
; Session mode, where named prepared statements work (for the benchmark's comparison).
weft_test_session = $server dbname=weft_test pool_mode=session

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $port
unix_socket_dir =
auth_type = trust
auth_file = $_pgb_dir/userlist.txt
admin_users = postgres
pool_mode = transaction
; The conformance suite opens many pools at once (up to 200 fibers on a pool of 4, several
; databases per test); the server allows 200 connections.
max_client_conn = 2000
default_pool_size = 40
max_db_connections = 80
; What the ORM's clients send and the server side cannot change.
ignore_startup_parameters = extra_float_digits
server_check_delay = 0
logfile = $_pgb_dir/pgbouncer.log
pidfile = $_pgb_dir/pgbouncer.pid
log_connections = 0
log_disconnections = 0
INI
    if [ "$(id -u)" = 0 ]; then chown -R postgres: "$_pgb_dir"; fi
    if ! _pg_as_owner timeout 30 pgbouncer -d -q "$_pgb_dir/pgbouncer.ini" >"$_pgb_dir/start.log" 2>&1; then
        echo "pgbouncer: could not start:" >&2; cat "$_pgb_dir/start.log" "$_pgb_dir/pgbouncer.log" >&2 2>/dev/null; return 1
    fi
    local i
    for i in $(seq 1 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
        sleep 0.1
    done
    export WEFT_TEST_PGBOUNCER_PORT=$port
    export WEFT_TEST_PGBOUNCER_URL="postgresql://postgres@127.0.0.1:$port/weft_test"
    export WEFT_TEST_PGBOUNCER_URL2="postgresql://postgres@127.0.0.1:$port/weft_test_second"
    export WEFT_TEST_PGBOUNCER_SESSION_URL="postgresql://postgres@127.0.0.1:$port/weft_test_session"
    export WEFT_TEST_PGBOUNCER_ADMIN_URL="postgresql://postgres@127.0.0.1:$port/pgbouncer"
    echo "pgbouncer: $(pgbouncer --version | head -1) on 127.0.0.1:$port, pool_mode=transaction"
}

pgbouncer_stop() {
    [ -n "$_pgb_dir" ] || return 0
    if [ -f "$_pgb_dir/pgbouncer.pid" ]; then
        local pid i
        pid=$(cat "$_pgb_dir/pgbouncer.pid" 2>/dev/null)
        if [ -n "$pid" ]; then
            kill -INT "$pid" 2>/dev/null
            for i in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    rm -rf "$_pgb_dir"
    _pgb_dir=""
}

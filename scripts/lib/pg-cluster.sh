# Throwaway PostgreSQL 15 cluster for tests and benchmarks. Source this file, then
#   pg_cluster_start        # initdb + start; exports WEFT_TEST_PG_* (see below)
#   pg_cluster_stop         # stop the server and remove every file (safe to call twice)
# initdb and postgres refuse to run as root, so when we are root they run as the
# unprivileged 'postgres' user (created by the postgresql-15 package). The cluster lives in a
# fresh temporary directory, listens on its own Unix socket there and on 127.0.0.1 at a port
# found free at start, so it never collides with another server on the machine.
#
# Exports:
#   WEFT_TEST_PG_URL       postgresql URI over the Unix socket (trust auth), database weft_test
#   WEFT_TEST_PG_TCP_URL   the same over TCP 127.0.0.1 with password auth (scram-sha-256)
#   WEFT_TEST_PG_HOST / _PORT / _SOCKET_DIR / _USER / _PASSWORD / _DB / _BIN

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
_pg_dir=""

_pg_as_owner() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

_pg_port_free() {
    # Nothing listening on TCP 127.0.0.1:$1 and no socket file for it in our directory.
    ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

pg_cluster_start() {
    [ -x "$PG_BIN/initdb" ] || { echo "pg-cluster: $PG_BIN/initdb not found (install postgresql-15)" >&2; return 1; }
    _pg_dir=$(mktemp -d /tmp/weft-pg.XXXXXX) || return 1
    chmod 700 "$_pg_dir"
    if [ "$(id -u)" = 0 ]; then chown postgres: "$_pg_dir"; fi
    local pw=weft-test-pw
    echo "$pw" > "$_pg_dir/pwfile"
    if [ "$(id -u)" = 0 ]; then chown postgres: "$_pg_dir/pwfile"; fi
    if ! _pg_as_owner "$PG_BIN/initdb" -D "$_pg_dir/data" -U postgres --pwfile="$_pg_dir/pwfile" \
            --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >"$_pg_dir/initdb.log" 2>&1; then
        echo "pg-cluster: initdb failed:" >&2; cat "$_pg_dir/initdb.log" >&2; return 1
    fi
    cat >> "$_pg_dir/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
unix_socket_directories = '$_pg_dir'
max_connections = 200
shared_buffers = 128MB
fsync = off
synchronous_commit = off
full_page_writes = off
log_min_messages = warning
log_min_error_statement = panic
CONF
    local port tries=0
    while :; do
        port=$(( 20000 + (RANDOM % 20000) ))
        tries=$((tries + 1))
        if _pg_port_free "$port"; then
            if _pg_as_owner "$PG_BIN/pg_ctl" -D "$_pg_dir/data" -l "$_pg_dir/server.log" -w -t 60 \
                    -o "-p $port" start >/dev/null 2>&1; then
                break
            fi
        fi
        if [ $tries -ge 20 ]; then
            echo "pg-cluster: could not start postgres after $tries ports; server log:" >&2
            tail -20 "$_pg_dir/server.log" >&2; return 1
        fi
    done
    _pg_as_owner "$PG_BIN/psql" -q -h "$_pg_dir" -p "$port" -U postgres -d postgres \
        -c "CREATE DATABASE weft_test" >/dev/null || return 1
    export WEFT_TEST_PG_HOST=127.0.0.1 WEFT_TEST_PG_PORT=$port WEFT_TEST_PG_SOCKET_DIR=$_pg_dir
    export WEFT_TEST_PG_USER=postgres WEFT_TEST_PG_PASSWORD=$pw WEFT_TEST_PG_DB=weft_test WEFT_TEST_PG_BIN=$PG_BIN
    export WEFT_TEST_PG_URL="postgresql://postgres@/weft_test?host=$_pg_dir&port=$port"
    export WEFT_TEST_PG_TCP_URL="postgresql://postgres:$pw@127.0.0.1:$port/weft_test"
    echo "pg-cluster: PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}') on port $port, socket dir $_pg_dir"
}

pg_cluster_stop() {
    [ -n "$_pg_dir" ] || return 0
    if [ -f "$_pg_dir/data/postmaster.pid" ]; then
        _pg_as_owner "$PG_BIN/pg_ctl" -D "$_pg_dir/data" -m immediate -w -t 30 stop >/dev/null 2>&1 || true
    fi
    rm -rf "$_pg_dir"
    _pg_dir=""
}

# Throwaway primary + hot standby pairs (streaming replication) for the replica router and
# failover tests. Source after pg-cluster.sh (it uses its _pg_as_owner and _pg_port_free), then
#   pg_pair_start [sync]    # a fresh primary (initdb) and a standby (pg_basebackup -R) on loopback;
#                           # 'sync': the primary waits for the standby at commit
#                           # (synchronous_standby_names = 'standby1', synchronous_commit = on)
#   pg_pair_stop            # stop both servers and remove every file (safe to call twice)
# Both listen on 127.0.0.1 at ports found free at start, and on Unix sockets in the pair's
# directory. Every start and stop is bounded by pg_ctl's -t.
#
# Exports:
#   WEFT_PAIR_PRIMARY_URL / WEFT_PAIR_REPLICA_URL  postgresql URIs over TCP (trust auth), database weft_test
#   WEFT_PAIR_MULTIHOST_URL   both hosts, target_session_attrs=read-write (libpq multi-host failover)
#   WEFT_PAIR_PRIMARY_PORT / WEFT_PAIR_REPLICA_PORT
#   WEFT_PAIR_KILL_PRIMARY    a command that stops the primary at once (pg_ctl -m immediate: no
#                             shutdown checkpoint, clients see their connections drop)
#   WEFT_PAIR_PROMOTE         a command that promotes the standby and waits for it (pg_ctl promote -w)

_pair_dir=""

_pair_free_port() {
    local port tries=0
    while :; do
        port=$(( 20000 + (RANDOM % 20000) ))
        tries=$((tries + 1))
        if _pg_port_free "$port"; then echo "$port"; return 0; fi
        [ $tries -ge 50 ] && return 1
    done
}

_pair_as_owner_cmd() {  # prints a command line that runs "$@" as the clusters' owner
    if [ "$(id -u)" = 0 ]; then printf 'runuser -u postgres -- '; fi
    printf '%q ' "$@"
}

pg_pair_start() {
    local mode=${1:-async}
    [ -x "$PG_BIN/initdb" ] || { echo "pg-pair: $PG_BIN/initdb not found" >&2; return 1; }
    _pair_dir=$(mktemp -d /tmp/weft-pgpair.XXXXXX) || return 1
    chmod 700 "$_pair_dir"
    if [ "$(id -u)" = 0 ]; then chown postgres: "$_pair_dir"; fi
    if ! _pg_as_owner "$PG_BIN/initdb" -D "$_pair_dir/primary" -U postgres --auth-local=trust --auth-host=trust \
            -E UTF8 --locale=C.UTF-8 >"$_pair_dir/initdb.log" 2>&1; then
        echo "pg-pair: initdb failed:" >&2; cat "$_pair_dir/initdb.log" >&2; return 1
    fi
    local p1 p2
    p1=$(_pair_free_port) || { echo "pg-pair: no free port" >&2; return 1; }
    # fsync off like the main test cluster: the tests kill server processes, not the machine, so
    # the page cache keeps what was written (a commit is acknowledged after its WAL write).
    cat >> "$_pair_dir/primary/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
unix_socket_directories = '$_pair_dir'
port = $p1
max_connections = 100
shared_buffers = 32MB
fsync = off
full_page_writes = off
wal_level = replica
max_wal_senders = 4
wal_keep_size = 256MB
log_min_messages = warning
log_min_error_statement = panic
CONF
    # synchronous_standby_names is set once the standby streams (before that, every commit
    # would wait for it).
    printf "synchronous_commit = on\n" >> "$_pair_dir/primary/postgresql.conf"
    if ! _pg_as_owner "$PG_BIN/pg_ctl" -D "$_pair_dir/primary" -l "$_pair_dir/primary.log" -w -t 60 start >/dev/null 2>&1; then
        echo "pg-pair: primary did not start:" >&2; tail -20 "$_pair_dir/primary.log" >&2; return 1
    fi
    _pg_as_owner "$PG_BIN/psql" -q -h "$_pair_dir" -p "$p1" -U postgres -d postgres -c "CREATE DATABASE weft_test" >/dev/null || return 1
    if ! _pg_as_owner timeout 120 "$PG_BIN/pg_basebackup" -h "$_pair_dir" -p "$p1" -U postgres -D "$_pair_dir/standby" \
            -R -X stream -c fast >"$_pair_dir/basebackup.log" 2>&1; then
        echo "pg-pair: pg_basebackup failed:" >&2; cat "$_pair_dir/basebackup.log" >&2; return 1
    fi
    p2=$(_pair_free_port) || { echo "pg-pair: no free port" >&2; return 1; }
    # The standby's own settings come last and win; cluster_name is the application_name it
    # streams under, which synchronous_standby_names names. After a promotion it is a primary
    # with no standby of its own, so it must not wait for one.
    cat >> "$_pair_dir/standby/postgresql.conf" <<CONF
port = $p2
cluster_name = 'standby1'
hot_standby = on
synchronous_standby_names = ''
CONF
    if ! _pg_as_owner "$PG_BIN/pg_ctl" -D "$_pair_dir/standby" -l "$_pair_dir/standby.log" -w -t 60 start >/dev/null 2>&1; then
        echo "pg-pair: standby did not start:" >&2; tail -20 "$_pair_dir/standby.log" >&2; return 1
    fi
    local i streaming=""
    for i in $(seq 1 100); do
        streaming=$(_pg_as_owner "$PG_BIN/psql" -At -h "$_pair_dir" -p "$p1" -U postgres -d postgres \
            -c "SELECT state FROM pg_stat_replication WHERE application_name = 'standby1'" 2>/dev/null)
        [ "$streaming" = streaming ] && break
        sleep 0.1
    done
    [ "$streaming" = streaming ] || { echo "pg-pair: the standby is not streaming:" >&2; tail -20 "$_pair_dir/standby.log" >&2; return 1; }
    if [ "$mode" = sync ]; then
        _pg_as_owner "$PG_BIN/psql" -q -h "$_pair_dir" -p "$p1" -U postgres -d postgres \
            -c "ALTER SYSTEM SET synchronous_standby_names = 'standby1'" -c "SELECT pg_reload_conf()" >/dev/null || return 1
        for i in $(seq 1 100); do
            streaming=$(_pg_as_owner "$PG_BIN/psql" -At -h "$_pair_dir" -p "$p1" -U postgres -d postgres \
                -c "SELECT sync_state FROM pg_stat_replication WHERE application_name = 'standby1'" 2>/dev/null)
            [ "$streaming" = sync ] && break
            sleep 0.1
        done
        [ "$streaming" = sync ] || { echo "pg-pair: the standby did not become synchronous" >&2; return 1; }
    fi
    export WEFT_PAIR_PRIMARY_PORT=$p1 WEFT_PAIR_REPLICA_PORT=$p2
    export WEFT_PAIR_PRIMARY_URL="postgresql://postgres@127.0.0.1:$p1/weft_test"
    export WEFT_PAIR_REPLICA_URL="postgresql://postgres@127.0.0.1:$p2/weft_test"
    export WEFT_PAIR_MULTIHOST_URL="postgresql://postgres@127.0.0.1:$p1,127.0.0.1:$p2/weft_test?target_session_attrs=read-write"
    WEFT_PAIR_KILL_PRIMARY=$(_pair_as_owner_cmd "$PG_BIN/pg_ctl" -D "$_pair_dir/primary" -m immediate -w -t 30 stop)
    WEFT_PAIR_PROMOTE=$(_pair_as_owner_cmd "$PG_BIN/pg_ctl" -D "$_pair_dir/standby" -w -t 30 promote)
    export WEFT_PAIR_KILL_PRIMARY WEFT_PAIR_PROMOTE
    echo "pg-pair: primary on 127.0.0.1:$p1, hot standby on 127.0.0.1:$p2 ($mode replication)"
}

pg_pair_stop() {
    [ -n "$_pair_dir" ] || return 0
    local d
    for d in standby primary; do
        if [ -f "$_pair_dir/$d/postmaster.pid" ]; then
            _pg_as_owner "$PG_BIN/pg_ctl" -D "$_pair_dir/$d" -m immediate -w -t 30 stop >/dev/null 2>&1 || true
        fi
    done
    rm -rf "$_pair_dir"
    _pair_dir=""
    unset WEFT_PAIR_PRIMARY_URL WEFT_PAIR_REPLICA_URL WEFT_PAIR_MULTIHOST_URL WEFT_PAIR_KILL_PRIMARY WEFT_PAIR_PROMOTE
}

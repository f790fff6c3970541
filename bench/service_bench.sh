#!/usr/bin/env bash
# The example order service (examples/order_service) under wrk, on PostgreSQL: async on one
# thread vs a sync pool of 8 threads vs the Python reference (bench/reference/orders_aiohttp.py,
# aiohttp + asyncpg), at 10, 100 and 1000 connections, with a kitchen delay of 0 and 20 ms.
# Each cell is one wrk run of POST /orders (default 5 s, after a 1 s warm-up); prints
# requests/s, p50 and p99 latency, non-2xx/socket errors, and the ratios async/sync and
# async/python per row; then the resident memory per idle connection (RSS with N idle
# connections open minus with none, / N) of each server.
#   bench/service_bench.sh --bin BUILD/examples/order_service [--pg URL] [--json FILE]
#                          [--duration S] [--conns "10 100 1000"] [--delays "0 20"]
# Without --pg (and without WEFT_TEST_PG_URL) it starts a throwaway cluster (scripts/lib/pg-cluster.sh).
# scripts/bench runs it as part "service" (scripts/bench --only service runs only this).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
py=/usr/bin/python3

bin="" pg="${WEFT_TEST_PG_URL:-}" json="" duration=5 conns="10 100 1000" delays="0 20" idle_n=1000
while [ $# -gt 0 ]; do
    case "$1" in
        --bin) bin=$2; shift 2 ;;
        --pg) pg=$2; shift 2 ;;
        --json) json=$(realpath -m "$2"); shift 2 ;;
        --duration) duration=$2; shift 2 ;;
        --conns) conns=$2; shift 2 ;;
        --delays) delays=$2; shift 2 ;;
        --rounds|--quick) [ "$1" = --rounds ] && shift 2 || shift ;;  # scripts/bench's common flags
        *) echo "usage: bench/service_bench.sh --bin ORDER_SERVICE [--pg URL] [--json FILE] [--duration S]" >&2; exit 2 ;;
    esac
done
[ -x "$bin" ] || { echo "service_bench: no order_service binary at '$bin' (built with the asio option)" >&2; exit 1; }
command -v wrk >/dev/null || { echo "service_bench: wrk not found (apt-get install wrk)" >&2; exit 1; }
$py -c 'import aiohttp, asyncpg' 2>/dev/null || { echo "service_bench: $py lacks aiohttp/asyncpg (python3-aiohttp python3-asyncpg)" >&2; exit 1; }

ulimit -n "$(ulimit -Hn)" || true
[ "$(ulimit -n)" -ge 4096 ] || echo "service_bench: warning: ulimit -n is $(ulimit -n); 1000 connections need more" >&2

work=$(mktemp -d /tmp/weft-service-bench.XXXXXX)
pids=()
own_cluster=0
cleanup() {
    local p
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
    wait 2>/dev/null
    [ $own_cluster = 1 ] && pg_cluster_stop
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ -z "$pg" ]; then
    source "$root/scripts/lib/pg-cluster.sh"
    pg_cluster_start || exit 1
    own_cluster=1
    pg=$WEFT_TEST_PG_URL
fi

cat > "$work/post.lua" <<'LUA'
-- POST /orders for 1000 customers in turn (one hot customer row would measure PostgreSQL's
-- row-lock sharing among concurrent foreign-key checks rather than the service).
local reqs = {}
local i = 0
init = function(args)
    for c = 1, 1000 do
        reqs[c] = wrk.format("POST", "/orders", {["Content-Type"] = "application/json"},
            string.format('{"customer":"customer-%d","item":"soup","quantity":2}', c))
    end
    i = math.random(1000)
end
request = function()
    i = i % 1000 + 1
    return reqs[i]
end
done = function(summary, latency, requests)
    local e = summary.errors
    io.write(string.format("WRKRESULT %d %d %d %d %d %d\n", summary.requests, summary.duration,
        latency:percentile(50), latency:percentile(99), e.status, e.connect + e.read + e.write + e.timeout))
end
LUA

# start LABEL CMD...: runs a server in the background, waits for its "listening on" line,
# sets $port and $pid.
start() {
    local label=$1; shift
    "$@" >"$work/$label.out" 2>"$work/$label.err" &
    pid=$!
    pids+=("$pid")
    local i
    for i in $(seq 100); do
        port=$(grep -o 'listening on 127.0.0.1:[0-9]*' "$work/$label.out" 2>/dev/null | cut -d: -f2)
        [ -n "$port" ] && return 0
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    echo "service_bench: $label did not start:" >&2; cat "$work/$label.err" >&2
    return 1
}
stop() { kill "$1" 2>/dev/null; wait "$1" 2>/dev/null; }

start_impl() {  # start_impl IMPL KITCHEN_PORT
    case "$1" in
        async) start "async" "$bin" serve --mode async --kitchen "127.0.0.1:$2" --db "$pg" --pool 8 --kitchen-timeout 5000 --pool-timeout 5000 ;;
        sync) start "sync" "$bin" serve --mode sync --threads 8 --kitchen "127.0.0.1:$2" --db "$pg" --kitchen-timeout 5000 --pool-timeout 5000 ;;
        python) start "python" $py "$here/reference/orders_aiohttp.py" --kitchen "127.0.0.1:$2" --db "$pg" --pool 8 --kitchen-timeout 5000 --pool-timeout 5000 ;;
    esac
}

# run_wrk PORT CONNS SECONDS -> "rps p50_ms p99_ms non2xx sockerr"
run_wrk() {
    local t=2; [ "$2" -lt 2 ] && t=1
    wrk -t$t -c"$2" -d"${3}s" --timeout 10s -s "$work/post.lua" "http://127.0.0.1:$1/orders" 2>&1 |
        awk '/^WRKRESULT/ { printf "%.0f %.2f %.2f %d %d\n", $2 / ($3 / 1e6), $4 / 1000, $5 / 1000, $6, $7 }'
}

rss_kib() { awk '/^VmRSS/ { print $2 }' "/proc/$1/status"; }

# idle_memory PID PORT N -> KiB per idle connection: N connections, each having made one
# request (GET /orders/1) and then kept open, idle.
idle_memory() {
    $py - "$1" "$2" "$3" <<'PY'
import socket, sys, time
pid, port, n = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
def rss():
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1])
time.sleep(0.5)
before = rss()
socks = []
for _ in range(n):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"GET /orders/1 HTTP/1.1\r\nHost: x\r\n\r\n")
    socks.append(s)
for s in socks:
    s.settimeout(10)
    s.recv(65536)
time.sleep(1.0)
after = rss()
open_ok = sum(1 for s in socks if s.fileno() >= 0)
print(f"{(after - before) / n:.1f} {before} {after}")
for s in socks:
    s.close()
PY
}

declare -A R
impls="async sync python"
echo "service_bench: wrk ${duration}s per cell, POST /orders on PostgreSQL; pool 8 (async, python), 8 threads/8 connections (sync)"
for delay in $delays; do
    start "kitchen-$delay" "$bin" kitchen --delay-ms "$delay" || exit 1
    kpid=$pid kport=$port
    for impl in $impls; do
        start_impl "$impl" "$kport" || exit 1
        spid=$pid sport=$port
        run_wrk "$sport" 200 2 >/dev/null  # warm-up: fills the database pool, customers, prepared statements
        for c in $conns; do
            R[$impl,$delay,$c]=$(run_wrk "$sport" "$c" "$duration")
            echo "  $impl delay=${delay}ms conns=$c: ${R[$impl,$delay,$c]:-failed}"
        done
        stop "$spid"
    done
    stop "$kpid"
done

# Idle memory: each server with a 0 ms kitchen, idle_n connections after one request each.
start "kitchen-mem" "$bin" kitchen --delay-ms 0 || exit 1
kpid=$pid kport=$port
declare -A M
for impl in async python; do
    start_impl "$impl" "$kport" || exit 1
    spid=$pid sport=$port
    curl -s -o /dev/null -X POST -d '{"customer":"ann","item":"soup","quantity":1}' "http://127.0.0.1:$sport/orders"
    run_wrk "$sport" 100 1 >/dev/null
    M[$impl]=$(idle_memory "$spid" "$sport" "$idle_n")
    stop "$spid"
done
stop "$kpid"

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.1fx", a / b; else print "-" }'; }
echo
echo "order service, POST /orders on PostgreSQL 15 ($(date +%F), $(nproc) cores shared by wrk, server, kitchen, postgres)"
printf '%-6s %-6s | %-27s | %-27s | %-27s | %-7s %-7s\n' delay conns "async 1 thread" "sync 8 threads" "python aiohttp+asyncpg" "a/sync" "a/py"
printf '%-6s %-6s | %-27s | %-27s | %-27s |\n' "" "" "req/s  p50ms   p99ms  err" "req/s  p50ms   p99ms  err" "req/s  p50ms   p99ms  err"
rows=()
for delay in $delays; do
    for c in $conns; do
        line=$(printf '%-6s %-6s' "${delay}ms" "$c")
        for impl in $impls; do
            read -r rps p50 p99 n2 se <<<"${R[$impl,$delay,$c]:-0 0 0 0 0}"
            line+=$(printf ' | %6s %6s %7s %4s' "$rps" "$p50" "$p99" "$((n2 + se))")
        done
        read -r a _ <<<"${R[async,$delay,$c]:-0}"; read -r s _ <<<"${R[sync,$delay,$c]:-0}"; read -r p _ <<<"${R[python,$delay,$c]:-0}"
        line+=$(printf ' | %-7s %-7s' "$(ratio "$a" "$s")" "$(ratio "$a" "$p")")
        echo "$line"
        for impl in $impls; do
            read -r rps p50 p99 n2 se <<<"${R[$impl,$delay,$c]:-0 0 0 0 0}"
            rows+=("{\"bench\":\"service\",\"impl\":\"$impl\",\"kitchen_delay_ms\":$delay,\"connections\":$c,\"rps\":$rps,\"p50_ms\":$p50,\"p99_ms\":$p99,\"non2xx\":$n2,\"socket_errors\":$se}")
        done
    done
done
echo "(err: non-2xx answers + socket errors as wrk counts them; sync mode closes each connection after its answer, see README)"
echo
for impl in async python; do
    read -r per before after <<<"${M[$impl]:-0 0 0}"
    echo "idle connections, $impl: ${per} KiB RSS per connection ($idle_n connections after one request each; RSS ${before} -> ${after} KiB)"
    rows+=("{\"bench\":\"service_idle_memory\",\"impl\":\"$impl\",\"connections\":$idle_n,\"kib_per_connection\":${per:-0}}")
done

if [ -n "$json" ]; then
    {
        echo "["
        for i in "${!rows[@]}"; do
            if [ "$i" -lt $((${#rows[@]} - 1)) ]; then echo "${rows[$i]},"; else echo "${rows[$i]}"; fi
        done
        echo "]"
    } > "$json"
    echo "service_bench: wrote $json"
fi

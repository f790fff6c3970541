# The example order service (examples/order_service) end to end: scripts/test sources this file
# and calls service_check BUILDDIR WORKDIR after the examples. For each mode (sync, async) and
# each database (SQLite, and PostgreSQL at $WEFT_TEST_PG_URL when set), scripts/lib/service_check.py
# starts a kitchen and services on free ports, checks the endpoints' JSON and each fault case
# (malformed request, trickling client, client gone mid-request, kitchen down or late, exhausted
# pool, out of descriptors), and always stops what it started. Calls record() once per run.

service_check() {
    local builddir=$1 workdir=$2 bin="$1/examples/order_service"
    local here; here=$(dirname "${BASH_SOURCE[0]}")
    echo "=== example order service"
    if [ ! -x "$bin" ]; then
        echo "order_service not built (needs the 'asio' option: Boost.Asio/Beast headers, and nlohmann-json)"
        record "order service" 0 0 1
        return
    fi
    if [ ! -x /usr/bin/python3 ]; then
        echo "order service checks need /usr/bin/python3"
        record "order service" 0 0 1
        return
    fi
    local mode db label log line p f s
    for mode in sync async; do
        for db in sqlite pg; do
            label="order service $mode $db"
            local url
            if [ "$db" = sqlite ]; then
                rm -f "$workdir/service-$mode.db"
                url="sqlite://$workdir/service-$mode.db"
            elif [ -n "${WEFT_TEST_PG_URL:-}" ]; then
                url="$WEFT_TEST_PG_URL"
            else
                record "$label" 0 0 1
                continue
            fi
            log="$workdir/service-$mode-$db.log"
            timeout 300 /usr/bin/python3 "$here/service_check.py" --bin "$bin" --workdir "$workdir" \
                --db "$url" --mode "$mode" --label "$label" >"$log" 2>&1
            grep -E '^FAIL' "$log" | head -20
            line=$(grep -E "^$label: [0-9]+ passed" "$log" | tail -1)
            if [ -z "$line" ]; then
                tail -20 "$log"; record "$label" 0 1 0; continue
            fi
            echo "$line"
            read -r p f s < <(sed -E 's/.*: ([0-9]+) passed, ([0-9]+) failed, ([0-9]+) skipped/\1 \2 \3/' <<<"$line")
            record "$label" "$p" "$f" "$s"
        done
    done
}

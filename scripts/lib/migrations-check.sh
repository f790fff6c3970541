# shellcheck shell=bash
# The migrations workflow end to end (issue 15), as a user runs it: builds the example
# examples/migrations_demo from a copy in a temporary directory against the already built
# library (pkg-config's weft-uninstalled.pc in BUILDDIR/meson-uninstalled: no network, no
# install), and drives it through makemigrations / rebuild / migrate.
#
#   build (one line): version 1 without migrations; makemigrations writes 0001_initial.hpp and
#     migrations.cpp; rebuilt with them, `check` passes and makemigrations finds nothing; version 2
#     built with 0001 only: `check` fails naming each change, makemigrations refuses to guess the
#     rename without --rename, warns about the NOT NULL column without --default, writes
#     0002_book_pages with --rename yes --no-input --default; the same program then refuses to
#     write again (stale-build guard); rebuilt with 0002, `check` passes and makemigrations finds
#     nothing; the files are those checked in under examples/migrations_demo/migrations/.
#   per database and mode (SQLite file and PostgreSQL, sync and --async): migrate 0001, seed rows,
#     showmigrations, sqlmigrate, migrate 0002 with version 2, every row still there with its
#     values (and the new columns' values), back to 0001 (rows again as before), forward again,
#     an unknown target lists the valid names, migrate zero leaves no table but the record.
#   concurrency: two processes (one sync, one async) migrate the same database at once, several
#     rounds: both exit 0, weft_migrations holds each migration once, each was applied by one
#     process and the other said it had nothing to do. PostgreSQL and SQLite.
#
# scripts/test sources this file and calls `migrations_check BUILDDIR WORKDIR`; each line becomes
# one summary line through its record() (passed = steps that held). PostgreSQL parts need
# $WEFT_TEST_PG_URL (else skipped); they run in a database of their own, made and dropped here.
# Alone:   bash scripts/lib/migrations-check.sh [BUILDDIR]      (PostgreSQL when WEFT_TEST_PG_URL is set)

_mc_p=0 _mc_f=0

# _mc_ok NAME / _mc_bad NAME [LOG]: one step held / did not (then shows the end of LOG).
_mc_ok() { _mc_p=$((_mc_p + 1)); }
_mc_bad() {
    _mc_f=$((_mc_f + 1))
    echo "FAIL migrations: $1"
    [ -n "${2:-}" ] && [ -f "$2" ] && tail -15 "$2" | sed 's/^/    /'
    return 0
}
# _mc_flush LABEL: records the steps counted since the last flush as one summary line.
_mc_flush() {
    echo "$1: $_mc_p passed, $_mc_f failed, 0 skipped"
    record "$1" "$_mc_p" "$_mc_f" 0
    _mc_p=0 _mc_f=0
}

# _mc_run LOG CMD...: CMD (bounded in time) with stdout+stderr in LOG; its exit code.
_mc_run() {
    local log=$1; shift
    (cd "$_mc_dir" && exec timeout 120 "$@") >"$log" 2>&1
}
# _mc_expect NAME RC LOG CMD...: CMD must exit RC (0, or "nonzero").
_mc_expect() {
    local name=$1 want=$2 log=$3 rc; shift 3
    _mc_run "$log" "$@"; rc=$?
    if { [ "$want" = nonzero ] && [ $rc != 0 ] && [ $rc != 124 ]; } || [ "$want" = "$rc" ]; then
        _mc_ok; return 0
    fi
    _mc_bad "$name (exit $rc, wanted $want): $*" "$log"; return 1
}
# _mc_grep NAME LOG PATTERN...: LOG holds every (extended regex) PATTERN.
_mc_grep() {
    local name=$1 log=$2 pat; shift 2
    for pat in "$@"; do
        grep -qE -- "$pat" "$log" || { _mc_bad "$name: no /$pat/ in the output" "$log"; return 1; }
    done
    _mc_ok
}

# _mc_build OUT VERSION [MIGRATIONS_CPP]: the demo at model VERSION, with the migrations that
# MIGRATIONS_CPP lists (none without it), as a user's build compiles it.
_mc_build() {
    local out=$1 version=$2 mig=${3:-} src=$_mc_dir
    local -a srcs=("$src/main.cpp")
    [ -n "$mig" ] && srcs+=("$mig")
    _mc_run "$out.log" g++ -std=c++20 -O1 -Wall -Wextra -Wpedantic -Werror -Wno-missing-field-initializers \
        "${_mc_sanitize[@]}" -DDEMO_VERSION="$version" "${_mc_cflags[@]}" "${srcs[@]}" -o "$out" "${_mc_libs[@]}"
}

# _mc_sql URL SQL: one query's rows, "a|b" per line (psql, or Python's sqlite3 for sqlite://).
_mc_sql() {
    case $1 in
        sqlite://*) python3 -c 'import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
for r in c.execute(sys.argv[2]): print("|".join(str(x) for x in r))' "${1#sqlite://}" "$2" ;;
        *) psql -X -q -At -d "$1" -c "$2" ;;
    esac
}

# Phase 1: the files and the builds (no database is written: makemigrations and check read none).
_mc_build_phase() {
    local d=$_mc_dir log=$_mc_dir/log
    export WEFT_DB="sqlite://$d/unused.db"
    if _mc_build "$d/v1-none" 1; then _mc_ok; else _mc_bad "build version 1 without migrations" "$d/v1-none.log"; return 1; fi
    _mc_expect "makemigrations (initial)" 0 "$log.mk1" ./v1-none makemigrations &&
        _mc_grep "makemigrations (initial)" "$log.mk1" 'migrations/0001_initial\.hpp' 'create_model mig_book_tags'
    if [ -f "$d/migrations/0001_initial.hpp" ] && [ -f "$d/migrations/migrations.cpp" ] &&
       grep -q 'weft_migration_0001_initial()' "$d/migrations/migrations.cpp"; then _mc_ok
    else _mc_bad "makemigrations wrote no 0001_initial.hpp / migrations.cpp registering it"; fi
    if _mc_build "$d/v1" 1 "$d/migrations/migrations.cpp"; then _mc_ok; else _mc_bad "build version 1 with 0001" "$d/v1.log"; return 1; fi
    _mc_expect "check (version 1, covered)" 0 "$log.ck1" ./v1 check
    _mc_expect "makemigrations (version 1, no change)" 0 "$log.mk1b" ./v1 makemigrations &&
        _mc_grep "makemigrations (version 1, no change)" "$log.mk1b" 'No changes detected'

    # Version 2 of the models, built with 0001 only: what a developer has after editing them.
    if _mc_build "$d/v2-stale" 2 "$d/migrations/migrations.cpp"; then _mc_ok; else _mc_bad "build version 2 with 0001" "$d/v2-stale.log"; return 1; fi
    _mc_expect "check (version 2, drift)" 1 "$log.ck2" ./v2-stale check &&
        _mc_grep "check names the changes" "$log.ck2" 'add_field mig_book\.pages' 'add_field mig_author\.country' \
            'alter_field mig_book\.title' 'remove_field mig_author\.name'
    _mc_expect "makemigrations without --rename (not a terminal)" 1 "$log.mk2a" ./v2-stale makemigrations --no-input &&
        _mc_grep "the rename is asked, not guessed" "$log.mk2a" 'mig_author\.name renamed to mig_author\.full_name' '--rename yes or --rename no'
    if compgen -G "$d/migrations/0002*" >/dev/null; then _mc_bad "a refused makemigrations wrote a file"; else _mc_ok; fi
    _mc_expect "makemigrations --dry-run without --default" 0 "$log.mk2b" \
        ./v2-stale makemigrations --dry-run --rename yes --no-input &&
        _mc_grep "a NOT NULL column without default is pointed out" "$log.mk2b" \
            'mig_author\.country is new, NOT NULL and has no default' '--default mig_author\.country=VALUE' 'rename_field\("mig_author", "name", "full_name"\)'
    _mc_expect "makemigrations (version 2)" 0 "$log.mk2" \
        ./v2-stale makemigrations --name book_pages --rename yes --no-input --default mig_author.country=ZZ &&
        _mc_grep "makemigrations (version 2)" "$log.mk2" 'migrations/0002_book_pages\.hpp' \
            'rename_field mig_author\.name -> full_name' 'add_field mig_book\.pages'
    grep -q '"ZZ"' "$d/migrations/0002_book_pages.hpp" && grep -q 'weft_migration_0002_book_pages()' "$d/migrations/migrations.cpp" &&
        _mc_ok || _mc_bad "0002_book_pages.hpp lacks the one-off default, or migrations.cpp does not register it"
    # The program was built before 0002 existed: writing again would make a second copy of it.
    _mc_expect "stale-build guard" 1 "$log.mk2c" ./v2-stale makemigrations --rename yes --no-input &&
        _mc_grep "stale-build guard" "$log.mk2c" '0002_book_pages\.hpp is not compiled into this program: rebuild'
    if _mc_build "$d/v2" 2 "$d/migrations/migrations.cpp"; then _mc_ok; else _mc_bad "build version 2 with 0001 and 0002" "$d/v2.log"; return 1; fi
    _mc_expect "check (version 2, covered)" 0 "$log.ck3" ./v2 check
    _mc_expect "makemigrations (version 2, no change)" 0 "$log.mk3" ./v2 makemigrations &&
        _mc_grep "makemigrations (version 2, no change)" "$log.mk3" 'No changes detected'
    # What makemigrations writes is what the example holds (but for the date in line 1).
    local f ok=0
    for f in 0001_initial.hpp 0002_book_pages.hpp migrations.cpp; do
        if ! diff <(tail -n +2 "$d/migrations/$f") <(tail -n +2 "$WEFT_ROOT/examples/migrations_demo/migrations/$f") >"$log.diff" 2>&1; then
            ok=1; _mc_bad "migrations/$f differs from examples/migrations_demo/migrations/$f" "$log.diff"
        fi
    done
    [ $ok = 0 ] && _mc_ok
    unset WEFT_DB
    return 0
}

# Phase 2: one database, one mode.
_mc_db_phase() {
    local url=$1 mode=$2 d=$_mc_dir log=$_mc_dir/log.$3
    local -a m=(); [ "$mode" = async ] && m=(--async)
    export WEFT_DB=$url
    _mc_expect "migrate (version 1)" 0 "$log.m1" ./v1 migrate "${m[@]}" &&
        _mc_grep "migrate (version 1)" "$log.m1" 'Applying 0001_initial\.\.\. OK'
    _mc_expect "seed" 0 "$log.seed" ./v1 seed "${m[@]}"
    _mc_expect "list (version 1)" 0 "$log.l1" ./v1 list "${m[@]}" &&
        [ "$(grep -c '^book ' "$log.l1")" = 3 ] && [ "$(grep -c '^author ' "$log.l1")" = 2 ] &&
        _mc_ok || _mc_bad "version 1 lists 2 authors and 3 books" "$log.l1"
    _mc_expect "showmigrations" 0 "$log.sm" ./v2 showmigrations "${m[@]}" &&
        _mc_grep "showmigrations" "$log.sm" '^ \[X\] 0001_initial  \(applied 2[0-9]{3}-' '^ \[ \] 0002_book_pages$'
    _mc_expect "sqlmigrate" 0 "$log.sq" ./v2 sqlmigrate 0002_book_pages "${m[@]}" &&
        _mc_grep "sqlmigrate" "$log.sq" '^BEGIN;' 'RENAME COLUMN "name" TO "full_name"' 'ADD COLUMN "pages"' \
            'INSERT INTO "weft_migrations"' '^COMMIT;'
    _mc_expect "migrate (version 2)" 0 "$log.m2" ./v2 migrate "${m[@]}" &&
        _mc_grep "migrate (version 2)" "$log.m2" 'Applying 0002_book_pages\.\.\. OK'
    _mc_expect "list (version 2)" 0 "$log.l2" ./v2 list "${m[@]}"
    # The rows of version 1, with their values; the renamed column kept its values; the new ones
    # hold the default (pages) and the one-off default (country).
    if diff <(grep -v '^  ' "$log.l2") "$log.l1" >"$log.d2" && [ "$(grep -c '^  pages 0$' "$log.l2")" = 3 ] &&
       [ "$(grep -c '^  country ZZ$' "$log.l2")" = 2 ]; then _mc_ok
    else _mc_bad "rows after migrate 0002 (diff against version 1's list, then the list)" "$log.d2"; cat "$log.l2"; fi
    _mc_expect "migrate again: nothing to do" 0 "$log.m2b" ./v2 migrate "${m[@]}" &&
        _mc_grep "migrate again" "$log.m2b" 'No migrations to apply'
    _mc_expect "migrate back to 0001" 0 "$log.b1" ./v2 migrate 0001_initial "${m[@]}" &&
        _mc_grep "migrate back to 0001" "$log.b1" 'Unapplying 0002_book_pages\.\.\. OK'
    _mc_run "$log.l1b" ./v1 list "${m[@]}" && diff "$log.l1b" "$log.l1" >"$log.d1" &&
        _mc_ok || _mc_bad "rows after going back to 0001 differ from version 1's" "$log.d1"
    _mc_expect "migrate forward again" 0 "$log.f2" ./v2 migrate "${m[@]}" &&
        _mc_grep "migrate forward again" "$log.f2" 'Applying 0002_book_pages\.\.\. OK'
    _mc_run "$log.l2b" ./v2 list "${m[@]}" && diff "$log.l2b" "$log.l2" >"$log.d3" &&
        _mc_ok || _mc_bad "rows after going forward again differ" "$log.d3"
    _mc_expect "unknown target" 1 "$log.ut" ./v2 migrate 0003_nosuch "${m[@]}" &&
        _mc_grep "unknown target lists the valid names" "$log.ut" \
            "no migration is named '0003_nosuch' \\(valid: 0001_initial, 0002_book_pages, zero\\)"
    _mc_expect "migrate zero" 0 "$log.z" ./v2 migrate zero "${m[@]}" &&
        _mc_grep "migrate zero" "$log.z" 'Unapplying 0002_book_pages\.\.\. OK' 'Unapplying 0001_initial\.\.\. OK'
    local left; left=$(_mc_sql "$url" "$_mc_tables_sql" 2>&1)
    [ "$left" = weft_migrations ] && _mc_ok || _mc_bad "after migrate zero the tables are '$left', not weft_migrations alone"
    [ -z "$(_mc_sql "$url" 'SELECT name FROM weft_migrations' 2>&1)" ] && _mc_ok || _mc_bad "weft_migrations not empty after migrate zero"
    unset WEFT_DB
}

# Phase 2b (SQLite, sync): migration files edited by hand into a bad state, each compiled into a
# program of its own. A missing column fails naming the file and the operation before anything
# runs; a NOT NULL column without its one-off default is refused while the table has rows, and
# nothing of the migration (its rename before it included) is left behind.
_mc_bad_input() {
    local d=$_mc_dir log=$_mc_dir/log.bad url="sqlite://$_mc_dir/bad.db"
    mkdir -p "$d/bad-column" "$d/bad-fill"
    cp "$d"/migrations/*.hpp "$d/migrations/migrations.cpp" "$d/bad-column/"
    cp "$d"/migrations/*.hpp "$d/migrations/migrations.cpp" "$d/bad-fill/"
    sed -i 's/\.rename_field("mig_author", "name", "full_name")/.rename_field("mig_author", "nom", "full_name")/' \
        "$d/bad-column/0002_book_pages.hpp"
    sed -i 's/max_length(2), "ZZ")/max_length(2))/' "$d/bad-fill/0002_book_pages.hpp"
    if ! grep -q '"nom"' "$d/bad-column/0002_book_pages.hpp" || grep -q '"ZZ"' "$d/bad-fill/0002_book_pages.hpp"; then
        _mc_bad "could not edit the copies of 0002_book_pages.hpp"; return
    fi
    if _mc_build "$d/v2-bad-column" 2 "$d/bad-column/migrations.cpp" && _mc_build "$d/v2-bad-fill" 2 "$d/bad-fill/migrations.cpp"; then
        _mc_ok
    else
        _mc_bad "build with the edited migrations" "$d/v2-bad-fill.log"; return
    fi
    export WEFT_DB=$url
    _mc_expect "migrate (version 1)" 0 "$log.m1" ./v1 migrate && _mc_expect "seed" 0 "$log.seed" ./v1 seed &&
        _mc_expect "list" 0 "$log.l1" ./v1 list
    _mc_expect "migrate with a missing column" 1 "$log.col" ./v2-bad-column migrate &&
        _mc_grep "the error names the file and the operation" "$log.col" 'bad-column/0002_book_pages\.hpp' \
            'migration 0002_book_pages, operation 1 \(rename_field mig_author\.nom -> full_name\)' "nom"
    _mc_expect "sqlmigrate with a missing column" 1 "$log.colsq" ./v2-bad-column sqlmigrate 0002_book_pages &&
        _mc_grep "sqlmigrate names the file" "$log.colsq" 'bad-column/0002_book_pages\.hpp'
    _mc_expect "migrate without the one-off default" 1 "$log.fill" ./v2-bad-fill migrate &&
        _mc_grep "the refusal says why and what to do" "$log.fill" 'mig_author\.country is NOT NULL without a default' \
            "table 'mig_author' has 2 row\(s\)" '--default mig_author\.country=VALUE' 'Nothing of this migration was applied'
    _mc_expect "list after the refusals" 0 "$log.l1b" ./v1 list && diff "$log.l1b" "$log.l1" >"$log.d" &&
        _mc_ok || _mc_bad "the rows or columns changed after the refused migrations" "$log.d"
    _mc_expect "showmigrations after the refusals" 0 "$log.sm" ./v2-bad-fill showmigrations &&
        _mc_grep "0002 is not recorded" "$log.sm" '^ \[ \] 0002_book_pages$'
    unset WEFT_DB
}

# Phase 3: two processes migrate the same database at once, ROUNDS times.
_mc_concurrency() {
    local url=$1 rounds=$2 d=$_mc_dir log=$_mc_dir/log.conc i
    export WEFT_DB=$url
    for ((i = 1; i <= rounds; i++)); do
        # Round 1 starts from a database without weft_migrations: both create it, too.
        if [ $i -gt 1 ]; then _mc_run "$log.zero" ./v2 migrate zero || { _mc_bad "migrate zero before round $i" "$log.zero"; continue; }; fi
        (cd "$d" && timeout 120 ./v2 migrate >"$log.a" 2>&1) & local pa=$!
        (cd "$d" && timeout 120 ./v2 migrate --async >"$log.b" 2>&1) & local pb=$!
        local ra=0 rb=0
        wait $pa || ra=$?
        wait $pb || rb=$?
        if [ $ra = 0 ] && [ $rb = 0 ]; then _mc_ok
        else _mc_bad "round $i: exits $ra and $rb" "$log.a"; tail -15 "$log.b" | sed 's/^/    /'; fi
        local rows; rows=$(_mc_sql "$url" 'SELECT name, COUNT(*) FROM weft_migrations GROUP BY name ORDER BY name' 2>&1 | tr '\n' ' ')
        [ "$rows" = "0001_initial|1 0002_book_pages|1 " ] && _mc_ok || _mc_bad "round $i: weft_migrations holds '$rows'"
        local n1 n2 idle
        n1=$(cat "$log.a" "$log.b" | grep -c 'Applying 0001_initial\.\.\. OK')
        n2=$(cat "$log.a" "$log.b" | grep -c 'Applying 0002_book_pages\.\.\. OK')
        idle=$(cat "$log.a" "$log.b" | grep -cE 'No migrations to apply|already applied')
        if [ "$n1" = 1 ] && [ "$n2" = 1 ] && [ "$idle" -ge 1 ]; then _mc_ok
        else _mc_bad "round $i: each migration applied once (0001: $n1, 0002: $n2) and one process idle ($idle)" "$log.a"; cat "$log.b"; fi
    done
    unset WEFT_DB
}

migrations_check() {
    local builddir=$1 work=$2/migrations-check
    echo "=== migrations workflow (examples/migrations_demo built against $builddir)"
    _mc_dir=$work
    rm -rf "$work" && mkdir -p "$work" || { record "migrations: build, makemigrations" 0 1 0; return; }
    cp "$WEFT_ROOT/examples/migrations_demo/main.cpp" "$WEFT_ROOT/examples/migrations_demo/models.hpp" "$work/"
    local pc=(env "PKG_CONFIG_PATH=$builddir/meson-uninstalled" pkg-config)
    if ! read -r -a _mc_cflags <<<"$("${pc[@]}" --cflags weft-uninstalled 2>/dev/null)" ||
       ! read -r -a _mc_libs <<<"$("${pc[@]}" --libs weft-uninstalled 2>/dev/null)" || [ ${#_mc_libs[@]} = 0 ]; then
        echo "migrations-check: no weft-uninstalled.pc in $builddir/meson-uninstalled"
        record "migrations: build, makemigrations" 0 1 0; return
    fi
    # A sanitizer build's libweft needs the sanitizer runtimes in the program.
    _mc_sanitize=()
    local san; san=$(meson introspect "$builddir" --buildoptions 2>/dev/null | python3 -c '
import json, sys
print(next((o["value"] for o in json.load(sys.stdin) if o["name"] == "b_sanitize"), "none"))' 2>/dev/null)
    [ -n "$san" ] && [ "$san" != none ] && _mc_sanitize=("-fsanitize=$san")

    local t=$SECONDS
    if ! _mc_build_phase || [ ! -x "$work/v2" ]; then
        _mc_flush "migrations: build, makemigrations"; rm -rf "$work"; return
    fi
    # The example as meson builds it (version 2, the checked-in migrations): covered, and it migrates.
    local ex=$builddir/examples/migrations_demo
    if [ -x "$ex" ]; then
        _mc_expect "meson-built example: check" 0 "$work/log.ex.ck" "$ex" check --db "sqlite://$work/example.db"
        _mc_expect "meson-built example: migrate" 0 "$work/log.ex.m" "$ex" migrate --db "sqlite://$work/example.db" &&
            _mc_grep "meson-built example: migrate" "$work/log.ex.m" 'Applying 0001_initial\.\.\. OK' 'Applying 0002_book_pages\.\.\. OK'
        _mc_expect "meson-built example: seed" 0 "$work/log.ex.s" "$ex" seed --db "sqlite://$work/example.db"
    fi
    _mc_flush "migrations: build, makemigrations"
    echo "migrations-check: build phase $((SECONDS - t)) s"

    _mc_bad_input
    _mc_flush "migrations: bad input (sqlite)"

    local pg_url="" pg_admin=${WEFT_TEST_PG_URL:-} db=weft_migrations_check
    if [ -n "$pg_admin" ] && command -v psql >/dev/null; then
        # A database of its own: a clean slate each time, and nothing left for other suites.
        pg_url=$(sed -E "s#^(postgresql://[^/]*)/[^?]*#\1/$db#" <<<"$pg_admin")
    fi
    local mode
    for mode in sync async; do
        _mc_tables_sql="SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
        rm -f "$work"/demo-$mode.db*
        _mc_db_phase "sqlite://$work/demo-$mode.db" $mode sqlite-$mode
        _mc_flush "migrations: sqlite $mode"
        if [ -z "$pg_url" ]; then record "migrations: postgresql $mode" 0 0 1; continue; fi
        _mc_tables_sql="SELECT tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY 1"
        if psql -X -q -d "$pg_admin" -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >"$work/log.createdb" 2>&1; then
            _mc_db_phase "$pg_url" $mode pg-$mode
        else
            _mc_bad "could not create database $db" "$work/log.createdb"
        fi
        _mc_flush "migrations: postgresql $mode"
    done
    t=$SECONDS
    rm -f "$work"/conc.db*
    _mc_concurrency "sqlite://$work/conc.db" 5
    _mc_flush "migrations: concurrent sqlite"
    if [ -n "$pg_url" ] && psql -X -q -d "$pg_admin" -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >"$work/log.createdb" 2>&1; then
        _mc_concurrency "$pg_url" 5
        _mc_flush "migrations: concurrent postgresql"
        psql -X -q -d "$pg_admin" -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1
    else
        record "migrations: concurrent postgresql" 0 0 1
    fi
    echo "migrations-check: concurrency $((SECONDS - t)) s"
    rm -rf "$work"
}

# Run alone: a summary of its own, in scripts/test's format.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    set -uo pipefail
    source "$(dirname "$0")/setup.sh"
    _mc_pass=0 _mc_fail=0 _mc_skip=0
    record() {
        _mc_pass=$((_mc_pass + $2)); _mc_fail=$((_mc_fail + $3)); _mc_skip=$((_mc_skip + $4))
    }
    _mc_builddir=${1:-$WEFT_ROOT/build}
    [ -f "$_mc_builddir/build.ninja" ] || { echo "migrations-check: $_mc_builddir is not a configured build directory"; exit 1; }
    _mc_tmp=$(mktemp -d /tmp/weft-migrations-check.XXXXXX)
    trap 'rm -rf "$_mc_tmp"' EXIT
    migrations_check "$(cd "$_mc_builddir" && pwd)" "$_mc_tmp"
    echo "$_mc_pass passed, $_mc_fail failed, $_mc_skip skipped"
    [ "$_mc_fail" = 0 ]
fi

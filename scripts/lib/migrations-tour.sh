#!/usr/bin/env bash
# The second part of scripts/demo: schema migrations on SQLite (examples/migrations_demo,
# docs/migrations.md), the way a user works. The program is built with g++ against the built
# library (build/, through pkg-config's weft-uninstalled.pc), makemigrations writes the first
# migration, the program is rebuilt and migrates, rows go in. Then the models change (a book
# gains `pages` with a default; an author's `name` becomes `full_name` and gains `country`,
# NOT NULL without a default; a title grows), `check` sees the drift, makemigrations asks about
# the rename and a value for the existing rows (flags answer), writes 0002; after a rebuild,
# `migrate` and `list` show the same rows with the new columns filled in; then back to 0001 and
# forward again. Builds nothing in build/ (scripts/demo does).
#   scripts/lib/migrations-tour.sh [DIR]      (default: a temporary directory, removed afterwards)
set -euo pipefail
source "$(dirname "$0")/setup.sh"
if [ $# -ge 1 ]; then
    app=$1
else
    app=$(mktemp -d /tmp/weft-migrations-tour.XXXXXX)
    trap 'rm -rf "$app"' EXIT
fi
[ -f "$WEFT_ROOT/build/libweft.a" ] || { echo "migrations-tour: build/ has no libweft.a: run scripts/demo" >&2; exit 1; }
mkdir -p "$app"
cp "$WEFT_ROOT/examples/migrations_demo/main.cpp" "$WEFT_ROOT/examples/migrations_demo/models.hpp" "$app/"
cd "$app"
export WEFT_DB="sqlite://$app/library.db"
read -r -a cflags <<<"$(PKG_CONFIG_PATH="$WEFT_ROOT/build/meson-uninstalled" pkg-config --cflags weft-uninstalled)"
read -r -a libs <<<"$(PKG_CONFIG_PATH="$WEFT_ROOT/build/meson-uninstalled" pkg-config --libs weft-uninstalled)"
say() { printf '\n\033[1m%s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }
build() {  # build VERSION: the program, with migrations/migrations.cpp once makemigrations wrote it
    local srcs=(main.cpp)
    [ -f migrations/migrations.cpp ] && srcs+=(migrations/migrations.cpp)
    printf '$ g++ -std=c++20 -DDEMO_VERSION=%s %s $(pkg-config --cflags --libs weft) -o library\n' "$1" "${srcs[*]}"
    g++ -std=c++20 -O1 -DDEMO_VERSION="$1" "${cflags[@]}" "${srcs[@]}" -o library "${libs[@]}"
}

say "=== Schema migrations (docs/migrations.md), in $app, database $WEFT_DB"
say "Version 1 of the models (examples/migrations_demo/models.hpp): authors, books with a foreign key, tags (many-to-many)."
build 1
run ./library makemigrations
say "The migration is a C++ file in the source tree; migrations.cpp includes and registers it:"
run cat migrations/0001_initial.hpp
say "Rebuilt with migrations/migrations.cpp, the program can migrate:"
build 1
run ./library migrate
run ./library seed
run ./library list

say "The models change (version 2): Book gains 'pages' (default 0), Author's 'name' becomes 'full_name' and gains 'country' (NOT NULL, no default), Book's title grows to 200 characters."
build 2
say "Before any new migration, 'check' (for CI) fails and names what no migration covers:"
run ./library check || echo "(exit $?)"
say "makemigrations asks about the rename (never guessed) and about a value for the rows already there; the flags answer:"
run ./library makemigrations --name book_pages --rename yes --no-input --default mig_author.country=ZZ
run cat migrations/0002_book_pages.hpp
say "The program running now was built without 0002: makemigrations refuses until it is rebuilt."
run ./library makemigrations || echo "(exit $?)"
build 2
run ./library showmigrations
run ./library sqlmigrate 0002_book_pages
run ./library migrate
say "The same rows, with the renamed column's values kept and the new columns filled in:"
run ./library list
run ./library check
say "And back: migrate to 0001 undoes 0002 (the rows stay):"
run ./library migrate 0001_initial
run ./library showmigrations
run ./library migrate
echo "done."

# Shared set-up for scripts/demo, scripts/test and scripts/bench: install what a fresh Debian 12
# machine lacks, then configure and build with meson. Source this file.

WEFT_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# cmake: doctest is found through its CMake package, and scripts/test's install check builds a
# consumer with find_package(weft) (which also reads the CMake packages of fmt and Boost, shipped
# in libfmt-dev and libboost-context-dev). pkg-config: meson's and the install check's.
# libboost-dev (Boost.Asio and Beast headers) and nlohmann-json3-dev: the Asio bridge's tests and
# the example order service, which scripts/test runs; python3 runs the service's checks.
# pgbouncer (1.18 on Debian 12): scripts/test runs the conformance suite through it in transaction
# mode (scripts/lib/pgbouncer.sh starts its own on a loopback port; the package's system service,
# where an init system starts it, listens on 6432 and is not used).
WEFT_PACKAGES=(g++ meson ninja-build pkg-config cmake libpq-dev libboost-context-dev libsqlite3-dev
               doctest-dev libfmt-dev libpcre2-dev postgresql-15 libboost-dev nlohmann-json3-dev
               python3 pgbouncer)

weft_ensure_packages() {
    local missing=() p
    for p in "${WEFT_PACKAGES[@]}" "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "setup: installing ${missing[*]}"
    local sudo=""
    if [ "$(id -u)" != 0 ]; then
        command -v sudo >/dev/null || { echo "setup: need root (or sudo) to install: ${missing[*]}" >&2; return 1; }
        sudo=sudo
    fi
    # The postgresql package would start a system cluster; we only need its binaries.
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
        { echo "setup: apt-get install failed" >&2; return 1; }
}

# weft_build BUILD_DIR [meson options...]: configure once, then build.
weft_build() {
    local dir=$1; shift
    if [ ! -f "$dir/build.ninja" ]; then
        meson setup "$dir" "$WEFT_ROOT" "$@" >"$dir.setup.log" 2>&1 || { cat "$dir.setup.log" >&2; return 1; }
        rm -f "$dir.setup.log"
    fi
    # Two cores: more jobs only thrash memory and the other core's work.
    ninja -C "$dir" -j "${WEFT_JOBS:-2}" >"$dir.build.log" 2>&1 || { tail -60 "$dir.build.log" >&2; return 1; }
    rm -f "$dir.build.log"
}

# shellcheck shell=bash
# The install check (issue 9): does what a user of an installed weft does, so that a header
# missing from the install lists, a broken weft.pc or CMake package, or a weft that no longer
# works as a meson subproject fails the run instead of a user's build.
#
#   1. installs an already-built build directory into a temporary DESTDIR (no reconfigure of
#      its prefix, so nothing is rebuilt; weft.pc and weftConfig.cmake are relocatable);
#   2. headers: compiles one file that includes every installed header, against the staged
#      install alone;
#   3. pkg-config: builds tests/install/consumer.cpp with g++ and `pkg-config --cflags --libs weft`;
#   4. meson subproject: builds it in a project with subprojects/weft -> this source tree and
#      dependency('weft'), forced to the fallback so an installed weft cannot stand in;
#   5. cmake find_package: builds it with tests/install/CMakeLists.txt, find_package(weft) and
#      weft::weft, the package found through CMAKE_PREFIX_PATH in the stage;
# and runs each consumer, which exits non-zero on a wrong answer. Routes 2, 3 and 5 also check the
# compiler's dependency list: orm/orm.hpp must come from the stage and nothing from this source
# tree or its build directory (the consumer is compiled from a copy in a temporary directory).
#
# scripts/test sources this file and calls `install_check BUILDDIR WORKDIR` after its suites;
# each step becomes one summary line through scripts/test's record(). Alone:
#   bash scripts/lib/install-check.sh [BUILDDIR]      (default build/, which must be built)
# ends with "N passed, N failed, N skipped" like scripts/test.

# _ic_run LOG CMD...: runs CMD with its output in LOG; on failure shows the end of LOG.
_ic_run() {
    local log=$1; shift
    if "$@" >"$log" 2>&1; then return 0; fi
    echo "install-check: failed: $*"
    tail -40 "$log" | sed 's/^/    /'
    return 1
}

# _ic_deps_clean DEPFILE...: the compiler's dependency lists (paths made absolute and free of
# "..": weft.pc's are relative to its directory) name headers of the staged install and nothing
# under the source tree or the build directory.
_ic_deps_clean() {
    local f paths leaks root build
    root=$(realpath -m "$WEFT_ROOT") build=$(realpath -m "$_ic_builddir")
    for f in "$@"; do
        [ -s "$f" ] || { echo "install-check: no dependency file $f"; return 1; }
        paths=$(sed 's/^[^ ]*: //' "$f" | tr -s ' \\' '\n' | grep -v '^$' | xargs -r realpath -m --)
        if ! grep -qF "$_ic_inc/" <<<"$paths"; then
            echo "install-check: $f names no header of the staged install $_ic_inc"; return 1
        fi
        leaks=$(grep -F -e "$root/" -e "$build/" <<<"$paths" | sort -u | head -5)
        if [ -n "$leaks" ]; then
            echo "install-check: the build read files of the source tree, not the install:"
            sed 's/^/    /' <<<"$leaks"; return 1
        fi
    done
}

# _ic_record LABEL OK(0|1|skip)
_ic_record() {
    case $2 in
        0) record "$1" 1 0 0 ;;
        skip) record "$1" 0 0 1 ;;
        *) record "$1" 0 1 0 ;;
    esac
}

install_check() {
    local builddir=$1 work=$2/install-check
    local src="$WEFT_ROOT/tests/install" jobs=${WEFT_JOBS:-2}
    local t_all=$SECONDS t times=() f deps flags
    local labels=("install: headers" "install: pkg-config" "install: meson subproject" "install: cmake find_package")
    _ic_builddir=$(cd "$builddir" && pwd)
    echo "=== install check ($builddir into a temporary DESTDIR, then 3 consumer builds)"
    rm -rf "$work" && mkdir -p "$work" || { for f in "${labels[@]}"; do _ic_record "$f" 1; done; return; }

    # Where the build directory installs. Paths relative to the prefix are what meson reports
    # when they lie inside it; an absolute libdir/includedir is kept as given.
    local prefix libdir includedir reloc
    read -r prefix libdir includedir reloc < <(meson introspect "$builddir" --buildoptions | python3 -c '
import json, sys
o = {x["name"]: x["value"] for x in json.load(sys.stdin)}
print(o["prefix"], o["libdir"], o["includedir"], str(o.get("pkgconfig.relocatable", False)).lower())')
    [[ $libdir = /* ]] || libdir=$prefix/$libdir
    [[ $includedir = /* ]] || includedir=$prefix/$includedir
    local stage=$work/stage
    _ic_inc=$(realpath -m "$stage$includedir/weft")
    local pcdir=$stage$libdir/pkgconfig cmakedir=$stage$libdir/cmake/weft

    # 1. Install. A build directory configured before weft.pc became relocatable gets the option
    # now; that regenerates the build files and weft.pc but recompiles nothing.
    t=$SECONDS
    local ok=0
    if [ "$reloc" != true ]; then
        _ic_run "$work/configure.log" meson configure "$builddir" -Dpkgconfig.relocatable=true || ok=1
    fi
    [ $ok = 0 ] && { _ic_run "$work/build.log" ninja -C "$builddir" -j "$jobs" || ok=1; }
    [ $ok = 0 ] && { _ic_run "$work/install.log" meson install -C "$builddir" --no-rebuild --destdir "$stage" || ok=1; }
    if [ $ok = 0 ]; then
        for f in "$_ic_inc/orm/orm.hpp" "$pcdir/weft.pc" "$cmakedir/weftConfig.cmake" "$cmakedir/weftConfigVersion.cmake"; do
            [ -f "$f" ] || { echo "install-check: the install has no $f"; ok=1; }
        done
    fi
    times+=("install $((SECONDS - t)) s")
    if [ $ok != 0 ]; then
        for f in "${labels[@]}"; do _ic_record "$f" 1; done
        rm -rf "$work"; return
    fi

    local pc=(env "PKG_CONFIG_PATH=$pcdir${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}" pkg-config)
    local have_pc=1
    if ! command -v pkg-config >/dev/null; then
        have_pc=0; echo "install-check: no pkg-config; headers and pkg-config routes skipped"
    elif [ "$("${pc[@]}" --variable=pcfiledir weft 2>/dev/null)" != "$pcdir" ]; then
        echo "install-check: pkg-config finds weft.pc at '$("${pc[@]}" --variable=pcfiledir weft 2>&1)', not in the stage $pcdir"
        have_pc=2
    fi

    # 2. Every installed header, in one translation unit, against the install alone.
    t=$SECONDS ok=1
    if [ $have_pc = 1 ]; then
        (cd "$_ic_inc" && find . -name '*.hpp' | sort | sed 's|^\./\(.*\)|#include <\1>|') >"$work/all_headers.cpp"
        echo "install-check: $(wc -l <"$work/all_headers.cpp") installed headers"
        read -r -a flags <<<"$("${pc[@]}" --cflags weft)"
        _ic_run "$work/headers.log" g++ -std=c++20 -fsyntax-only -MD -MF "$work/all_headers.d" \
                "${flags[@]}" "$work/all_headers.cpp" &&
            _ic_deps_clean "$work/all_headers.d" && ok=0
    fi
    [ $have_pc = 0 ] && ok=skip
    _ic_record "${labels[0]}" $ok
    times+=("headers $((SECONDS - t)) s")

    # 3. pkg-config: the command line the README gives.
    local d=$work/pkg-config
    t=$SECONDS ok=1
    if [ $have_pc = 1 ]; then
        read -r -a flags <<<"$("${pc[@]}" --cflags --libs weft)"
        mkdir -p "$d" && cp "$src/consumer.cpp" "$d/" &&
        _ic_run "$d/build.log" g++ -std=c++20 -MD -MF "$d/consumer.d" -o "$d/consumer" "$d/consumer.cpp" \
                "${flags[@]}" &&
            _ic_deps_clean "$d/consumer.d" &&
            _ic_run "$d/run.log" timeout 120 "$d/consumer" && ok=0
    fi
    [ $have_pc = 0 ] && ok=skip
    _ic_record "${labels[1]}" $ok
    times+=("pkg-config $((SECONDS - t)) s")

    # 4. meson subproject: weft built from source inside the consumer's build, library only.
    # buildtype=plain (no optimisation, no debug info) because this route tests the wiring, and
    # it compiles the whole library again.
    d=$work/meson
    t=$SECONDS ok=1
    if mkdir -p "$d/subprojects" && cp "$src/meson.build" "$src/consumer.cpp" "$d/" &&
       ln -s "$WEFT_ROOT" "$d/subprojects/weft" &&
       _ic_run "$d/setup.log" meson setup "$d/build" "$d" --force-fallback-for=weft -Dbuildtype=plain; then
        # The subproject must leave weft's tests, examples and benchmarks out.
        local extra
        extra=$(meson introspect "$d/build" --targets | python3 -c '
import json, sys
print(" ".join(t["name"] for t in json.load(sys.stdin) if t["name"] not in ("consumer", "weft")))')
        if [ -n "$extra" ]; then
            echo "install-check: the subproject build has targets besides libweft: $extra"
        else
            _ic_run "$d/build.log" ninja -C "$d/build" -j "$jobs" &&
                _ic_run "$d/run.log" timeout 120 "$d/build/consumer" && ok=0
        fi
    fi
    _ic_record "${labels[2]}" $ok
    times+=("meson subproject $((SECONDS - t)) s")

    # 5. CMake: find_package(weft) through CMAKE_PREFIX_PATH, as a user with a local install does.
    d=$work/cmake
    t=$SECONDS ok=1
    if ! command -v cmake >/dev/null; then
        echo "install-check: no cmake; the find_package route is skipped"; ok=skip
    elif mkdir -p "$d" && cp "$src/CMakeLists.txt" "$src/consumer.cpp" "$d/" &&
         _ic_run "$d/configure.log" cmake -S "$d" -B "$d/build" -G Ninja "-DCMAKE_PREFIX_PATH=$stage$prefix" &&
         _ic_run "$d/build.log" cmake --build "$d/build" -j "$jobs"; then
        local found
        found=$(sed -n 's/^weft_DIR:[A-Z]*=//p' "$d/build/CMakeCache.txt")
        if [ "$(cd "$found" 2>/dev/null && pwd)" != "$cmakedir" ]; then
            echo "install-check: CMake found weft in '$found', not in the stage $cmakedir"
        else
            mapfile -t deps < <(find "$d/build" -name '*.o.d')
            _ic_deps_clean "${deps[@]}" && _ic_run "$d/run.log" timeout 120 "$d/build/consumer" && ok=0
        fi
    fi
    _ic_record "${labels[3]}" $ok
    times+=("cmake $((SECONDS - t)) s")

    local joined; joined=$(printf '%s, ' "${times[@]}")
    echo "install-check: $((SECONDS - t_all)) s (${joined%, })"
    rm -rf "$work"
}

# Run alone: a summary of its own, in scripts/test's format.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    set -uo pipefail
    source "$(dirname "$0")/setup.sh"
    _ic_pass=0 _ic_fail=0 _ic_skip=0
    record() {
        printf '%-34s %s passed, %s failed, %s skipped\n' "$1" "$2" "$3" "$4"
        _ic_pass=$((_ic_pass + $2)); _ic_fail=$((_ic_fail + $3)); _ic_skip=$((_ic_skip + $4))
    }
    _ic_builddir=${1:-$WEFT_ROOT/build}
    [ -f "$_ic_builddir/build.ninja" ] || { echo "install-check: $_ic_builddir is not a configured build directory"; exit 1; }
    _ic_tmp=$(mktemp -d /tmp/weft-install-check.XXXXXX)
    trap 'rm -rf "$_ic_tmp"' EXIT
    install_check "$_ic_builddir" "$_ic_tmp"
    echo "$_ic_pass passed, $_ic_fail failed, $_ic_skip skipped"
    [ "$_ic_fail" = 0 ]
fi

#!/usr/bin/env bash
# install.sh BUILD_DIR SOURCE_DIR CC [FLAGS]: what `cmake --install` ships,
# used as a user would: the hotconf binary, libhotconf shared and static,
# hotconf.h and hotconf.pc. The example service is compiled against the
# installed files through pkg-config (once against the shared library, once
# against the static one), and the static build, against the installed
# server, prints the setting it watches. FLAGS: what the build was compiled
# with that a program linking it needs too (the sanitizers).
set -euo pipefail

build=$1 src=$2 cc=$3 flags=${4:-}
work=$(mktemp -d)
srv_pid=
cleanup() {
	[ -n "$srv_pid" ] && kill "$srv_pid" 2>/dev/null && wait "$srv_pid" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
fail() {
	echo "install: FAILED: $*" >&2
	exit 1
}

prefix=$work/prefix
cmake --install "$build" --prefix "$prefix" >"$work/install.log" || fail "cmake --install: $(cat "$work/install.log")"
for f in bin/hotconf include/hotconf.h; do
	[ -e "$prefix/$f" ] || fail "$f is not installed"
done
pc=$(find "$prefix" -name hotconf.pc | head -1)
[ -n "$pc" ] || fail "hotconf.pc is not installed"
libdir=$(dirname "$(dirname "$pc")")
for f in libhotconf.so libhotconf.so.0 libhotconf.a; do
	[ -e "$libdir/$f" ] || fail "$f is not in $libdir"
done

# pkg-config finds it where it was installed (the .pc names its prefix
# relative to itself with --define-prefix, as for any relocated install).
export PKG_CONFIG_PATH=$libdir/pkgconfig
pkg() { pkg-config --define-prefix "$@"; }
[ "$(pkg --modversion hotconf)" = 0.1.0 ] || fail "pkg-config --modversion hotconf: $(pkg --modversion hotconf)"
case "$(pkg --cflags hotconf)" in *"$prefix/include"*) ;; *) fail "cflags $(pkg --cflags hotconf) miss $prefix/include" ;; esac

# shellcheck disable=SC2086,SC2046 # flags and pkg-config output are word lists
$cc $flags -o "$work/shared" "$src/client/examples/reload.c" $(pkg --cflags --libs hotconf) \
	$(pkg-config --cflags --libs yaml-0.1) || fail "the example does not build against the shared library"
LD_LIBRARY_PATH=$libdir ldd "$work/shared" | grep -q "$libdir/libhotconf.so.0" ||
	fail "the shared build does not load the installed libhotconf.so.0"
# shellcheck disable=SC2086,SC2046
$cc $flags -o "$work/static" "$src/client/examples/reload.c" $(pkg --cflags hotconf) \
	"$libdir/libhotconf.a" $(pkg --static --libs-only-other --libs-only-L hotconf | sed 's/-lhotconf//') \
	$(pkg-config --libs libcurl libcjson) $(pkg-config --cflags --libs yaml-0.1) -lpthread ||
	fail "the example does not build against the static library"
! ldd "$work/static" | grep -q libhotconf || fail "the static build still loads libhotconf.so"

# The installed server and CLI, and the static example watching a setting.
"$prefix/bin/hotconf" serve --listen 127.0.0.1:0 --data "$work/data" --port-file "$work/port" \
	--auth=off 2>"$work/server.log" &
srv_pid=$!
for _ in $(seq 1 200); do
	[ -s "$work/port" ] && break
	kill -0 "$srv_pid" 2>/dev/null || fail "the installed server exited: $(cat "$work/server.log")"
	sleep 0.05
done
[ -s "$work/port" ] || fail "the installed server wrote no port file"
addr=http://127.0.0.1:$(cat "$work/port")
printf 'port: 8080\n' | HOTCONF_ADDR=$addr HOME=$work "$prefix/bin/hotconf" put public/DEFAULT_GROUP/app.yaml \
	--format yaml >/dev/null || fail "hotconf put through the installed CLI"
timeout 20 "$work/static" "$addr" public DEFAULT_GROUP app.yaml port >"$work/example.out" 2>&1 &
ex_pid=$!
for _ in $(seq 1 400); do
	grep -q 'port = 8080' "$work/example.out" && break
	kill -0 "$ex_pid" 2>/dev/null || break
	sleep 0.05
done
kill "$ex_pid" 2>/dev/null || true
wait "$ex_pid" 2>/dev/null || true
grep -q 'port = 8080' "$work/example.out" || fail "the static example printed: $(cat "$work/example.out")"
echo "install: ok (bin, shared and static library, header, pkg-config; the installed example reads its setting)"

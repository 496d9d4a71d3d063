#!/usr/bin/env bash
# run.sh: hotconf against etcd 3.4, side by side on this machine, in one run (issue 3).
#
#   bash bench/run.sh           every scenario 5 times against both servers (~12 min on 2 cores)
#   bash bench/run.sh --quick   2 runs each with smaller N, for working on the tool (~1.5 min)
#   bash bench/run.sh --soak    the full run, then the 10-minute soak (hotconf only)
#   bash bench/run.sh --smoke --hotconf BIN --hcload BIN
#                               tiny N, a few seconds, hotconf only; builds and installs nothing.
#                               Fails only when something does not work (a watcher not parked or
#                               never woken, a wrong wake, a failed request), never on a time.
#   more: --runs N, --only park,keys,publish,get,auth,reconnect,gray,reports,nacos,pattern,convert,soak,
#         --soak-seconds S,
#         --build-dir DIR, --out FILE, --hotconf BIN --hcload BIN (skip the build)
#
# The full run installs what is missing from Debian (the build deps, and etcd-server and wrk
# when a chosen scenario uses them), builds hotconf and hcload (Release) in build/bench, and
# runs the scenarios with hcload (bench/hcload.c) and wrk. Where a scenario measures memory it
# gets fresh servers for every run. Only one server runs at a time, listening on 127.0.0.1. It
# prints one markdown table (median and worst run, the ratio hotconf/etcd, and whether hotconf
# met the issue's target) and writes it to bench/results/YYYY-MM-DD.md with the machine it ran
# on. Every wait here is bounded.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
mode=full
soak=0
runs=""
only=""
build_dir="$root/build/bench"
hc_bin=""
hl_bin=""
out=""
soak_secs=""

die() {
	echo "run.sh: $*" >&2
	exit 2
}

while [ $# -gt 0 ]; do
	case "$1" in
	--quick) mode=quick ;;
	--smoke) mode=smoke ;;
	--soak) soak=1 ;;
	--soak-seconds) soak_secs=${2:?}; shift ;;
	--runs) runs=${2:?--runs needs a number}; shift ;;
	--only) only=${2:?--only needs a list}; shift ;;
	--build-dir) build_dir=${2:?}; shift ;;
	--hotconf) hc_bin=${2:?}; shift ;;
	--hcload) hl_bin=${2:?}; shift ;;
	--out) out=${2:?}; shift ;;
	-h | --help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
	*) die "unknown flag $1 (see --help)" ;;
	esac
	shift
done

# Sizes per mode. N3 is as many watchers as a 20,000-descriptor process can hold.
case "$mode" in
full) nruns=5 n1=1000 n2=10000 n3=19000 pub_secs=5 wrk_secs=10 idle=3 ;;
quick) nruns=2 n1=1000 n2=5000 n3=8000 pub_secs=2 wrk_secs=3 idle=1 ;;
smoke) nruns=1 n1=40 n2=120 n3=0 pub_secs=1 wrk_secs=0 idle=0.3 ;;
esac
# Gray release (issue 9): ng instances on the rule's config, ng/10 on the reference, rounds
# per run.
case "$mode" in
full) ng=10000 gray_rounds=5 ;;
quick) ng=5000 gray_rounds=3 ;;
smoke) ng=200 gray_rounds=1 ;;
esac
# Apply reports (issue 10): nr instances with a many-config watch on one config, rounds per run
# (each a plain re-arm and one with "status":"applied").
case "$mode" in
full) nr=10000 rep_rounds=5 ;;
quick) nr=5000 rep_rounds=3 ;;
smoke) nr=50 rep_rounds=2 ;;
esac
# Nacos listeners (issue 13): nn Nacos v1 listeners, then as many native watches, on one config,
# rounds per run (one phase of each kind a round).
case "$mode" in
full) nn=10000 nacos_rounds=5 ;;
quick) nn=5000 nacos_rounds=3 ;;
smoke) nn=100 nacos_rounds=1 ;;
esac
[ -n "$runs" ] && nruns=$runs
keys100=100
[ "$mode" = smoke ] && keys100=4
soak_watchers=10000
[ -n "$soak_secs" ] || soak_secs=600
[ "$mode" = smoke ] && soak_secs=2 soak_watchers=30

want() { [ -z "$only" ] || [[ ",$only," == *",$1,"* ]]; }
label() { if [ "$1" -ge 1000 ]; then echo "$(($1 / 1000))k"; else echo "$1"; fi; }
l1=$(label $n1) l2=$(label $n2) l3=$(label $n3) lg=$(label $ng) lgr=$(label $((ng / 10)))
lr=$(label $nr) ln=$(label $nn)

# ---- setup: packages, build, binaries ----

# What the chosen scenarios need besides hotconf: etcd for the side-by-side ones, wrk for GETs.
need_etcd=0 need_wrk=0
for sc in park keys publish get reconnect; do want "$sc" && need_etcd=1; done
{ want get || want auth || want convert; } && need_wrk=1

install_deps() {
	local p need=() extra=()
	[ "$need_etcd" = 1 ] && extra+=(etcd-server)
	[ "$need_wrk" = 1 ] && extra+=(wrk)
	for p in build-essential cmake pkg-config libmicrohttpd-dev libsqlite3-dev libcjson-dev \
		libyaml-dev libzip-dev libsodium-dev libcurl4-gnutls-dev curl "${extra[@]}"; do
		dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
	done
	[ ${#need[@]} -eq 0 ] && return 0
	local sudo=""
	[ "$(id -u)" -ne 0 ] && sudo=sudo
	echo "run.sh: installing ${need[*]}"
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
}

if [ "$mode" = smoke ]; then
	[ -x "$hc_bin" ] && [ -x "$hl_bin" ] || die "--smoke needs --hotconf BIN and --hcload BIN"
else
	install_deps
	if [ -z "$hc_bin" ] || [ -z "$hl_bin" ]; then
		echo "run.sh: building hotconf and hcload (Release) in $build_dir"
		cmake -S "$root" -B "$build_dir" -DCMAKE_BUILD_TYPE=Release >/dev/null
		cmake --build "$build_dir" -j2 --target hotconf hcload >/dev/null
		hc_bin="$build_dir/hotconf" hl_bin="$build_dir/hcload"
	fi
	etcd_bin=$(command -v etcd || echo /usr/bin/etcd)
	[ "$need_etcd" = 0 ] || [ -x "$etcd_bin" ] || die "no etcd binary (apt-get install etcd-server)"
	[ "$need_wrk" = 0 ] || command -v wrk >/dev/null || die "no wrk (apt-get install wrk)"
fi
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# Full runs keep the servers' data on the project's disk (fsync cost is part of a publish);
# the smoke test uses TMPDIR.
if [ "$mode" = smoke ]; then
	work=$(mktemp -d "${TMPDIR:-/tmp}/hcbench.XXXXXX")
else
	mkdir -p "$build_dir"
	work=$(mktemp -d "$build_dir/run.XXXXXX")
fi
results="$work/results.txt"
bench_pw="bench-$RANDOM$RANDOM$RANDOM"
: >"$results"
hc_pid="" hc_token="" etcd_pid="" nstart=0 stop_rc=0 failures=() hc_exit_bad=0
started_at=$(date +%s)

# ---- servers ----

# Stops a server by pid: TERM, up to 20 s, then KILL. Sets stop_rc to its exit status (run in
# this shell, not a subshell: only the parent can wait for it).
stop_pid() {
	local pid=$1 i
	stop_rc=0
	kill -TERM "$pid" 2>/dev/null || true
	for i in $(seq 1 200); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || stop_rc=$?
}

# start_hotconf [FLAGS]: with auth on (as shipped) it also makes a service token, hc_token, that
# hcload and wrk send; with --auth=off hc_token is empty.
start_hotconf() {
	local d="$work/hotconf.$((++nstart))" i
	mkdir -p "$d"
	HOTCONF_ADMIN_PASSWORD="$bench_pw" "$hc_bin" serve --listen 127.0.0.1:0 --data "$d/data" \
		--port-file "$d/port" "$@" >"$d/log" 2>&1 &
	hc_pid=$! hc_log="$d/log"
	for i in $(seq 1 300); do
		[ -s "$d/port" ] && break
		kill -0 "$hc_pid" 2>/dev/null || { cat "$d/log" >&2; die "hotconf did not start"; }
		sleep 0.05
	done
	[ -s "$d/port" ] || die "hotconf wrote no port file in 15 s"
	hc_addr="127.0.0.1:$(cat "$d/port")"
	"$hl_bin" ping --target hotconf --addr "$hc_addr" --timeout 15 --quiet
	hc_token=""
	[[ " $* " == *" --auth=off "* ]] || hc_token=$(mint_token)
}

# Logs in as admin and makes an editor token for the namespace the load uses.
mint_token() {
	local session t
	session=$(curl -sf -X POST "http://$hc_addr/api/v1/auth/login" \
		-d "{\"username\":\"admin\",\"password\":\"$bench_pw\"}" |
		sed -n 's/^{"token":"\([^"]*\)".*/\1/p')
	[ -n "$session" ] || die "cannot log in to hotconf"
	t=$(curl -sf -X POST "http://$hc_addr/api/v1/tokens" -H "Authorization: Bearer $session" \
		-d '{"name":"bench","role":"editor","namespaces":["public"]}' |
		sed -n 's/.*"token":"\([^"]*\)".*/\1/p')
	[ -n "$t" ] || die "cannot make a service token"
	echo "$t"
}

stop_hotconf() {
	[ -n "$hc_pid" ] || return 0
	stop_pid "$hc_pid"
	if [ "$stop_rc" != 0 ]; then
		hc_exit_bad=1
		echo "run.sh: hotconf exited with status $stop_rc; its log:" >&2
		tail -20 "$hc_log" >&2
	fi
	hc_pid=""
}

# etcd has no port file: pick a port below the ephemeral range (no client socket can hold it)
# and try again if etcd cannot bind it.
start_etcd() {
	local d="$work/etcd.$((++nstart))" low port try
	low=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range)
	for try in 1 2 3 4 5; do
		port=$((low - 12000 + RANDOM % 10000))
		rm -rf "$d" && mkdir -p "$d"
		"$etcd_bin" --name bench --enable-v2=true --data-dir "$d/data" \
			--listen-client-urls "http://127.0.0.1:$port" \
			--advertise-client-urls "http://127.0.0.1:$port" \
			--listen-peer-urls "http://127.0.0.1:$((port + 1))" \
			--initial-advertise-peer-urls "http://127.0.0.1:$((port + 1))" \
			--initial-cluster "bench=http://127.0.0.1:$((port + 1))" \
			--logger=zap --log-outputs=stderr >"$d/log" 2>&1 &
		etcd_pid=$! etcd_addr="127.0.0.1:$port"
		if "$hl_bin" ping --target etcd --addr "$etcd_addr" --timeout 20 --quiet &&
			kill -0 "$etcd_pid" 2>/dev/null; then
			return 0
		fi
		stop_etcd
	done
	tail -20 "$d/log" >&2
	die "etcd did not start"
}

stop_etcd() {
	[ -n "$etcd_pid" ] || return 0
	stop_pid "$etcd_pid"
	etcd_pid=""
}

cleanup() {
	stop_hotconf
	stop_etcd
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- running hcload and wrk ----

# hl RUN TARGET NAME COMMAND [FLAGS]: runs hcload against the running server of TARGET and
# keeps its RESULT lines, tagged with the run number.
hl() {
	local run=$1 target=$2 name=$3 cmd=$4 addr pid rc=0 log
	shift 4
	local tok=()
	if [ "$target" = hotconf ]; then addr=$hc_addr pid=$hc_pid; else addr=$etcd_addr pid=$etcd_pid; fi
	[ "$target" = hotconf ] && [ -n "$hc_token" ] && tok=(--token "$hc_token")
	log="$work/hcload.$((++nstart)).log"
	"$hl_bin" "$cmd" --target "$target" --addr "$addr" --pid "$pid" --name "$name" "${tok[@]}" \
		"$@" >"$log" 2>&1 || rc=$?
	# HL_TAG renames the target in the results, for hotconf runs that are a reference
	# (hotconf-open: --auth=off).
	grep '^RESULT ' "$log" | sed "s/^RESULT /RESULT run=$run /" |
		sed "s/ target=hotconf / target=${HL_TAG:-hotconf} /" >>"$results" || true
	if [ "$rc" -eq 0 ]; then
		printf '  %-16s %-8s run %s/%s ok\n' "$name" "$target" "$run" "$nruns"
	else
		printf '  %-16s %-8s run %s/%s FAILED (exit %s)\n' "$name" "$target" "$run" "$nruns" "$rc"
		grep -v '^RESULT ' "$log" | sed 's/^/      /' >&2 || true
		failures+=("$name $target run $run: hcload $cmd exit $rc")
	fi
}

# wrk_get RUN TARGET URL: GET throughput with 2 threads and 100 keep-alive connections.
wrk_get() {
	local run=$1 target=$2 url=$3 log="$work/wrk.$((++nstart)).log" hdr=() name=${WRK_NAME:-get}
	[ "$target" = hotconf ] && [ -n "$hc_token" ] && hdr=(-H "Authorization: Bearer $hc_token")
	[ -n "${HL_TAG:-}" ] && target=$HL_TAG
	if ! wrk -t2 -c100 -d"${wrk_secs}s" --latency "${hdr[@]}" "$url" >"$log" 2>&1; then
		failures+=("$name $target run $run: wrk failed")
		return 0
	fi
	awk -v run="$run" -v target="$target" -v name="$name" '
		function ms(s) {
			if (s ~ /us$/) return s / 1000
			if (s ~ /ms$/) return s + 0
			if (s ~ /s$/) return s * 1000
			return s
		}
		/^Requests\/sec:/ { printf "RESULT run=%s scenario=%s target=%s metric=rate value=%s unit=/s better=high\n", run, name, target, $2 }
		/^ +99%/ { printf "RESULT run=%s scenario=%s target=%s metric=p99_ms value=%.3f unit=ms better=low\n", run, name, target, ms($2) }
		/Non-2xx/ { bad += $NF }
		/Socket errors/ { gsub(",", ""); bad += $4 + $6 + $8 + $10 }
		END { printf "RESULT run=%s scenario=%s target=%s metric=errors value=%d unit=count better=low\n", run, name, target, bad }
	' "$log" >>"$results"
	printf '  %-16s %-8s run %s/%s ok\n' "$name" "$target" "$run" "$nruns"
}

# ---- scenarios ----

# Parked watchers on one key, then one publish: fresh servers every run (RSS is measured).
scen_park() {
	local n=$1 keys=$2 name=$3 r
	for r in $(seq 1 "$nruns"); do
		start_hotconf
		hl "$r" hotconf "$name" park --watchers "$n" --keys "$keys" --publish --idle-seconds "$idle"
		stop_hotconf
		[ "$mode" = smoke ] && continue
		start_etcd
		hl "$r" etcd "$name" park --watchers "$n" --keys "$keys" --publish --idle-seconds "$idle"
		stop_etcd
	done
}

scen_reconnect() {
	local n=$1 name=$2 r
	for r in $(seq 1 "$nruns"); do
		start_hotconf
		hl "$r" hotconf "$name" reconnect --watchers "$n"
		stop_hotconf
		[ "$mode" = smoke ] && continue
		start_etcd
		hl "$r" etcd "$name" reconnect --watchers "$n"
		stop_etcd
	done
}

# Publishes and GETs on one server per target; etcd publishes both through v3 and v2.
scen_publish_get() {
	local r
	start_hotconf
	for r in $(seq 1 "$nruns"); do
		if want publish; then
			hl "$r" hotconf pub-seq publish --seconds "$pub_secs" --concurrency 1 --prefix "s$r-"
			hl "$r" hotconf pub-64 publish --seconds "$pub_secs" --concurrency 64 --prefix "c$r-"
		fi
	done
	if want get && [ "$mode" != smoke ]; then
		hl 1 hotconf get-seed seed --keys 1 --prefix get --size 1024
		for r in $(seq 1 "$nruns"); do
			wrk_get "$r" hotconf "http://$hc_addr/api/v1/configs/public/hcload/get0"
		done
	fi
	stop_hotconf
	[ "$mode" = smoke ] && return 0
	start_etcd
	for r in $(seq 1 "$nruns"); do
		if want publish; then
			hl "$r" etcd pub-seq publish --etcd-api v3 --seconds "$pub_secs" --prefix "s$r-"
			hl "$r" etcd pub-seq-v2 publish --etcd-api v2 --seconds "$pub_secs" --prefix "t$r-"
			hl "$r" etcd pub-64 publish --etcd-api v3 --seconds "$pub_secs" --concurrency 64 \
				--prefix "c$r-"
			hl "$r" etcd pub-64-v2 publish --etcd-api v2 --seconds "$pub_secs" \
				--concurrency 64 --prefix "d$r-"
		fi
	done
	if want get; then
		hl 1 etcd get-seed seed --keys 1 --prefix get --size 1024
		for r in $(seq 1 "$nruns"); do
			wrk_get "$r" etcd "http://$etcd_addr/v2/keys/hcload/get0"
		done
	fi
	stop_etcd
}

# What a service token costs: the GET and the one-key wake-up with a token and with
# --auth=off (the reference, tagged hotconf-open), run by run in turn on fresh servers so
# that the box's noise falls on both alike (rows "... vs --auth=off").
scen_auth() {
	local r
	for r in $(seq 1 "$nruns"); do
		start_hotconf
		hl "$r" hotconf "park-pair-$l2" park --watchers "$n2" --keys 1 --publish --idle-seconds 1
		stop_hotconf
		start_hotconf --auth=off
		HL_TAG=hotconf-open hl "$r" hotconf "park-pair-$l2" park --watchers "$n2" --keys 1 \
			--publish --idle-seconds 1
		stop_hotconf
		start_hotconf
		hl "$r" hotconf get-seed seed --keys 1 --prefix get --size 1024
		WRK_NAME=get-pair wrk_get "$r" hotconf "http://$hc_addr/api/v1/configs/public/hcload/get0"
		stop_hotconf
		start_hotconf --auth=off
		HL_TAG=hotconf-open hl "$r" hotconf get-seed seed --keys 1 --prefix get --size 1024
		HL_TAG=hotconf-open WRK_NAME=get-pair wrk_get "$r" hotconf \
			"http://$hc_addr/api/v1/configs/public/hcload/get0"
		stop_hotconf
	done
}

# Gray release: ng instances with their own ids and labels on one config, ng/10 on a
# reference config; per round a plain publish of the reference, a 10% rule, its abort, the
# rule again and its promote, each answering exactly the predicted instances (hcload gray,
# bench/gray.c). Fresh servers every run (RSS is measured), in turn with the listeners view
# off (--max-listeners 0, tagged hotconf-nolisten) for the view's cost.
scen_gray() {
	local r
	for r in $(seq 1 "$nruns"); do
		start_hotconf
		hl "$r" hotconf gray gray --watchers "$ng" --rounds "$gray_rounds"
		stop_hotconf
		[ "$mode" = smoke ] && continue
		start_hotconf --max-listeners 0
		HL_TAG=hotconf-nolisten hl "$r" hotconf gray gray --watchers "$ng" \
			--rounds "$gray_rounds"
		stop_hotconf
	done
}

# Apply reports: nr instances re-arm a many-config watch after every publish, alternately
# plainly (the reference, in the same run) and with "status":"applied" (hcload reports,
# bench/reports.c). Fresh servers every run (RSS is measured).
scen_reports() {
	local r
	for r in $(seq 1 "$nruns"); do
		start_hotconf
		hl "$r" hotconf reports reports --watchers "$nr" --rounds "$rep_rounds"
		stop_hotconf
	done
}

# Nacos listeners: nn listeners of the Nacos v1 API (POST /nacos/v1/cs/configs/listener) and, in
# the same run, as many native watches of the same config, each kind parked on fresh
# connections and woken by one publish (hcload nacos, bench/nacos.c). Fresh servers every run,
# once with the Nacos listeners first and once with the native watches first: the server's RSS
# is measured in the first phase only, so each kind's comes from one of the two.
scen_nacos() {
	local r first
	for r in $(seq 1 "$nruns"); do
		for first in nacos native; do
			start_hotconf
			hl "$r" hotconf nacos nacos --watchers "$nn" --rounds "$nacos_rounds" \
				--first "$first"
			stop_hotconf
		done
	done
}

# Pattern watches (issue 15): as scen_nacos, with nn watches of the config's whole group
# (POST /api/v1/watch {"namespace","group","known"}) in place of the Nacos listeners.
scen_pattern() {
	local r first
	for r in $(seq 1 "$nruns"); do
		for first in pattern native; do
			start_hotconf
			hl "$r" hotconf pattern pattern --watchers "$nn" --rounds "$nacos_rounds" \
				--first "$first"
			stop_hotconf
		done
	done
}

# Conversion on read: GET of a YAML config as stored (the reference, tagged hotconf-yaml)
# and ?as=json (converted per request, never cached), run by run in turn on one server.
scen_convert() {
	local r url auth=() body
	start_hotconf
	[ -n "$hc_token" ] && auth=(-H "Authorization: Bearer $hc_token")
	url="http://$hc_addr/api/v1/configs/public/hcload/conv.yaml"
	body=$(for i in $(seq 1 24); do printf 'svc%d:\n  host: h%d.example\n  port: %d\n  tags: [a, b]\n' "$i" "$i" $((8000 + i)); done)
	if ! curl -sf -o /dev/null -X PUT "${auth[@]}" --data-binary "$body" "$url?format=yaml"; then
		failures+=("convert: could not publish the YAML config")
		stop_hotconf
		return 0
	fi
	for r in $(seq 1 "$nruns"); do
		HL_TAG=hotconf-yaml WRK_NAME=get-conv wrk_get "$r" hotconf "$url"
		WRK_NAME=get-conv wrk_get "$r" hotconf "$url?as=json"
	done
	stop_hotconf
}

scen_soak() {
	start_hotconf
	hl 1 hotconf soak soak --watchers "$soak_watchers" --keys 10 --seconds "$soak_secs" --rate 1
	stop_hotconf
}

# The smoke test: every command of hcload, tiny, on one hotconf. Distinct key prefixes keep
# one scenario's watchers (still held by the server after we reset them) out of the next.
scen_smoke() {
	if "$hl_bin" selftest; then
		printf '  %-16s %-8s run 1/1 ok\n' selftest hcload
	else
		failures+=("hcload selftest")
	fi
	start_hotconf
	hl 1 hotconf park-$l1 park --watchers "$n1" --keys 1 --publish --idle-seconds "$idle" \
		--per-source 15 --prefix a
	hl 1 hotconf keys park --watchers "$n2" --keys "$keys100" --publish --idle-seconds "$idle" \
		--prefix b
	hl 1 hotconf pub-seq publish --count 30 --prefix c
	hl 1 hotconf pub-64 publish --count 60 --concurrency 8 --prefix d
	hl 1 hotconf reconnect-$l2 reconnect --watchers "$n2" --per-source 50 --prefix e
	hl 1 hotconf soak soak --watchers "$soak_watchers" --keys 3 --seconds "$soak_secs" --rate 5 \
		--prefix f
	hl 1 hotconf get-seed seed --keys 1 --prefix g --size 1024
	stop_hotconf
	# Gray release on a server of its own: its RSS sample and the preview's listener
	# count must see no other scenario's watches. --per-source 150 spreads the instances
	# over two source addresses.
	start_hotconf
	hl 1 hotconf gray gray --watchers "$ng" --rounds "$gray_rounds" --per-source 150
	stop_hotconf
	# Apply reports, on a server of its own too: the held-watch count must be ours alone.
	start_hotconf
	hl 1 hotconf reports reports --watchers "$nr" --rounds "$rep_rounds" --per-source 30
	stop_hotconf
	# Nacos listeners and pattern watches, a server of their own for each order (as in the
	# full run).
	scen_nacos
	scen_pattern
}

echo "run.sh: $mode run, $nruns run(s) per scenario; hotconf $hc_bin, hcload $hl_bin"
if [ "$mode" = smoke ]; then
	scen_smoke
else
	if want park; then
		scen_park "$n1" 1 "park-$l1"
		scen_park "$n2" 1 "park-$l2"
		scen_park "$n3" 1 "park-$l3"
	fi
	want keys && scen_park "$n2" "$keys100" keys
	{ want publish || want get; } && scen_publish_get
	want auth && scen_auth
	if want reconnect; then
		scen_reconnect "$n2" "reconnect-$l2"
		scen_reconnect "$n3" "reconnect-$l3"
	fi
	want gray && scen_gray
	want reports && scen_reports
	want nacos && scen_nacos
	want pattern && scen_pattern
	want convert && scen_convert
	{ [ "$soak" = 1 ] || [[ ",$only," == *",soak,"* ]]; } && scen_soak
fi

# ---- the table ----

# Rows: label | the issue's target | hotconf's scenario:metric | etcd's scenario:metric |
# check ("hc OP NUMBER" on hotconf's value, "ratio OP NUMBER" on median/median, or empty) | unit
rows="$work/rows.txt"
{
	for n in "$n1" "$n2" "$n3"; do
		[ "$n" -gt 0 ] || continue
		l=$(label "$n") s="park-$(label "$n")"
		echo "parked $l: watchers parked|all $l|$s:parked|$s:parked|hc == $n|count"
		echo "parked $l: early answers|0|$s:early|$s:early|hc == 0|count"
		echo "parked $l: server RSS per watcher|<= 6 KiB|$s:rss_per_watcher|$s:rss_per_watcher|hc <= 6144|B"
		echo "parked $l: RSS per watcher while waking|<= 6 KiB|$s:rss_wake_per_watcher|$s:rss_wake_per_watcher|hc <= 6144|B"
		echo "parked $l: server idle CPU|< 1%|$s:idle_cpu|$s:idle_cpu|hc < 1|%"
	done
	for n in "$n1" "$n2" "$n3"; do
		[ "$n" -gt 0 ] || continue
		l=$(label "$n") s="park-$(label "$n")" ack="" ackc="" last="" lastc=""
		[ "$n" = "$n2" ] && ack="<= 10 ms" ackc="hc <= 10" last="<= 120 ms" lastc="hc <= 120"
		[ "$n" = "$n3" ] && last="<= 250 ms" lastc="hc <= 250"
		echo "one key, $l watchers, one publish: publish acknowledged|${ack:-—}|$s:publish_ack_ms|$s:publish_ack_ms|$ackc|ms"
		echo "one key, $l watchers: watchers woken|all $l|$s:woken|$s:woken|hc == $n|count"
		echo "one key, $l watchers: median watcher woken|—|$s:wake_median_ms|$s:wake_median_ms||ms"
		echo "one key, $l watchers: last watcher woken|${last:-—}|$s:wake_last_ms|$s:wake_last_ms|$lastc|ms"
	done
	k=$((n2 / keys100))
	echo "$l2 watchers over $keys100 keys, one publish: woken|exactly $k|keys:woken|keys:woken|hc == $k|count"
	echo "$l2 watchers over $keys100 keys: wrong wakes|0|keys:wrong_wakes|keys:wrong_wakes|hc == 0|count"
	echo "$l2 watchers over $keys100 keys: last watcher woken|<= 5 ms|keys:wake_last_ms|keys:wake_last_ms|hc <= 5|ms"
	echo "durable publish 1 KiB, sequential (etcd v3): rate|>= 1,500/s|pub-seq:rate|pub-seq:rate|hc >= 1500|/s"
	echo "durable publish 1 KiB, sequential (etcd v3): p99|<= 5 ms|pub-seq:p99_ms|pub-seq:p99_ms|hc <= 5|ms"
	echo "durable publish 1 KiB, sequential (etcd v2): rate|—|pub-seq:rate|pub-seq-v2:rate||/s"
	echo "durable publish, 64 concurrent clients (etcd v3): rate|>= 1.5x etcd v3|pub-64:rate|pub-64:rate|ratio >= 1.5|/s"
	echo "durable publish, 64 concurrent clients (etcd v3): p99|—|pub-64:p99_ms|pub-64:p99_ms||ms"
	echo "durable publish, 64 concurrent clients (etcd v2): rate|—|pub-64:rate|pub-64-v2:rate||/s"
	if [ "$mode" != smoke ]; then
		echo "GET of a 1 KiB config, wrk -t2 -c100: rate|>= 1.5x etcd v2|get:rate|get:rate|ratio >= 1.5|/s"
		echo "GET of a 1 KiB config, wrk -t2 -c100: p99|—|get:p99_ms|get:p99_ms||ms"
		echo "GET with a service token vs --auth=off (reference column): rate|>= 0.9x --auth=off|get-pair:rate|get-pair:rate@hotconf-open|ratio >= 0.9|/s"
		echo "one key, $l2 watchers with a service token vs --auth=off (reference column): last watcher woken|<= 1.1x --auth=off|park-pair-$l2:wake_last_ms|park-pair-$l2:wake_last_ms@hotconf-open|ratio <= 1.1|ms"
		echo "GET of a 2 KiB YAML config ?as=json vs as stored (reference column), wrk -t2 -c100: rate|—|get-conv:rate|get-conv:rate@hotconf-yaml||/s"
		echo "GET of a 2 KiB YAML config ?as=json vs as stored (reference column), wrk -t2 -c100: p99|—|get-conv:p99_ms|get-conv:p99_ms@hotconf-yaml||ms"
	fi
	for n in "$n2" "$n3"; do
		[ "$n" -gt 0 ] || continue
		s="reconnect-$(label "$n")"
		echo "$(label "$n") clients reconnect at once (fresh server): all parked|<= 2 s|$s:reconnect_ms|$s:reconnect_ms|hc <= 2000|ms"
	done
	g="gray $lg (+$lgr reference)"
	nl="(reference column: --max-listeners 0)"
	echo "$g: watchers parked|all $(label $((ng + ng / 10)))|gray:parked|—|hc == $((ng + ng / 10))|count"
	echo "$g: server RSS per parked watcher, with instance id and labels|<= 6.5 KiB|gray:rss_per_watcher|—|hc <= 6656|B"
	echo "$g: plain publish (reference): last of $lgr watchers woken|—|gray:ref_last_ms|—||ms"
	echo "$g: 10% rule created: last of its ~$lgr members answered|—|gray:gray_last_ms|—||ms"
	echo "$g: 10% rule created vs plain publish, same run: last answered|<= 1.2x|gray:gray_vs_ref|—|hc <= 1.2|x"
	echo "$g: rule created: members answered (all rounds)|all predicted|gray:gray_answered|—||count"
	echo "$g: rule created: members not answered|0|gray:gray_missed|—|hc == 0|count"
	echo "$g: rule created: wrong answers (non-members, wrong content or X-Hotconf-Gray)|0|gray:gray_wrong|—|hc == 0|count"
	echo "$g: rule aborted: last member answered|—|gray:abort_last_ms|—||ms"
	echo "$g: rule aborted: members not answered|0|gray:abort_missed|—|hc == 0|count"
	echo "$g: rule aborted: wrong answers|0|gray:abort_wrong|—|hc == 0|count"
	echo "$g: rule created again: last member answered|—|gray:recreate_last_ms|—||ms"
	echo "$g: rule created again: members not answered|0|gray:recreate_missed|—|hc == 0|count"
	echo "$g: rule created again: wrong answers|0|gray:recreate_wrong|—|hc == 0|count"
	echo "$g: promoted: last of the ~$(label $((ng - ng / 10))) others answered|—|gray:promote_last_ms|—||ms"
	echo "$g: promoted: others answered (all rounds)|all but the members|gray:promote_answered|—||count"
	echo "$g: promoted: others not answered|0|gray:promote_missed|—|hc == 0|count"
	echo "$g: promoted: wrong answers (members included)|0|gray:promote_wrong|—|hc == 0|count"
	echo "$g: answers between changes|0|gray:early|—|hc == 0|count"
	echo "$g: failed requests, lost watchers, re-arms not held, preview disagreements|0|gray:errors|—|hc == 0|count"
	if [ "$mode" != smoke ]; then
		echo "$g, listeners view on vs off $nl: rule created, last member answered|—|gray:gray_last_ms|gray:gray_last_ms@hotconf-nolisten||ms"
		echo "$g, listeners view on vs off $nl: plain publish, last watcher woken|—|gray:ref_last_ms|gray:ref_last_ms@hotconf-nolisten||ms"
		echo "$g, listeners view on vs off $nl: all parked|—|gray:park_ms|gray:park_ms@hotconf-nolisten||ms"
		echo "$g, listeners view on vs off $nl: RSS per watcher|—|gray:rss_per_watcher|gray:rss_per_watcher@hotconf-nolisten||B"
	fi
	rp="reports $lr"
	echo "$rp: watchers parked (a many-config watch each, own instance id)|all $lr|reports:parked|—|hc == $nr|count"
	echo "$rp: plain re-arm (reference): publish until all $lr held again|—|reports:ref_rearm_ms|—||ms"
	echo "$rp: re-arm with \"status\":\"applied\": publish until all $lr held again|—|reports:rep_rearm_ms|—||ms"
	echo "$rp: re-arm with reports vs plain re-arm, same run|<= 1.3x|reports:rep_vs_ref|—|hc <= 1.3|x"
	echo "$rp: plain re-arm: last answer|—|reports:ref_last_ms|—||ms"
	echo "$rp: re-arm with reports: last answer|—|reports:rep_last_ms|—||ms"
	echo "$rp: reports recorded per report phase (hotconf_reports_total)|= $lr|reports:rep_recorded_per_phase|—|hc == $nr|count"
	echo "$rp: reports missing (all rounds)|0|reports:rep_missing|—|hc == 0|count"
	echo "$rp: reports recorded beyond one per watcher per report phase|0|reports:rep_extra|—|hc == 0|count"
	echo "$rp: reports recorded by a plain re-arm (no status)|0|reports:ref_recorded|—|hc == 0|count"
	echo "$rp: reports dropped|0|reports:rep_dropped|—|hc == 0|count"
	echo "$rp: listeners view summary.applied after a report phase (lowest)|$lr|reports:rep_applied_min|—|hc == $nr|count"
	echo "$rp: listeners view summary.applied after a plain re-arm (highest)|0|reports:ref_applied_max|—|hc == 0|count"
	echo "$rp: server RSS per parked watcher, before any re-arm|—|reports:rss_per_watcher|—||B"
	echo "$rp: server RSS per parked watcher after one plain re-arm (reference)|—|reports:rss_per_watcher_rearmed|—||B"
	echo "$rp: server RSS per parked watcher with a recorded report|<= 6.5 KiB|reports:rss_per_watcher_reported|—|hc <= 6656|B"
	echo "$rp: server RSS per parked watcher at the end ($rep_rounds rounds)|—|reports:rss_per_watcher_end|—||B"
	echo "$rp: answers between publishes|0|reports:early|—|hc == 0|count"
	echo "$rp: failed requests, lost watchers, wrong answers, re-arms not held|0|reports:errors|—|hc == 0|count"
	np="Nacos $ln listeners on one config"
	nv="(in the same run, the native watch: $ln GET ?wait=)"
	echo "$np: listeners parked|all $ln|nacos:nacos_parked|—|hc == $nn|count"
	echo "$np: server RSS per parked listener|<= 6.5 KiB|nacos:nacos_rss_per_watcher|—|hc <= 6656|B"
	echo "$np $nv: server RSS per parked watch|—|nacos:native_rss_per_watcher|—||B"
	echo "$np, one publish: last listener answered|—|nacos:nacos_last_ms|—||ms"
	echo "$np $nv: last watch woken|—|nacos:native_last_ms|—||ms"
	echo "$np, one publish: last listener answered vs the native watch, same run|<= 1.1x|nacos:nacos_vs_native|—|hc <= 1.1|x"
	echo "$np, one publish: median listener answered|—|nacos:nacos_median_ms|—||ms"
	echo "$np $nv: median watch woken|—|nacos:native_median_ms|—||ms"
	echo "$np: listeners answered right (all rounds)|all $(label $((nn * nacos_rounds)))|nacos:nacos_answered|—|hc == $((nn * nacos_rounds))|count"
	echo "$np: wrong answers (wrong line, early, twice)|0|nacos:nacos_wrong|—|hc == 0|count"
	echo "$np: listeners lost or not parked|0|nacos:nacos_lost|—|hc == 0|count"
	echo "$np $nv: watches woken right (all rounds)|all $(label $((nn * nacos_rounds)))|nacos:native_answered|—|hc == $((nn * nacos_rounds))|count"
	echo "$np $nv: wrong answers|0|nacos:native_wrong|—|hc == 0|count"
	echo "$np: failed requests, lost or not parked listeners and watches, wrong answers|0|nacos:errors|—|hc == 0|count"
	pp="$ln pattern watches of one config's group"
	echo "$pp: watches parked|all $ln|pattern:pattern_parked|—|hc == $nn|count"
	echo "$pp: server RSS per parked watch|—|pattern:pattern_rss_per_watcher|—||B"
	echo "$pp $nv: server RSS per parked watch|—|pattern:native_rss_per_watcher|—||B"
	echo "$pp, one publish: last watch answered|—|pattern:pattern_last_ms|—||ms"
	echo "$pp $nv: last watch woken|—|pattern:native_last_ms|—||ms"
	echo "$pp, one publish: last watch answered vs the native watch, same run|—|pattern:pattern_vs_native|—||x"
	echo "$pp: watches answered right (all rounds)|all $(label $((nn * nacos_rounds)))|pattern:pattern_answered|—|hc == $((nn * nacos_rounds))|count"
	echo "$pp: failed requests, lost or not parked watches, wrong answers|0|pattern:errors|—|hc == 0|count"
	if [ "$soak_secs" -ge 60 ]; then d="$((soak_secs / 60)) min"; else d="$soak_secs s"; fi
	echo "soak $d, $(label $soak_watchers) watchers re-arming: missed final version|0|soak:missed_final|—|hc == 0|count"
	echo "soak: RSS drift|< 5%|soak:rss_drift_pct|—|hc < 5|%"
	echo "soak: watchers woken in all|—|soak:wakes|—||count"
	echo "soak: spurious wakes (nothing changed)|0|soak:spurious_wakes|—|hc == 0|count"
	echo "soak: failed requests|0|soak:errors|—|hc == 0|count"
} >"$rows"

table="$work/table.md"
awk -F'|' -v results="$results" '
	function sortv(a, n,    i, j, t) {
		for (i = 2; i <= n; i++) {
			t = a[i]
			for (j = i - 1; j >= 1 && a[j] > t; j--)
				a[j + 1] = a[j]
			a[j + 1] = t
		}
	}
	# Sets MED and WORST for key ("scenario|target|metric"); returns the number of runs.
	function stat(key,    n, i, v) {
		n = cnt[key]
		MED = WORST = ""
		if (!n)
			return 0
		for (i = 1; i <= n; i++)
			v[i] = vals[key, i] + 0
		sortv(v, n)
		MED = n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
		WORST = better[key] == "high" ? v[1] : v[n]
		return n
	}
	function fmt(x, unit) {
		if (x == "")
			return "—"
		if (unit == "ms")
			return sprintf(x < 10 ? "%.2f" : "%.1f", x)
		if (unit == "%" || unit == "x")
			return sprintf("%.2f", x)
		return sprintf("%.0f", x)
	}
	function cell(m, w, unit,    u) {
		if (m == "")
			return "—"
		u = unit == "count" ? "" : unit == "/s" || unit == "x" ? unit : " " unit
		return fmt(m, unit) " / " fmt(w, unit) u
	}
	function holds(x, op, t) {
		if (op == "<=") return x <= t
		if (op == ">=") return x >= t
		if (op == "<") return x < t
		if (op == ">") return x > t
		if (op == "==") return x == t
		return 0
	}
	# spec is scenario:metric, or scenario:metric@target to read another target (a
	# reference run of hotconf itself).
	function lookup(spec, target,    p, q) {
		MED = WORST = ""
		if (spec == "—" || spec == "")
			return 0
		if (split(spec, q, "@") == 2) {
			spec = q[1]
			target = q[2]
		}
		split(spec, p, ":")
		return stat(p[1] "|" target "|" p[2])
	}
	BEGIN {
		while ((getline line < results) > 0) {
			n = split(line, f, " ")
			delete kv
			for (i = 2; i <= n; i++) {
				eq = index(f[i], "=")
				kv[substr(f[i], 1, eq - 1)] = substr(f[i], eq + 1)
			}
			key = kv["scenario"] "|" kv["target"] "|" kv["metric"]
			vals[key, ++cnt[key]] = kv["value"]
			better[key] = kv["better"]
		}
		print "| scenario | target | hotconf (median / worst) | etcd (median / worst) | hotconf/etcd | met? |"
		print "|---|---|---|---|---|---|"
	}
	{
		unit = $6
		have_hc = lookup($3, "hotconf"); hm = MED; hw = WORST
		have_et = lookup($4, "etcd"); em = MED; ew = WORST
		if (!have_hc && !have_et)
			next
		ratio = have_hc && have_et && em != 0 ? sprintf("%.2f", hm / em) : "—"
		met = "—"
		if ($5 != "" && !have_hc) {
			met = "no data"
		} else if ($5 != "") {
			split($5, c, " ")
			if (c[1] == "ratio")
				met = ratio == "—" ? "no data" : holds(hm / em, c[2], c[3]) ? "yes" : "no"
			else
				met = holds(hw, c[2], c[3]) ? "yes" : holds(hm, c[2], c[3]) ? "median only" : "no"
		}
		printf "| %s | %s | %s | %s | %s | %s |\n", $1, $2, cell(hm, hw, unit), cell(em, ew, unit), ratio, met
	}
' "$rows" >"$table"

elapsed=$(($(date +%s) - started_at))
echo
cat "$table"
echo
if [ ${#failures[@]} -gt 0 ]; then
	echo "Runs that failed functionally (their numbers are still in the table):"
	printf -- '- %s\n' "${failures[@]}"
fi
echo "run.sh: done in $((elapsed / 60)) min $((elapsed % 60)) s"

if [ "$mode" = smoke ]; then
	if [ ${#failures[@]} -gt 0 ] || [ "$hc_exit_bad" = 1 ]; then
		echo "run.sh: smoke FAILED" >&2
		exit 1
	fi
	echo "run.sh: smoke passed"
	exit 0
fi

# ---- the results file ----

[ -n "$out" ] || out="$here/results/$(date +%F).md"
mkdir -p "$(dirname "$out")"
cpu_model=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
mem=$(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
cmd="bash bench/run.sh"
[ "$mode" = quick ] && cmd="$cmd --quick"
[ "$soak" = 1 ] && cmd="$cmd --soak"
[ -n "$only" ] && cmd="$cmd --only $only"
[ -n "$runs" ] && cmd="$cmd --runs $runs"
etcd_v="no etcd (these scenarios are hotconf's only)" wrk_v="no wrk"
[ "$need_etcd" = 1 ] && etcd_v="$("$etcd_bin" --version |
	awk '/etcd Version/ { print "etcd " $3 } /Go Version/ { print "(" $3 ")" }' | paste -sd' '), --enable-v2"
[ "$need_wrk" = 1 ] && wrk_v=$({ wrk -v 2>&1 || true; } | awk 'NR == 1 { print $1, $2 }') # wrk -v exits 1
{
	echo "# hotconf and etcd side by side, $(date +%F)"
	echo
	echo "- Machine: $(nproc) cores (${cpu_model:-unknown CPU}), $mem memory, Linux $(uname -r)," \
		"open-file limit (ulimit -Hn) $(ulimit -Hn); server data on $(df -T "$work" | awk 'NR == 2 { print $2 }')."
	echo "- hotconf $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$root" diff --quiet HEAD -- common store watch server migrations 2>/dev/null || echo ' (with uncommitted server changes)'), Release;" \
		"$etcd_v; $wrk_v."
	echo "- Command: \`$cmd\` ($mode mode, $nruns runs per scenario, $((elapsed / 60)) min)." \
		"Cells are the median / the worst run; the ratio is of the medians. met? is the issue's" \
		"target for hotconf: yes (every run), median only, or no."
	echo "- Parked: hotconf counts its held watches in \`hotconf_watches_held\`; etcd flushes a v2" \
		"watch's response headers once the watch is registered. Wake times run from the" \
		"publish request's first byte to each watcher's last byte. RSS is the server's VmRSS;" \
		"idle CPU is the share of one core over ${idle} s with every watcher held."
	echo
	cat "$table"
	if [ ${#failures[@]} -gt 0 ]; then
		echo
		echo "Runs that failed functionally (their numbers are still in the table):"
		printf -- '- %s\n' "${failures[@]}"
	fi
	echo
	echo "Every run's RESULT lines from hcload and wrk: \`$(basename "${out%.md}").results.txt\`."
} >"$out"
cp "$results" "${out%.md}.results.txt"
echo "run.sh: wrote $out and ${out%.md}.results.txt"

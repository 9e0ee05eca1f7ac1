# shellcheck shell=bash
# Shared helpers of ferry-env: paths, logging, failing loudly, ports, waiting.
# Sourced by ferry-env; every other lib/*.sh relies on these names.

ENV_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
REPO_ROOT=$(cd "$ENV_ROOT/../.." && pwd)

# Versions of everything the environment runs. README.md says why these.
K8S_OLD_VERSION=${FERRY_ENV_K8S_OLD:-v1.35.4}
K8S_NEW_VERSION=${FERRY_ENV_K8S_NEW:-v1.36.3}
ETCD_VERSION=v3.6.16      # pinned in etcd/go.mod
KWOK_VERSION=v0.8.0       # pinned in kwok/go.mod
FLUX_SOURCE_VERSION=v1.9.0     # pinned in flux/go.mod
FLUX_KUSTOMIZE_VERSION=v1.9.0  # pinned in flux/go.mod
FLAGGER_VERSION=v1.44.0        # pinned in flagger/go.mod
PODINFO_VERSION=6.9.2          # pinned in podinfo/go.mod (a pseudo-version: see there)
HEY_VERSION=v0.1.5             # pinned in hey/go.mod

CACHE_DIR=${FERRY_ENV_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ferry/env}
BIN_CACHE=$CACHE_DIR/bin
# The build uses its own module and build caches so that it never depends on
# (or pollutes) the user's, and so a cold build can be measured by removing them.
export GOMODCACHE=${FERRY_ENV_GOMODCACHE:-$CACHE_DIR/go/mod}
export GOCACHE=${FERRY_ENV_GOCACHE:-$CACHE_DIR/go/build}
export GOTOOLCHAIN=local     # fail clearly rather than download another Go
export GOFLAGS=${FERRY_ENV_GOFLAGS:--mod=readonly}
export GOWORK=off

# Where a running environment keeps its state: a temp dir, found again by
# later commands through a pointer file keyed by this checkout's path (and
# FERRY_ENV_INSTANCE), so two checkouts on one machine, or the selftest and a
# developer's environment, never share an environment.
POINTER_FILE=$CACHE_DIR/run/$(printf '%s' "$ENV_ROOT" | sha1sum | cut -c1-16)-${FERRY_ENV_INSTANCE:-default}

log() { printf 'ferry-env: %s\n' "$*" >&2; }

die() {
	printf 'ferry-env: error: %s\n' "$*" >&2
	exit 1
}

# run_logged LOG CMD...: run CMD with its output appended to LOG; on failure
# print the command, its exit status and the log's path (plus its tail) and exit.
run_logged() {
	local logfile=$1
	shift
	mkdir -p "$(dirname "$logfile")"
	printf '+ %s\n' "$*" >>"$logfile"
	local status=0
	"$@" >>"$logfile" 2>&1 || status=$?
	if ((status != 0)); then
		{
			printf 'ferry-env: error: command failed (exit %s): %s\n' "$status" "$*"
			printf 'ferry-env: log: %s (last lines below)\n' "$logfile"
			tail -n 25 "$logfile" | sed 's/^/    /'
		} >&2
		exit 1
	fi
}

# free_port: a TCP port on 127.0.0.1 that nothing listens on right now.
# The kernel picks it; ports handed out in this run are never handed out twice.
declare -A PORTS_GIVEN=()
free_port() {
	local port
	while :; do
		port=$(python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])')
		[[ -z ${PORTS_GIVEN[$port]:-} ]] && break
	done
	PORTS_GIVEN[$port]=1
	printf '%s\n' "$port"
}

# wait_until SECONDS WHAT PIDFILE LOG CMD...: poll CMD until it succeeds; fail
# with the log's path if the time runs out or the process behind PIDFILE dies.
wait_until() {
	local seconds=$1 what=$2 pidfile=$3 logfile=$4
	shift 4
	local deadline=$((SECONDS + seconds))
	until "$@" >/dev/null 2>&1; do
		if [[ -n $pidfile ]] && ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then
			{
				printf 'ferry-env: error: %s exited before it was ready\n' "$what"
				printf 'ferry-env: log: %s (last lines below)\n' "$logfile"
				tail -n 25 "$logfile" | sed 's/^/    /'
			} >&2
			exit 1
		fi
		if ((SECONDS >= deadline)); then
			{
				printf 'ferry-env: error: %s not ready after %ss (check: %s)\n' "$what" "$seconds" "$*"
				printf 'ferry-env: log: %s (last lines below)\n' "$logfile"
				tail -n 25 "$logfile" | sed 's/^/    /'
			} >&2
			exit 1
		fi
		sleep 0.2
	done
}

# start_daemon NAME LOG CMD...: start CMD in the background in its own process
# group, record its pid as $STATE_DIR/pids/NAME.pid and its command line.
start_daemon() {
	local name=$1 logfile=$2
	shift 2
	mkdir -p "$STATE_DIR/pids" "$(dirname "$logfile")"
	printf '+ %s\n' "$*" >>"$logfile"
	setsid "$@" </dev/null >>"$logfile" 2>&1 &
	local pid=$!
	printf '%s\n' "$pid" >"$STATE_DIR/pids/$name.pid"
	printf '%s\n' "$*" >"$STATE_DIR/pids/$name.cmd"
}

# stop_daemon PIDFILE: TERM the process group, then KILL it after 10 s.
stop_daemon() {
	local pidfile=$1 pid i
	pid=$(cat "$pidfile" 2>/dev/null) || return 0
	[[ $pid =~ ^[0-9]+$ ]] || return 0
	if kill -0 "$pid" 2>/dev/null; then
		kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null
		for ((i = 0; i < 100; i++)); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$pid" 2>/dev/null; then
			kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
		fi
	fi
	rm -f "$pidfile"
}

# http_ok URL [CURL-ARGS...]: true if URL answers 2xx. python3 rather than
# curl, since a fresh machine has python3 but not necessarily curl.
http_ok() {
	python3 - "$@" <<'EOF'
import ssl, sys, urllib.request
url, args = sys.argv[1], sys.argv[2:]
ctx = ssl.create_default_context()
req = urllib.request.Request(url)
i = 0
while i < len(args):
    if args[i] == "--cacert":
        ctx.load_verify_locations(args[i + 1]); i += 2
    elif args[i] == "--token":
        req.add_header("Authorization", "Bearer " + args[i + 1]); i += 2
    else:
        i += 1
urllib.request.urlopen(req, timeout=2, context=ctx if url.startswith("https") else None).read()
EOF
}

# require_debian_packages PKG...: apt-get install what is missing (we are root
# on CI and on developer machines that run this; otherwise say what to install).
require_debian_packages() {
	local missing=() pkg
	for pkg in "$@"; do
		dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
	done
	((${#missing[@]})) || return 0
	local logfile=$CACHE_DIR/logs/apt.log
	mkdir -p "${logfile%/*}"
	if [[ $(id -u) != 0 ]]; then
		die "missing Debian packages: ${missing[*]} (run as root: apt-get install -y ${missing[*]})"
	fi
	export DEBIAN_FRONTEND=noninteractive
	log "installing Debian packages: ${missing[*]}"
	if [[ ! -d /var/lib/apt/lists ]] || [[ -z $(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -print -quit) ]]; then
		run_logged "$logfile" apt-get update -q
	fi
	if ! apt-get install -y -q --no-install-recommends "${missing[@]}" >>"$logfile" 2>&1; then
		run_logged "$logfile" apt-get update -q
		run_logged "$logfile" apt-get install -y -q --no-install-recommends "${missing[@]}"
	fi
}

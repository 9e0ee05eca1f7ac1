# shellcheck shell=bash
# Traffic of an environment started with --full: each cluster's entry point
# (ingress.py, answering with the cluster's name) and HAProxy (Debian's
# package) in front of them, backend `tenants`, one server per cluster named
# after it. The first cluster gets weight 100, a cluster started later
# weight 0 (no traffic until a switch); a cluster that stops leaves the
# backend. ferry's haproxy traffic driver moves the weights through the
# runtime API (haproxy.env: HAPROXY_RUNTIME_API, over TCP).

HAPROXY_BACKEND=tenants

haproxy_get() { sed -n "s/^$1=//p" "$STATE_DIR/haproxy.env"; }

haproxy_start() {
	local dir=$STATE_DIR/haproxy port api stats
	mkdir -p "$dir"
	port=$(free_port)
	api=$(free_port)
	stats=$(free_port)
	cat >"$STATE_DIR/haproxy.env" <<EOF
HAPROXY_URL=http://127.0.0.1:$port
HAPROXY_RUNTIME_API=127.0.0.1:$api
HAPROXY_STATS_URL=http://127.0.0.1:$stats/stats
EOF
	cat >"$dir/haproxy.cfg" <<EOF
global
	stats socket ipv4@127.0.0.1:$api level admin
	stats timeout 30s

defaults
	mode http
	timeout connect 2s
	timeout client 30s
	timeout server 30s

frontend tenants
	bind 127.0.0.1:$port
	default_backend $HAPROXY_BACKEND

# Servers are added at run time, one per cluster (haproxy_add_cluster).
backend $HAPROXY_BACKEND
	balance roundrobin

listen stats
	bind 127.0.0.1:$stats
	stats enable
	stats uri /stats
	stats refresh 5s
EOF
	start_daemon haproxy "$STATE_DIR/logs/haproxy.log" haproxy -db -f "$dir/haproxy.cfg"
}

haproxy_wait() {
	wait_until 30 "haproxy" "$STATE_DIR/pids/haproxy.pid" "$STATE_DIR/logs/haproxy.log" \
		http_ok "$(haproxy_get HAPROXY_STATS_URL)"
}

# haproxy_api COMMAND: one runtime API command; fails on an error answer.
haproxy_api() {
	local answer
	answer=$(printf '%s\n' "$1" | socat -t 5 - "TCP:$(haproxy_get HAPROXY_RUNTIME_API)") ||
		die "haproxy runtime API at $(haproxy_get HAPROXY_RUNTIME_API) did not answer: $1"
	if grep -qiE 'no such|unknown|not found|invalid|require|error|cannot' <<<"$answer"; then
		die "haproxy refused '$1': $answer"
	fi
	printf '%s\n' "$answer"
}

# ingress_start NAME: the cluster's entry point, on INGRESS_PORT of cluster.env.
ingress_start() {
	local name=$1
	start_daemon "$name-ingress" "$STATE_DIR/logs/$name-ingress.log" \
		python3 "$ENV_ROOT/ingress.py" --port="$(cluster_get "$name" INGRESS_PORT)" --cluster="$name"
}

ingress_wait() {
	local name=$1
	wait_until 30 "entry point of cluster $name" "$STATE_DIR/pids/$name-ingress.pid" \
		"$STATE_DIR/logs/$name-ingress.log" http_ok "http://127.0.0.1:$(cluster_get "$name" INGRESS_PORT)/healthz"
}

# haproxy_add_cluster NAME: NAME's entry point as server NAME of the backend,
# weight 100 if it is the backend's first server, else 0.
haproxy_add_cluster() {
	local name=$1 weight=0 logfile=$STATE_DIR/logs/haproxy-api.log
	# lines: the format version, a "# be_id be_name ..." header, then one per server
	haproxy_api "show servers state $HAPROXY_BACKEND" | grep -qE "^[0-9]+ $HAPROXY_BACKEND " || weight=100
	{
		haproxy_api "add server $HAPROXY_BACKEND/$name 127.0.0.1:$(cluster_get "$name" INGRESS_PORT) weight $weight"
		haproxy_api "enable server $HAPROXY_BACKEND/$name"
	} >>"$logfile"
}

# haproxy_remove_cluster NAME: NAME leaves the backend (if HAProxy still runs).
haproxy_remove_cluster() {
	local name=$1 logfile=$STATE_DIR/logs/haproxy-api.log
	[[ -f $STATE_DIR/haproxy.env && -f $STATE_DIR/pids/haproxy.pid ]] || return 0
	kill -0 "$(cat "$STATE_DIR/pids/haproxy.pid")" 2>/dev/null || return 0
	# a subshell: haproxy_api's die must not end the caller
	if ! (haproxy_api "set server $HAPROXY_BACKEND/$name state maint" &&
		haproxy_api "del server $HAPROXY_BACKEND/$name") >>"$logfile" 2>&1; then
		log "could not remove server $name from haproxy (see $logfile)"
	fi
}

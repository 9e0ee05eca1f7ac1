# shellcheck shell=bash
# Traffic of an environment started with --full: each cluster's entry point
# (ingress.py: a tenant's requests to the cluster's app of the tenant, any
# other answered with the cluster's name) and HAProxy (Debian's package) in
# front of them, backend `tenants`, one server per cluster named after it,
# health-checked on the entry point's /healthz. The first cluster gets weight
# 100, a cluster started later weight 0 (no traffic until a switch); a
# cluster that stops leaves the backend. ferry's haproxy traffic driver moves
# the weights through the runtime API (haproxy.env: HAPROXY_RUNTIME_API, over
# TCP). HAProxy's own Prometheus exporter (per-server requests, responses by
# class, response times) is scraped by Prometheus; the load generator
# (loadgen.py) sends every tenant a steady stream through the frontend.

HAPROXY_BACKEND=tenants
# Requests per second per tenant: through HAProxy, and straight to each cluster.
LOADGEN_RATE=${FERRY_ENV_LOADGEN_RATE:-10}
LOADGEN_SMOKE_RATE=${FERRY_ENV_LOADGEN_SMOKE_RATE:-2}

haproxy_get() { sed -n "s/^$1=//p" "$STATE_DIR/haproxy.env"; }

haproxy_start() {
	local dir=$STATE_DIR/haproxy port api stats metrics
	mkdir -p "$dir"
	port=$(free_port)
	api=$(free_port)
	stats=$(free_port)
	metrics=$(free_port)
	cat >"$STATE_DIR/haproxy.env" <<EOF
HAPROXY_URL=http://127.0.0.1:$port
HAPROXY_RUNTIME_API=127.0.0.1:$api
HAPROXY_STATS_URL=http://127.0.0.1:$stats/stats
HAPROXY_METRICS_URL=http://127.0.0.1:$metrics/metrics
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
	option httpchk GET /healthz
	default-server inter 1s fall 2 rise 1

listen stats
	bind 127.0.0.1:$stats
	stats enable
	stats uri /stats
	stats refresh 5s

frontend prometheus
	bind 127.0.0.1:$metrics
	http-request use-service prometheus-exporter if { path /metrics }
EOF
	mkdir -p "$STATE_DIR/prometheus/targets"
	printf '[{"targets": ["127.0.0.1:%s"], "labels": {"service": "haproxy"}}]\n' "$metrics" \
		>"$STATE_DIR/prometheus/targets/haproxy.json"
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

# ingress_start NAME: the cluster's entry point, on INGRESS_PORT of cluster.env,
# routing each tenant to NAME's app of the tenant.
ingress_start() {
	local name=$1 routes=()
	mapfile -t routes < <(apps_routes "$name")
	start_daemon "$name-ingress" "$STATE_DIR/logs/$name-ingress.log" \
		python3 "$ENV_ROOT/ingress.py" --port="$(cluster_get "$name" INGRESS_PORT)" --cluster="$name" "${routes[@]}"
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
		haproxy_api "add server $HAPROXY_BACKEND/$name 127.0.0.1:$(cluster_get "$name" INGRESS_PORT) weight $weight check"
		haproxy_api "enable health $HAPROXY_BACKEND/$name"
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

# loadgen_start: the load generator, once per environment, after HAProxy.
loadgen_start() {
	local port tenants entry url
	port=$(free_port)
	printf 'LOADGEN_URL=http://127.0.0.1:%s\n' "$port" >"$STATE_DIR/loadgen.env"
	tenants=$(for entry in "${APP_TENANTS[@]}"; do printf '%s,' "${entry%%:*}"; done)
	printf '[{"targets": ["127.0.0.1:%s"], "labels": {"service": "loadgen"}}]\n' "$port" \
		>"$STATE_DIR/prometheus/targets/loadgen.json"
	url=$(haproxy_get HAPROXY_URL)
	start_daemon loadgen "$STATE_DIR/logs/loadgen.log" python3 "$ENV_ROOT/loadgen.py" \
		--haproxy="${url#http://}" --state-dir="$STATE_DIR" --tenants="${tenants%,}" \
		--rate="$LOADGEN_RATE" --smoke-rate="$LOADGEN_SMOKE_RATE" --port="$port"
	wait_until 30 "load generator" "$STATE_DIR/pids/loadgen.pid" "$STATE_DIR/logs/loadgen.log" \
		http_ok "http://127.0.0.1:$port/healthz"
}

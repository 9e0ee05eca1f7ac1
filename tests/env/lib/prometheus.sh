# shellcheck shell=bash
# Prometheus (Debian's package) scraping the suite's own metrics target
# (metrics-target.py) every second, both on loopback ports.

PROMETHEUS_BIN=${FERRY_ENV_PROMETHEUS:-/usr/bin/prometheus}

prometheus_start() { # prometheus_start CLUSTER...
	local dir=$STATE_DIR/prometheus clusters
	clusters=$(IFS=,; printf '%s' "$*")
	mkdir -p "$dir/data"
	local target_port prom_port
	target_port=$(free_port)
	prom_port=$(free_port)
	cat >"$STATE_DIR/prometheus.env" <<EOF
PROMETHEUS_URL=http://127.0.0.1:$prom_port
METRICS_URL=http://127.0.0.1:$target_port
EOF
	local workloads=tenant-core/podinfo
	((FULL)) && workloads=tenant-core/podinfo,tenant-data/api  # the lab's tenants
	start_daemon metrics-target "$STATE_DIR/logs/metrics-target.log" \
		python3 "$ENV_ROOT/metrics-target.py" --port="$target_port" --clusters="$clusters" --workloads="$workloads"
	# honor_labels: the target's own `cluster` label is the one queries use.
	cat >"$dir/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: ferry-env
    honor_labels: true
    static_configs:
      - targets: ["127.0.0.1:$target_port"]
EOF
	start_daemon prometheus "$STATE_DIR/logs/prometheus.log" "$PROMETHEUS_BIN" \
		--config.file="$dir/prometheus.yml" --storage.tsdb.path="$dir/data" \
		--web.listen-address="127.0.0.1:$prom_port" \
		--web.enable-admin-api --web.enable-lifecycle \
		--storage.tsdb.retention.time=1d --log.level=warn
}

prometheus_get() { sed -n "s/^$1=//p" "$STATE_DIR/prometheus.env"; }

# prometheus_has_data: `up` of the target is 1, so queries see the samples.
prometheus_has_data() {
	python3 - "$(prometheus_get PROMETHEUS_URL)" <<'EOF'
import json, sys, urllib.request
with urllib.request.urlopen(sys.argv[1] + "/api/v1/query?query=up", timeout=2) as r:
    result = json.load(r)["data"]["result"]
sys.exit(0 if result and result[0]["value"][1] == "1" else 1)
EOF
}

prometheus_wait() {
	wait_until 30 "metrics target" "$STATE_DIR/pids/metrics-target.pid" "$STATE_DIR/logs/metrics-target.log" \
		http_ok "$(prometheus_get METRICS_URL)/healthz"
	wait_until 60 "prometheus" "$STATE_DIR/pids/prometheus.pid" "$STATE_DIR/logs/prometheus.log" \
		http_ok "$(prometheus_get PROMETHEUS_URL)/-/ready"
	wait_until 30 "prometheus's first scrape" "$STATE_DIR/pids/prometheus.pid" "$STATE_DIR/logs/prometheus.log" \
		prometheus_has_data
}

# metrics_target_add_cluster NAME / metrics_target_remove_cluster NAME: a
# cluster started or stopped after the target: its series come or go.
metrics_target_add_cluster() {
	metrics_target_call POST "/clusters" "{\"cluster\": \"$1\"}"
}

metrics_target_remove_cluster() {
	[[ -f $STATE_DIR/prometheus.env ]] || return 0
	metrics_target_call DELETE "/samples?cluster=$1" || log "could not drop the series of $1 from the metrics target"
}

metrics_target_call() { # metrics_target_call METHOD PATH [JSON]
	python3 - "$(prometheus_get METRICS_URL)$2" "$1" "${3:-}" <<'EOF'
import sys, urllib.request
url, method, body = sys.argv[1], sys.argv[2], sys.argv[3]
req = urllib.request.Request(url, method=method, data=body.encode() if body else None,
                             headers={"Content-Type": "application/json"})
urllib.request.urlopen(req, timeout=5).read()
EOF
}

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
	start_daemon metrics-target "$STATE_DIR/logs/metrics-target.log" \
		python3 "$ENV_ROOT/metrics-target.py" --port="$target_port" --clusters="$clusters"
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

# shellcheck shell=bash
# Prometheus (Debian's package) scraping the suite's own metrics target
# (metrics-target.py) every second, both on loopback ports. With --full it
# also scrapes what $STATE_DIR/prometheus/targets/*.json lists (file service
# discovery: the tenants' apps per cluster, HAProxy's exporter, the load
# generator), and its recording rules (lab-rules.yml) give the apps' own
# series the names a mesh and cAdvisor would give them, which the stock
# checks and the tenants' MetricTemplates query; the metrics target then
# serves no workload series.

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
	((FULL)) && workloads=  # the lab's workloads are real apps
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
	if ((FULL)); then
		mkdir -p "$dir/targets"
		cat >>"$dir/prometheus.yml" <<EOF
  - job_name: apps
    file_sd_configs:
      - files: ["$dir/targets/apps-*.json"]
        refresh_interval: 2s
  - job_name: haproxy
    file_sd_configs:
      - files: ["$dir/targets/haproxy.json", "$dir/targets/loadgen.json"]
        refresh_interval: 2s
rule_files: ["$dir/lab-rules.yml"]
EOF
		prometheus_lab_rules >"$dir/lab-rules.yml"
	fi
	start_daemon prometheus "$STATE_DIR/logs/prometheus.log" "$PROMETHEUS_BIN" \
		--config.file="$dir/prometheus.yml" --storage.tsdb.path="$dir/data" \
		--web.listen-address="127.0.0.1:$prom_port" \
		--web.enable-admin-api --web.enable-lifecycle \
		--storage.tsdb.retention.time=1d --log.level=warn
}

# prometheus_lab_rules: the recording rules of --full. podinfo reports
# http_requests_total{status}, the histogram http_request_duration_seconds
# and its process's CPU and memory; a mesh's sidecar would report the same
# requests as istio_requests_total and istio_request_duration_milliseconds,
# and cAdvisor the container's CPU and memory. The histogram's bounds become
# milliseconds one bucket at a time (podinfo uses client_golang's default
# buckets).
prometheus_lab_rules() {
	# prom_rule_mesh SELECTOR: SELECTOR's series with the labels of a mesh's workload
	prom_rule_mesh() {
		printf 'label_replace(label_replace(label_replace(label_replace(%s, "response_code", "$1", "status", "(.*)"), ' "$1"
		printf '"destination_workload", "$1", "workload", "(.*)"), "destination_workload_namespace", "$1", "namespace", "(.*)"), '
		printf '"destination_service_name", "$1", "workload", "(.*)")'
	}
	# prom_rule_pod METRIC: the app process's METRIC with the labels of a container
	prom_rule_pod() {
		printf 'label_replace(label_replace(%s{job="apps"}, "container", "$1", "workload", "(.*)"), ' "$1"
		printf '"pod", "$1-0", "workload", "(.*)")'
	}
	prom_rule() { # prom_rule NAME EXPR [LABELS]
		printf '      - record: %s\n        expr: %s\n' "$1" "$2"
		[[ -z ${3:-} ]] || printf '        labels: %s\n' "$3"
	}
	printf 'groups:\n  - name: lab-mesh\n    interval: 1s\n    rules:\n'
	prom_rule istio_requests_total "$(prom_rule_mesh 'http_requests_total{job="apps"}')" '{reporter: destination}'
	local bound
	for bound in 0.005:5 0.01:10 0.025:25 0.05:50 0.1:100 0.25:250 0.5:500 1:1000 2.5:2500 5:5000 10:10000 +Inf:+Inf; do
		prom_rule istio_request_duration_milliseconds_bucket \
			"label_replace($(prom_rule_mesh "http_request_duration_seconds_bucket{job=\"apps\",le=\"${bound%%:*}\"}"), \"le\", \"${bound#*:}\", \"\", \"\")" \
			'{reporter: destination}'
	done
	prom_rule container_cpu_usage_seconds_total "$(prom_rule_pod process_cpu_seconds_total)"
	prom_rule container_memory_working_set_bytes "$(prom_rule_pod process_resident_memory_bytes)"
}

prometheus_get() { sed -n "s/^$1=//p" "$STATE_DIR/prometheus.env"; }

# prometheus_has_data: `up` of the target is 1, so queries see the samples.
prometheus_has_data() {
	python3 - "$(prometheus_get PROMETHEUS_URL)" <<'EOF'
import json, sys, urllib.request
with urllib.request.urlopen(sys.argv[1] + "/api/v1/query?query=up%7Bjob%3D%22ferry-env%22%7D", timeout=2) as r:
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

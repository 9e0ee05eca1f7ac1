# shellcheck shell=bash
# The tenants' apps of an environment started with --full: for every cluster
# and tenant, podinfo (built from the Go module proxy through the wrapper
# module podinfo/) as a process on 127.0.0.1 — what the tenant's pods would
# run; kwok only fakes the Pods' status. The cluster's entry point
# (ingress.py) routes each tenant's requests to the cluster's process of the
# tenant; Prometheus scrapes each process's own metrics port with the labels
# cluster, namespace and workload (file service discovery:
# $STATE_DIR/prometheus/targets/apps-NAME.json).
#
# A fault (`ferry-env fault NAME latency|errors|cpu|none`) starts NAME's
# apps with podinfo's own fault options instead: a random delay of
# 200-1000 ms, random errors (one request in three answers 500, 400 or 409),
# or one core of CPU stress (at the lowest priority, so the stress does not
# starve the rest of the environment).

# The lab's tenants: namespace:workload.
APP_TENANTS=(tenant-core:podinfo tenant-data:api)
APP_FAULTS=(none latency errors cpu)
# The healthy app's service time: podinfo itself answers in well under a
# millisecond, below the first bucket of its latency histogram, where every
# quantile reads the same interpolated value; 10-50 ms gives the histogram
# something to measure.
APP_DELAY_MS=(10 50)
APP_SLOW_DELAY_MS=(200 1000)

app_key() { # app_key TENANT: the cluster.env key prefix of TENANT's app
	local t=${1//-/_}
	printf 'APP_%s\n' "${t^^}"
}

# apps_prepare NAME: the ports of NAME's apps (app and metrics), into cluster.env.
apps_prepare() {
	local name=$1 entry key
	for entry in "${APP_TENANTS[@]}"; do
		key=$(app_key "${entry%%:*}")
		printf '%s_PORT=%s\n%s_METRICS_PORT=%s\n' "$key" "$(free_port)" "$key" "$(free_port)" \
			>>"$(cluster_dir "$name")/cluster.env"
	done
}

app_fault() { # app_fault NAME: the fault set for cluster NAME (none by default)
	cat "$STATE_DIR/faults/$1" 2>/dev/null || printf 'none\n'
}

# apps_routes NAME: the entry point's routes, one --route=TENANT=HOST:PORT each.
apps_routes() {
	local name=$1 entry key
	for entry in "${APP_TENANTS[@]}"; do
		key=$(app_key "${entry%%:*}")
		printf -- '--route=%s=127.0.0.1:%s\n' "${entry%%:*}" "$(cluster_get "$name" "${key}_PORT")"
	done
}

# apps_start NAME: one podinfo per tenant, with NAME's fault, and their
# Prometheus targets.
apps_start() {
	local name=$1 fault entry tenant workload key dir prio=()
	fault=$(app_fault "$name")
	local options=(--random-delay --random-delay-unit=ms)
	case $fault in
	latency) options+=("--random-delay-min=${APP_SLOW_DELAY_MS[0]}" "--random-delay-max=${APP_SLOW_DELAY_MS[1]}") ;;
	*) options+=("--random-delay-min=${APP_DELAY_MS[0]}" "--random-delay-max=${APP_DELAY_MS[1]}") ;;
	esac
	[[ $fault == errors ]] && options+=(--random-error)
	[[ $fault == cpu ]] && { options+=(--stress-cpu=1); prio=(nice -n 19); }
	local targets=()
	for entry in "${APP_TENANTS[@]}"; do
		tenant=${entry%%:*} workload=${entry#*:}
		key=$(app_key "$tenant")
		dir=$(cluster_dir "$name")/apps/$tenant
		mkdir -p "$dir"
		start_daemon "$name-app-$tenant" "$STATE_DIR/logs/$name-app-$tenant.log" "${prio[@]}" \
			"$(podinfo_bin_dir)/podinfo" --host=127.0.0.1 --port="$(cluster_get "$name" "${key}_PORT")" \
			--port-metrics="$(cluster_get "$name" "${key}_METRICS_PORT")" --level=warn \
			--data-path="$dir" --ui-path="$dir" \
			--ui-message="$workload of $tenant on cluster $name" "${options[@]}"
		targets+=("{\"targets\": [\"127.0.0.1:$(cluster_get "$name" "${key}_METRICS_PORT")\"], \"labels\":
  {\"cluster\": \"$name\", \"namespace\": \"$tenant\", \"workload\": \"$workload\", \"fault\": \"$fault\"}}")
	done
	local file=$STATE_DIR/prometheus/targets/apps-$name.json
	mkdir -p "${file%/*}"
	(IFS=,; printf '[%s]\n' "${targets[*]}") >"$file.tmp"
	mv "$file.tmp" "$file" # whole, for Prometheus's file watcher
}

apps_wait() {
	local name=$1 entry key
	for entry in "${APP_TENANTS[@]}"; do
		key=$(app_key "${entry%%:*}")
		wait_until 30 "app of ${entry%%:*} on cluster $name" "$STATE_DIR/pids/$name-app-${entry%%:*}.pid" \
			"$STATE_DIR/logs/$name-app-${entry%%:*}.log" \
			http_ok "http://127.0.0.1:$(cluster_get "$name" "${key}_METRICS_PORT")/healthz"
	done
}

# apps_stop NAME: NAME's apps and their Prometheus targets.
apps_stop() {
	local name=$1 entry
	rm -f "$STATE_DIR/prometheus/targets/apps-$name.json"
	for entry in "${APP_TENANTS[@]}"; do
		stop_daemon "$STATE_DIR/pids/$name-app-${entry%%:*}.pid"
		rm -f "$STATE_DIR/pids/$name-app-${entry%%:*}.cmd"
	done
}

# apps_set_fault NAME FAULT: NAME's apps from now on run with FAULT; a
# running cluster's apps are restarted with it, on the same ports.
apps_set_fault() {
	local name=$1 fault=$2
	[[ " ${APP_FAULTS[*]} " == *" $fault "* ]] || die "unknown fault '$fault' (one of: ${APP_FAULTS[*]})"
	mkdir -p "$STATE_DIR/faults"
	printf '%s\n' "$fault" >"$STATE_DIR/faults/$name"
	if [[ -f $(cluster_dir "$name")/cluster.env ]] && grep -q '^APP_' "$(cluster_dir "$name")/cluster.env"; then
		apps_stop "$name"
		apps_start "$name"
		apps_wait "$name"
		log "cluster $name's apps restarted with fault $fault"
	fi
}

# shellcheck shell=bash
# The GitOps tier of a cluster started with --full: Flux's source-controller
# and kustomize-controller and Flagger (Kubernetes provider, the
# environment's Prometheus), each a process on this machine that talks to
# the cluster's API server, as the cluster's own pods would.
#
# A controller starts once its CRDs are in the cluster, the way its pod would
# start once its Deployment and CRDs are applied: installing Flux (flux.install
# with the manifests of gitops_manifests) starts Flux; the fleet repository's
# Flagger CRDs start Flagger. Their logs: $STATE_DIR/logs/NAME-<controller>.log.

# gitops_prepare NAME: the ports of NAME's controllers, into cluster.env.
gitops_prepare() {
	local name=$1 key
	for key in SOURCE_STORAGE_PORT SOURCE_HEALTH_PORT KUSTOMIZE_HEALTH_PORT FLAGGER_PORT; do
		printf '%s=%s\n' "$key" "$(free_port)" >>"$(cluster_dir "$name")/cluster.env"
	done
}

# loadtester_start NAME: Flagger's load tester of cluster NAME (what
# flagger-loadtester's pod would run), the target of the Canaries'
# webhooks. Its commands run here, with hey on the PATH.
loadtester_start() {
	local name=$1 bin
	bin=$(loadtester_bin_dir)
	start_daemon "$name-loadtester" "$STATE_DIR/logs/$name-loadtester.log" \
		env PATH="$bin:$PATH" "$bin/loadtester" -port="$(cluster_get "$name" LOADTESTER_PORT)" \
		-log-level=info -zap-encoding=console -timeout=5m
}

loadtester_wait() {
	local name=$1
	wait_until 30 "load tester of cluster $name" "$STATE_DIR/pids/$name-loadtester.pid" \
		"$STATE_DIR/logs/$name-loadtester.log" http_ok "http://127.0.0.1:$(cluster_get "$name" LOADTESTER_PORT)/healthz"
}

# gitops_start NAME: the three controllers, each behind a wait for its CRD.
gitops_start() {
	local name=$1 dir bin
	dir=$(cluster_dir "$name")
	bin=$(gitops_bin_dir)
	local kubeconfig=$dir/component.kubeconfig storage=127.0.0.1:$(cluster_get "$name" SOURCE_STORAGE_PORT)
	mkdir -p "$dir/flux-storage"
	# Flux controllers read KUBECONFIG; RUNTIME_NAMESPACE is where their pods would run.
	start_daemon "$name-source-controller" "$STATE_DIR/logs/$name-source-controller.log" \
		env KUBECONFIG="$kubeconfig" RUNTIME_NAMESPACE=flux-system \
		"$LIB/when-crd" "$(kubectl_bin)" "$kubeconfig" gitrepositories.source.toolkit.fluxcd.io \
		"$bin/source-controller" --storage-path="$dir/flux-storage" \
		--storage-addr="$storage" --storage-adv-addr="$storage" \
		--metrics-addr=0 --health-addr="127.0.0.1:$(cluster_get "$name" SOURCE_HEALTH_PORT)" \
		--enable-leader-election=false --log-encoding=console --requeue-dependency=2s
	start_daemon "$name-kustomize-controller" "$STATE_DIR/logs/$name-kustomize-controller.log" \
		env KUBECONFIG="$kubeconfig" RUNTIME_NAMESPACE=flux-system \
		"$LIB/when-crd" "$(kubectl_bin)" "$kubeconfig" kustomizations.kustomize.toolkit.fluxcd.io \
		"$bin/kustomize-controller" \
		--metrics-addr=0 --health-addr="127.0.0.1:$(cluster_get "$name" KUSTOMIZE_HEALTH_PORT)" \
		--enable-leader-election=false --log-encoding=console --requeue-dependency=2s
	start_daemon "$name-flagger" "$STATE_DIR/logs/$name-flagger.log" \
		"$LIB/when-crd" "$(kubectl_bin)" "$kubeconfig" canaries.flagger.app \
		"$bin/flagger" -kubeconfig="$kubeconfig" -mesh-provider=kubernetes \
		-metrics-server="$(prometheus_get PROMETHEUS_URL)" \
		-port="$(cluster_get "$name" FLAGGER_PORT)" -cluster-name="$name" -log-level=info
}

# gitops_manifests FILE: what `flux install --export` would give for these
# controller versions: the CRDs, the flux-system Namespace and the
# controllers' Deployments. In this environment kwok makes their Pods Ready
# while the processes above do the work.
gitops_manifests() {
	local file=$1 bin controller version
	bin=$(gitops_bin_dir)
	{
		printf '# Flux components of ferry-env: source-controller %s, kustomize-controller %s\n' \
			"$FLUX_SOURCE_VERSION" "$FLUX_KUSTOMIZE_VERSION"
		printf -- '---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: flux-system\n'
		cat "$bin/crds/flux.yaml"
		for controller in source-controller kustomize-controller; do
			version=$FLUX_SOURCE_VERSION
			[[ $controller == kustomize-controller ]] && version=$FLUX_KUSTOMIZE_VERSION
			cat <<YAML
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: $controller
  namespace: flux-system
  labels: {app.kubernetes.io/part-of: flux, app.kubernetes.io/component: $controller}
spec:
  replicas: 1
  selector:
    matchLabels: {app: $controller}
  template:
    metadata:
      labels: {app: $controller}
    spec:
      containers:
        - name: manager
          image: ghcr.io/fluxcd/$controller:$version
YAML
		done
	} >"$file"
}

# shellcheck shell=bash
# Kubernetes clusters: etcd + kube-apiserver per cluster, and the readiness
# tier (kube-controller-manager, kube-scheduler, kwok with fake Nodes) so that
# Deployments get ReplicaSets and Pods that become Ready.
#
# A cluster's files live in $STATE_DIR/clusters/NAME; cluster.env there holds
# its ports, version and tokens as KEY=value lines (read by status, too).

RESTRICTED_NAMESPACE=restricted
FAKE_NODES=${FERRY_ENV_FAKE_NODES:-2}

cluster_dir() { printf '%s/clusters/%s\n' "$STATE_DIR" "$1"; }

cluster_get() { # cluster_get NAME KEY
	sed -n "s/^$2=//p" "$(cluster_dir "$1")/cluster.env"
}

# cluster_names: the running clusters, in the order they were started.
cluster_names() {
	[[ -f $STATE_DIR/clusters/order ]] && cat "$STATE_DIR/clusters/order"
	return 0
}

random_token() { python3 -c 'import secrets; print(secrets.token_hex(20))'; }

# cluster_prepare NAME VERSION READINESS: ports, PKI, tokens, kubeconfig of the
# components. Runs in the main shell so that ports are never given out twice.
cluster_prepare() {
	local name=$1 version=$2 readiness=$3 dir
	dir=$(cluster_dir "$name")
	mkdir -p "$dir"
	pki_make_cluster "$name" "$dir/pki" "$STATE_DIR/logs/$name-pki.log"
	local admin_token restricted_token apiserver_port
	admin_token=$(random_token)
	restricted_token=$(random_token)
	apiserver_port=$(free_port)
	cat >"$dir/cluster.env" <<EOF
NAME=$name
VERSION=$version
READINESS=$readiness
SERVER=https://127.0.0.1:$apiserver_port
APISERVER_PORT=$apiserver_port
ETCD_PORT=$(free_port)
ETCD_PEER_PORT=$(free_port)
ADMIN_USER=ferry-admin
ADMIN_TOKEN=$admin_token
CERT_USER=ferry-cert-admin
RESTRICTED_USER=ferry-restricted
RESTRICTED_TOKEN=$restricted_token
RESTRICTED_NAMESPACE=$RESTRICTED_NAMESPACE
EOF
	# Static token file of kube-apiserver: token,user,uid,"group1,group2".
	cat >"$dir/tokens.csv" <<EOF
$admin_token,ferry-admin,ferry-admin,"system:masters"
$restricted_token,ferry-restricted,ferry-restricted
EOF
	chmod 600 "$dir/tokens.csv" "$dir/cluster.env"
	printf '%s\n' "$name" >>"$STATE_DIR/clusters/order"
	# The components talk to their API server as the cert user.
	write_kubeconfig "$dir/component.kubeconfig" component "$name"
}

cluster_start_etcd() {
	local name=$1 dir bin
	dir=$(cluster_dir "$name")
	bin=$(etcd_bin_dir)/etcd
	local port peer
	port=$(cluster_get "$name" ETCD_PORT)
	peer=$(cluster_get "$name" ETCD_PEER_PORT)
	# --unsafe-no-fsync: the data is thrown away with the environment, and
	# fsync on a shared CI disk is what makes etcd (and so every write) slow.
	start_daemon "$name-etcd" "$STATE_DIR/logs/$name-etcd.log" "$bin" \
		--name="$name" --data-dir="$dir/etcd" \
		--listen-client-urls="http://127.0.0.1:$port" --advertise-client-urls="http://127.0.0.1:$port" \
		--listen-peer-urls="http://127.0.0.1:$peer" --initial-advertise-peer-urls="http://127.0.0.1:$peer" \
		--initial-cluster="$name=http://127.0.0.1:$peer" --initial-cluster-state=new \
		--unsafe-no-fsync --quota-backend-bytes=2147483648 --log-level=warn
}

cluster_wait_etcd() {
	local name=$1
	wait_until 60 "etcd of cluster $name" "$STATE_DIR/pids/$name-etcd.pid" "$STATE_DIR/logs/$name-etcd.log" \
		http_ok "http://127.0.0.1:$(cluster_get "$name" ETCD_PORT)/health"
}

cluster_start_apiserver() {
	local name=$1 dir version bin
	dir=$(cluster_dir "$name")
	version=$(cluster_get "$name" VERSION)
	bin=$(k8s_bin_dir "$version")/kube-apiserver
	start_daemon "$name-kube-apiserver" "$STATE_DIR/logs/$name-kube-apiserver.log" "$bin" \
		--bind-address=127.0.0.1 --advertise-address=127.0.0.1 \
		--secure-port="$(cluster_get "$name" APISERVER_PORT)" \
		--etcd-servers="http://127.0.0.1:$(cluster_get "$name" ETCD_PORT)" \
		--cert-dir="$dir/pki" \
		--tls-cert-file="$dir/pki/apiserver.crt" --tls-private-key-file="$dir/pki/apiserver.key" \
		--client-ca-file="$dir/pki/ca.crt" \
		--token-auth-file="$dir/tokens.csv" \
		--authorization-mode=RBAC \
		--service-account-issuer=https://kubernetes.default.svc.cluster.local \
		--service-account-key-file="$dir/pki/sa.pub" \
		--service-account-signing-key-file="$dir/pki/sa.key" \
		--service-cluster-ip-range=10.0.0.0/24 \
		--allow-privileged=true \
		--profiling=false
}

cluster_wait_apiserver() {
	local name=$1 dir
	dir=$(cluster_dir "$name")
	wait_until 180 "kube-apiserver of cluster $name" "$STATE_DIR/pids/$name-kube-apiserver.pid" \
		"$STATE_DIR/logs/$name-kube-apiserver.log" \
		http_ok "$(cluster_get "$name" SERVER)/readyz" --cacert "$dir/pki/ca.crt" --token "$(cluster_get "$name" ADMIN_TOKEN)"
}

# cluster_kubectl NAME ARGS...: kubectl as the cluster's cert admin.
cluster_kubectl() {
	local name=$1
	shift
	"$(kubectl_bin)" --kubeconfig="$(cluster_dir "$name")/component.kubeconfig" "$@"
}

# cluster_bootstrap NAME: the restricted user's namespace and its read-only
# binding (the built-in `view` role), and the fake Nodes of the readiness tier.
cluster_bootstrap() {
	local name=$1 dir logfile=$STATE_DIR/logs/$1-bootstrap.log
	dir=$(cluster_dir "$name")
	cat >"$dir/bootstrap.yaml" <<EOF
apiVersion: v1
kind: Namespace
metadata:
  name: $RESTRICTED_NAMESPACE
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: ferry-restricted-view
  namespace: $RESTRICTED_NAMESPACE
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: view
subjects:
  - apiGroup: rbac.authorization.k8s.io
    kind: User
    name: ferry-restricted
EOF
	if [[ $(cluster_get "$name" READINESS) == 1 ]]; then
		local i
		for ((i = 0; i < FAKE_NODES; i++)); do
			cat >>"$dir/bootstrap.yaml" <<EOF
---
apiVersion: v1
kind: Node
metadata:
  name: $name-node-$i
  annotations:
    kwok.x-k8s.io/node: fake
    node.alpha.kubernetes.io/ttl: "0"
  labels:
    kubernetes.io/arch: amd64
    kubernetes.io/os: linux
    kubernetes.io/hostname: $name-node-$i
    node-role.kubernetes.io/agent: ""
    topology.kubernetes.io/region: local
    topology.kubernetes.io/zone: local-$((i % 3 + 1))
    type: kwok
spec: {}
status:
  allocatable: {cpu: "32", memory: 256Gi, pods: "110"}
  capacity: {cpu: "32", memory: 256Gi, pods: "110"}
  nodeInfo:
    architecture: amd64
    operatingSystem: linux
    kubeletVersion: fake
    kubeProxyVersion: fake
EOF
		done
	fi
	run_logged "$logfile" cluster_kubectl "$name" apply -f "$dir/bootstrap.yaml"
}

# cluster_start_readiness NAME: controller manager, scheduler and kwok.
cluster_start_readiness() {
	local name=$1 dir cbin kwokdir
	dir=$(cluster_dir "$name")
	cbin=$(k8s_bin_dir "$(controller_version_for "$(cluster_get "$name" VERSION)")")
	kwokdir=$(kwok_bin_dir)
	# --secure-port=0: they serve nothing, so they hold no port.
	start_daemon "$name-kube-controller-manager" "$STATE_DIR/logs/$name-kube-controller-manager.log" \
		"$cbin/kube-controller-manager" \
		--kubeconfig="$dir/component.kubeconfig" --secure-port=0 --leader-elect=false \
		--cluster-name="$name" \
		--service-account-private-key-file="$dir/pki/sa.key" --root-ca-file="$dir/pki/ca.crt" \
		--cluster-signing-cert-file="$dir/pki/ca.crt" --cluster-signing-key-file="$dir/pki/ca.key" \
		--use-service-account-credentials=false \
		--profiling=false
	start_daemon "$name-kube-scheduler" "$STATE_DIR/logs/$name-kube-scheduler.log" \
		"$cbin/kube-scheduler" \
		--kubeconfig="$dir/component.kubeconfig" --secure-port=0 --leader-elect=false \
		--profiling=false
	start_daemon "$name-kwok" "$STATE_DIR/logs/$name-kwok.log" \
		"$kwokdir/kwok" \
		--kubeconfig="$dir/component.kubeconfig" --config="$kwokdir/stages.yaml" \
		--manage-all-nodes=false --manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake \
		--cidr=10.244.0.0/16 --node-ip=10.245.0.1 --node-lease-duration-seconds=40
}

# cluster_wait_readiness NAME: fake Nodes Ready and the default
# ServiceAccount made (Pods cannot be created in a namespace without it).
cluster_wait_readiness() {
	local name=$1 logfile=$STATE_DIR/logs/$1-bootstrap.log
	wait_until 90 "fake Nodes of cluster $name (kwok)" "$STATE_DIR/pids/$name-kwok.pid" "$STATE_DIR/logs/$name-kwok.log" \
		cluster_nodes_ready "$name"
	wait_until 60 "ServiceAccount default of cluster $name (kube-controller-manager)" \
		"$STATE_DIR/pids/$name-kube-controller-manager.pid" "$STATE_DIR/logs/$name-kube-controller-manager.log" \
		cluster_kubectl "$name" get serviceaccount default --namespace=default
	if ! kill -0 "$(cat "$STATE_DIR/pids/$name-kube-scheduler.pid")" 2>/dev/null; then
		die "kube-scheduler of cluster $name exited; log: $STATE_DIR/logs/$name-kube-scheduler.log"
	fi
}

cluster_nodes_ready() {
	local name=$1 ready
	ready=$(cluster_kubectl "$name" get nodes -l type=kwok \
		-o jsonpath='{range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' | grep -c '^True$')
	((ready == FAKE_NODES))
}

# write_kubeconfig FILE MODE [NAME...]: MODE "users" writes the kubeconfig for
# the tests (contexts NAME and NAME-admin, NAME-cert, NAME-restricted; credentials
# embedded); MODE "component" the cert-admin one the cluster's own
# components use.
write_kubeconfig() {
	local file=$1 mode=$2
	shift 2
	python3 - "$file" "$mode" "$STATE_DIR" "$@" <<'EOF'
import base64, json, os, sys
path, mode, state, names = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]

def env(name):
    values = {}
    with open(os.path.join(state, "clusters", name, "cluster.env")) as f:
        for line in f:
            key, _, value = line.rstrip("\n").partition("=")
            values[key] = value
    return values

def data(name, file):
    with open(os.path.join(state, "clusters", name, "pki", file), "rb") as f:
        return base64.b64encode(f.read()).decode()

config = {"apiVersion": "v1", "kind": "Config", "preferences": {},
          "clusters": [], "users": [], "contexts": []}
for name in names:
    e = env(name)
    config["clusters"].append({"name": name, "cluster": {
        "server": e["SERVER"], "certificate-authority-data": data(name, "ca.crt")}})
    cert_user = {"client-certificate-data": data(name, "admin.crt"),
                 "client-key-data": data(name, "admin.key")}
    if mode == "component":
        config["users"].append({"name": "admin", "user": cert_user})
        config["contexts"].append({"name": name, "context": {"cluster": name, "user": "admin"}})
        config["current-context"] = name
        continue
    config["users"] += [
        {"name": name + "-admin", "user": {"token": e["ADMIN_TOKEN"]}},
        {"name": name + "-cert", "user": cert_user},
        {"name": name + "-restricted", "user": {"token": e["RESTRICTED_TOKEN"]}},
    ]
    config["contexts"] += [
        # NAME alone is the admin context too: `ferry repl --context old`
        {"name": name, "context": {"cluster": name, "user": name + "-admin"}},
        {"name": name + "-admin", "context": {"cluster": name, "user": name + "-admin"}},
        {"name": name + "-cert", "context": {"cluster": name, "user": name + "-cert"}},
        {"name": name + "-restricted", "context": {"cluster": name, "user": name + "-restricted",
                                                   "namespace": e["RESTRICTED_NAMESPACE"]}},
    ]
    config.setdefault("current-context", name + "-admin")
# Block-style YAML, as kubectl and cloud CLIs write it. Every value is a
# plain string (names, URLs, hex tokens, base64), so quoting is enough.
def emit(value, indent=0):
    pad = "  " * indent
    out = []
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, (dict, list)) and item:
                out.append(f"{pad}{key}:")
                out += emit(item, indent + 1)
            elif isinstance(item, dict):
                out.append(f"{pad}{key}: {{}}")
            else:
                out.append(f"{pad}{key}: {json.dumps(item)}")
    else:
        for item in value:
            lines = emit(item, indent + 1)
            out.append(pad + "- " + lines[0].lstrip())
            out += lines[1:]
    return out

tmp = path + ".tmp"
with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
    f.write("\n".join(emit(config)) + "\n")
os.replace(tmp, path)
EOF
}

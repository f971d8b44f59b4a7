#!/usr/bin/env bash
# Starts a real single-node Kubernetes 1.34 on this machine (etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler, containerd + runc, a kubelet) and a
# local OCI registry, and prints the environment that points the tests at them:
#
#   eval "$(hack/kube.sh start)"  # exports KUBECONFIG, MAPTASK_TEST_KUBE=1,
#                                 # MAPTASK_TEST_REGISTRY=127.0.0.1:5000
#   hack/kube.sh stop
#
# Needs root. Debian packages are installed when missing; the Kubernetes
# components are built from Go modules by hack/kube/ (once; cached in
# .cache/kube/bin). Everything listens on 127.0.0.1 only. Config, data and
# logs live in .cache/kube/run (logs in .cache/kube/logs, kept after stop),
# containerd's runtime state in /run/maptask-kube. See hack/kube/README.md.
set -euo pipefail
# Physical paths (pwd -P), also of .cache when it is a symbolic link to
# another checkout's: mounts are listed under the real path, and stop must
# find them there to unmount them.
top=$(cd "$(dirname "$0")/.." && pwd -P)
src="$top/hack/kube"
mkdir -p "$top/.cache/kube"
cache=$(cd "$top/.cache/kube" && pwd -P)
bin="$cache/bin"
run="$cache/run"
logs="$cache/logs"
pids="$run/pids"
pki="$run/pki"
crun=/run/maptask-kube # containerd state and socket (short path for the socket)
sock="$crun/containerd/containerd.sock"
node=localhost # resolves to 127.0.0.1, where the kubelet listens (see README)
registry=127.0.0.1:5000
pause_image=$registry/pause:3.10
etcd_port=12379
api_port=16443
kubelet_port=20250
bridge=maptask0
pod_cidr=10.88.0.0/16
k8s_version=v1.34.1
packages=(etcd-server containerd runc containernetworking-plugins iptables openssl curl busybox-static)
# The order in which start launches the daemons; stop goes backwards.
daemons=(etcd apiserver controller-manager scheduler containerd registry kubelet)
# Host directories the kubelet, containerd and the CNI plugins make whatever
# their configuration says; stop removes those that did not exist before start.
host_dirs=(/var/lib/kubelet /var/lib/cni /var/log/containers /var/log/pods /run/containerd /run/netns /run/mount)
# Kernel settings the kubelet changes at start; stop puts the old values back.
sysctls=(vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops kernel.keys.root_maxkeys kernel.keys.root_maxbytes)

t0=${EPOCHREALTIME/./}
say() {
	local d=$(((${EPOCHREALTIME/./} - t0) / 100000))
	printf 'hack/kube.sh: [%3d.%ds] %s\n' $((d / 10)) $((d % 10)) "$*" >&2
}
die() {
	say "ERROR: $*"
	exit 1
}

need_root() { [ "$(id -u)" = 0 ] || die "must run as root (containerd, runc and the kubelet need it)"; }

install_packages() {
	local missing=()
	for p in "${packages[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
	done
	[ ${#missing[@]} = 0 ] && return 0
	say "installing ${missing[*]} (apt-get)"
	export DEBIAN_FRONTEND=noninteractive
	if ! apt-get install -y --no-install-recommends "${missing[@]}" >"$logs/apt.log" 2>&1; then
		apt-get update >>"$logs/apt.log" 2>&1
		apt-get install -y --no-install-recommends "${missing[@]}" >>"$logs/apt.log" 2>&1 ||
			{ cat "$logs/apt.log" >&2; die "apt-get install failed"; }
	fi
}

# build compiles each binary of hack/kube that is missing or older than
# go.mod, go.sum or its own sources. Go's build cache makes a rebuild after a
# source change fast; the check here skips even the link (k8s is ~200 MB).
build() {
	mkdir -p "$bin"
	local b stale ldflags
	for b in k8s registry image pause echo-index; do
		stale=
		if [ ! -x "$bin/$b" ]; then
			stale=missing
		elif [ -n "$(find "$src/go.mod" "$src/go.sum" "$src/cmd/$b" -newer "$bin/$b" -print -quit)" ]; then
			stale=changed
		fi
		[ -z "$stale" ] && continue
		ldflags="-s -w"
		if [ "$b" = k8s ]; then
			ldflags="$ldflags -X k8s.io/component-base/version.gitVersion=$k8s_version -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=34 -X k8s.io/component-base/version.gitTreeState=clean"
			ldflags="$ldflags -X k8s.io/client-go/pkg/version.gitVersion=$k8s_version -X k8s.io/client-go/pkg/version.gitMajor=1 -X k8s.io/client-go/pkg/version.gitMinor=34"
			say "building k8s (apiserver, controller-manager, scheduler, kubelet; $stale; the first build takes several minutes)"
		else
			say "building $b ($stale)"
		fi
		(cd "$src" && GOWORK=off CGO_ENABLED=0 nice -n 10 go build -ldflags "$ldflags" -o "$bin/$b.tmp" "./cmd/$b") >&2 ||
			die "go build ./cmd/$b failed"
		mv -f "$bin/$b.tmp" "$bin/$b"
	done
}

# launch NAME CMD... runs CMD in the background, detached from the caller's
# stdout (so that "$(hack/kube.sh start)" returns), logging to logs/NAME.log.
launch() {
	local name=$1
	shift
	nohup "$@" </dev/null >"$logs/$name.log" 2>&1 &
	echo $! >"$pids/$name.pid"
}

# pid_running PID: the process exists and is not a zombie (daemons outlive
# this script, and whoever inherits them may reap them late).
pid_running() {
	local st
	st=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
	[[ $st != Z* ]]
}

alive() {
	local f="$pids/$1.pid"
	[ -f "$f" ] && pid_running "$(cat "$f")"
}

# wait_for NAME SECONDS CMD... polls CMD until it succeeds; fails, showing the
# end of NAME's log, if NAME exits or time runs out.
wait_for() {
	local name=$1 secs=$2
	shift 2
	local deadline=$((SECONDS + secs))
	until "$@" >/dev/null 2>&1; do
		if ! alive "$name"; then
			tail -n 30 "$logs/$name.log" >&2 || true
			die "$name exited (log: $logs/$name.log)"
		fi
		if [ $SECONDS -ge $deadline ]; then
			tail -n 30 "$logs/$name.log" >&2 || true
			die "$name not ready after ${secs}s (log: $logs/$name.log)"
		fi
		sleep 0.2
	done
}

# api PATH GETs PATH from the apiserver as admin. The apiserver pretty-prints
# JSON for curl; pretty=false keeps it on one line for grep.
api() {
	curl -sf --max-time 5 --cacert "$pki/ca.crt" -H "Authorization: Bearer $(cat "$run/token")" \
		"https://127.0.0.1:$api_port$1?pretty=false"
}

node_ready() {
	local n
	n=$(api "/api/v1/nodes/$node") || return 1
	grep -q '"type":"Ready","status":"True"' <<<"$n" || return 1
	# The node-lifecycle controller removes the not-ready taint shortly after.
	! grep -q '"taints"' <<<"$n" || return 1
	api /api/v1/namespaces/default/serviceaccounts/default >/dev/null
}

write_config() {
	mkdir -p "$pki" "$pids" "$run/etcd" "$run/kubelet" "$run/pod-logs" "$run/cni/net.d" "$run/cni/ipam" \
		"$run/containerd/root" "$crun/containerd"
	chmod 700 "$run"

	# A CA, the apiserver's serving certificate (for 127.0.0.1 and localhost),
	# the service-account signing key pair and an admin token.
	(
		cd "$pki"
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 \
			-subj /CN=maptask-kube-ca -keyout ca.key -out ca.crt
		openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
			-subj /CN=kube-apiserver -keyout apiserver.key -out apiserver.csr
		printf '%s\n' "basicConstraints=CA:FALSE" "keyUsage=digitalSignature,keyEncipherment" \
			"extendedKeyUsage=serverAuth" \
			"subjectAltName=IP:127.0.0.1,DNS:localhost,IP:10.0.0.1,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc" >apiserver.ext
		openssl x509 -req -in apiserver.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 30 \
			-extfile apiserver.ext -out apiserver.crt
		openssl genrsa -out sa.key 2048
		openssl rsa -in sa.key -pubout -out sa.pub
	) >"$logs/pki.log" 2>&1 || { cat "$logs/pki.log" >&2; die "openssl failed"; }
	local token
	token=$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')
	echo "$token" >"$run/token"
	echo "$token,admin,admin,system:masters" >"$run/tokens.csv"

	cat >"$run/kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: maptask
  cluster:
    server: https://127.0.0.1:$api_port
    certificate-authority-data: $(base64 -w0 "$pki/ca.crt")
users:
- name: admin
  user:
    token: $token
contexts:
- name: maptask
  context: {cluster: maptask, user: admin, namespace: default}
current-context: maptask
EOF
	chmod 600 "$run/kubeconfig"

	cat >"$run/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: 127.0.0.1
port: $kubelet_port
readOnlyPort: 0
healthzPort: 0
# This machine has cgroup v1 mounts; 1.34 refuses them unless told.
failCgroupV1: false
cgroupDriver: cgroupfs
cgroupsPerQOS: false
enforceNodeAllocatable: []
containerRuntimeEndpoint: unix://$sock
# A throwaway test node on loopback only: anonymous access, no authz.
authentication:
  anonymous: {enabled: true}
  webhook: {enabled: false}
authorization: {mode: AlwaysAllow}
failSwapOn: false
localStorageCapacityIsolation: false
evictionHard: {}
imageGCHighThresholdPercent: 100
resolvConf: /etc/resolv.conf
podLogsDir: $run/pod-logs
serializeImagePulls: false
EOF

	# containerd: Debian's 1.6 with its defaults, except for the changes below.
	cat >"$run/containerd/config.toml" <<EOF
version = 2
root = "$run/containerd/root"
state = "$crun/containerd"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs"]

[grpc]
  address = "$sock"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$pause_image"
  # Required here: the machine refuses negative oom_score_adj values, and
  # without this every sandbox fails with "can't get final child's PID from pipe".
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$run/cni/net.d"
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "$run/containerd/certs.d"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
EOF
	# Pull from the local registry over plain HTTP, under either name.
	local r
	for r in "$registry" "localhost:${registry##*:}"; do
		mkdir -p "$run/containerd/certs.d/$r"
		cat >"$run/containerd/certs.d/$r/hosts.toml" <<EOF
server = "http://$r"

[host."http://$r"]
  capabilities = ["pull", "resolve"]
EOF
	done

	cat >"$run/cni/net.d/10-maptask.conflist" <<EOF
{
  "cniVersion": "0.4.0",
  "name": "maptask",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$bridge",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": "$run/cni/ipam",
        "ranges": [[{"subnet": "$pod_cidr"}]],
        "routes": [{"dst": "0.0.0.0/0"}]
      }
    }
  ]
}
EOF
}

print_env() {
	echo "export KUBECONFIG=$run/kubeconfig MAPTASK_TEST_KUBE=1 MAPTASK_TEST_REGISTRY=$registry"
}

running() {
	local d
	for d in "${daemons[@]}"; do
		alive "$d" || return 1
	done
	node_ready
}

start() {
	need_root
	mkdir -p "$logs"
	if running; then
		say "already running"
		print_env
		return 0
	fi
	stop_all quiet
	# A start that fails stops what it started (the logs stay in $logs).
	trap 'stop_all quiet' EXIT
	install_packages
	build
	say "writing config to $run"
	write_config

	# sysctls the kubelet will change, to be restored by stop.
	local s
	for s in "${sysctls[@]}"; do
		echo "$s=$(sysctl -n "$s" 2>/dev/null || echo)"
	done >"$run/sysctl.saved"
	local h
	for h in "${host_dirs[@]}"; do
		[ -e "$h" ] || echo "$h"
	done >"$run/host-dirs.created"

	say "starting etcd"
	launch etcd etcd --name maptask --data-dir "$run/etcd" \
		--listen-client-urls "http://127.0.0.1:$etcd_port" --advertise-client-urls "http://127.0.0.1:$etcd_port" \
		--listen-peer-urls http://127.0.0.1:12380 --initial-advertise-peer-urls http://127.0.0.1:12380 \
		--initial-cluster maptask=http://127.0.0.1:12380
	wait_for etcd 30 curl -sf --max-time 5 "http://127.0.0.1:$etcd_port/health"

	say "starting kube-apiserver"
	launch apiserver "$bin/k8s" apiserver \
		--etcd-servers="http://127.0.0.1:$etcd_port" \
		--bind-address=127.0.0.1 --secure-port="$api_port" \
		--tls-cert-file="$pki/apiserver.crt" --tls-private-key-file="$pki/apiserver.key" \
		--client-ca-file="$pki/ca.crt" \
		--token-auth-file="$run/tokens.csv" \
		--service-account-issuer=https://kubernetes.default.svc \
		--service-account-key-file="$pki/sa.pub" --service-account-signing-key-file="$pki/sa.key" \
		--authorization-mode=RBAC \
		--service-cluster-ip-range=10.0.0.0/24 \
		--kubelet-preferred-address-types=Hostname,InternalIP \
		--allow-privileged=true \
		--profiling=false

	# containerd and the registry come up while the apiserver does.
	say "starting containerd and the registry"
	launch containerd containerd --config "$run/containerd/config.toml"
	launch registry "$bin/registry" -addr "$registry"
	wait_for registry 30 curl -sf --max-time 5 "http://$registry/v2/"
	say "pushing $pause_image"
	"$bin/image" -bin "$bin/pause" -ref "$pause_image" >"$logs/image.log" 2>&1 ||
		{ cat "$logs/image.log" >&2; die "pushing the pause image failed"; }
	wait_for containerd 60 ctr --address "$sock" version

	wait_for apiserver 120 api /readyz
	say "kube-apiserver ready; starting controller-manager, scheduler and kubelet"
	launch controller-manager "$bin/k8s" controller-manager \
		--kubeconfig="$run/kubeconfig" --leader-elect=false --secure-port=0 \
		--controllers=job-controller,garbage-collector-controller,serviceaccount-token-controller,serviceaccount-controller,namespace-controller,root-ca-certificate-publisher-controller,node-lifecycle-controller,pod-garbage-collector-controller,ttl-after-finished-controller \
		--service-account-private-key-file="$pki/sa.key" --root-ca-file="$pki/ca.crt"
	launch scheduler "$bin/k8s" scheduler \
		--kubeconfig="$run/kubeconfig" --leader-elect=false --secure-port=0
	launch kubelet "$bin/k8s" kubelet \
		--config="$run/kubelet.yaml" --kubeconfig="$run/kubeconfig" \
		--hostname-override="$node" --root-dir="$run/kubelet" --cert-dir="$run/kubelet/pki"

	local d
	for d in controller-manager scheduler; do
		alive "$d" || { tail -n 30 "$logs/$d.log" >&2; die "$d exited"; }
	done
	wait_for kubelet 180 node_ready
	trap - EXIT
	say "node $node Ready; cluster up"
	print_env
}

# stop_one NAME stops the daemon started as NAME: SIGTERM, then SIGKILL after
# 10 seconds. The pid file's process must still be the one we started.
stop_one() {
	local name=$1 f="$pids/$1.pid" pid i
	[ -f "$f" ] || return 0
	pid=$(cat "$f")
	# The pid must still be the daemon we started (its command line names it).
	if kill -0 "$pid" 2>/dev/null && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "$name"; then
		kill -TERM "$pid" 2>/dev/null || true
		for i in $(seq 100); do
			pid_running "$pid" || break
			sleep 0.1
		done
		if pid_running "$pid"; then
			say "$name did not stop in 10s; killing it"
			kill -KILL "$pid" 2>/dev/null || true
		fi
		[ -n "$quiet" ] || say "stopped $name"
	fi
	rm -f "$f"
}

stop_all() {
	quiet=${1:-}
	local i d pid m
	[ -d "$run" ] || [ -d "$crun" ] || return 0
	[ -n "$quiet" ] || say "stopping"
	for ((i = ${#daemons[@]} - 1; i >= 0; i--)); do
		d=${daemons[i]}
		if [ "$d" = containerd ] && alive containerd; then
			# Stop and remove the pods through the CRI so that the CNI plugin
			# releases their network namespaces, veths and addresses.
			"$bin/k8s" cri-reset -endpoint "unix://$sock" -timeout 60s >&2 || say "cri-reset failed; killing what is left"
		fi
		stop_one "$d"
		if [ "$d" = containerd ]; then
			# Shims of containers cri-reset could not remove (normally none).
			for f in "$crun"/containerd/io.containerd.runtime.v2.task/*/*/shim.pid; do
				[ -f "$f" ] || continue
				pid=$(cat "$f")
				kill -KILL "$pid" 2>/dev/null || true
			done
		fi
	done
	local made=()
	[ -f "$run/host-dirs.created" ] && mapfile -t made <"$run/host-dirs.created"
	# Mounts left under our directories (pod volumes, container rootfs, shm).
	local re="^($run|$crun"
	for m in "${made[@]}"; do re="$re|$m"; done
	re="$re)/"
	{ findmnt -rn -o TARGET | grep -E "$re" || true; } | sort -r | while read -r m; do
		umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
	done
	if [ -f "$run/sysctl.saved" ]; then
		while IFS== read -r k v; do
			[ -n "$v" ] && sysctl -qw "$k=$v" 2>/dev/null || true
		done <"$run/sysctl.saved"
	fi
	cleanup_network
	if [ -d /var/log/containers ]; then
		find /var/log/containers -maxdepth 1 -lname "$run/*" -delete 2>/dev/null || true
	fi
	for m in "${made[@]}"; do
		rm -rf "$m"
	done
	rm -rf "$run" "$crun"
	[ -n "$quiet" ] || say "stopped"
}

# cleanup_network removes the pod bridge and the iptables chains the kubelet
# made (KUBE-FIREWALL, KUBE-KUBELET-CANARY, KUBE-IPTABLES-HINT).
cleanup_network() {
	ip link delete "$bridge" 2>/dev/null || true
	local ipt table chain
	for ipt in iptables ip6tables; do
		command -v "$ipt" >/dev/null || continue
		while $ipt -w -t filter -D INPUT -j KUBE-FIREWALL 2>/dev/null; do :; done
		while $ipt -w -t filter -D OUTPUT -j KUBE-FIREWALL 2>/dev/null; do :; done
		for table in filter nat mangle; do
			for chain in KUBE-FIREWALL KUBE-KUBELET-CANARY KUBE-IPTABLES-HINT; do
				$ipt -w -t "$table" -F "$chain" 2>/dev/null && $ipt -w -t "$table" -X "$chain" 2>/dev/null || true
			done
		done
	done
}

case "${1:-}" in
start) start ;;
stop)
	need_root
	stop_all
	;;
*)
	echo "usage: hack/kube.sh start|stop" >&2
	exit 2
	;;
esac

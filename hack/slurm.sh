#!/usr/bin/env bash
# Starts a real single-node Slurm (munge, slurmctld, slurmd from Debian's
# packages) for the tests, and prints the environment that points at it:
#
#   eval "$(hack/slurm.sh start)"   # exports SLURM_CONF and MAPTASK_TEST_SLURM=1
#   hack/slurm.sh stop
#
# Daemons listen on loopback-only ports; state lives under .cache/slurm.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
state="$top/.cache/slurm"
conf="$state/slurm.conf"

install() {
	if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
		echo "hack/slurm.sh: installing slurm-wlm and munge" >&2
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge) >&2
	fi
}

start() {
	install
	stop >/dev/null 2>&1 || true
	mkdir -p "$state/spool" "$state/ctld" /run/munge /var/log/munge /var/lib/munge
	if [ ! -s /etc/munge/munge.key ]; then
		mkdir -p /etc/munge
		dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 2>/dev/null
	fi
	chown -R munge:munge /etc/munge /run/munge /var/log/munge /var/lib/munge 2>/dev/null || true
	chmod 0400 /etc/munge/munge.key
	if ! pgrep -x munged >/dev/null; then
		runuser -u munge -- munged --force 2>/dev/null || munged --force
	fi
	host=$(hostname -s)
	cpus=$(nproc)
	cat >"$conf" <<CONF
ClusterName=maptask
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$state/ctld
SlurmdSpoolDir=$state/spool
SlurmctldPidFile=$state/slurmctld.pid
SlurmdPidFile=$state/slurmd.pid
SlurmctldLogFile=$state/slurmctld.log
SlurmdLogFile=$state/slurmd.log
SlurmctldPort=16817
SlurmdPort=16818
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=1,bf_interval=1,defer_batch
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MaxArraySize=1001
MaxJobCount=200000
MinJobAge=600
KillWait=2
JobRequeue=1
PreemptType=preempt/none
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=20000 State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:8
CONF
	export SLURM_CONF="$conf"
	slurmctld -f "$conf"
	slurmd -f "$conf"
	for _ in $(seq 150); do
		if sinfo -h -o '%t' 2>/dev/null | grep -qE '^(idle|mix|alloc)'; then
			echo "export SLURM_CONF=$conf MAPTASK_TEST_SLURM=1"
			return 0
		fi
		sleep 0.2
	done
	echo "hack/slurm.sh: slurm did not come up; controller log:" >&2
	tail -20 "$state/slurmctld.log" >&2 || true
	tail -20 "$state/slurmd.log" >&2 || true
	return 1
}

stop() {
	for pidfile in "$state/slurmd.pid" "$state/slurmctld.pid"; do
		if [ -f "$pidfile" ]; then
			pid=$(cat "$pidfile")
			kill "$pid" 2>/dev/null || true
			for _ in $(seq 50); do # let it finish writing its state first
				kill -0 "$pid" 2>/dev/null || break
				sleep 0.1
			done
			kill -9 "$pid" 2>/dev/null || true
			rm -f "$pidfile"
		fi
	done
	pkill -x slurmstepd 2>/dev/null || true
	rm -rf "$state/ctld" "$state/spool" || true
}

case "${1:-}" in
start) start ;;
stop) stop ;;
*) echo "usage: hack/slurm.sh start|stop" >&2; exit 2 ;;
esac

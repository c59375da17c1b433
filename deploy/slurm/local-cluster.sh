#!/usr/bin/env bash
# A one-node Slurm cluster on this machine (controller and daemon, with munge), for the
# test suite and for trying the scripts: `local-cluster.sh start DIR` writes DIR/slurm.conf
# and starts the daemons (as root); `local-cluster.sh stop DIR` stops them. Use it with
# SLURM_CONF=DIR/slurm.conf. Needs Debian's slurm-wlm and munge.
set -euo pipefail
action="${1:?usage: local-cluster.sh start|stop DIR}"
dir="${2:?usage: local-cluster.sh start|stop DIR}"
mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"
export SLURM_CONF="$dir/slurm.conf"

stop() {
    for pid in "$dir/slurmd.pid" "$dir/slurmctld.pid"; do
        [ -f "$pid" ] && kill "$(cat "$pid")" 2>/dev/null || true
    done
    return 0
}

if [ "$action" = stop ]; then
    stop
    exit 0
fi

host="$(hostname -s)"
cpus="$(nproc)"
memory=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 * 9 / 10 ))
mkdir -p "$dir/state" "$dir/spool" "$dir/log"
cat > "$SLURM_CONF" <<CONF
ClusterName=gantry-local
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
SlurmctldPort=16817
SlurmdPort=16818
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
MinJobAge=3600
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$memory State=UNKNOWN
PartitionName=local Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF

# munge: one key (created by the package), its daemon running: as the munge user, with
# its folders its own (a daemon once run as root leaves root's files behind), or else as
# root.
if ! munge -n </dev/null >/dev/null 2>&1; then
    [ -s /etc/munge/munge.key ] || /usr/sbin/mungekey --create 2>/dev/null || true
    mkdir -p /run/munge /var/log/munge /var/lib/munge
    started=no
    if id munge >/dev/null 2>&1 && command -v runuser >/dev/null; then
        chown -R munge:munge /run/munge /var/log/munge /var/lib/munge /etc/munge 2>/dev/null || true
        runuser -u munge -- /usr/sbin/munged --force && started=yes
    fi
    [ "$started" = yes ] || /usr/sbin/munged --force
    for _ in $(seq 1 10); do
        munge -n </dev/null >/dev/null 2>&1 && break
        sleep 0.5
    done
fi
munge -n | unmunge >/dev/null

stop
sleep 1
slurmctld
slurmd
for _ in $(seq 1 30); do
    if sinfo -h -o '%t' 2>/dev/null | grep -qE '^(idle|mix|alloc)'; then
        echo "slurm: one node ($host, $cpus CPUs) up; SLURM_CONF=$SLURM_CONF"
        exit 0
    fi
    sleep 1
done
echo "slurm did not come up; see $dir/log" >&2
tail -n 20 "$dir/log/"*.log >&2 || true
exit 1

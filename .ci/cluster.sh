#!/usr/bin/env bash
# A real single-node Slurm (slurm-wlm + munge, on 127.0.0.1) and a local Ray head, for the
# cluster tests (tests/test_cluster.py) and for trying `curate run --executor slurm|ray` by hand.
#
#   eval "$(.ci/cluster.sh)"     install what is missing, start what is not running, print the env
#   .ci/cluster.sh stop          stop the daemons this script started (by their pids)
#
# Idempotent: a second call starts nothing and prints the same exports. Everything it writes
# lives under $CURATION_CLUSTER_DIR (default /tmp/curation-cluster). Run as root (apt-get, munged,
# slurmd). Ray is pip-installed into the active venv: the Ray workers and the Slurm jobs must run
# the interpreter that has `curation` installed. Progress goes to stderr, the exports to stdout.
set -euo pipefail

DIR=${CURATION_CLUSTER_DIR:-/tmp/curation-cluster}
RAY_PORT=${CURATION_RAY_PORT:-6379}
RAY_VERSION=${CURATION_RAY_VERSION:-2.60.0}  # the version CLUSTER_NOTES.md was probed with
export SLURM_CONF=$DIR/slurm.conf
export RAY_ADDRESS=127.0.0.1:$RAY_PORT
say() { echo "cluster.sh: $*" >&2; }
alive() { [[ -f $1 ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

stop() {
    # By pid only: other Slurm, munge or Ray processes on this machine are not ours to stop.
    for pidfile in "$DIR/slurmd.pid" "$DIR/slurmctld.pid" "$DIR/munged.pid"; do
        alive "$pidfile" && kill "$(cat "$pidfile")" && say "stopped $(basename "$pidfile" .pid)"
        rm -f "$pidfile"
    done
    # Ray's head is a family of processes (gcs_server, raylet, workers...); each one names our
    # temp dir on its command line, so that is how ours are told apart from anyone else's.
    local pids=()
    for proc in /proc/[0-9]*; do
        if { tr '\0' ' ' <"$proc/cmdline"; } 2>/dev/null | grep -q -- "$DIR/ray"; then pids+=("${proc#/proc/}"); fi
    done
    if ((${#pids[@]})); then
        kill "${pids[@]}" 2>/dev/null || true
        sleep 2
        kill -9 "${pids[@]}" 2>/dev/null || true  # gcs_server may ignore SIGTERM (CLUSTER_NOTES)
        say "stopped ray (${#pids[@]} processes)"
    fi
}

install() {
    if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
        say "installing slurm-wlm and munge"
        export DEBIAN_FRONTEND=noninteractive
        apt-get install -y -qq slurm-wlm munge >/dev/null || { apt-get update -qq && apt-get install -y -qq slurm-wlm munge >/dev/null; }
    fi
    if ! python -c "import ray" 2>/dev/null; then
        say "installing ray $RAY_VERSION into $(python -c 'import sys; print(sys.prefix)')"
        python -m pip install -q "ray==$RAY_VERSION"
    fi
}

write_slurm_conf() {
    local host cpus mem
    host=$(hostname -s)
    cpus=$(nproc)
    # slurmd drains a node that claims more memory than it has: declare 90% of what is there.
    mem=$(awk '/MemTotal/ {print int($2 / 1024 * 0.9)}' /proc/meminfo)
    mkdir -p "$DIR/state" "$DIR/spool" "$DIR/log"
    cat >"$SLURM_CONF.tmp" <<EOF
ClusterName=curation
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
ReturnToService=2
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=1000
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
DependencyParameters=kill_invalid_depend
MinJobAge=300
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
    mv "$SLURM_CONF.tmp" "$SLURM_CONF"
}

start_slurm() {
    if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
        mkdir -p /run/munge /var/log/munge /var/lib/munge /etc/munge
        [[ -s /etc/munge/munge.key ]] || dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
        chown -R munge:munge /run/munge /var/log/munge /var/lib/munge /etc/munge
        chmod 0400 /etc/munge/munge.key
        su -s /bin/sh munge -c /usr/sbin/munged
        # munged drops to the munge user and writes its pid under /run/munge; keep a copy with ours.
        cp /run/munge/munged.pid "$DIR/munged.pid"
        say "munged started (pid $(cat "$DIR/munged.pid"))"
    fi
    alive "$DIR/slurmctld.pid" || { slurmctld -f "$SLURM_CONF" && say "slurmctld started"; }
    alive "$DIR/slurmd.pid" || { slurmd -f "$SLURM_CONF" && say "slurmd started"; }
    local state=""
    for _ in $(seq 1 60); do
        state=$(sinfo -h -N -o %t 2>/dev/null | head -1 || true)
        [[ $state == idle* || $state == mix* || $state == alloc* ]] && { say "slurm node: $state"; return; }
        [[ $state == drain* || $state == down* ]] && scontrol update NodeName="$(hostname -s)" State=RESUME 2>/dev/null || true
        sleep 0.5
    done
    say "the Slurm node is not idle after 30 s (state: ${state:-none}); see $DIR/log/"
    exit 1
}

start_ray() {
    if ray status --address "$RAY_ADDRESS" >/dev/null 2>&1; then return; fi
    mkdir -p "$DIR/ray"
    # A small object store: the pipeline passes file paths between stages, not data, and the
    # machine is shared. The head offers every core, like the Slurm node.
    RAY_USAGE_STATS_ENABLED=0 ray start --head --node-ip-address=127.0.0.1 --port="$RAY_PORT" \
        --num-cpus="$(nproc)" --object-store-memory=$((256 * 1024 * 1024)) --include-dashboard=false \
        --disable-usage-stats --temp-dir="$DIR/ray" >"$DIR/log/ray-start.log" 2>&1 \
        || { cat "$DIR/log/ray-start.log" >&2; exit 1; }
    say "ray head started at $RAY_ADDRESS"
}

case ${1:-start} in
    stop) stop ;;
    start)
        mkdir -p "$DIR/log"
        install
        [[ -f $SLURM_CONF ]] || write_slurm_conf
        start_slurm
        start_ray
        echo "export SLURM_CONF=$SLURM_CONF RAY_ADDRESS=$RAY_ADDRESS"
        ;;
    env) echo "export SLURM_CONF=$SLURM_CONF RAY_ADDRESS=$RAY_ADDRESS" ;;
    *) echo "usage: $0 [start|stop|env]" >&2; exit 2 ;;
esac

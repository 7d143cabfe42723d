#!/usr/bin/env bash
# A sweep run for real on Slurm, checked against a local run, in one command:
#
#   sudo scripts/slurm-check.sh        (on Debian or Ubuntu, as root)
#
# It installs Slurm and munge from the distribution's packages (apt-get), starts
# a single-node cluster on this machine (munged, slurmctld and slurmd, with a
# configuration of their own in a temporary folder: /etc/slurm is not touched),
# submits a small sweep as a job array exactly as docs/sweeps.md shows (one
# `inferfair sweep --shard $SLURM_ARRAY_TASK_ID/N` per task, then `sweep merge`
# as a job that depends on the array), waits, and checks that the merged files
# are byte-identical to those of the same sweep run locally. It stops the
# daemons it started and removes its folder (KEEP=1 keeps the folder) on any
# exit. Not part of CI: it needs root and installs packages (about 30 s with a
# package cache, then about a minute).
#
# Environment: INFERFAIR (the binary; default target/release/inferfair, built
# if missing), SHARDS (default 4), KEEP=1 (keep the work folder).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
SHARDS=${SHARDS:-4}
BIN=${INFERFAIR:-$ROOT/target/release/inferfair}

say() { printf '%s  %s\n' "$(date +%T)" "$*"; }
die() { say "FAILED: $*"; exit 1; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

[ "$(id -u)" = 0 ] || die "run as root (it installs packages and starts daemons)"
command -v apt-get >/dev/null || die "needs apt-get (Debian or Ubuntu)"

WORK=$(mktemp -d /tmp/inferfair-slurm-check.XXXXXX)
chmod 755 "$WORK"
STARTED_MUNGE=""
cleanup() {
    local rc=$?
    if [ -f "$WORK/slurmd.pid" ]; then kill "$(cat "$WORK/slurmd.pid")" 2>/dev/null || true; fi
    if [ -f "$WORK/slurmctld.pid" ]; then kill "$(cat "$WORK/slurmctld.pid")" 2>/dev/null || true; fi
    if [ -n "$STARTED_MUNGE" ] && [ -f /run/munge/munged.pid ]; then
        kill "$(cat /run/munge/munged.pid)" 2>/dev/null || true
    fi
    sleep 1
    if [ "${KEEP:-0}" = 1 ]; then say "kept $WORK"; else rm -rf "$WORK"; fi
    exit $rc
}
trap cleanup EXIT

# 1. Packages.
t0=$(now)
say "installing slurm-wlm and munge (apt-get)"
export DEBIAN_FRONTEND=noninteractive
if ! dpkg -s slurm-wlm munge >/dev/null 2>&1; then
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null
fi
t_install=$(since "$t0")
SLURM_VERSION="$(slurmctld -V) ($(dpkg-query -W -f='${Package} ${Version}' slurm-wlm))"
MUNGE_VERSION="$(munged --version 2>&1 | head -n1) ($(dpkg-query -W -f='${Package} ${Version}' munge))"
say "installed in ${t_install} s: $SLURM_VERSION, $MUNGE_VERSION"

# 2. The cluster: munge, then slurmctld and slurmd on localhost.
t0=$(now)
if ! pgrep -x munged >/dev/null; then
    if [ ! -s /etc/munge/munge.key ]; then
        if command -v mungekey >/dev/null; then mungekey --create --force; else
            dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key 2>/dev/null; fi
        chown munge:munge /etc/munge/munge.key
        chmod 400 /etc/munge/munge.key
    fi
    mkdir -p /run/munge && chown munge:munge /run/munge
    runuser -u munge -- /usr/sbin/munged
    STARTED_MUNGE=1
fi
munge -n | unmunge >/dev/null || die "munge does not work"

HOST=$(hostname -s)
CPUS=$(nproc)
MEM=$(awk '/MemTotal/ { printf "%d", $2 / 1024 * 0.9 }' /proc/meminfo)
mkdir -p "$WORK/state" "$WORK/spool" "$WORK/logs"
export SLURM_CONF=$WORK/slurm.conf
cat > "$SLURM_CONF" <<EOF
ClusterName=inferfair-check
SlurmctldHost=$HOST(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$WORK/state
SlurmdSpoolDir=$WORK/spool
SlurmctldPidFile=$WORK/slurmctld.pid
SlurmdPidFile=$WORK/slurmd.pid
SlurmctldLogFile=$WORK/slurmctld.log
SlurmdLogFile=$WORK/slurmd.log
SlurmctldPort=16817
SlurmdPort=16818
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MpiDefault=none
MinJobAge=600
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$MEM State=UNKNOWN
PartitionName=check Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
EOF
slurmctld -f "$SLURM_CONF" || die "slurmctld did not start ($WORK/slurmctld.log)"
slurmd -f "$SLURM_CONF" || die "slurmd did not start ($WORK/slurmd.log)"
for _ in $(seq 60); do
    state=$(sinfo -h -n "$HOST" -o %t 2>/dev/null || true)
    case "$state" in idle*|mix*) break ;; esac
    sleep 1
done
case "$state" in idle*|mix*) ;; *) die "node not idle after 60 s (state: '$state'; logs in $WORK)" ;; esac
t_cluster=$(since "$t0")
say "cluster up in ${t_cluster} s: node $HOST, $CPUS CPUs, partition check"

# 3. The binary and a small sweep (2 loads x 3 policies x 2 seeds = 12 points).
if [ ! -x "$BIN" ]; then
    say "building $BIN"
    cargo build --release
fi
cat > "$WORK/sweep.toml" <<EOF
name = "slurm-check"
scenario = "$ROOT/scenarios/paper/mix-1gpu.toml"
policies = ["fifo", "clockwork", "inferfair"]
seeds = [1, 2]
isolation = true
duration_s = 20
warmup_s = 2
[grid]
rate_scale = [0.9, 1.5]
EOF

# 4. The job array and the merge, as docs/sweeps.md has them.
cat > "$WORK/sweep.sbatch" <<EOF
#!/bin/bash
#SBATCH --job-name=inferfair-sweep
#SBATCH --array=0-$((SHARDS - 1))
#SBATCH --cpus-per-task=1
#SBATCH --output=$WORK/logs/sweep-%A-%a.out
set -euo pipefail
"$BIN" sweep "$WORK/sweep.toml" \\
    --shard "\${SLURM_ARRAY_TASK_ID}/$SHARDS" --jobs "\${SLURM_CPUS_PER_TASK}" \\
    --out "$WORK/shards/shard-\${SLURM_ARRAY_TASK_ID}"
EOF
t0=$(now)
jobid=$(sbatch --parsable "$WORK/sweep.sbatch")
merge=$(sbatch --parsable --dependency="afterok:$jobid" --output="$WORK/logs/merge-%j.out" \
    --wrap "\"$BIN\" sweep merge $WORK/shards/shard-* --out $WORK/merged")
say "submitted array job $jobid ($SHARDS tasks) and merge job $merge"
for _ in $(seq 600); do
    [ -z "$(squeue -h -j "$jobid,$merge" 2>/dev/null)" ] && break
    sleep 1
done
[ -z "$(squeue -h -j "$jobid,$merge" 2>/dev/null)" ] || die "jobs still queued after 600 s"
t_jobs=$(since "$t0")
states=$(scontrol show job "$jobid" | sed -n 's/.*JobState=\([A-Z_]*\).*/\1/p' | sort | uniq -c | tr -s ' ')
mstate=$(scontrol show job "$merge" | sed -n 's/.*JobState=\([A-Z_]*\).*/\1/p')
say "jobs done in ${t_jobs} s: array tasks:${states}; merge: $mstate"
[ "$mstate" = COMPLETED ] || { cat "$WORK"/logs/*.out; die "the merge job did not complete"; }

# 5. The same sweep locally, and the comparison.
t0=$(now)
"$BIN" sweep "$WORK/sweep.toml" --out "$WORK/local" 2>"$WORK/logs/local.err"
t_local=$(since "$t0")
say "local run in ${t_local} s"
for f in grid.json results.csv results_ci.csv; do
    cmp -s "$WORK/merged/$f" "$WORK/local/$f" || die "$f differs between the Slurm run and the local run"
done
(cd "$WORK/local/points" && ls) > "$WORK/local-points"
(cd "$WORK/merged/points" && ls) > "$WORK/merged-points"
cmp -s "$WORK/local-points" "$WORK/merged-points" || die "the point files differ"
while read -r p; do
    cmp -s "$WORK/local/points/$p" "$WORK/merged/points/$p" || die "points/$p differs"
done < "$WORK/local-points"
npoints=$(wc -l < "$WORK/local-points")
rows=$(($(wc -l < "$WORK/merged/results.csv") - 1))
say "OK: $npoints points in $SHARDS shards on Slurm, merged: grid.json, results.csv ($rows rows),"
say "    results_ci.csv and every point file byte-identical to the local run"
say "summary: $SLURM_VERSION; $MUNGE_VERSION; install ${t_install} s, cluster up ${t_cluster} s,"
say "    array + merge ${t_jobs} s, local run ${t_local} s ($CPUS CPUs)"

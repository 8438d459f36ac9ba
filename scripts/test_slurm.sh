#!/usr/bin/env bash
# CI: run the tiny pipeline (tests/data/tiny.yaml, with tests/data/tiny_slurm.yaml over it)
# through the SLURM executor on a real one-node SLURM that listens on 127.0.0.1 only, then
# check its outputs.
#
# Needs root and apt (installs slurmctld, slurmd, slurm-client and munge when missing).
# The pipeline runs in a fresh temporary copy of this working tree, so the checkout's
# results/ and .snakemake/ are never touched.  Exits non-zero when the pipeline fails.
#
# Environment:
#   HOLSTEIN_SLURM_TEST_DIR      daemon config, state, logs and pid files
#                                (default /tmp/holstein-slurm-ci; wiped at start)
#   HOLSTEIN_SLURM_TEST_TIMEOUT  seconds allowed for the Snakemake run (default 900)
#   HOLSTEIN_SLURM_TEST_BREAK=1  break workflow/scripts/analyse.py in the temporary copy
#                                (checks that a failing pipeline fails this script)
#   HOLSTEIN_SLURM_TEST_KEEP=1   keep the temporary copy after a successful run
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
START=$(date +%s)
SLURM_DIR=${HOLSTEIN_SLURM_TEST_DIR:-/tmp/holstein-slurm-ci}
RUN_TIMEOUT=${HOLSTEIN_SLURM_TEST_TIMEOUT:-900}
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1

log() { echo "[test_slurm $(($(date +%s) - START))s] $*"; }
die() { echo "[test_slurm] FAILED: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "needs root (installs and starts SLURM and munge)"

# --- Python: the active venv, else the repository's .venv (created by scripts/test.sh) ---
if [ -z "${VIRTUAL_ENV:-}" ] && [ -f "$REPO/.venv/bin/activate" ]; then
    # shellcheck disable=SC1091
    . "$REPO/.venv/bin/activate"
fi
[ -n "${VIRTUAL_ENV:-}" ] || die "no virtual environment active and no $REPO/.venv"
PYTHON="$VIRTUAL_ENV/bin/python"
if ! "$PYTHON" -c "import snakemake_executor_plugin_slurm" 2>/dev/null; then
    log "installing the SLURM executor plugin (.[slurm]) into $VIRTUAL_ENV"
    torch_before=$("$PYTHON" -c "import torch; print(torch.__version__)")
    "$PYTHON" -m pip install --quiet -e "${REPO}[slurm]"
    torch_after=$("$PYTHON" -c "import torch; print(torch.__version__)")
    [ "$torch_before" = "$torch_after" ] \
        || die "installing .[slurm] changed torch from $torch_before to $torch_after"
fi

# --- device: cuda parsed as a SLURM job step on this GPU-less node: CPU jobs plan and run ---
if "$PYTHON" -c "import holstein.device as d; raise SystemExit(d.cuda_available())"; then
    step_dir=$(mktemp -d)
    step_log="$step_dir/jobstep.log"
    (cd "$step_dir" && SLURM_JOB_ID=1 "$PYTHON" -m snakemake --snakefile "$REPO/Snakefile" \
        --configfile "$REPO/config.yaml" --executor slurm-jobstep -n --jobs 1 \
        --config device=cuda --forceall -- results/analysis/negf/V2_s101.json) \
        >"$step_log" 2>&1 || { tail -20 "$step_log"; die "device: cuda broke a CPU job step"; }
    log "device: cuda as a SLURM job step without a GPU: CPU jobs planned"
    rm -rf "$step_dir"
fi

# --- SLURM and munge packages ---
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null \
    || ! command -v sbatch >/dev/null || ! command -v munged >/dev/null; then
    log "installing slurmctld slurmd slurm-client munge"
    export DEBIAN_FRONTEND=noninteractive
    # No init system here: keep the packages from trying to start their services.
    policy_added=0
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod +x /usr/sbin/policy-rc.d
        policy_added=1
    fi
    pkgs=(slurmctld slurmd slurm-client munge)
    if ! apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null; then
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
    fi
    [ "$policy_added" -eq 0 ] || rm -f /usr/sbin/policy-rc.d
fi
if [ ! -s /etc/munge/munge.key ]; then
    log "creating a munge key"
    mungekey --create --keyfile /etc/munge/munge.key
    chown munge:munge /etc/munge/munge.key
    chmod 0400 /etc/munge/munge.key
fi

# --- Stop what a previous run left behind (our own pid files only), start afresh ---
stop_pidfile() {  # stop_pidfile FILE NAME: TERM (then KILL) the NAME process in FILE
    local file=$1 name=$2 pid
    [ -s "$file" ] || return 0
    pid=$(cat "$file")
    if [ -r "/proc/$pid/comm" ] && [ "$(cat "/proc/$pid/comm")" = "$name" ]; then
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 50); do
            [ -e "/proc/$pid" ] || break
            sleep 0.1
        done
        [ ! -e "/proc/$pid" ] || kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$file"
}
if [ -s "$SLURM_DIR/slurmctld.pid" ] && [ -f "$SLURM_DIR/slurm.conf" ]; then
    log "stopping the SLURM of an earlier run ($SLURM_DIR)"
    if SLURM_CONF="$SLURM_DIR/slurm.conf" timeout 10 scancel --user "$(id -un)" 2>/dev/null
    then
        sleep 1
    fi
fi
stop_pidfile "$SLURM_DIR/slurmd.pid" slurmd
stop_pidfile "$SLURM_DIR/slurmctld.pid" slurmctld
# A munged that an interrupted run started is adopted, so that this run stops it.
MUNGED_STARTED=0
if [ -s "$SLURM_DIR/munged.ours" ] && [ -s /run/munge/munged.pid ] \
    && [ "$(cat "$SLURM_DIR/munged.ours")" = "$(cat /run/munge/munged.pid)" ]; then
    MUNGED_STARTED=1
fi
rm -rf "$SLURM_DIR"
mkdir -p "$SLURM_DIR/state" "$SLURM_DIR/spool"

NODE=$(hostname -s)
NCPU=$(nproc)
[ "$NCPU" -ge 2 ] || NCPU=2  # train_member asks for 2 CPUs; config_overrides allows it
MEM_MB=$(awk '/^MemTotal:/ {print int($2 / 1024 * 0.8)}' /proc/meminfo)
export SLURM_CONF="$SLURM_DIR/slurm.conf"
cat >"$SLURM_CONF" <<EOF
ClusterName=holsteinci
SlurmctldHost=$NODE(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CommunicationParameters=NoCtldInAddrAny,NoInAddrAny
SlurmctldPort=6817
SlurmdPort=6818
SlurmdParameters=config_overrides
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=500
SchedulerType=sched/backfill
MinJobAge=3600
ReturnToService=2
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MailProg=/bin/true
StateSaveLocation=$SLURM_DIR/state
SlurmdSpoolDir=$SLURM_DIR/spool
SlurmctldPidFile=$SLURM_DIR/slurmctld.pid
SlurmdPidFile=$SLURM_DIR/slurmd.pid
SlurmctldLogFile=$SLURM_DIR/slurmctld.log
SlurmdLogFile=$SLURM_DIR/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$NCPU RealMemory=$MEM_MB State=UNKNOWN
PartitionName=ci Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF

WORK=""
[ "$MUNGED_STARTED" -eq 0 ] || cp /run/munge/munged.pid "$SLURM_DIR/munged.ours"
ETC_LINKED=0
cleanup() {
    local rc=$?
    set +e
    if [ -n "${SLURM_CONF:-}" ] && [ -s "$SLURM_DIR/slurmctld.pid" ]; then
        timeout 10 scancel --user "$(id -un)" >/dev/null 2>&1
        sleep 1
    fi
    stop_pidfile "$SLURM_DIR/slurmd.pid" slurmd
    stop_pidfile "$SLURM_DIR/slurmctld.pid" slurmctld
    if [ "$ETC_LINKED" -eq 1 ] && [ "$(readlink "$ETC_CONF")" = "$SLURM_CONF" ]; then
        rm -f "$ETC_CONF"
    fi
    if [ "$MUNGED_STARTED" -eq 1 ]; then
        stop_pidfile /run/munge/munged.pid munged
    fi
    if [ -n "$WORK" ] && [ -d "$WORK" ]; then
        if [ "$rc" -eq 0 ] && [ "${HOLSTEIN_SLURM_TEST_KEEP:-0}" != 1 ]; then
            rm -rf "$WORK"
        else
            echo "[test_slurm] kept the run directory $WORK"
        fi
    fi
    echo "[test_slurm] elapsed $(($(date +%s) - START)) s, exit status $rc"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The jobstep plugin runs each rule with an in-job `srun` after dropping every SLURM_*
# variable, SLURM_CONF included, so that srun reads the compiled-in default path: link our
# slurm.conf there for the run (removed again by cleanup).
ETC_CONF=/etc/slurm/slurm.conf
if [ -L "$ETC_CONF" ] && [ "$(readlink "$ETC_CONF")" = "$SLURM_CONF" ]; then
    ETC_LINKED=1  # left behind by an interrupted run
elif [ -e "$ETC_CONF" ] || [ -L "$ETC_CONF" ]; then
    die "$ETC_CONF exists: this machine has a SLURM configuration of its own"
else
    mkdir -p "$(dirname "$ETC_CONF")"
    ln -s "$SLURM_CONF" "$ETC_CONF"
    ETC_LINKED=1
fi

dump_logs() {
    echo "----- slurmctld.log (tail) -----"; tail -n 30 "$SLURM_DIR/slurmctld.log" 2>/dev/null
    echo "----- slurmd.log (tail) -----"; tail -n 30 "$SLURM_DIR/slurmd.log" 2>/dev/null
    if [ -n "$WORK" ] && [ -d "$WORK/.snakemake/slurm_logs" ]; then
        local f
        while IFS= read -r f; do
            echo "----- $f (tail) -----"; tail -n 40 "$f"
        done < <(find "$WORK/.snakemake/slurm_logs" -name '*.log' -type f | sort)
    fi
    return 0
}

# --- Daemons ---
if munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    log "munged already running$([ "$MUNGED_STARTED" -eq 0 ] || echo ' (an earlier run started it)')"
else
    install -d -o munge -g munge -m 0755 /run/munge
    rm -f /run/munge/munged.pid
    runuser -u munge -- munged --force
    MUNGED_STARTED=1
    cp /run/munge/munged.pid "$SLURM_DIR/munged.ours"
    for _ in $(seq 50); do
        munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break
        sleep 0.1
    done
    munge -n | unmunge >/dev/null || die "munged does not answer"
fi
log "starting slurmctld and slurmd (node $NODE, $NCPU CPUs, $MEM_MB MB, 127.0.0.1)"
slurmctld
slurmd
state=""
for _ in $(seq 60); do
    state=$(sinfo --noheader --nodes "$NODE" --format %T 2>/dev/null || true)
    [ "$state" = idle ] && break
    sleep 0.5
done
if [ "$state" != idle ]; then
    dump_logs
    die "node $NODE not idle after 30 s (state '${state}')"
fi
log "node $NODE idle"

# Smoke test: a batch job sees this environment (the plugin submits with --export=ALL) and
# can start a job step without SLURM_CONF, as the plugin's in-job srun does.
smoke_out="$SLURM_DIR/smoke.out"
# shellcheck disable=SC2016  # expanded in the job, not here
smoke_id=$(sbatch --parsable --export=ALL --output "$smoke_out" --time 1 \
    --wrap 'env -u SLURM_CONF srun -n1 true &&
            echo "$OPENBLAS_NUM_THREADS|$VIRTUAL_ENV|$(command -v python)"') \
    || { dump_logs; die "sbatch failed"; }
smoke_state=""
for _ in $(seq 120); do
    smoke_state=$(squeue --states=all --noheader --jobs "$smoke_id" --format %T 2>/dev/null || true)
    case "$smoke_state" in PENDING | RUNNING | CONFIGURING | COMPLETING | "") ;; *) break ;; esac
    sleep 0.5
done
if [ "$smoke_state" != COMPLETED ]; then
    cat "$smoke_out" 2>/dev/null
    dump_logs
    die "smoke-test batch job $smoke_id ended '$smoke_state'"
fi
[ "$(cat "$smoke_out")" = "1|$VIRTUAL_ENV|$VIRTUAL_ENV/bin/python" ] \
    || die "batch job environment differs: '$(cat "$smoke_out")'"
log "batch job sees OPENBLAS_NUM_THREADS=1 and $VIRTUAL_ENV; srun works in it"

# --- Fresh copy of the working tree (tracked and untracked-but-not-ignored files) ---
WORK=$(mktemp -d /tmp/holstein-slurm-run.XXXXXX)
(
    cd "$REPO"
    if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
        git ls-files -z --cached --others --exclude-standard \
            | while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done \
            | tar --null -T - -cf - | tar -xf - -C "$WORK"
    else  # not a git checkout (e.g. an unpacked archive): leave out outputs and venvs
        tar --exclude=./results --exclude=./logs --exclude=./.snakemake --exclude=./.venv \
            --exclude=./.git -cf - . | tar -xf - -C "$WORK"
    fi
)
if [ "${HOLSTEIN_SLURM_TEST_BREAK:-0}" = 1 ]; then
    log "HOLSTEIN_SLURM_TEST_BREAK=1: breaking workflow/scripts/analyse.py in $WORK"
    printf 'raise RuntimeError("broken on purpose by HOLSTEIN_SLURM_TEST_BREAK")\n' \
        >>"$WORK/workflow/scripts/analyse.py"
fi

# --- The pipeline through the SLURM executor ---
log "snakemake --workflow-profile profiles/slurm-ci (tiny config) in $WORK"
cd "$WORK"
SMK_LOG="$SLURM_DIR/snakemake.log"
set +e
timeout -k 30 "$RUN_TIMEOUT" "$PYTHON" -m snakemake --workflow-profile profiles/slurm-ci \
    --configfile config.yaml tests/data/tiny.yaml tests/data/tiny_slurm.yaml 2>&1 | tee "$SMK_LOG"
rc=${PIPESTATUS[0]}
set -e
if [ "$rc" -ne 0 ]; then
    dump_logs
    if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
        die "snakemake ran past ${RUN_TIMEOUT} s"
    fi
    die "snakemake under SLURM exited with status $rc"
fi
log "snakemake finished"

# --- Outputs of the tiny chain ---
"$PYTHON" scripts/check_tiny_outputs.py results tests/data/tiny.yaml \
    || die "output checks failed"
log "outputs OK (parquet shards and runs, analyses, model, figures, metrics.json)"

# --- Job accounting without sacct: the jobs Snakemake submitted are exactly the jobs
# SLURM knows of (besides the smoke test), and every one of them ended COMPLETED ---
submitted=$(sed -n 's/.*has been submitted with SLURM jobid \([0-9][0-9]*\).*/\1/p' "$SMK_LOG" \
    | sort -n)
known=$(squeue --states=all --noheader --format %i | grep -vx "$smoke_id" | sort -n)
not_done=$(squeue --states=all --noheader --format '%i %T' | awk '$2 != "COMPLETED"')
n_submitted=$(grep -c . <<<"$submitted" || true)
squeue --states=all --noheader --format %T | sort | uniq -c
[ "$n_submitted" -gt 0 ] || die "no job was submitted to SLURM"
[ "$submitted" = "$known" ] \
    || die "jobs submitted ($(tr '\n' ' ' <<<"$submitted")) differ from jobs in SLURM" \
        "($(tr '\n' ' ' <<<"$known"))"
[ -z "$not_done" ] || die "SLURM jobs not COMPLETED: $(tr '\n' ' ' <<<"$not_done")"
log "SLURM ran the $n_submitted submitted jobs (+1 smoke test), all COMPLETED"
log "PASSED"

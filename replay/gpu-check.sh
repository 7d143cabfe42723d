#!/usr/bin/env bash
# The whole sim-vs-real loop on a machine with an NVIDIA GPU, in under
# 10 minutes: check that the inferfair binary runs there and finds CUDA,
# measure a profile of the GPU (`profile measure`), then validate the
# simulator against real-time replays on small heterogeneous scenarios for
# fifo, clockwork, inferfair and shepherd (whose preemptions exercise the
# cuda backend's chunked batches); then concurrent execution: measure the
# GPU's pairwise interference (`profile measure --pairs`) and validate two
# batches at once (`scenarios/validate-concurrent.toml`, max_concurrent = 2).
#
#   replay/gpu-check.sh OUTDIR
#
# Needs no Rust toolchain: it runs a release binary built elsewhere with
#   cargo build --release --features cuda
# (x86_64, glibc >= 2.34), at target/release/inferfair or $INFERFAIR.
# Environment (all optional):
#   INFERFAIR       the binary (default target/release/inferfair)
#   SOURCE_PROFILE  the models to measure (default profiles/v100.csv)
#   GPU             the CUDA device (default 0)
#   POLICIES        comma-separated policies (default: fifo,clockwork,inferfair,shepherd;
#                   all six policies take about twice as long as the time limits allow)
#   RATE_SCALE      rate multiplier for the scenarios (default: the measured
#                   GPU's speed-up over SOURCE_PROFILE on the scenario's models)
# Results in OUTDIR: gpu-check.log, ldd.txt, nvidia-smi.txt, <gpu>.csv (the
# measured profile), profile-measure.txt, <gpu>-interference.csv (the pairwise
# table) with pairs.txt, and validate-small/, validate-swap/ and
# validate-concurrent/ (validation.txt, validation.csv, validation.json, sim/, replay/).
# docs/validation.md explains what is measured.

set -u -o pipefail
OUT=${1:?usage: replay/gpu-check.sh OUTDIR}
POLICIES=${POLICIES:-fifo,clockwork,inferfair,shepherd}
cd "$(dirname "$0")/.." || exit 2
mkdir -p "$OUT" || exit 2
OUT=$(cd "$OUT" && pwd)
exec > >(tee -a "$OUT/gpu-check.log") 2>&1

BIN=${INFERFAIR:-target/release/inferfair}
SOURCE=${SOURCE_PROFILE:-profiles/v100.csv}
GPU=${GPU:-0}
T0=$(date +%s)
step() { echo; echo "== +$(( $(date +%s) - T0 ))s $*"; }
fail() { echo "gpu-check: $*"; exit 1; }

step "the binary: $BIN"
[ -x "$BIN" ] || fail "no executable $BIN: build it with 'cargo build --release --features cuda' and copy it here (or set INFERFAIR)"
ldd "$BIN" > "$OUT/ldd.txt" 2>&1
cat "$OUT/ldd.txt"
grep -q "not found" "$OUT/ldd.txt" && fail "the binary misses shared libraries (see above)"
"$BIN" --version || fail "the binary does not run here (glibc too old? it needs 2.34 or later)"

step "CUDA libraries"
add_dir() {
    [ -d "$1" ] || return 0
    case ":${LD_LIBRARY_PATH:-}:" in
        *":$1:"*) ;;
        *) LD_LIBRARY_PATH="$1${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" ;;
    esac
}
for d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib /usr/local/nvidia/lib /usr/local/nvidia/lib64; do
    add_dir "$d"
done
# pip's CUDA wheels (nvidia-cublas, ...) keep their libraries in site-packages/nvidia/*/lib.
for py in python3 /opt/torch/.venv/bin/python3; do
    command -v "$py" > /dev/null 2>&1 || continue
    for d in $("$py" -c '
import glob, os, site, sys
roots = set(p for p in sys.path if p)
try:
    roots.update(site.getsitepackages())
except Exception:
    pass
for r in sorted(roots):
    for p in sorted(glob.glob(os.path.join(r, "nvidia", "*", "lib"))):
        print(p)
' 2> /dev/null); do
        add_dir "$d"
    done
done
export LD_LIBRARY_PATH
echo "LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}"
find_lib() {
    local hit
    hit=$(ldconfig -p 2> /dev/null | grep -F "$1 " | head -1 | sed 's/.*=> //')
    if [ -z "$hit" ]; then
        local IFS=:
        for d in ${LD_LIBRARY_PATH:-}; do
            if [ -e "$d/$1" ]; then hit="$d/$1"; break; fi
        done
    fi
    echo "$1: ${hit:-NOT FOUND}"
}
for l in libcuda.so.1 libcublas.so.13 libcublasLt.so.13; do find_lib "$l"; done
if command -v nvidia-smi > /dev/null 2>&1; then
    nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1
    head -20 "$OUT/nvidia-smi.txt"
    NAME=$(nvidia-smi --query-gpu=name --format=csv,noheader -i "$GPU" 2> /dev/null | head -1 | awk '{print tolower($NF)}')
fi
NAME=${NAME:-gpu}
PROFILE="$OUT/$NAME.csv"

step "profile measure on GPU $GPU -> $PROFILE"
[ -f "$SOURCE" ] || fail "no source profile $SOURCE (set SOURCE_PROFILE)"
timeout 150 "$BIN" profile measure --backend cuda --gpu "$GPU" --profile "$SOURCE" --out "$PROFILE" \
    | tee "$OUT/profile-measure.txt"
[ "${PIPESTATUS[0]}" = 0 ] || fail "profile measure failed (see above)"

# The GPU's speed-up over the source profile on a scenario's models (sum of
# exec_us over their rows), so that the scenario's rates load it as designed.
speedup() {
    local models
    models=$(sed -n 's/^model *= *"\(.*\)".*/\1/p' "$1" | sort -u | tr '\n' ' ')
    awk -F, -v models="$models" '
        BEGIN { n = split(models, m, " "); for (i = 1; i <= n; i++) want[m[i]] = 1 }
        /^#/ || $1 == "model" { next }
        ($1 in want) { key = $1 "," $2; if (FILENAME == ARGV[1]) src[key] = $3; else if (key in src) { s += src[key]; d += $3 } }
        END { if (d > 0) printf "%.4f\n", s / d; else print 1 }' "$SOURCE" "$PROFILE"
}

for sc in validate-small validate-swap; do
    file="scenarios/$sc.toml"
    rate=${RATE_SCALE:-$(speedup "$file")}
    limit=170
    [ "$sc" = validate-swap ] && limit=150
    step "validate $file on GPU $GPU (profile $PROFILE, rate scale $rate)"
    args=(validate "$file" --backend cuda --gpu "$GPU" --profile "$PROFILE" --rate-scale "$rate" --out "$OUT/$sc")
    [ -n "${POLICIES:-}" ] && args+=(--policies "$POLICIES")
    timeout "$limit" "$BIN" "${args[@]}" || echo "gpu-check: validate of $sc failed or ran out of time"
done

PAIRS="$OUT/$NAME-interference.csv"
MODELS=mobilenet-v2,resnet50,vgg16,bert-base
step "profile measure --pairs on GPU $GPU ($MODELS) -> $PAIRS"
timeout 90 "$BIN" profile measure --backend cuda --gpu "$GPU" --profile "$PROFILE" --models "$MODELS" \
    --pairs --reps 10 --warmup 2 --out "$PAIRS" | tee "$OUT/pairs.txt"
if [ "${PIPESTATUS[0]}" = 0 ]; then
    # The concurrent scenario with the measured table (absolute paths: it runs from OUTDIR).
    sed -e "s|^profile = .*|profile = \"$PWD/profiles/v100.csv\"|" \
        "scenarios/validate-concurrent.toml" > "$OUT/validate-concurrent.toml"
    printf '\n[cluster.interference]\nmodel = "pairwise"\npath = "%s"\n' "$PAIRS" >> "$OUT/validate-concurrent.toml"
    rate=${RATE_SCALE:-$(speedup scenarios/validate-concurrent.toml)}
    step "validate validate-concurrent (2 batches at once, measured pairs) on GPU $GPU (rate scale $rate)"
    args=(validate "$OUT/validate-concurrent.toml" --backend cuda --gpu "$GPU" --profile "$PROFILE" --rate-scale "$rate" --out "$OUT/validate-concurrent")
    [ -n "${POLICIES:-}" ] && args+=(--policies "$POLICIES")
    timeout 170 "$BIN" "${args[@]}" || echo "gpu-check: validate of validate-concurrent failed or ran out of time"
else
    echo "gpu-check: profile measure --pairs failed (see above)"
fi

step "summary"
for sc in validate-small validate-swap validate-concurrent; do
    [ -f "$OUT/$sc/validation.txt" ] && { echo "-- $sc"; grep -A3 '^agreement' "$OUT/$sc/validation.txt"; }
done
echo "results in $OUT"

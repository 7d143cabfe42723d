#!/usr/bin/env python3
"""Derive the shipped execution profiles (v100.csv, a100.csv, h100.csv).

Standard library only. Run from anywhere:

    python3 profiles/derive.py            # rewrite the CSVs next to this script
    python3 profiles/derive.py --check    # exit 1 if a CSV differs from what it would write

The output is deterministic: re-running rewrites the CSVs byte-identically.
The method and every constant are explained in profiles/README.md; in short:

  V100 (fp32), every model m except ResNet-50 (whose rows are Clockwork's measurements):
    exec_m(b) = layers_m * t_layer                                  (fixed per-batch overhead)
              + eta_family * (GMACs_m / GMACs_r50) * c * b^k_family (compute)
    exec_m(b) = max(exec_m(b), weights_bytes_m / (0.70 * HBM bandwidth))
  where o + c*b^k is a least-squares fit to ResNet-50's measured V100 batch curve,
  t_layer = o / layers_r50, and eta_family is calibrated on published V100 measurements.

  A100 / H100: the V100 overhead part times an overhead ratio, plus the V100 compute part
  divided by a per-family compute ratio, with the same memory floor at that GPU's bandwidth.

  load_us = weights_bytes / PCIe bandwidth, the V100 bandwidth calibrated on ResNet-50's
  measured 8.372 ms weight transfer, A100 (PCIe 4) x2, H100 (PCIe 5) x4.
"""

import math
import os
import sys

DATE = "2026-11-28"
MIB = 1024 * 1024
BATCHES = [1, 2, 4, 8, 16]

# ---------------------------------------------------------------------------
# Calibration data (all published; see README "Sources").
# ---------------------------------------------------------------------------

# ResNet-50 v2 on a V100 32GB, Clockwork's model-zoo profile (OSDI'20 artifact).
R50_EXEC_MS = {1: 3.322, 2: 5.271, 4: 7.495, 8: 12.439, 16: 21.729}
R50_LOAD_MS = 8.372
R50_WEIGHTS_MIB = 97.7  # 25.6 M fp32 parameters
R50_GMACS = 4.089       # torchvision ResNet-50 "GFLOPS" (multiply-adds), 224x224
R50_LAYERS = 54         # 53 convolutions + 1 fully connected

# NVIDIA DeepLearningExamples, PyTorch 21.03 NGC container, DGX-1 (1x V100 16GB), FP32,
# saturated inference throughput at batch 256 (img/s).
V100_FP32_R50_IMG_S = 1261.0   # resnet50v1.5/README.md
V100_FP32_EFFB0_IMG_S = 2968.0  # efficientnet/README.md
EFFB0_GMACS = 0.386             # torchvision EfficientNet-B0

# NVIDIA DeepLearningExamples, TensorFlow BERT README, SQuAD fine-tuned model, seq len 128,
# TensorFlow 20.06 NGC container. Throughput in sequences/s at batch 1, 2, 4, 8.
BERT_B = [1, 2, 4, 8]
BERT_V100_FP32 = {  # DGX-1, 1x V100 32GB, FP32
    "bert-base": [175.16, 261.31, 339.45, 406.67],
    "bert-large": [75.34, 99.73, 116.92, 130.11],
}
BERT_A100_TF32 = {  # DGX A100, 1x A100 40GB, TF32
    "bert-base": [223.38, 447.57, 838.89, 1201.05],
    "bert-large": [133.24, 218.13, 316.25, 495.21],
}

# NVIDIA DeepLearningExamples resnet50v1.5/README.md, PyTorch 21.03, 1-GPU training throughput:
# A100 80GB TF32 938 img/s, V100 16GB FP32 367 img/s (no A100 inference table is published there).
A100_TF32_R50_TRAIN_IMG_S = 938.0
V100_FP32_R50_TRAIN_IMG_S = 367.0

# ---------------------------------------------------------------------------
# Model zoo: published compute (GMACs = 1e9 multiply-adds per sample at the stated
# input) and parameter counts. Transformers are computed from their configurations.
# ---------------------------------------------------------------------------


def bert(layers, hidden, ffn, vocab=30522, positions=512, types=2, seq=128):
    """Parameters, GMACs per sequence of `seq` tokens, and GEMM/conv layer count of BERT."""
    h, i = hidden, ffn
    emb = vocab * h + positions * h + types * h + 2 * h
    layer = 4 * (h * h + h) + 2 * h + (h * i + i) + (i * h + h) + 2 * h
    pooler = h * h + h
    params = emb + layers * layer + pooler
    macs_tok = layers * (4 * h * h + 2 * h * i)     # q, k, v, o, ffn1, ffn2
    macs_att = layers * 2 * seq * seq * h            # Q.K^T and attention.V
    macs = macs_tok * seq + macs_att + h * h         # + pooler (one token)
    n_layers = layers * 8 + 1                        # 6 linear + 2 attention matmuls, + pooler
    return params, macs / 1e9, n_layers


def gpt2(layers, hidden, vocab=50257, positions=1024, seq=128):
    """Same for GPT-2 (LM head tied to the embedding; logits for all `seq` positions)."""
    h, i = hidden, 4 * hidden
    emb = vocab * h + positions * h
    layer = 2 * h + (h * 3 * h + 3 * h) + (h * h + h) + 2 * h + (h * i + i) + (i * h + h)
    params = emb + layers * layer + 2 * h
    macs_tok = layers * (4 * h * h + 2 * h * i) + h * vocab  # blocks + LM head
    macs_att = layers * 2 * seq * seq * h
    macs = macs_tok * seq + macs_att
    n_layers = layers * 6 + 1                        # c_attn, c_proj, c_fc, c_proj, 2 attention matmuls, + LM head
    return params, macs / 1e9, n_layers


def gptj(layers=28, hidden=4096, vocab=50400, seq=128):
    """Same for GPT-J 6B (rotary positions: no position table; untied LM head with bias;
    attention and MLP in parallel after one layer norm)."""
    h, i = hidden, 4 * hidden
    emb = vocab * h
    layer = 2 * h + 4 * h * h + (h * i + i) + (i * h + h)
    params = emb + layers * layer + 2 * h + (h * vocab + vocab)
    macs_tok = layers * (4 * h * h + 2 * h * i) + h * vocab  # blocks + LM head
    macs_att = layers * 2 * seq * seq * h
    macs = macs_tok * seq + macs_att
    n_layers = layers * 6 + 1                        # q/k/v/o, fc_in, fc_out as 4 GEMMs + 2 attention matmuls, + LM head
    return params, macs / 1e9, n_layers


_BB = bert(12, 768, 3072)
_BL = bert(24, 1024, 4096)
_G2 = gpt2(12, 768)
_G2L = gpt2(36, 1280)
_GJ = gptj()

# (name, family, GMACs per sample, parameters, layers, input)
MODELS = [
    ("squeezenet", "cnn", 0.349, 1235496, 26, "224x224, SqueezeNet 1.1"),
    ("mobilenet-v2", "mobile", 0.301, 3504872, 53, "224x224"),
    ("efficientnet-b0", "mobile", 0.386, 5288548, 82, "224x224"),
    ("resnet18", "cnn", 1.814, 11689512, 21, "224x224"),
    ("resnet50", "cnn", R50_GMACS, 25613800, R50_LAYERS, "224x224, ResNet-50 v2"),
    ("resnet101", "cnn", 7.801, 44549160, 105, "224x224"),
    ("resnet152", "cnn", 11.514, 60192808, 156, "224x224"),
    ("densenet121", "cnn", 2.834, 7978856, 121, "224x224"),
    ("inception-v3", "cnn", 5.713, 27161264, 95, "299x299"),
    ("vgg16", "cnn", 15.470, 138357544, 16, "224x224"),
    ("vit-base", "transformer", 17.564, 86567656, 74, "224x224, patch 16 (197 tokens)"),
    ("bert-base", "transformer", _BB[1], _BB[0], _BB[2], "seq 128"),
    ("bert-large", "transformer", _BL[1], _BL[0], _BL[2], "seq 128"),
    ("gpt2", "transformer", _G2[1], _G2[0], _G2[2], "seq 128, one forward pass"),
    ("gpt2-large", "transformer", _G2L[1], _G2L[0], _G2L[2], "seq 128, one forward pass"),
    ("gpt-j-6b", "transformer", _GJ[1], _GJ[0], _GJ[2], "seq 128, one forward pass"),
]

# ---------------------------------------------------------------------------
# GPUs
# ---------------------------------------------------------------------------

HBM_GB_S = {"v100": 900.0, "a100": 1555.0, "h100": 3350.0}
PCIE_X = {"v100": 1.0, "a100": 2.0, "h100": 4.0}  # PCIe 3 / 4 / 5, x16
MEM_EFF = 0.70                                    # fraction of HBM bandwidth reachable
H100_OVER_A100 = 2.0  # dense compute (cnn, transformer); NVIDIA: H100 is 1.5x-2.5x A100 on most MLPerf Inference v2.1 tests

GPU_TITLE = {
    "v100": "NVIDIA V100 32GB (PCIe 3 host link), fp32",
    "a100": "NVIDIA A100 40GB SXM (PCIe 4 host link), TF32",
    "h100": "NVIDIA H100 SXM 80GB (PCIe 5 host link), TF32",
}


def lsq(xs, ys):
    """Least-squares line: returns (intercept, slope)."""
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys))
    s = sxy / sxx
    return my - s * mx, s


def fit_r50():
    """Fit exec(b) = o + c * b^k (ms) to ResNet-50's measured curve: k on a 0.001 grid,
    o and c by least squares for each k, keeping o >= 0; minimal squared error."""
    best = None
    ys = [R50_EXEC_MS[b] for b in BATCHES]
    for kk in range(300, 1301):
        k = kk / 1000
        o, c = lsq([b ** k for b in BATCHES], ys)
        if o < 0:
            continue
        sse = sum((o + c * b ** k - y) ** 2 for b, y in zip(BATCHES, ys))
        if best is None or sse < best[0]:
            best = (sse, o, c, k)
    return best[1], best[2], best[3]


O_MS, C_MS, K_R50 = fit_r50()
T_LAYER_MS = O_MS / R50_LAYERS

# Family batch exponents: CNNs share ResNet-50's fitted curve; a transformer sample of
# 128+ tokens already fills the GEMMs, so its compute grows linearly with the batch.
K_FAMILY = {"cnn": K_R50, "mobile": K_R50, "transformer": 1.0}


def gmacs(name):
    return next(m[2] for m in MODELS if m[0] == name)


def layers(name):
    return next(m[4] for m in MODELS if m[0] == name)


def fit_eta_transformer():
    """eta for transformers: minimise the squared log error of the V100 model against
    NVIDIA's measured BERT-base/large fp32 seq-128 batch 1..8 times (eta on a 0.001 grid)."""
    best = None
    for e in range(100, 2001):
        eta = e / 1000
        err = 0.0
        for name, thr in BERT_V100_FP32.items():
            for b, t in zip(BERT_B, thr):
                obs = b / t * 1000
                pred = layers(name) * T_LAYER_MS + eta * gmacs(name) / R50_GMACS * C_MS * b
                err += math.log(pred / obs) ** 2
        if best is None or err < best[0]:
            best = (err, eta)
    return best[1]


ETA = {
    "cnn": 1.0,
    # time per MAC of depthwise-separable nets relative to ResNet-50 (same source, same GPU)
    "mobile": (V100_FP32_R50_IMG_S * R50_GMACS) / (V100_FP32_EFFB0_IMG_S * EFFB0_GMACS),
    "transformer": fit_eta_transformer(),
}


def bert_lines(data):
    """Per model: (intercept ms, ms per sequence) of a line through the batch 1..8 times."""
    return {n: lsq(BERT_B, [b / t * 1000 for b, t in zip(BERT_B, thr)]) for n, thr in data.items()}


_V_LINES = bert_lines(BERT_V100_FP32)
_A_LINES = bert_lines(BERT_A100_TF32)
A100_TRANSFORMER_RATIO = math.sqrt(
    (_V_LINES["bert-base"][1] / _A_LINES["bert-base"][1])
    * (_V_LINES["bert-large"][1] / _A_LINES["bert-large"][1])
)

# Per GPU: overhead multiplier and per-family compute speed-up over the V100 fp32 model.
RATIOS = {
    "v100": {"overhead": 1.0, "cnn": 1.0, "mobile": 1.0, "transformer": 1.0},
    "a100": {
        "overhead": 1.0,
        "cnn": A100_TF32_R50_TRAIN_IMG_S / V100_FP32_R50_TRAIN_IMG_S,
        "mobile": HBM_GB_S["a100"] / HBM_GB_S["v100"],
        "transformer": A100_TRANSFORMER_RATIO,
    },
}
RATIOS["h100"] = {
    "overhead": 1.0,
    "cnn": RATIOS["a100"]["cnn"] * H100_OVER_A100,
    "mobile": HBM_GB_S["h100"] / HBM_GB_S["v100"],
    "transformer": RATIOS["a100"]["transformer"] * H100_OVER_A100,
}

# PCIe: effective V100 host-to-device bandwidth from ResNet-50's measured transfer.
V100_PCIE_B_PER_MS = R50_WEIGHTS_MIB * MIB / R50_LOAD_MS


def weights_mib(name, params):
    if name == "resnet50":
        return R50_WEIGHTS_MIB
    return round(params * 4 / MIB, 1)


def v100_parts(name, family, g, n_layers, b):
    """(overhead ms, compute ms) of the V100 model; ResNet-50's compute is measured - o."""
    over = n_layers * T_LAYER_MS
    if name == "resnet50":
        return over, R50_EXEC_MS[b] - over
    return over, ETA[family] * g / R50_GMACS * C_MS * b ** K_FAMILY[family]


FLOOR_BINDS = {"v100": 0, "a100": 0, "h100": 0}


def derive(gpu):
    rows = []
    r = RATIOS[gpu]
    for name, family, g, params, n_layers, _ in MODELS:
        w = weights_mib(name, params)
        wbytes = w * MIB
        load_ms = wbytes / (V100_PCIE_B_PER_MS * PCIE_X[gpu])
        floor_ms = wbytes / (MEM_EFF * HBM_GB_S[gpu] * 1e9) * 1000
        prev = 0.0
        for b in BATCHES:
            over, comp = v100_parts(name, family, g, n_layers, b)
            if gpu == "v100" and name == "resnet50":
                ms, source = R50_EXEC_MS[b], "measured"
                busy = comp
            else:
                busy = comp / r[family]
                ms, source = over * r["overhead"] + busy, "derived"
                if floor_ms > ms:
                    FLOOR_BINDS[gpu] += 1
                    ms = floor_ms
                    busy = ms  # memory-bound: the whole run saturates HBM bandwidth
            us = round(ms * 1000, 1)
            assert us > prev, (gpu, name, b)
            prev = us
            rows.append((name, b, us, w, round(load_ms * 1000, 1), source, round(2 * gmacs(name), 3),
                         util(busy, ms)))
    return rows


UTIL_MIN = 0.05


def util(busy_ms, ms):
    """Roofline estimate of the fraction of the GPU one batch keeps busy alone: the
    compute (or memory-bound) part of its time over the whole; the rest is the
    per-layer launch overhead, when the SMs mostly wait. At least UTIL_MIN."""
    return round(min(1.0, max(UTIL_MIN, busy_ms / ms)), 3)


def render(gpu, rows):
    measured = any(r[5] == "measured" for r in rows)
    out = [
        f"# inferfair execution profile: {GPU_TITLE[gpu]}",
        "# rows: resnet50 measured (Clockwork's V100 model-zoo profile, OSDI'20); every other model derived"
        " from published GMACs/params, see the exec_source column" if measured else
        "# rows: all derived by scaling the V100 derivation (nothing measured on this GPU);"
        " a later issue replaces this file with a measured profile",
        f"# date: {DATE}",
        "# generated by profiles/derive.py (do not edit by hand); method, sources and accuracy: profiles/README.md",
        "# units: exec_us and load_us in microseconds, weights_mib in MiB (fp32 weights), gflops per sample (2 x GMACs),"
        " util = fraction of the GPU one batch keeps busy alone (roofline estimate)",
        "model,batch_size,exec_us,weights_mib,load_us,exec_source,gflops,util",
    ]
    for name, b, us, w, load, src, gf, u in rows:
        out.append(f"{name},{b},{us:.1f},{w:.1f},{load:.1f},{src},{gf:.3f},{u:.3f}")
    return "\n".join(out) + "\n"


def summary(all_rows):
    lines = [
        f"ResNet-50 fit: exec(b) = {O_MS:.4f} + {C_MS:.4f} * b^{K_R50:.3f} ms; "
        f"t_layer = {T_LAYER_MS * 1000:.2f} us",
        f"eta: cnn {ETA['cnn']:.3f}, mobile {ETA['mobile']:.3f}, transformer {ETA['transformer']:.3f}",
        f"V100 PCIe: {V100_PCIE_B_PER_MS * 1000 / 1e9:.3f} GB/s effective",
        "BERT lines (intercept ms, ms/seq): V100 "
        + ", ".join(f"{n} {a:.2f} {s:.3f}" for n, (a, s) in _V_LINES.items())
        + "; A100 "
        + ", ".join(f"{n} {a:.2f} {s:.3f}" for n, (a, s) in _A_LINES.items()),
    ]
    for gpu in ("a100", "h100"):
        r = RATIOS[gpu]
        lines.append(
            f"{gpu} ratios: overhead x{r['overhead']:.2f}, compute cnn /{r['cnn']:.3f}, "
            f"mobile /{r['mobile']:.3f}, transformer /{r['transformer']:.3f}"
        )
    lines.append("memory floor binding on rows: "
                 + ", ".join(f"{g} {FLOOR_BINDS[g]}" for g in ("v100", "a100", "h100")))
    lines.append("V100 model vs NVIDIA BERT fp32 (ms, derived/observed):")
    for name, thr in BERT_V100_FP32.items():
        fam_rows = {r[1]: r[2] for r in all_rows["v100"] if r[0] == name}
        cells = []
        for b, t in zip(BERT_B, thr):
            cells.append(f"b{b} {fam_rows[b] / 1000:.2f}/{b / t * 1000:.2f}")
        lines.append(f"  {name}: " + ", ".join(cells))
    lines.append("A100 model vs NVIDIA BERT tf32 (ms, derived/observed):")
    for name, thr in BERT_A100_TF32.items():
        fam_rows = {r[1]: r[2] for r in all_rows["a100"] if r[0] == name}
        cells = [f"b{b} {fam_rows[b] / 1000:.2f}/{b / t * 1000:.2f}" for b, t in zip(BERT_B, thr)]
        lines.append(f"  {name}: " + ", ".join(cells))
    lines.append("")
    lines.append("| model | family | GMACs | params (M) | layers | weights MiB | "
                 + " | ".join(f"{g.upper()} b1 ms | {g.upper()} b16 ms" for g in ("v100", "a100", "h100"))
                 + " | V100 load ms |")
    lines.append("|" + "---|" * 13)
    for name, family, g, params, n_layers, _ in MODELS:
        cells = [name, family, f"{g:.3f}", f"{params / 1e6:.1f}", str(n_layers),
                 f"{weights_mib(name, params):.1f}"]
        for gpu in ("v100", "a100", "h100"):
            d = {r[1]: r for r in all_rows[gpu] if r[0] == name}
            cells += [f"{d[1][2] / 1000:.2f}", f"{d[16][2] / 1000:.2f}"]
        v = next(r for r in all_rows["v100"] if r[0] == name)
        cells.append(f"{v[4] / 1000:.2f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv):
    here = os.path.dirname(os.path.abspath(__file__))
    check = "--check" in argv
    all_rows = {}
    stale = []
    for gpu in ("v100", "a100", "h100"):
        rows = derive(gpu)
        all_rows[gpu] = rows
        text = render(gpu, rows)
        path = os.path.join(here, f"{gpu}.csv")
        if check:
            try:
                with open(path, encoding="utf-8") as f:
                    if f.read() != text:
                        stale.append(path)
            except FileNotFoundError:
                stale.append(path)
        else:
            with open(path, "w", encoding="utf-8", newline="\n") as f:
                f.write(text)
    print(summary(all_rows))
    if check and stale:
        print("out of date: " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

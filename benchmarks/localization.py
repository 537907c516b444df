"""Attribution patching against exact activation patching: wall time and rank agreement.

Why: attribution patching scores every component of a site with one forward and one backward
pass; exact patching needs one forward pass per component. If their rankings agree, attribution
is the way to localize in large models and exact patching only needs to confirm the top
components. For every site (``hook_z``, ``hook_v``, ``mlp.hook_pre``, ``mlp.hook_post``) this
prints both wall times, their ratio (exact / attribution) and the Spearman rank correlation of
the scores, on the default-profile arithmetic model and on SmolLM2-135M-Instruct. On SmolLM2,
exact patching of every MLP neuron (30 × 1536 per site, ~0.1 s per forward pass) would take
hours on a CPU, so at MLP sites ``--neuron-sample`` random neurons are patched exactly, the
Spearman correlation is computed over them, and the exact time is projected to all neurons
(marked "*"). This prints numbers; it is not a test.

    python benchmarks/localization.py                       # both models, CPU, a few minutes
    python benchmarks/localization.py --model arithmetic
"""

from __future__ import annotations

import argparse
import json
import random
import time

import torch
from scipy.stats import spearmanr

from unlearnlab.localization import activation_patching, attribution_patching, bridge

SITES = ("hook_z", "hook_v", "mlp.hook_pre", "mlp.hook_post")


def _timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def compare(br, clean, corrupt, site: str, sample: int | None) -> dict:
    attr, t_attr = _timed(lambda: attribution_patching(br, clean, corrupt, site))
    only = None
    if sample is not None and sample < len(attr):
        only = random.Random(0).sample(sorted(attr), sample)
    exact, t_exact = _timed(lambda: activation_patching(br, clean, corrupt, site, only=only))
    shared = sorted(exact)
    rho = spearmanr([exact[k] for k in shared], [attr[k] for k in shared]).statistic
    projected = only is not None
    if projected:
        t_exact *= len(attr) / len(shared)
    return {"site": site, "components": len(attr), "compared": len(shared), "attribution_s": round(t_attr, 3),
            "exact_s": round(t_exact, 2), "exact_projected": projected, "speed_ratio": round(t_exact / t_attr, 1),
            "spearman": round(float(rho), 3)}


def arithmetic_case():
    from unlearnlab.experiments.arithmetic import run as arith
    from unlearnlab.experiments.localize.run import patching_pairs
    from unlearnlab.experiments.session import start
    from unlearnlab.core.models import load_model

    session = start("default", "")
    world = arith.load_world(session)
    model = load_model(arith.pretrain(session, world, "base"))
    clean, corrupt = patching_pairs(world, 64, 0)
    return "arithmetic default (trained base)", bridge(model, world.tokenizer), clean, corrupt, None


def smollm2_case(neuron_sample: int):
    from unlearnlab.experiments.localize.real import FactSpec, fact_pairs
    from unlearnlab.core.paths import repo_root
    from unlearnlab.core.real_model import load_real_model

    model, tokenizer = load_real_model("smollm2", cache_root=repo_root() / "artifacts" / "real_models")
    clean, corrupt, _ = fact_pairs(tokenizer, FactSpec())
    return "SmolLM2-135M-Instruct", bridge(model, tokenizer), clean, corrupt, neuron_sample


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", choices=["arithmetic", "smollm2", "both"], default="both")
    parser.add_argument("--neuron-sample", type=int, default=96, help="SmolLM2 neurons patched exactly per MLP site")
    args = parser.parse_args()
    cases = []
    if args.model in ("arithmetic", "both"):
        cases.append(arithmetic_case())
    if args.model in ("smollm2", "both"):
        cases.append(smollm2_case(args.neuron_sample))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads", flush=True)
    for name, br, clean, corrupt, sample in cases:
        attribution_patching(br, clean, corrupt, SITES[0])  # warm-up: first-call costs are not the method's
        print(f"\n{name}: {tuple(clean['input_ids'].shape)} prompt batch")
        print(f"{'site':14s} {'comps':>6s} {'attr s':>8s} {'exact s':>9s} {'exact/attr':>10s} {'spearman':>8s}")
        for site in SITES:
            r = compare(br, clean, corrupt, site, sample if site.startswith("mlp") else None)
            mark = "*" if r["exact_projected"] else " "
            print(f"{site:14s} {r['components']:6d} {r['attribution_s']:8.3f} {r['exact_s']:8.2f}{mark} "
                  f"{r['speed_ratio']:10.1f} {r['spearman']:8.3f}")
            print("  " + json.dumps(r))
        if sample is not None:
            print(f"* exact time projected from {sample} random neurons per MLP site; Spearman over those neurons")


if __name__ == "__main__":
    main()

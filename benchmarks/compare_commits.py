"""Training tokens/s of the tiny arithmetic model, side by side in one run: our loop
(``core/training.py``), a bare PyTorch loop, and an older commit's loop, in fp32 and bf16 autocast.

Two inputs (``--batches``): ``world`` (default), the arithmetic world's own pretraining batches,
counting real tokens per second (our loop gets them packed, as pretraining now packs them, the
others padded: the same examples and, up to rounding, the same losses); ``random``, one batch of
random tokens without padding, where only the loops' own overheads differ (ours vs bare).

Why: issue 16 asks for >= 2x the pre-issue commit's training throughput and our loop >= 0.95x a
bare loop. Numbers from separate runs on a shared machine cannot be compared, so all three loops
run here, interleaved, on the same weights and the same batch.

How: the older commit's ``src/`` is unpacked with ``git archive`` into a temporary folder (this
checkout and its git state are not touched). Every measurement runs in a subprocess of this file
(``--worker``): the old loop with ``PYTHONPATH=<tmp>/src``, so ``import unlearnlab`` is that
commit's package, ours and the bare loop with this checkout's ``src/``, so all three pay the same
start-up and thread settings. Each loop uses its own commit's language-model loss (``nll`` of
``logits_of``), as pretraining does. The model (the default profile's arithmetic size, random
init) and one fixed random-token batch are built once here and saved; every worker loads them.
Rounds run ours, bare, old, ours, ... so that load from other processes hits each alike;
tokens/s is pooled over rounds. This prints numbers; it is not a test.

    python benchmarks/compare_commits.py                     # old = 8957927, the commit before issue 16
    python benchmarks/compare_commits.py --batches random    # the loop's overhead vs a bare loop
    python benchmarks/compare_commits.py --old HEAD --steps 60 --repeats 3
    python benchmarks/compare_commits.py --quick             # a few steps: checks that it runs
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

# No unlearnlab import at module level: a worker for the old commit must import only that
# commit's package (its PYTHONPATH), never this checkout's.
REPO = Path(__file__).resolve().parents[1]
LOOPS = ("ours", "bare", "old")
DTYPES = ("fp32", "bf16")
LR = 1e-3
# One thread of the reference CPU on square matrices (issue 16): fp32 ~170-200 GFLOP/s for
# n = 96 ... 2048; bf16 (AMX) ~800 at n = 256. The tiny model's matrices are 96 wide, so no loop
# of it gets near these; the column says how far.
FP32_PEAK_GFLOPS = 185.0
BF16_PEAK_GFLOPS = 800.0
PRE_ISSUE_16 = "8957927"  # the baseline issue 16 names: the last commit before its speed work
TRAINING_MODULES = ("unlearnlab.core.training", "unlearnlab.training")  # new layout, then pre-issue-15
LOSS_MODULES = ("unlearnlab.core.logprobs", "unlearnlab.losses")


# --- worker: one loop, one dtype, in its own process ---------------------------------------------

def _first(modules: tuple[str, ...], *names: str) -> tuple:
    """``names`` from the first of ``modules`` that imports (commits moved modules around)."""
    for module in modules:
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError:
            continue
        return tuple(getattr(mod, n) for n in names)
    raise ModuleNotFoundError(f"none of {modules} found on PYTHONPATH={os.environ.get('PYTHONPATH')}")


def _load(data: Path, device: str, packed: bool) -> tuple:
    """The saved model (plain transformers, no unlearnlab) and batches (padded, or packed for a
    loop that understands packed batches)."""
    import torch
    from transformers import LlamaForCausalLM

    model = LlamaForCausalLM.from_pretrained(data / "model").to(device)
    saved = torch.load(data / ("packed.pt" if packed else "batches.pt"), weights_only=True)
    return model, [{k: v.to(device) for k, v in batch.items()} for batch in saved]


def run_package_loop(model, batches: list[dict], warmup: int, steps: int, bf16: bool) -> tuple[float, list[float]]:
    """The ``train`` loop of whichever unlearnlab is on the path; the clock starts at step
    ``warmup``, before its forward (optimiser state and first-step costs stay outside)."""
    train, train_config = _first(TRAINING_MODULES, "train", "TrainConfig")
    nll, logits_of = _first(LOSS_MODULES, "nll", "logits_of")
    start: list[float] = []

    def step_loss(fwd, step):
        batch = batches[step % len(batches)]
        if step == warmup:
            _sync(batch["input_ids"].device)
            start.append(time.perf_counter())
        return nll(logits_of(fwd, batch), batch), int(batch["attention_mask"].sum())

    wanted = {"steps": warmup + steps, "lr": LR, "batch_size": batches[0]["input_ids"].shape[0], "warmup_frac": 0.0,
              "schedule": "constant", "bf16": bf16, "compile": False}
    known = {f.name for f in dataclasses.fields(train_config)}
    log = train(model, step_loss, train_config(**{k: v for k, v in wanted.items() if k in known}))
    _sync(batches[0]["input_ids"].device)
    return time.perf_counter() - start[0], log.losses[warmup:]


def run_bare_loop(model, batches: list[dict], warmup: int, steps: int, bf16: bool) -> tuple[float, list[float]]:
    """AdamW (as ``train``: betas 0.9/0.95, no weight decay, constant lr), forward, cross-entropy
    over the real tokens, backward, clip, step; nothing else (padded batches)."""
    import torch
    import torch.nn.functional as F

    device = batches[0]["input_ids"].device
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=LR, weight_decay=0.0, betas=(0.9, 0.95), fused=device.type == "cuda")
    losses, t0 = [], 0.0
    model.train()
    for step in range(warmup + steps):
        batch = batches[step % len(batches)]
        ids, mask = batch["input_ids"], batch["attention_mask"]
        targets = ids[:, 1:].masked_fill(mask[:, 1:] == 0, -100).reshape(-1)
        if step == warmup:
            _sync(device)
            t0 = time.perf_counter()
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            logits = model(input_ids=ids, attention_mask=mask).logits
            loss = F.cross_entropy(logits[:, :-1].float().reshape(-1, logits.shape[-1]), targets)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        losses.append(loss.detach())
    _sync(device)
    return time.perf_counter() - t0, [float(x) for x in losses[warmup:]]


def _sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def worker(args: argparse.Namespace) -> int:
    """Measure one loop and print one JSON line: tokens, seconds, losses, the package it ran."""
    import torch

    torch.set_num_threads(args.threads)
    model, batches = _load(Path(args.data), args.device, packed=args.worker == "ours")
    loop = run_bare_loop if args.worker == "bare" else run_package_loop
    seconds, losses = loop(model, batches, args.warmup, args.steps, args.dtype == "bf16")
    package = "" if args.worker == "bare" else importlib.import_module("unlearnlab").__file__
    timed = [batches[step % len(batches)] for step in range(args.warmup, args.warmup + args.steps)]
    print(json.dumps({"tokens": sum(int(b["attention_mask"].sum()) for b in timed),
                      "positions": sum(b["input_ids"].numel() for b in timed), "seconds": seconds,
                      "losses": losses, "package": package}))
    return 0


# --- parent: build once, run the workers, print the table ----------------------------------------

def export_commit(commit: str, dest: Path) -> str:
    """Unpack ``commit``'s ``src/`` into ``dest`` (no worktree, no change to the repository's
    state); return its short hash."""
    short = subprocess.run(["git", "rev-parse", "--short", commit], cwd=REPO, capture_output=True, text=True,
                           check=True).stdout.strip()
    tar = subprocess.run(["git", "archive", "--format=tar", short, "src"], cwd=REPO, capture_output=True,
                         check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(tar)) as archive:
        archive.extractall(dest, filter="data")
    return short


def build_inputs(data: Path, kind: str, batch_size: int | None, seq: int | None, n_batches: int) -> dict:
    """Save the default profile's arithmetic model (random init) and the batches every loop
    trains on: ``world``, the first ``n_batches`` pretraining batches of the arithmetic world
    (padded for the old and bare loops, packed as this checkout's pretraining packs them for
    ours: the same examples); ``random``, one fixed batch of random tokens without padding."""
    import torch

    from unlearnlab.core.models import build_llama, count_parameters
    from unlearnlab.data.world import ArithmeticWorld
    from unlearnlab.profiles import get_profile

    arith = get_profile("default").arithmetic
    model = build_llama(arith.model, arith.vocab_size, seed=0)
    model.save_pretrained(data / "model")
    if kind == "random":
        batch_size, seq = batch_size or arith.pretrain_batch_size, seq or arith.model.max_len
        ids = torch.randint(0, arith.vocab_size, (batch_size, seq), generator=torch.Generator().manual_seed(0))
        ones = torch.ones_like(ids)
        padded = packed = [{"input_ids": ids, "attention_mask": ones, "answer_mask": ones.bool()}]
        shape = f"{batch_size}x{seq} random tokens"
    else:
        world = ArithmeticWorld.load(ArithmeticWorld.build(arith.world(), data / "worlds"))
        examples = world.pretraining_set(True, dict(arith.upsample))
        batch_size = batch_size or arith.pretrain_batch_size
        order = torch.randperm(len(examples), generator=torch.Generator().manual_seed(0)).tolist()
        chunks = [order[i * batch_size:(i + 1) * batch_size] for i in range(n_batches)]
        padded = [examples.batch(c) for c in chunks]
        packed = [examples.packed_batch(c, arith.pack_width) if arith.pack_width else examples.batch(c) for c in chunks]
        real = sum(int(b["attention_mask"].sum()) for b in padded)
        shape = (f"{n_batches} pretraining batches of {batch_size} examples; real tokens "
                 f"{100 * real / sum(b['input_ids'].numel() for b in padded):.0f} % of padded positions, "
                 f"{100 * real / sum(b['input_ids'].numel() for b in packed):.0f} % of packed (pack_width "
                 f"{arith.pack_width})")
    torch.save(padded, data / "batches.pt")
    torch.save(packed, data / "packed.pt")
    return {"n_params": count_parameters(model), "shape": shape, "model": str(arith.model)}


def measure(loop: str, dtype: str, data: Path, src: Path, args: argparse.Namespace) -> dict:
    """Run one worker subprocess with ``src`` first on its path; return its JSON line."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", loop, "--data", str(data), "--dtype", dtype,
           "--steps", str(args.steps), "--warmup", str(args.warmup), "--threads", str(args.threads),
           "--device", args.device]
    env = {**os.environ, "PYTHONPATH": str(src), "WANDB_MODE": "disabled"}
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{loop} {dtype} failed:\n{proc.stderr[-3000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    if loop != "bare" and not result["package"].startswith(str(src)):
        raise SystemExit(f"{loop} imported {result['package']}, not the package under {src}")
    return result


def run_all(args: argparse.Namespace, data: Path, old_src: Path) -> dict[tuple[str, str], list[dict]]:
    """Every (dtype, loop) measured ``--repeats`` times, loops interleaved within each round."""
    sources = {"ours": REPO / "src", "bare": REPO / "src", "old": old_src}
    results: dict[tuple[str, str], list[dict]] = {}
    for round_ in range(args.repeats):
        for dtype in args.dtypes:
            for loop in LOOPS:
                print(f"[compare] round {round_ + 1}/{args.repeats}: {loop} {dtype}", file=sys.stderr, flush=True)
                results.setdefault((dtype, loop), []).append(measure(loop, dtype, data, sources[loop], args))
    return results


def rate(runs: list[dict]) -> float:
    """Tokens/s pooled over rounds (total tokens / total timed seconds)."""
    return sum(r["tokens"] for r in runs) / sum(r["seconds"] for r in runs)


def print_table(results: dict, info: dict, old: str, args: argparse.Namespace) -> None:
    """One row per (dtype, loop): tokens/s, GFLOP/s (6 x parameters x tokens/s), ratios."""
    print(f"\nmodel {info['model']}, {info['n_params'] / 1e6:.2f}M parameters, {info['shape']}, "
          f"{args.device}, {args.threads} thread(s); {args.steps} timed steps x {args.repeats} round(s) per loop, "
          f"{args.warmup} warm-up; old = {old}\n")
    print("tok/s counts real (non-padding) tokens; GFLOP/s = 6 x parameters x positions computed per second; "
          f"% peak against {FP32_PEAK_GFLOPS:.0f} (fp32) / {BF16_PEAK_GFLOPS:.0f} (bf16) GFLOP/s per thread\n")
    print("| dtype | loop | tok/s | GFLOP/s | % peak | ours / this | this / old | max abs loss diff vs ours |")
    print("|---|---|---|---|---|---|---|---|")
    for dtype in args.dtypes:
        ours, old_rate = rate(results[(dtype, "ours")]), rate(results[(dtype, "old")])
        first = results[(dtype, "ours")][0]["losses"]
        for loop in LOOPS:
            runs = results[(dtype, loop)]
            r = rate(runs)
            diff = max(abs(a - b) for a, b in zip(first, runs[0]["losses"]))
            name = f"old ({old})" if loop == "old" else loop
            flops = 6 * info["n_params"] * sum(x["positions"] for x in runs) / sum(x["seconds"] for x in runs) / 1e9
            peak = FP32_PEAK_GFLOPS if dtype == "fp32" else BF16_PEAK_GFLOPS
            print(f"| {dtype} | {name} | {r / 1e3:.1f}k | {flops:.1f} | {100 * flops / peak:.0f} | {ours / r:.3f} "
                  f"| {r / old_rate:.3f} | {diff:.1e} |")
    if args.quick:
        print("\n--quick: a few steps only; these timings check that the script runs and mean nothing.")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--old", default=PRE_ISSUE_16,
                        help=f"the commit to compare with (default: {PRE_ISSUE_16}, the last one before issue 16)")
    parser.add_argument("--steps", type=int, default=30, help="timed steps per loop per round")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps before the clock starts")
    parser.add_argument("--repeats", type=int, default=3, help="rounds of ours, bare, old")
    parser.add_argument("--batches", choices=("world", "random"), default="world",
                        help="world: the arithmetic world's pretraining batches (real tokens/s; ours packs "
                             "them as pretraining does); random: one random-token batch without padding "
                             "(the loop's own overhead)")
    parser.add_argument("--n-batches", type=int, default=8, help="world: how many batches the loops cycle through")
    parser.add_argument("--batch", type=int, default=None, help="sequences per step (default: pretraining batch)")
    parser.add_argument("--seq", type=int, default=None, help="random: tokens per sequence (default: max_len)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads per worker (default 1: on the shared 2-core machine more "
                             "threads swung the ratios; see train_throughput.py)")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--dtypes", nargs="+", default=list(DTYPES), choices=DTYPES)
    parser.add_argument("--quick", action="store_true", help="3 steps, 1 warm-up, 1 round: does it run?")
    parser.add_argument("--worker", choices=LOOPS, help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    parser.add_argument("--dtype", choices=DTYPES, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.steps, args.warmup, args.repeats = 3, 1, 1
    if min(args.steps, args.repeats, args.threads) <= 0 or args.warmup < 0:
        parser.error("--steps, --repeats and --threads must be positive, --warmup not negative")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker:
        return worker(args)
    with tempfile.TemporaryDirectory(prefix="compare_commits_") as tmp:
        tmp_path = Path(tmp)
        old = export_commit(args.old, tmp_path / "old")
        info = build_inputs(tmp_path / "data", args.batches, args.batch, args.seq, args.n_batches)
        results = run_all(args, tmp_path / "data", tmp_path / "old" / "src")
    print_table(results, info, old, args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

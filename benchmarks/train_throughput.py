"""Training throughput of ``unlearnlab.core.training.train`` against a bare PyTorch loop.

Why: every method (pretraining, unlearning, distillation, attacks) goes through ``train``, so
any overhead it adds over a plain AdamW loop (scheduler, per-step loss read-back, the float32
log-softmax loss) is paid everywhere. Both loops train identical copies of one model on one
fixed random-token batch, with the same optimiser settings and a constant learning rate, so the
ratio ours/bare isolates the loop and loss code. Warm-up steps (and torch.compile) are excluded
from timing. This prints numbers; it is not a test.

    python benchmarks/train_throughput.py --size default --steps 20          # CPU, < 1 min
    python benchmarks/train_throughput.py --device cuda --size 1m             # bf16 + compile
    python benchmarks/train_throughput.py --device cuda --size smollm2 --steps 30
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from dataclasses import dataclass, field, replace

import torch
import torch.nn.functional as F
from transformers import LlamaConfig, LlamaForCausalLM

from unlearnlab.core.batching import Batch
from unlearnlab.core.logprobs import logits_of, nll
from unlearnlab.core.models import ModelSize, build_llama, count_parameters, fresh_copy
from unlearnlab.core.paths import repo_root
from unlearnlab.profiles import get_profile
from unlearnlab.core.training import TrainConfig, train

SIZES = ("default", "1m", "26m", "smollm2")
H100_BF16_PEAK_FLOPS = 794e12  # the denominator the project's GUIDE uses for MFU
LR = 1e-3


@dataclass(frozen=True)
class SizeSpec:
    """A model architecture plus the batch shape its GPU anchor was measured with."""

    name: str
    batch: int
    seq: int
    vocab: int
    model_size: ModelSize | None = None  # None: the SmolLM2-135M architecture
    anchor_tok_s: float | None = None  # GUIDE's GPU tokens/s (bf16 + compile), for comparison
    anchor_label: str = ""


def size_specs() -> dict[str, SizeSpec]:
    """The benchmarkable sizes. ``default`` follows the default profile so it tracks changes there;
    its batch is the profile's unlearning/distillation batch (32 x 64), which keeps a CPU run
    under a minute (the pretraining batch of 128 is four times slower per step).

    The 1m/26m vocab (2048) is not from a profile: it is the vocab at which d128x4 has the
    1.1M parameters that the GUIDE anchor row names; the printed parameter count shows what ran.
    """
    prof = get_profile("default")
    return {
        "default": SizeSpec("default", prof.arithmetic.batch_size, prof.arithmetic.model.max_len, prof.arithmetic.vocab_size,
                            prof.arithmetic.model),
        "1m": SizeSpec("1m", 512, 64, 2048, ModelSize(d_model=128, n_layers=4, n_heads=4, d_mlp=384),
                       3.43e6, "1.1M bf16+compile"),
        "26m": SizeSpec("26m", 256, 128, 2048, ModelSize(d_model=512, n_layers=6, n_heads=8, d_mlp=1536),
                        1.72e6, "26M bf16+compile"),
        "smollm2": SizeSpec("smollm2", 32, 512, 49152, None, 227e3, "SmolLM2-arch bf16+compile"),
    }


def build_model(spec: SizeSpec, seq: int, vocab: int) -> torch.nn.Module:
    """A randomly initialised model of ``spec`` (weights are irrelevant to throughput)."""
    if spec.model_size is not None:
        return build_llama(replace(spec.model_size, max_len=max(seq, spec.model_size.max_len)), vocab, seed=0)
    cfg = LlamaConfig(  # SmolLM2-135M's config.json, minus the weights
        vocab_size=vocab, hidden_size=576, intermediate_size=1536, num_hidden_layers=30,
        num_attention_heads=9, num_key_value_heads=3, max_position_embeddings=max(seq, 8192),
        rms_norm_eps=1e-5, rope_theta=100000.0, tie_word_embeddings=True, attention_dropout=0.0,
        pad_token_id=0, bos_token_id=1, eos_token_id=2,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return LlamaForCausalLM(cfg).eval()


def random_batch(batch: int, seq: int, vocab: int, device: torch.device) -> Batch:
    """One fixed batch of random tokens with no padding, shared by both loops."""
    gen = torch.Generator().manual_seed(0)
    ids = torch.randint(0, vocab, (batch, seq), generator=gen)
    ones = torch.ones_like(ids)
    return {"input_ids": ids.to(device), "attention_mask": ones.to(device),
            "answer_mask": ones.bool().to(device)}


def sync(device: torch.device) -> None:
    """Wait for queued GPU work, so wall-clock time covers it."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@dataclass
class LoopResult:
    """Timed part of one loop: steps, tokens, seconds, and every step's loss."""

    steps: int
    tokens: int
    seconds: float
    losses: list[float] = field(default_factory=list)

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.seconds


def run_ours(model: torch.nn.Module, batch: Batch, warmup: int, steps: int, bf16: bool,
             compile_: bool) -> LoopResult:
    """``train`` with the same step_loss the pretraining code uses; timing starts at ``warmup``.

    One ``train`` call covers warm-up and timed steps, so compilation and optimiser-state
    allocation happen once, as in a real run. The clock starts inside step_loss at step
    ``warmup`` (after a sync), i.e. before that step's forward.
    """
    device = next(model.parameters()).device
    start: list[float] = []

    def step_loss(fwd: torch.nn.Module, step: int) -> tuple[torch.Tensor, int]:
        if step == warmup:
            sync(device)
            start.append(time.perf_counter())
        return nll(logits_of(fwd, batch), batch), int(batch["attention_mask"].sum())

    cfg = TrainConfig(steps=warmup + steps, lr=LR, batch_size=batch["input_ids"].shape[0],
                      warmup_frac=0.0, schedule="constant", bf16=bf16, compile=compile_)
    log = train(model, step_loss, cfg, desc="ours")
    sync(device)
    seconds = time.perf_counter() - start[0]
    n_tokens = batch["input_ids"].numel()
    return LoopResult(steps, steps * n_tokens, seconds, log.losses)


def run_bare(model: torch.nn.Module, batch: Batch, warmup: int, steps: int, bf16: bool,
             compile_: bool, grad_clip: float = 1.0) -> LoopResult:
    """The reference: fused AdamW, forward, cross-entropy, backward, clip, step; nothing else.

    Same optimiser hyperparameters as ``train`` (betas 0.9/0.95, no weight decay, constant lr)
    and the same autocast/compile, but no scheduler and no per-step host sync.
    """
    device = next(model.parameters()).device
    use_cuda = device.type == "cuda"
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=LR, weight_decay=0.0, betas=(0.9, 0.95), fused=use_cuda)
    fwd = torch.compile(model) if (compile_ and use_cuda) else model
    ids, mask = batch["input_ids"], batch["attention_mask"]
    targets = ids[:, 1:].reshape(-1)
    losses: list[torch.Tensor] = []
    t0 = 0.0
    model.train()
    for step in range(warmup + steps):
        if step == warmup:
            sync(device)
            t0 = time.perf_counter()
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16 and use_cuda):
            logits = fwd(input_ids=ids, attention_mask=mask).logits
            loss = F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), targets)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, grad_clip)
        opt.step()
        losses.append(loss.detach())
    sync(device)
    seconds = time.perf_counter() - t0
    model.eval()
    return LoopResult(steps, steps * ids.numel(), seconds, [float(x) for x in losses])


def pooled_rate(runs: list[LoopResult]) -> float:
    """Tokens/s over all chunks together (a short chunk does not weigh as much as a long one)."""
    return sum(r.tokens for r in runs) / sum(r.seconds for r in runs)


def pick_device(name: str | None) -> torch.device:
    """cuda when available and not overridden; a clear error when cuda is asked for but absent."""
    if name is None:
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda requested but torch.cuda.is_available() is False")
    return torch.device(name)


def split_steps(steps: int, parts: int) -> list[int]:
    """``steps`` timed steps in ``parts`` near-equal chunks (the total is what --steps promises)."""
    return [steps // parts + (i < steps % parts) for i in range(parts)]


def benchmark(args: argparse.Namespace) -> dict:
    """Run both loops in alternating chunks and collect every reported number.

    The timed steps are split into ``--repeats`` chunks run ours, bare, ours, bare, ... so that
    load from other processes (this project's CPUs are shared) hits both loops alike; tokens/s
    is pooled over the chunks (total tokens / total timed seconds).
    """
    device = pick_device(args.device)
    on_gpu = device.type == "cuda"
    if args.threads or not on_gpu:
        torch.set_num_threads(args.threads or 1)
    spec = size_specs()[args.size]
    batch_size, seq = args.batch or spec.batch, args.seq or spec.seq
    vocab = args.vocab or spec.vocab
    steps = args.steps or (50 if on_gpu else 20)
    warmup = args.warmup or (5 if on_gpu else 2)
    if steps < args.repeats:
        raise SystemExit(f"--steps ({steps}) must be at least --repeats ({args.repeats})")
    # train() ignores bf16/compile off GPU; report what actually ran.
    bf16 = on_gpu and (args.bf16 if args.bf16 is not None else True)
    compile_ = on_gpu and (args.compile if args.compile is not None else True)
    if on_gpu:
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True

    base = build_model(spec, seq, vocab)
    n_params = count_parameters(base)
    ours_model, bare_model = fresh_copy(base).to(device), fresh_copy(base).to(device)
    del base
    batch = random_batch(batch_size, seq, vocab, device)
    ours_runs, bare_runs = [], []
    for chunk in split_steps(steps, args.repeats):
        ours_runs.append(run_ours(ours_model, batch, warmup, chunk, bf16, compile_))
        bare_runs.append(run_bare(bare_model, batch, warmup, chunk, bf16, compile_))
    ours, bare = pooled_rate(ours_runs), pooled_rate(bare_runs)
    # Same init, batch and optimiser: the first chunk's losses should agree (exactly up to
    # float rounding in fp32), which shows both loops do the same work.
    loss_diff = max(abs(a - b) for a, b in zip(ours_runs[0].losses, bare_runs[0].losses))
    result = {
        "size": args.size, "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if on_gpu else platform.processor() or "cpu",
        "cpu_threads": torch.get_num_threads(), "torch": torch.__version__,
        "dtype": "bf16-autocast" if bf16 else "fp32", "compile": compile_,
        "batch": batch_size, "seq": seq, "vocab": vocab, "n_params": n_params,
        "warmup_steps_per_chunk": warmup, "timed_steps": steps, "repeats": args.repeats,
        "tokens_per_s_ours": ours, "tokens_per_s_bare": bare, "ratio_ours_over_bare": ours / bare,
        "tokens_per_s_ours_all": [r.tokens_per_s for r in ours_runs],
        "tokens_per_s_bare_all": [r.tokens_per_s for r in bare_runs],
        "max_abs_loss_diff_first_chunk": loss_diff,
        "final_loss_ours": ours_runs[-1].losses[-1], "final_loss_bare": bare_runs[-1].losses[-1],
        "anchor_label": spec.anchor_label if on_gpu else "", "anchor_tokens_per_s": None,
        "mfu_ours": None, "mfu_bare": None,
    }
    if on_gpu:
        result["anchor_tokens_per_s"] = spec.anchor_tok_s
        result["mfu_ours"] = 6 * n_params * ours / H100_BF16_PEAK_FLOPS
        result["mfu_bare"] = 6 * n_params * bare / H100_BF16_PEAK_FLOPS
    return result


def fmt_rate(x: float | None) -> str:
    """Tokens/s as 3.43M / 227k, the way the GUIDE writes them."""
    if x is None:
        return "-"
    if x >= 1e6:
        return f"{x / 1e6:.2f}M"
    return f"{x / 1e3:.1f}k" if x >= 1e3 else f"{x:.1f}"


def print_table(r: dict) -> None:
    """A small markdown table: one row, readable in a terminal and pasteable into notes."""
    cols = ["size", "params", "device", "dtype", "compile", "batch", "tok/s ours", "tok/s bare",
            "ours/bare"]
    row = [r["size"], f"{r['n_params'] / 1e6:.2f}M", r["device"], r["dtype"], str(r["compile"]),
           f"{r['batch']}x{r['seq']}", fmt_rate(r["tokens_per_s_ours"]), fmt_rate(r["tokens_per_s_bare"]),
           f"{r['ratio_ours_over_bare']:.3f}"]
    if r["device"].startswith("cuda"):
        cols += ["anchor", "ours/anchor", "MFU ours", "MFU bare"]
        anchor = r["anchor_tokens_per_s"]
        row += [f"{fmt_rate(anchor)} ({r['anchor_label']})" if anchor else "-",
                f"{r['tokens_per_s_ours'] / anchor:.2f}" if anchor else "-",
                f"{100 * r['mfu_ours']:.1f}%", f"{100 * r['mfu_bare']:.1f}%"]
    print("| " + " | ".join(cols) + " |")
    print("|" + "|".join("---" for _ in cols) + "|")
    print("| " + " | ".join(row) + " |")
    print(f"\n{r['device_name']}, {r['cpu_threads']} torch threads; {r['timed_steps']} timed steps per "
          f"loop in {r['repeats']} alternating chunks ({r['warmup_steps_per_chunk']} untimed warm-up "
          f"steps each); max |loss ours - loss bare| (first chunk) = "
          f"{r['max_abs_loss_diff_first_chunk']:.2e}")


def write_json(r: dict) -> str:
    """Save under the git-ignored outputs/benchmarks/ so runs on different machines can be compared."""
    out = repo_root() / "outputs" / "benchmarks" / f"train_throughput_{r['device'].split(':')[0]}_{r['size']}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(r, indent=2) + "\n")
    return str(out.relative_to(repo_root()))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Tokens/s of unlearnlab.core.training.train vs a bare PyTorch loop (same model, same batch).")
    parser.add_argument("--device", choices=("cpu", "cuda"), default=None,
                        help="default: cuda if available, else cpu")
    parser.add_argument("--size", choices=SIZES, default="default",
                        help="default: the default profile's model (d96, 3 layers; batch 32x64); 1m: d128x4 "
                             "(batch 512x64); 26m: d512x6 (batch 256x128); smollm2: SmolLM2-135M "
                             "architecture, random init (batch 32x512)")
    parser.add_argument("--batch", type=int, default=None, help="sequences per step (default: per size)")
    parser.add_argument("--seq", type=int, default=None, help="tokens per sequence (default: per size)")
    parser.add_argument("--vocab", type=int, default=None,
                        help="vocabulary size (default: per size; 400 default, 2048 1m/26m, 49152 smollm2)")
    parser.add_argument("--steps", type=int, default=None,
                        help="timed steps per loop, in total over the chunks (default: 20 cpu, 50 cuda)")
    parser.add_argument("--warmup", type=int, default=None,
                        help="untimed steps before each chunk; compilation happens in the first "
                             "(default: 2 cpu, 5 cuda)")
    parser.add_argument("--repeats", type=int, default=2,
                        help="split the timed steps into this many chunks, alternating ours/bare")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads (default: 1 on cpu, torch's choice on cuda). On a shared "
                             "2-core machine 2 threads ran ~35x slower than 1 and swung the ratio "
                             "(OpenMP threads wait on each other when another job holds a core)")
    parser.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=None,
                        help="bf16 autocast in both loops (default: on for cuda; ignored on cpu, as in train)")
    parser.add_argument("--compile", action=argparse.BooleanOptionalAction, default=None,
                        help="torch.compile in both loops (default: on for cuda; ignored on cpu, as in train)")
    args = parser.parse_args(argv)
    for name in ("batch", "seq", "vocab", "steps", "warmup", "repeats", "threads"):
        value = getattr(args, name)
        if value is not None and value <= 0:
            parser.error(f"--{name} must be positive, got {value}")
    return args


def main(argv: list[str] | None = None) -> int:
    result = benchmark(parse_args(argv))
    print_table(result)
    print(f"wrote {write_json(result)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

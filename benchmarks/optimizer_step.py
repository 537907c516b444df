"""AdamW step time on the CPU: PyTorch's per-tensor loop (its CPU default), ``foreach`` and ``fused``.

Why: ``core.training`` built AdamW with ``fused`` only on CUDA, so every CPU run (pretraining the
tiny models, every SmolLM2 fine-tuning and attack step) paid the per-tensor loop. This times the
three implementations side by side in one run on the parameters of the models the default profile
trains (random gradients; the optimiser's cost does not depend on their values) and prints the
largest parameter difference after the timed steps (same update rule; fused differs by rounding).
It prints numbers; it is not a test.

    python benchmarks/optimizer_step.py                    # tiny arithmetic model and SmolLM2-135M
    python benchmarks/optimizer_step.py --sizes tiny --steps 200
"""

from __future__ import annotations

import argparse
import time

import torch
from transformers import LlamaConfig, LlamaForCausalLM

from unlearnlab.core.models import build_llama
from unlearnlab.profiles import get_profile

IMPLEMENTATIONS = {"loop": dict(foreach=False, fused=False), "foreach": dict(foreach=True),
                   "fused": dict(fused=True)}


def model_params(size: str) -> list[torch.nn.Parameter]:
    """The trainable parameters of the model a default-profile study trains at ``size``."""
    if size == "tiny":
        arith = get_profile("default").arithmetic
        return list(build_llama(arith.model, vocab_size=arith.vocab_size, seed=0).parameters())
    config = LlamaConfig(vocab_size=49152, hidden_size=576, intermediate_size=1536, num_hidden_layers=30,
                         num_attention_heads=9, num_key_value_heads=3, tie_word_embeddings=True)
    return list(LlamaForCausalLM(config).parameters())


def time_steps(params: list[torch.nn.Parameter], kind: str, steps: int) -> tuple[float, list[torch.Tensor]]:
    """Seconds per AdamW step of implementation ``kind`` on copies of ``params`` (fixed random grads)."""
    copies = [torch.nn.Parameter(p.detach().clone()) for p in params]
    gen = torch.Generator().manual_seed(0)
    for p in copies:
        p.grad = torch.randn(p.shape, generator=gen) * 1e-2
    opt = torch.optim.AdamW(copies, lr=1e-3, weight_decay=0.1, betas=(0.9, 0.95), **IMPLEMENTATIONS[kind])
    opt.step()  # state allocation, not timed
    start = time.perf_counter()
    for _ in range(steps):
        opt.step()
    return (time.perf_counter() - start) / steps, [p.detach() for p in copies]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", nargs="+", default=["tiny", "smollm2"], choices=["tiny", "smollm2"])
    parser.add_argument("--steps", type=int, default=None, help="timed steps (default: 300 tiny, 5 smollm2)")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} thread(s)")
    for size in args.sizes:
        params = model_params(size)
        steps = args.steps or (300 if size == "tiny" else 5)
        results = {kind: time_steps(params, kind, steps) for kind in IMPLEMENTATIONS}
        loop_s, loop_params = results["loop"]
        n = sum(p.numel() for p in params)
        print(f"\n{size}: {n / 1e6:.2f}M parameters in {len(params)} tensors, {steps} timed steps")
        for kind, (sec, final) in results.items():
            diff = max(float((a - b).abs().max()) for a, b in zip(final, loop_params))
            print(f"  {kind:8s} {sec * 1e3:9.2f} ms/step  loop/{kind} = {loop_s / sec:5.2f}x  "
                  f"max |param - loop's| = {diff:.1e}")


if __name__ == "__main__":
    main()

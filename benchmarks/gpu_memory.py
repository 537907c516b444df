"""Peak GPU memory of a full fine-tune and of LoRA, measured beside the estimate of docs/several_gpus.md.

The memory table for Llama-3.1-8B in docs/several_gpus.md is computed from per-parameter and per-token
formulas. This check trains a random model of Llama-3.2-1B's shape (h = 2048, 16 layers, MLP 8192, GQA
32:8, vocabulary 128,256, tied embedding) through ``core.training.train`` on one CUDA device, a few steps
per method, and prints ``torch.cuda.max_memory_allocated`` beside those formulas' estimate and their
ratio. Needs a GPU; prints JSON lines::

    python benchmarks/gpu_memory.py --tokens 2048
"""

from __future__ import annotations

import argparse
import json

import torch
from transformers import LlamaConfig, LlamaForCausalLM

from unlearnlab.core.training import TrainConfig, train

ACTIVATION_BYTES_PER_TOKEN_LAYER_H = 49  # bf16 autocast, SDPA, a layer that trains (the docs' measurement)
LOGIT_BYTES = 10  # per logit: bf16 logits, the loss's fp32 copy and its log-softmax


def llama_1b_shape() -> LlamaConfig:
    return LlamaConfig(hidden_size=2048, intermediate_size=8192, num_hidden_layers=16, num_attention_heads=32,
                       num_key_value_heads=8, vocab_size=128256, tie_word_embeddings=True,
                       max_position_embeddings=4096)


def estimate(cfg: LlamaConfig, states: int, tokens: int) -> float:
    """The docs' formula in bytes: the weights and training states (``states``: the caller's method
    says which), plus activations and logits for ``tokens`` tokens."""
    activations = ACTIVATION_BYTES_PER_TOKEN_LAYER_H * cfg.hidden_size * cfg.num_hidden_layers * tokens
    return states + activations + LOGIT_BYTES * tokens * cfg.vocab_size


def measure(model: torch.nn.Module, params: list[torch.nn.Parameter], tokens: int, batch: int) -> float:
    """Peak bytes allocated over three training steps on random token rows."""
    gen = torch.Generator(device="cuda").manual_seed(0)
    seq = tokens // batch

    def step_loss(fwd, step):
        ids = torch.randint(3, model.config.vocab_size, (batch, seq), device="cuda", generator=gen)
        return fwd(input_ids=ids, labels=ids).loss, ids.numel()

    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    train(model, step_loss, TrainConfig(steps=3, lr=1e-5, batch_size=batch, bf16=True, progress=False),
          params=params, desc="memory")
    torch.cuda.synchronize()
    return float(torch.cuda.max_memory_allocated())


def full_fine_tune(tokens: int, batch: int) -> dict:
    model = LlamaForCausalLM(llama_1b_shape()).cuda()
    n = sum(p.numel() for p in model.parameters())
    peak = measure(model, list(model.parameters()), tokens, batch)
    return {"method": "full fine-tune (fp32 weights, bf16 autocast)", "params": n, "tokens": tokens,
            "measured_gb": peak / 1e9,
            "estimate_gb": estimate(model.config, 16 * n, tokens) / 1e9}  # fp32 weight, gradient, AdamW m and v


def lora(tokens: int, batch: int, rank: int = 8) -> dict:
    from peft import LoraConfig, get_peft_model

    base = LlamaForCausalLM(llama_1b_shape()).to(torch.bfloat16).cuda()
    n = sum(p.numel() for p in base.parameters())
    modules = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    model = get_peft_model(base, LoraConfig(r=rank, lora_alpha=2 * rank, target_modules=modules))
    for p in model.parameters():
        if p.requires_grad:
            p.data = p.data.float()  # fp32 adapter, as the docs' 16 bytes per adapter parameter assume
    trained = [p for p in model.parameters() if p.requires_grad]
    n_trained = sum(p.numel() for p in trained)
    peak = measure(model, trained, tokens, batch)
    return {"method": f"LoRA r={rank}, 7 projections (bf16 frozen weights)", "params": n, "trained": n_trained,
            "tokens": tokens, "measured_gb": peak / 1e9,
            # bf16 frozen weights; the fp32 adapter's weight, gradient, AdamW m and v
            "estimate_gb": estimate(base.config, 2 * n + 16 * n_trained, tokens) / 1e9}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tokens", type=int, default=2048, help="tokens per step")
    parser.add_argument("--batch", type=int, default=4)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("gpu_memory.py measures CUDA memory: run it on a machine with a GPU")
    for run in (full_fine_tune, lora):
        row = run(args.tokens, args.batch)
        row["ratio"] = row["measured_gb"] / row["estimate_gb"]
        print(json.dumps(row), flush=True)
        torch.cuda.empty_cache()


if __name__ == "__main__":
    main()

"""Which capabilities work on which architecture: the declared table, and its README rendering.

The table is a claim, and every claim is a test: ``tests/test_architectures.py`` has one test per
capability, ``test_<capability>``, parametrised over ``tiny_checkpoints.ARCHITECTURES``, each on a
2-layer random checkpoint of that architecture and each checking a result (a mask's exact budget,
an adapter that changed only its own entries, a hook that read the tensor it claims), not only
that nothing raised. A pair listed in ``SUPPORTED`` must pass its test; a pair left out is run as
a strict expected failure, so a check mark can be neither missing where the capability works
nor present where it fails: either mistake fails the test suite.

Why here and not in the README alone: the README block is generated from this module
(``support_table_markdown``), so the table a reader sees is the table the tests check.
"""

from __future__ import annotations

from unlearnlab.core.tiny_checkpoints import ARCHITECTURES

# Capability -> what its test proves (one line each), in the table's column order.
CAPABILITIES: dict[str, str] = {
    "bridge_hooks": "TransformerBridge's attn.hook_z and mlp.hook_post equal the inputs of the model's own "
                    "attention and MLP output projections",
    "localizers": "every registered localizer scores the model; its mask holds at most the budget "
                  "(exactly, at parameter granularity)",
    "methods": "every registered unlearning method, two steps, changes only its declared parameters and "
               "at least one of them",
    "masked_lora": "a LoRA confined to a Fisher head+neuron mask changes, once merged, only entries inside "
                   "the mask (fused projections included)",
    "ia3_rewrite": "(IA)³ on the anatomy's peft targets trains only its vectors; merged, each target is its "
                   "weight times its vector and every other weight is unchanged",
    "sae": "an SAE trained on resid_post of layer 1 reads the same tensor as anatomy.read; clamping a "
           "feature changes the model's output",
    "mia": "membership AUC in [0, 1] from per-example losses equal to the model's own loss",
    "relearning": "the relearning attack moves the weights of its copy and returns a curve of the "
                  "expected length",
    "quantization": "int8 round-to-nearest puts every decoder linear weight on its per-row grid",
    "probe": "per-layer linear probes read the residual stream anatomy.read gives, one accuracy per layer",
    "logit_lens": "the logit lens's last-layer ranks equal the ranks of the model's own prediction",
}

# The model families each tiny checkpoint stands for (the seeds' models).
SEED_MODELS: dict[str, str] = {
    "llama": "Llama-3.1 style (GQA)",
    "qwen2": "Qwen2/2.5",
    "mistral": "Mistral",
    "phi3": "Phi-3",
    "gemma2": "Gemma-2",
    "gpt_neox": "GPT-NeoX (Pythia)",
}

_ALL = frozenset(CAPABILITIES)

# Architecture -> the capabilities its tests prove (tests/test_architectures.py).
SUPPORTED: dict[str, frozenset[str]] = {
    "llama": _ALL,
    "qwen2": _ALL,
    "mistral": _ALL,
    "phi3": _ALL,
    "gemma2": _ALL,
    "gpt_neox": _ALL,
}

TEST_FILE = "tests/test_architectures.py"


def supports(arch: str, capability: str) -> bool:
    """Whether the table claims ``capability`` on ``arch`` (an error for names it does not know)."""
    if arch not in SUPPORTED:
        raise ValueError(f"unknown architecture {arch!r}; the table covers {', '.join(SUPPORTED)}")
    if capability not in CAPABILITIES:
        raise ValueError(f"unknown capability {capability!r}; the table has {', '.join(CAPABILITIES)}")
    return capability in SUPPORTED[arch]


def support_table_markdown() -> str:
    """The README's architecture × capability table: one row per architecture (with the model
    family it stands for), a ✔ where ``SUPPORTED`` claims the capability, then what each column's
    test proves."""
    header = ["architecture", "stands for", *(f"`{c}`" for c in CAPABILITIES)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for arch in ARCHITECTURES:
        marks = ["✔" if supports(arch, c) else "" for c in CAPABILITIES]
        lines.append(f"| `{arch}` | {SEED_MODELS[arch]} | " + " | ".join(marks) + " |")
    lines += ["", f"Every ✔ is a test in `{TEST_FILE}` (`test_<capability>[<architecture>]`) on a 2-layer "
              "random checkpoint built by `unlearnlab.core.tiny_checkpoints`; a blank cell runs there as a strict "
              "expected failure. The weights are random: a ✔ says the code path runs and measures what it "
              "claims on that layout, not that a method works on the real model.", ""]
    lines += [f"- `{c}`: {meaning}." for c, meaning in CAPABILITIES.items()]
    return "\n".join(lines) + "\n"

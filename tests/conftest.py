"""Shared tiny fixtures: a tokenizer trained on a few lines and Llama models of a few thousand
parameters, so every unit test runs in well under a second or two."""

from __future__ import annotations

import os
import random

import pytest
import torch

os.environ.setdefault("WANDB_MODE", "disabled")
torch.set_num_threads(1)

from unlearnlab.core.batching import TokenSet  # noqa: E402
from unlearnlab.data import arithmetic as arith  # noqa: E402
from unlearnlab.data import english  # noqa: E402
from unlearnlab.core.models import ModelSize, build_llama  # noqa: E402
from unlearnlab.core.tokenizer import train_tokenizer  # noqa: E402

TINY = ModelSize(d_model=16, n_layers=2, n_heads=2, d_mlp=32, max_len=64)


@pytest.fixture(scope="session")
def rows() -> list[dict]:
    rng = random.Random(0)
    out = []
    for op in arith.ALL_OPS:
        out += arith.items(arith.facts(op)[:12], rng, 1)
    return out


@pytest.fixture(scope="session")
def tokenizer(rows):
    texts = [f"{r['prompt']} {r['answer']}" for r in rows] + english.corpus(50, 0)
    return train_tokenizer(texts, vocab_size=200)


@pytest.fixture(scope="session")
def tokens(rows, tokenizer) -> TokenSet:
    return TokenSet.from_rows(rows, tokenizer)


@pytest.fixture
def tiny_model(tokenizer):
    torch.manual_seed(0)
    return build_llama(TINY, len(tokenizer), tokenizer, seed=0)

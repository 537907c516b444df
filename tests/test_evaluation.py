"""Exact match from one forward pass equals greedy decoding; training loop basics."""

import pytest
import torch

from unlearnlab.evals.exact_match import accuracy_by_label, cross_entropy, exact_match
from unlearnlab.core.logprobs import logits_of, nll
from unlearnlab.core.training import TrainConfig, lr_at, train

pytestmark = pytest.mark.unit


def _fit(model, data, steps=150):
    gen = torch.Generator().manual_seed(0)
    batches = data.sampler(8, gen)

    def step_loss(fwd, step):
        b = next(batches)
        return nll(logits_of(fwd, b), b), int(b["attention_mask"].sum())

    return train(model, step_loss, TrainConfig(steps=steps, lr=1e-2, batch_size=8))


def test_exact_match_equals_greedy_generate(tiny_model, tokens):
    data = tokens.subset(range(0, len(tokens), 3))
    _fit(tiny_model, data.subset(range(0, len(data), 2)))  # learn some, not all: both outcomes occur
    fast = exact_match(tiny_model, data)
    slow = []
    for prompt, answer in zip(data.prompts, data.answers):
        out = tiny_model.generate(torch.tensor([prompt]), attention_mask=torch.ones(1, len(prompt), dtype=torch.long),
                                  max_new_tokens=len(answer), do_sample=False, eos_token_id=None, pad_token_id=0)
        slow.append(out[0, len(prompt):].tolist() == answer)
    assert fast.tolist() == slow
    assert 0 < sum(slow) < len(slow), "the check needs both correct and wrong answers"


def test_training_reduces_loss_and_accuracy_by_label(tiny_model, tokens):
    before = cross_entropy(tiny_model, tokens)
    log = _fit(tiny_model, tokens, steps=60)
    assert log.steps == 60 and log.tokens > 0
    assert cross_entropy(tiny_model, tokens) < before
    acc = accuracy_by_label(tiny_model, tokens)
    assert set(acc) == {"add", "sub", "mul", "div"} and all(0 <= v <= 1 for v in acc.values())


def test_lr_schedule_warmup_cosine_constant():
    cfg = TrainConfig(steps=100, lr=1.0, warmup_frac=0.1)
    assert lr_at(0, cfg) == 0.1 and lr_at(9, cfg) == 1.0
    assert abs(lr_at(99, cfg) - 0.1) < 0.01 and lr_at(50, cfg) < 1.0
    const = TrainConfig(steps=100, lr=1.0, warmup_frac=0.1, schedule="constant")
    assert lr_at(99, const) == 1.0


def test_early_stop_from_on_eval(tiny_model, tokens):
    batches = tokens.sampler(4, torch.Generator().manual_seed(0))

    def step_loss(fwd, step):
        b = next(batches)
        return nll(logits_of(fwd, b), b), 1

    log = train(tiny_model, step_loss, TrainConfig(steps=20, lr=1e-3, eval_every=5),
                on_eval=lambda step, m: step >= 10)
    assert log.steps == 10 and log.stopped_early

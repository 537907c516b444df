"""Each loss against a naive per-token reference."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch.testing import assert_close

from unlearnlab.core import logprobs as losses
from unlearnlab.methods import get_method

pytestmark = pytest.mark.unit


def naive_token_logprobs(logits, batch, answer_only):
    """Loop over every position: log p(next token), and whether it is scored."""
    ids, key = batch["input_ids"], ("answer_mask" if answer_only else "attention_mask")
    out = []
    for b in range(ids.shape[0]):
        row = []
        for t in range(ids.shape[1] - 1):
            if batch[key][b, t + 1]:
                row.append(F.log_softmax(logits[b, t], -1)[ids[b, t + 1]])
        out.append(row)
    return out


def test_nll_and_sequence_logprob_match_naive(tiny_model, tokens):
    batch = tokens.batch(range(6))
    logits = losses.logits_of(tiny_model, batch)
    for answer_only in (False, True):
        per_seq = naive_token_logprobs(logits, batch, answer_only)
        flat = torch.stack([x for row in per_seq for x in row])
        assert_close(losses.nll(logits, batch, answer_only), -flat.mean())
        assert_close(losses.sequence_logprob(logits, batch, answer_only),
                     torch.stack([torch.stack(r).sum() for r in per_seq]))
        assert_close(losses.sequence_logprob(logits, batch, answer_only, normalise=True),
                     torch.stack([torch.stack(r).mean() for r in per_seq]))


def test_uniform_cross_entropy_is_kl_from_uniform(tiny_model, tokens):
    batch = tokens.batch(range(4))
    logits = losses.logits_of(tiny_model, batch)
    V = logits.shape[-1]
    mask = batch["attention_mask"][:, 1:].bool()
    logp = F.log_softmax(logits[:, :-1], -1)[mask]
    naive = torch.stack([(torch.full((V,), 1 / V) * (math.log(1 / V) - lp)).sum() for lp in logp]).mean()
    assert_close(losses.uniform_cross_entropy(logits, batch), naive)
    assert_close(losses.uniform_cross_entropy(torch.zeros_like(logits), batch), torch.tensor(0.0),
                 atol=1e-6, rtol=0)


def test_forward_kl_matches_naive_and_is_zero_on_itself(tiny_model, tokens):
    batch = tokens.batch(range(4))
    t = losses.logits_of(tiny_model, batch)
    s = torch.randn_like(t)
    mask = batch["attention_mask"][:, 1:].bool()
    pt, ps = F.softmax(t[:, :-1], -1)[mask], F.softmax(s[:, :-1], -1)[mask]
    naive = (pt * (pt.log() - ps.log())).sum(-1).mean()
    assert_close(losses.forward_kl(t, s, batch), naive, rtol=1e-4, atol=1e-5)
    assert_close(losses.forward_kl(t, t, batch), torch.tensor(0.0), atol=1e-6, rtol=0)


def test_graddiff_npo_simnpo_maxent_losses(tiny_model, tokens):
    f, r = tokens.batch(range(0, 4)), tokens.batch(range(4, 8))
    lf, lr_ = losses.logits_of(tiny_model, f), losses.logits_of(tiny_model, r)
    nll_f, nll_r = losses.nll(lf, f), losses.nll(lr_, r)

    gd = get_method("GradDiff", retain_weight=0.5)
    assert_close(gd.loss(tiny_model, f, r), -nll_f + 0.5 * nll_r)
    assert_close(get_method("GradAscent").loss(tiny_model, f, r), -nll_f)

    me = get_method("MaxEnt", retain_weight=2.0)
    assert_close(me.loss(tiny_model, f, r), losses.uniform_cross_entropy(lf, f) + 2.0 * nll_r)

    npo = get_method("NPO", beta=0.3, retain_weight=1.0)
    npo.setup(tiny_model, None)
    with torch.no_grad():  # perturb the model so that it differs from its reference
        for p in tiny_model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    lf2 = losses.logits_of(tiny_model, f)
    ref = losses.sequence_logprob(losses.logits_of(npo.reference, f), f)
    cur = losses.sequence_logprob(lf2, f)
    naive_npo = torch.tensor([-(2 / 0.3) * math.log(1 / (1 + math.exp(0.3 * (c - q)))) for c, q in
                             zip(cur.tolist(), ref.tolist())]).mean()
    assert_close(npo.forget_loss(tiny_model, f), naive_npo.float(), rtol=1e-4, atol=1e-5)

    sim = get_method("SimNPO", beta=2.0, gamma=0.5)
    mean_lp = losses.sequence_logprob(lf2, f, normalise=True)
    naive_sim = torch.tensor([-(2 / 2.0) * math.log(1 / (1 + math.exp(2.0 * m + 0.5))) for m in mean_lp.tolist()]).mean()
    assert_close(sim.forget_loss(tiny_model, f), naive_sim.float(), rtol=1e-4, atol=1e-5)


def test_rmu_retain_term_zero_at_start_and_forget_term_matches(tiny_model, tokens):
    from unlearnlab.methods.base import UnlearnData
    from unlearnlab.methods.rmu import hidden_at

    data = UnlearnData(forget=tokens.subset(range(8)), retain=tokens.subset(range(8, 16)),
                       generator=torch.Generator().manual_seed(0))
    rmu = get_method("RMU", layer=1, retain_weight=3.0, steering_scale=2.0)
    rmu.setup(tiny_model, data)
    f, r = tokens.batch(range(4)), tokens.batch(range(8, 12))
    h = hidden_at(tiny_model, f, 1)
    mask = f["attention_mask"].bool()
    expected = ((h - rmu.control) ** 2).mean(-1)[mask].mean()
    assert_close(rmu.loss(tiny_model, f, r), expected)  # retain term is exactly zero at start
    trained = {id(p) for p in rmu.trainable_parameters(tiny_model)}
    assert trained == {id(p) for i in (0, 1) for p in tiny_model.model.layers[i].mlp.parameters()}


def test_rmu_answer_only_scores_the_positions_that_predict_the_answer(tokens):
    from unlearnlab.methods.rmu import predicting_answer

    batch = tokens.batch(range(3))
    pred = predicting_answer(batch)
    for row in range(3):
        answer_positions = batch["answer_mask"][row].nonzero().flatten()
        expected = (answer_positions - 1).tolist()  # from the last prompt token to the last-but-one answer token
        assert pred[row].nonzero().flatten().tolist() == expected

"""The linear-probe attack: can a forgotten answer still be read from the hidden states?

The logit lens (``evals.probes.logit_lens``) decodes the residual stream through the model's own
unembedding; a trained probe asks more: is the answer *linearly decodable* at layer L at all,
even where the unembedding no longer reads it? Per layer, a multinomial logistic regression on
the residual stream after that layer, at the answer position (the last prompt token, which
predicts the answer's first token), is fitted on one set of items (validation) and scored on
another (test), predicting a class label per item: the answer's first token (an arithmetic
answer's first digit, ``first_answer_token``) or any label the caller gives (the private
attribute). A model that only hides the answer keeps probe accuracy near the base model's; the
oracle, which never learned it, shows what the rest of the prompt alone gives away. Compare both
with the majority-class baseline (always predict the commonest training label).

Activations are read through ``core.anatomy`` (its sites and output convention), all layers from
one forward pass per batch. The regression is torch's L-BFGS on standardised features with
scikit-learn's default penalty (C = 1: mean cross-entropy + ||W||² / (2n)), in float64, from
zeros, so a fit is deterministic.

>>> rows = probe_attack(model, val, first_answer_token(val), test, first_answer_token(test))
>>> # [{"layer": 0, "probe_acc": ..., "train_acc": ..., "majority_acc": ...}, ...]
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Sequence

import torch
import torch.nn.functional as F

from unlearnlab.core.anatomy import n_layers, output_tensor, site_module
from unlearnlab.core.batching import TokenSet


def first_answer_token(data: TokenSet) -> list[int]:
    """Per item, the first answer token's id: the class a probe predicts (an arithmetic answer's
    first digit, since every digit is its own token)."""
    return [answer[0] for answer in data.answers]


def check_disjoint(train: TokenSet, test: TokenSet) -> None:
    """Refuse a probe whose test items include a training item (the same prompt): the probe
    would score memorised items, not what the hidden states hold."""
    shared = {tuple(p) for p in train.prompts} & {tuple(p) for p in test.prompts}
    if shared:
        raise ValueError(f"probe train and test items must be disjoint: {len(shared)} prompt(s) are in both "
                         "(train on validation items, test on test items)")


@torch.no_grad()
def answer_states(model: torch.nn.Module, data: TokenSet, site: str = "resid_post",
                  batch_size: int = 64) -> list[torch.Tensor]:
    """Per layer, ``site`` at each item's last prompt position, ``(n_items, d)`` in float32 on
    the CPU; one forward pass per batch over the prompts alone (the answer cannot change an
    earlier position's state), computing the logits of the last position only."""
    device = next(model.parameters()).device
    prompts = TokenSet(data.prompts, [[] for _ in data.prompts], pad_id=data.pad_id)
    states: list[list[torch.Tensor]] = [[] for _ in range(n_layers(model))]
    for start in range(0, len(prompts), batch_size):
        indices = range(start, min(start + batch_size, len(prompts)))
        batch = prompts.batch(indices, device)
        position = torch.tensor([len(prompts.prompts[i]) - 1 for i in indices], device=device)
        _run_with_hooks(model, batch, site, position, states)
    return [torch.cat(per_layer) for per_layer in states]


def _run_with_hooks(model: torch.nn.Module, batch: dict, site: str, position: torch.Tensor,
                    states: list[list[torch.Tensor]]) -> None:
    """One forward pass appending each layer's ``site`` at ``position`` to ``states``."""
    model = getattr(model, "_orig_mod", model)  # hooks do not run inside a compiled graph
    rows = torch.arange(len(position), device=position.device)

    def keep(index: int):
        def hook(module, args, out):
            states[index].append(output_tensor(out)[rows, position].float().cpu())
        return hook

    handles = [site_module(model, site, i).register_forward_hook(keep(i)) for i in range(len(states))]
    try:
        model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], logits_to_keep=1)
    finally:
        for handle in handles:
            handle.remove()


def fit_logistic(x: torch.Tensor, y: torch.Tensor, n_classes: int, steps: int = 200):
    """A multinomial logistic regression on ``x`` (n, d) with class indices ``y``; returns
    ``predict(x) -> class indices``. Features are standardised with the training mean and std."""
    x = x.double()
    mean, std = x.mean(0), x.std(0, unbiased=False).clamp_min(1e-6)
    z = (x - mean) / std
    weight = torch.zeros(z.shape[1], n_classes, dtype=torch.float64, requires_grad=True)
    bias = torch.zeros(n_classes, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([weight, bias], max_iter=steps, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = F.cross_entropy(z @ weight + bias, y) + weight.pow(2).sum() / (2 * len(y))
        loss.backward()
        return loss

    with torch.enable_grad():
        optimizer.step(closure)
    weight, bias = weight.detach(), bias.detach()
    return lambda new: (((new.double() - mean) / std) @ weight + bias).argmax(-1)


def probe_layers(states_train: Sequence[torch.Tensor], y_train: Sequence[Hashable],
                 states_test: Sequence[torch.Tensor], y_test: Sequence[Hashable]) -> list[dict]:
    """Fit and score one probe per layer: rows ``{"layer", "probe_acc", "train_acc",
    "majority_acc"}``; a test label never seen in training counts as a miss."""
    classes = {label: i for i, label in enumerate(dict.fromkeys(y_train))}
    train_idx = torch.tensor([classes[label] for label in y_train])
    test_idx = torch.tensor([classes.get(label, -1) for label in y_test])
    majority = Counter(y_train).most_common(1)[0][0]
    majority_acc = sum(label == majority for label in y_test) / len(y_test)
    rows = []
    for layer, (train, test) in enumerate(zip(states_train, states_test)):
        predict = fit_logistic(train, train_idx, len(classes))
        rows.append({"layer": layer, "probe_acc": float((predict(test) == test_idx).double().mean()),
                     "train_acc": float((predict(train) == train_idx).double().mean()),
                     "majority_acc": majority_acc})
    return rows


def probe_attack(model: torch.nn.Module, train: TokenSet, y_train: Sequence[Hashable], test: TokenSet,
                 y_test: Sequence[Hashable], site: str = "resid_post", batch_size: int = 64) -> list[dict]:
    """Per layer, a logistic-regression probe on ``site`` at the answer position, fitted on
    ``train`` (validation items) and scored on ``test`` (disjoint test items): rows ``{"layer",
    "probe_acc", "train_acc", "majority_acc"}``."""
    if len(y_train) != len(train) or len(y_test) != len(test) or not len(train) or not len(test):
        raise ValueError(f"need one label per item and items on both sides: {len(train)} train items, "
                         f"{len(y_train)} labels; {len(test)} test items, {len(y_test)} labels")
    check_disjoint(train, test)
    return probe_layers(answer_states(model, train, site, batch_size), y_train,
                        answer_states(model, test, site, batch_size), y_test)

"""The architecture × capability table (``core.architecture_support``), one test per cell.

Each ``test_<capability>`` runs on a 2-layer random checkpoint of every architecture of
``core.tiny_checkpoints`` (``tiny_config`` with the arithmetic test tokenizer's vocabulary and
special ids) and checks a *result* against the model's own computation: a hook read equals a
plain forward pre-hook on the projection, a mask holds its budget, an adapter changed only its own
entries, a loss equals the model's loss computed by hand. A pair the table claims (``SUPPORTED``)
must pass; a pair it leaves out is a strict expected failure, so a wrong check mark either way
fails the suite. Random weights: these prove code paths and measurements, never that a method
works.
"""

from __future__ import annotations

import pytest
import torch
import transformers
from torch.testing import assert_close

from unlearnlab.core import anatomy
from unlearnlab.core.architecture_support import (CAPABILITIES, SEED_MODELS, SUPPORTED, support_table_markdown,
                                                  supports)
from unlearnlab.core.logprobs import nll_of
from unlearnlab.core.models import fresh_copy
from unlearnlab.core.tiny_checkpoints import ARCHITECTURES, tiny_config
from unlearnlab.data.arithmetic import FORGET_OPS, RETAIN_OPS

pytestmark = pytest.mark.integration

BUDGET = 0.1


def _model(arch: str, tokenizer, seed: int = 0) -> transformers.PreTrainedModel:
    """A fresh 2-layer random ``arch`` model over the test tokenizer's vocabulary (eval mode)."""
    config = tiny_config(arch, vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id,
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id)
    torch.manual_seed(seed)
    return transformers.AutoModelForCausalLM.from_config(config).eval()


def cases(capability: str) -> list:
    """Every architecture, the ones the table does not claim ``capability`` for as strict xfails."""
    return [pytest.param(arch, id=arch, marks=() if supports(arch, capability) else pytest.mark.xfail(
        strict=True, reason=f"{capability} is not claimed for {arch} in architecture_support.SUPPORTED"))
        for arch in ARCHITECTURES]


def _params(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in model.named_parameters()}


def _ids(batch: dict) -> dict[str, torch.Tensor]:
    return {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}


def _adam_steps(model: torch.nn.Module, batches: list[dict], lr: float) -> None:
    """One Adam step per batch on the gradient-ascent forget loss (minus the answers' NLL)."""
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr)
    model.train()
    for batch in batches:
        optimizer.zero_grad()
        (-nll_of(model, batch, answer_only=True)).backward()
        optimizer.step()
    model.eval()


# ------------------------------------------------------------------ the table itself


@pytest.mark.unit
def test_the_table_covers_every_architecture_and_has_a_test_per_capability():
    assert list(SUPPORTED) == list(ARCHITECTURES) == list(SEED_MODELS)
    assert all(set(caps) <= set(CAPABILITIES) for caps in SUPPORTED.values())
    missing = [c for c in CAPABILITIES if not callable(globals().get(f"test_{c}"))]
    assert not missing, f"capabilities without a test_<capability> here: {missing}"
    for c in CAPABILITIES:  # each over every architecture, through ``cases`` (so unclaimed pairs are strict xfails)
        (mark,) = [m for m in globals()[f"test_{c}"].pytestmark if m.name == "parametrize"]
        assert mark.args[0] == "arch" and [p.values[0] for p in mark.args[1]] == list(ARCHITECTURES)
        assert [bool(p.marks) for p in mark.args[1]] == [not supports(a, c) for a in ARCHITECTURES]
    with pytest.raises(ValueError, match="unknown capability 'flash'"):
        supports("llama", "flash")


@pytest.mark.unit
def test_support_table_markdown_has_a_row_per_architecture_and_a_mark_per_claim():
    text = support_table_markdown()
    rows = [line for line in text.splitlines() if line.startswith("| `")]
    assert len(rows) == len(ARCHITECTURES)
    for arch, row in zip(ARCHITECTURES, rows):
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert cells[:2] == [f"`{arch}`", SEED_MODELS[arch]]
        assert [c == "✔" for c in cells[2:]] == [c in SUPPORTED[arch] for c in CAPABILITIES]
    assert "tests/test_architectures.py" in text and "2-layer random checkpoint" in text


# ------------------------------------------------------------------ activation hooks


def _projection_inputs(model: torch.nn.Module, batch: dict) -> dict[tuple[str, int], torch.Tensor]:
    """What each layer's attention output projection and MLP output projection receive."""
    seen, handles = {}, []
    for i in range(anatomy.n_layers(model)):
        o_proj = getattr(anatomy.attention(model, i), anatomy.layout(model).o)
        for key, module in (("attn", o_proj), ("mlp", anatomy.mlp_out_proj(model, i))):
            handles.append(module.register_forward_pre_hook(
                lambda mod, args, key=key, i=i: seen.__setitem__((key, i), args[0].detach().clone())))
    try:
        with torch.no_grad():
            model(**_ids(batch))
    finally:
        for handle in handles:
            handle.remove()
    return seen


@pytest.mark.parametrize("arch", cases("bridge_hooks"))
def test_bridge_hooks(arch, tokenizer, tokens):
    """``blocks.L.attn.hook_z`` (heads flattened) and ``blocks.L.mlp.hook_post`` of the bridge equal
    the inputs of the HF model's o-projection and MLP output projection, to 1e-6 (float32, a
    padded batch, every position)."""
    from unlearnlab.localization.activations import bridge

    model = _model(arch, tokenizer)
    batch = tokens.batch(range(4))
    seen = _projection_inputs(model, batch)
    with torch.no_grad():
        _, cache = bridge(model, tokenizer).run_with_cache(batch["input_ids"], attention_mask=batch["attention_mask"])
    b, t = batch["input_ids"].shape
    for i in range(anatomy.n_layers(model)):
        z = cache[f"blocks.{i}.attn.hook_z"]
        assert tuple(z.shape) == (b, t, anatomy.n_heads(model), anatomy.head_dim(model))
        assert_close(z.reshape(b, t, -1), seen["attn", i], rtol=1e-5, atol=1e-6)
        assert_close(cache[f"blocks.{i}.mlp.hook_post"], seen["mlp", i], rtol=1e-5, atol=1e-6)
        assert seen["attn", i].abs().sum() > 0 and seen["mlp", i].abs().sum() > 0


# ------------------------------------------------------------------ localization


@pytest.mark.parametrize("arch", cases("localizers"))
def test_localizers(arch, tokenizer, tokens):
    """Every registered localizer scores the model; its mask at budget 0.1 names real parameters,
    selects something, holds at most the budget, exactly the budget at parameter granularity."""
    from unlearnlab.localization.registry import LOCALIZERS, LocalizationData, localize

    model = _model(arch, tokenizer)
    clean = tokens.where(["mul"]).batch(range(4))
    data = LocalizationData(model, tokens.where(["mul"]), tokens.where(["add"]), tokenizer, clean=clean,
                            corrupt=dict(clean), reference=fresh_copy(model), batch_size=8, max_batches=2)
    params = dict(model.named_parameters())
    limit = round(BUDGET * sum(p.numel() for p in params.values()))
    for name in LOCALIZERS:
        loc = localize(name, data)
        mask = loc.mask(model, BUDGET)
        assert loc.scores, name
        assert all(n in params and m.shape == params[n].shape for n, m in mask.entries.items()), name
        assert 0 < mask.n_selected <= limit, (name, mask.n_selected, limit)
        if loc.granularity == "parameter":
            assert mask.n_selected == limit, name


# ------------------------------------------------------------------ unlearning methods


@pytest.mark.parametrize("arch", cases("methods"))
def test_methods(arch, tokenizer, tokens, tmp_path):
    """Every registered method's contract example (``methods.base``), two steps on this
    architecture, changes only its declared parameters and at least one of them."""
    from unlearnlab.methods import METHODS, TinySetup, available

    retain = tokens.where(RETAIN_OPS)
    failures = []
    for name in available():
        tiny = TinySetup(_model(arch, tokenizer), tokenizer, tokens.where(FORGET_OPS), retain,
                         retain.subset(range(min(16, len(retain)))), tmp_path / name)
        case = METHODS[name].example(tiny)
        declared = case.method.trainable_names(case.model)
        before = _params(case.model)
        case.method.run(case.model, case.data)
        after = _params(case.model)
        changed = {n for n in before if not torch.equal(before[n], after.get(n, before[n]))}
        if set(after) != set(before) or not changed or not changed <= declared:
            failures.append(f"{name}: changed {sorted(changed)[:3]}, undeclared {sorted(changed - declared)[:3]}")
    assert not failures, failures


@pytest.mark.parametrize("arch", cases("masked_lora"))
def test_masked_lora(arch, tokenizer, tokens):
    """A LoRA confined to the top Fisher heads and neurons (5 % of the parameters each), two Adam
    steps on a forget loss, merged: every changed weight entry is inside the mask, and every
    matrix the mask touches (fused qkv / gate_up ones included) changed."""
    from unlearnlab.localization.neurons import neuron_mask
    from unlearnlab.localization.registry import LocalizationData, localize
    from unlearnlab.methods.masked_lora import apply_masked_lora, merge_adapter

    model = _model(arch, tokenizer)
    forget = tokens.where(["mul"])
    loc = localize("fisher_neurons", LocalizationData(model, forget, tokens.where(["add"]), tokenizer,
                                                       batch_size=8, max_batches=2))
    mask = neuron_mask(model, loc, 0.05, "neuron").union(neuron_mask(model, loc, 0.05, "head"))
    roles = {anatomy.module_role(model, n.removesuffix(".weight"))[1] for n in mask.entries}
    assert roles == {"attn_in", "attn_out", "mlp_in", "mlp_out"}
    before = _params(model)
    wrapped = apply_masked_lora(model, mask, r=4, alpha=8)
    _adam_steps(wrapped, [forget.batch(range(4)), forget.batch(range(4, 8))], lr=1e-2)
    after = _params(merge_adapter(wrapped))
    assert set(after) == set(before)
    for name, w in after.items():
        inside = mask.entries.get(name, torch.zeros_like(w, dtype=torch.bool))
        assert torch.equal(w[~inside], before[name][~inside]), f"{name} changed outside the mask"
        if name in mask.entries:
            assert (w[inside] != before[name][inside]).any(), f"{name} is in the mask but did not change"


@pytest.mark.parametrize("arch", cases("ia3_rewrite"))
def test_ia3_rewrite(arch, tokenizer, tokens):
    """(IA)³ on the anatomy's peft targets of layer 1: the only trainable parameters are one
    vector per module; training moves them and nothing else; merged, each target's weight is its
    rows (its columns, for the MLP output) scaled by the vector, every other parameter unchanged,
    and the merged model computes what the adapted one did."""
    from unlearnlab.methods.adapters import apply_ia3, merge

    model = _model(arch, tokenizer)
    short = set(anatomy.peft_targets(model))
    targets = [n for n in anatomy.linear_modules(model)
               if n.rsplit(".", 1)[1] in short and anatomy.module_role(model, n)[0] == 1]
    assert len(targets) == len(short)
    before = _params(model)
    wrapped = apply_ia3(model, targets)
    trainable = {n: p for n, p in wrapped.named_parameters() if p.requires_grad}
    assert len(trainable) == len(targets) and all("ia3_l" in n for n in trainable)
    forget = tokens.where(["mul"])
    _adam_steps(wrapped, [forget.batch(range(4)), forget.batch(range(4, 8))], lr=0.1)
    frozen = {n: p for n, p in wrapped.named_parameters() if not p.requires_grad}
    assert len(frozen) == len(before)
    assert all(torch.equal(p, before[n.replace("base_model.model.", "").replace(".base_layer", "")])
               for n, p in frozen.items())
    batch = forget.batch(range(8))
    with torch.no_grad():
        adapted = wrapped(**_ids(batch)).logits
    vectors = {name: dict(wrapped.named_parameters())[f"base_model.model.{name}.ia3_l.default"].detach().clone()
               for name in targets}
    assert all((v != 1).any() for v in vectors.values())
    plain = merge(wrapped)
    after = _params(plain)
    for name, w in after.items():
        module = name.rsplit(".", 1)[0]
        if module not in vectors:
            assert torch.equal(w, before[name]), f"{name} is outside the targets but changed"
            continue
        vec, ff = vectors[module].flatten(), anatomy.is_mlp_out(model, module)
        if name.endswith(".weight"):
            want = before[name] * (vec[None, :] if ff else vec[:, None])
        else:  # a bias: scaled with its output rows, left alone under an input-scaling vector
            want = before[name] if ff else before[name] * vec
        assert_close(w, want, rtol=1e-5, atol=1e-7)
    with torch.no_grad():
        assert_close(plain(**_ids(batch)).logits, adapted, rtol=1e-4, atol=1e-5)


# ------------------------------------------------------------------ SAE


@pytest.mark.parametrize("arch", cases("sae"))
def test_sae(arch, tokenizer, tokens):
    """An SAE trained for a few steps on ``anatomy.read`` at resid_post of layer 1 (the last);
    clamping its most frequent feature through ``sae.hooks``: the hook reads exactly the tensor
    ``anatomy.read`` gives, and the logits change exactly at the positions (after the first)
    where the feature fires."""
    from unlearnlab.sae.hooks import intervene, real_token_mask
    from unlearnlab.sae.interventions import clamp
    from unlearnlab.sae.model import SAEConfig
    from unlearnlab.sae.train import SAETrainConfig, train_sae

    model = _model(arch, tokenizer)
    batch = tokens.batch(range(16))
    with torch.no_grad():
        read = anatomy.read(model, batch, "resid_post", 1)
    d = anatomy.hidden_size(model)
    cfg = SAEConfig(d_in=d, d_sae=4 * d, kind="topk", k=4, site="resid_post", layer=1)
    sae, log = train_sae(read[real_token_mask(batch)], cfg, SAETrainConfig(steps=5, batch_size=64, log_every=1))
    assert log.steps == 5 and all(torch.isfinite(torch.tensor(row["loss"])) for row in log.curve)
    with torch.no_grad():
        fires_all = sae.encode(read) > 0
    feature = int(fires_all[real_token_mask(batch)].float().mean(0).argmax())
    edit, seen = clamp(sae, [feature], multiplier=20.0), {}

    def recording(x: torch.Tensor) -> torch.Tensor:
        seen["x"] = x.detach().clone()
        return edit(x)

    with torch.no_grad():
        plain = model(**_ids(batch)).logits
        with intervene(model, "resid_post", 1, recording):
            edited = model(**_ids(batch)).logits
    assert torch.equal(seen["x"], read)
    expected = fires_all[..., feature].clone()
    expected[:, 0] = False  # the hook never edits position 0
    changed = (edited != plain).any(-1)
    assert expected.any() and torch.equal(changed, expected)


# ------------------------------------------------------------------ evaluations and attacks


@pytest.mark.parametrize("arch", cases("mia"))
def test_mia(arch, tokenizer, tokens):
    """Membership scores: the LOSS score of an example is minus the mean NLL of its answer tokens
    computed here by hand (and by ``nll_of``); the AUC is in [0, 1] and equals the pairwise count."""
    from unlearnlab.evals.mia import mia_auc, mia_scores

    model = _model(arch, tokenizer)
    members, nonmembers = tokens.where(["mul"]).subset(range(8)), tokens.where(["add"]).subset(range(8))
    scores = mia_scores(model, members, batch_size=8)["loss"]
    prompt, answer = members.prompts[0], members.answers[0]
    ids = torch.tensor([prompt + answer])
    with torch.no_grad():
        logp = torch.log_softmax(model(input_ids=ids).logits[0, :-1].float(), -1)
        by_hand = logp[torch.arange(len(prompt) - 1, ids.shape[1] - 1), torch.tensor(answer)].mean()
        assert scores[0] == pytest.approx(float(by_hand), abs=1e-5)
        assert scores[0] == pytest.approx(-float(nll_of(model, members.batch([0]), answer_only=True)), abs=1e-5)
    out = mia_scores(model, nonmembers, batch_size=8)["loss"]
    pairs = [(m > n) + 0.5 * (m == n) for m in scores for n in out]
    auc = mia_auc(model, members, nonmembers, batch_size=8)["loss"]
    assert 0.0 <= auc <= 1.0 and auc == pytest.approx(sum(pairs) / len(pairs))


@pytest.mark.parametrize("arch", cases("relearning"))
def test_relearning(arch, tokenizer, tokens):
    """Two steps of the relearning attack: a curve of steps 0, 1, 2 whose copy has moved away from
    the model (measured on the copy at each step), the model itself untouched."""
    from unlearnlab.attacks.relearn import RelearnConfig, relearn

    model = _model(arch, tokenizer)
    before = _params(model)

    def moved(m: torch.nn.Module) -> dict[str, float]:
        return {"moved": float(sum((p.detach() - before[n]).abs().sum() for n, p in m.named_parameters()))}

    forget = tokens.where(["mul"])
    rows = relearn(model, forget.sampler(4, torch.Generator().manual_seed(0)), moved,
                   RelearnConfig(lrs=(1e-2,), steps=2, eval_every=1, batch_size=4))
    assert [r["step"] for r in rows] == [0, 1, 2]
    assert rows[0]["moved"] == 0 and 0 < rows[1]["moved"] < rows[2]["moved"]
    assert all(torch.equal(p, before[n]) for n, p in model.named_parameters())


@pytest.mark.parametrize("arch", cases("quantization"))
def test_quantization(arch, tokenizer):
    """int8: the quantized linears are exactly the anatomy's decoder linear modules; each weight
    sits on its per-row grid (scale max|row| / 127, levels within ±127, error ≤ scale / 2);
    every other parameter is unchanged."""
    from unlearnlab.attacks.quantize import quantized_copy, quantized_linears

    model = _model(arch, tokenizer)
    copy = quantized_copy(model, 8)
    modules = dict(copy.named_modules())
    linear = anatomy.linear_modules(copy)
    assert {id(m) for _, m in quantized_linears(copy)} == {id(modules[n]) for n in linear}
    original = dict(model.named_parameters())
    on_grid = {f"{n}.weight" for n in linear}
    for name, w in copy.named_parameters():
        w, orig = w.detach(), original[name].detach()
        if name not in on_grid:
            assert torch.equal(w, orig), f"{name} is not a decoder linear weight but changed"
            continue
        scale = orig.abs().amax(1, keepdim=True) / 127
        levels = w / scale
        assert (levels - levels.round()).abs().max() < 1e-3 and levels.abs().max() <= 127 + 1e-3, name
        assert ((w - orig).abs() <= scale / 2 * (1 + 1e-5)).all() and not torch.equal(w, orig), name


@pytest.mark.parametrize("arch", cases("probe"))
def test_probe(arch, tokenizer, tokens):
    """Per-layer probes: the states they fit are ``anatomy.read`` at resid_post at each item's last
    prompt position, and the attack returns one accuracy per layer (a count over the test items)."""
    from unlearnlab.attacks.probe import answer_states, first_answer_token, probe_attack
    from unlearnlab.core.batching import TokenSet

    model = _model(arch, tokenizer)
    train, test = tokens.where(["add"]), tokens.where(["sub"])
    states = answer_states(model, test)
    prompts = TokenSet(test.prompts, [[] for _ in test.prompts], pad_id=test.pad_id)
    batch = prompts.batch(range(len(prompts)))
    last = torch.tensor([len(p) - 1 for p in test.prompts])
    for i in range(anatomy.n_layers(model)):
        with torch.no_grad():
            read = anatomy.read(model, batch, "resid_post", i)
        assert_close(states[i], read[torch.arange(len(last)), last], rtol=1e-5, atol=1e-6)
    rows = probe_attack(model, train, first_answer_token(train), test, first_answer_token(test))
    assert [r["layer"] for r in rows] == list(range(anatomy.n_layers(model)))
    for r in rows:
        hits = r["probe_acc"] * len(test)
        assert 0 <= r["probe_acc"] <= 1 and hits == pytest.approx(round(hits))


@pytest.mark.parametrize("arch", cases("logit_lens"))
def test_logit_lens(arch, tokenizer):
    """The logit lens has one row per layer; its last row's rank and log-prob of the target's
    first token are those of the model's own output at the last prompt position."""
    from unlearnlab.data import facts as fx
    from unlearnlab.evals.probes import logit_lens

    model = _model(arch, tokenizer)
    pairs = [fx.QA("what is 2 plus 3", " 5", ("5",), chat=False), fx.QA("what is 4 plus 4", " 8", ("8",), chat=False)]
    rows = logit_lens(model, tokenizer, pairs, ["5", "8"])["5"]
    assert [r["layer"] for r in rows] == list(range(anatomy.n_layers(model)))
    target = tokenizer(" 5", add_special_tokens=False)["input_ids"][0]
    ranks, logps = [], []
    for pair in pairs:
        ids = tokenizer(pair.prompt, add_special_tokens=False, return_tensors="pt")["input_ids"]
        with torch.no_grad():
            logits = model(input_ids=ids).logits[0, -1].float()
        ranks.append(int((logits > logits[target]).sum()))
        logps.append(float(torch.log_softmax(logits, -1)[target]))
    assert rows[-1]["rank"] == pytest.approx(sum(ranks) / len(ranks))
    assert rows[-1]["logprob"] == pytest.approx(sum(logps) / len(logps), abs=1e-5)

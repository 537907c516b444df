"""SAEs in SAELens' on-disk format (``sae.saelens_format``): our SAEs written so that SAELens'
forward pass on the raw files gives our features and reconstructions, SAELens folders read back,
and one-line errors for what we cannot represent.

Tolerance: float32, rtol = atol = 1e-5 (folding the input scale multiplies and divides weights by
it; measured errors are ~1e-7 relative)."""

import json
from functools import partial

import pytest
import torch
from safetensors.torch import load_file, save_file

from unlearnlab.sae import SAEConfig, SAETrainConfig, SparseAutoencoder, collect_activations, train_sae
from unlearnlab.sae.saelens_format import (CFG_FILE, SUBDIR, WEIGHTS_FILE, folder_digest, load_for_model,
                                           load_saelens, pretrained_sae_for, save_beside, save_saelens,
                                           saelens_hook_name, site_of_hook)
from unlearnlab.sae.train import reconstruction_metrics

pytestmark = pytest.mark.unit

D, D_SAE, K = 12, 48, 5
close = partial(torch.testing.assert_close, rtol=1e-5, atol=1e-5)


def nontrivial_sae(kind: str, site: str = "resid_post", layer: int = 3, seed: int = 0) -> SparseAutoencoder:
    """Random weights, input scale 0.37, non-zero biases: every term of the fold matters."""
    sae = SparseAutoencoder(SAEConfig(d_in=D, d_sae=D_SAE, kind=kind, k=K, site=site, layer=layer, l1_coef=0.01,
                                      aux_k=7), seed)
    gen = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        sae.W_dec_raw.mul_(torch.rand(D_SAE, 1, generator=gen) + 0.5)  # raw rows of unequal norm
        sae.W_enc.add_(0.3 * torch.randn(D, D_SAE, generator=gen))
        sae.b_enc.copy_(0.5 * torch.randn(D_SAE, generator=gen))
        sae.b_dec.copy_(torch.randn(D, generator=gen))
        sae.scale.fill_(0.37)
    return sae.eval()


def inputs(n: int = 64, seed: int = 2) -> torch.Tensor:
    return 3 * torch.randn(n, D, generator=torch.Generator().manual_seed(seed)) + 1


def saelens_forward(folder) -> tuple:
    """SAELens' inference forward pass (``StandardSAE`` / ``TopKSAE`` with normalize_activations
    'none', ``SAE.process_sae_in``, ``TopK``: top k of the pre-activations, then ReLU), written
    here from its source on the raw files, independently of our loader."""
    cfg = json.loads((folder / CFG_FILE).read_text())
    w = load_file(str(folder / WEIGHTS_FILE))
    assert cfg["normalize_activations"] == "none"

    arch, k = cfg["architecture"], cfg.get("k")
    if cfg.get("activation_fn_str", cfg.get("activation_fn")) == "topk":  # SAELens 5 keys (handle_pre_6_0_config)
        arch, k = "topk", cfg["activation_fn_kwargs"]["k"]

    def encode(x):
        pre = (x - w["b_dec"] * cfg["apply_b_dec_to_input"]) @ w["W_enc"] + w["b_enc"]
        if arch == "standard":
            return torch.relu(pre)
        assert arch == "topk" and not cfg.get("rescale_acts_by_decoder_norm", False)
        top = torch.topk(pre, k=k, dim=-1, sorted=False)
        return torch.zeros_like(pre).scatter(-1, top.indices, top.values.relu())

    def decode(f):
        return f @ w["W_dec"] + w["b_dec"]

    return encode, decode


@pytest.mark.parametrize("kind", ["relu", "topk"])
def test_saelens_forward_on_the_written_files_equals_our_sae(tmp_path, kind):
    sae = nontrivial_sae(kind)
    folder = save_saelens(sae, tmp_path / "out", model_name="HuggingFaceTB/SmolLM2-135M-Instruct")
    encode, decode = saelens_forward(folder)
    x = inputs()
    f = sae.encode(x).detach()
    assert (f > 0).sum(-1).float().mean() > 1  # features do fire, so the comparison means something
    close(encode(x), f)
    close(decode(f), sae.decode(f).detach())
    close(decode(encode(x)), sae(x).detach())


def test_the_config_holds_the_keys_saelens_6_and_5_read(tmp_path):
    folder = save_saelens(nontrivial_sae("topk", site="mlp_out", layer=2), tmp_path / "s", model_name="m")
    cfg = json.loads((folder / CFG_FILE).read_text())
    assert {k: cfg[k] for k in ("architecture", "d_in", "d_sae", "k", "dtype", "apply_b_dec_to_input")} == {
        "architecture": "topk", "d_in": D, "d_sae": D_SAE, "k": K, "dtype": "float32", "apply_b_dec_to_input": True}
    assert cfg["metadata"]["hook_name"] == cfg["hook_name"] == "blocks.2.hook_mlp_out"
    assert cfg["metadata"]["sae_lens_version"] >= "6"  # SAELens >= 6 then skips its pre-6.0 key renaming
    assert cfg["hook_layer"] == 2 and cfg["activation_fn_kwargs"] == {"k": K}  # SAELens 5's required keys
    assert sorted(load_file(str(folder / WEIGHTS_FILE))) == ["W_dec", "W_enc", "b_dec", "b_enc"]


@pytest.mark.parametrize("kind", ["relu", "topk"])
def test_round_trip_gives_the_same_sae(tmp_path, kind):
    sae = nontrivial_sae(kind, site="attn_out", layer=1)
    back = load_saelens(save_saelens(sae, tmp_path / "x", model_name="m"))
    assert back.cfg == sae.cfg  # training fields too (from our provenance block)
    close(back.scale, sae.scale, rtol=1e-6, atol=0)
    x = inputs()
    f = sae.encode(x).detach()
    close(back.encode(x), f)
    close(back.decode(f), sae.decode(f).detach())
    close(back.W_dec.norm(dim=-1), torch.ones(D_SAE))


def test_a_trained_sae_saved_beside_its_artifact_loads_back_identically(tmp_path):
    acts = 4 * torch.randn(2000, D, generator=torch.Generator().manual_seed(0)) + 2
    sae, _ = train_sae(acts, SAEConfig(d_in=D, d_sae=D_SAE, kind="topk", k=K, layer=0), SAETrainConfig(steps=30,
                       batch_size=256, log_every=10))
    sae.save(tmp_path)  # what the study writes
    folder = save_beside(sae, tmp_path, model_name="smollm2")
    assert folder == tmp_path / SUBDIR and (tmp_path / "sae.safetensors").is_file()
    assert json.loads((folder / CFG_FILE).read_text())["model_name"] == "HuggingFaceTB/SmolLM2-135M-Instruct"
    back = load_saelens(folder)
    close(back.encode(acts[:100]), sae.encode(acts[:100]).detach())
    close(back(acts[:100]), sae(acts[:100]).detach())


def test_writing_replaces_a_folder_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "sae"
    save_saelens(nontrivial_sae("relu", seed=0), target, model_name="m")
    save_saelens(nontrivial_sae("topk", seed=5), target, model_name="m")
    assert json.loads((target / CFG_FILE).read_text())["architecture"] == "topk"
    assert [p.name for p in tmp_path.iterdir()] == ["sae"]


def write_folder(folder, cfg: dict, tensors: dict) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / CFG_FILE).write_text(json.dumps(cfg))
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(folder / WEIGHTS_FILE))


def saelens_like(seed=0, norms=None, d_sae=D_SAE):
    gen = torch.Generator().manual_seed(seed)
    W_dec = torch.nn.functional.normalize(torch.randn(d_sae, D, generator=gen), dim=-1)
    if norms is not None:
        W_dec = W_dec * norms[:, None]
    return {"W_enc": torch.randn(D, d_sae, generator=gen) / 3, "b_enc": torch.randn(d_sae, generator=gen) / 4,
            "W_dec": W_dec, "b_dec": torch.randn(D, generator=gen)}


V6 = {"d_in": D, "d_sae": D_SAE, "dtype": "float32", "device": "cpu", "apply_b_dec_to_input": True,
      "normalize_activations": "none", "reshape_activations": "none", "architecture": "standard",
      "metadata": {"sae_lens_version": "6.18.0", "model_name": "gpt2", "hook_name": "blocks.4.hook_resid_post"}}
V5_TOPK = {"architecture": "standard", "d_in": D, "d_sae": D_SAE, "activation_fn_str": "topk",
           "activation_fn_kwargs": {"k": K}, "apply_b_dec_to_input": True, "finetuning_scaling_factor": False,
           "context_size": 128, "model_name": "gpt2", "hook_name": "blocks.0.hook_mlp_out", "hook_layer": 0,
           "hook_head_index": None, "prepend_bos": True, "dataset_path": "x", "dataset_trust_remote_code": True,
           "normalize_activations": "none", "dtype": "float32", "device": "cpu", "sae_lens_training_version": None}


@pytest.mark.parametrize("cfg", [V6, {**V6, "apply_b_dec_to_input": False}, V5_TOPK], ids=["v6", "no-b_dec-in", "v5"])
def test_a_saelens_folder_loads_with_saelens_outputs(tmp_path, cfg):
    write_folder(tmp_path, cfg, saelens_like())
    encode, decode = saelens_forward(tmp_path)
    sae = load_saelens(tmp_path)
    assert sae.cfg.kind == ("topk" if cfg is V5_TOPK else "relu")
    assert (sae.cfg.site, sae.cfg.layer) == site_of_hook(cfg.get("metadata", cfg)["hook_name"])
    x = inputs()
    close(sae.encode(x), encode(x))
    close(sae(x), decode(encode(x)))


def test_unequal_decoder_norms_move_into_the_features_with_the_same_reconstruction(tmp_path):
    norms = torch.rand(D_SAE, generator=torch.Generator().manual_seed(3)) + 0.2
    write_folder(tmp_path, V6, saelens_like(norms=norms))
    encode, decode = saelens_forward(tmp_path)
    sae, x = load_saelens(tmp_path), inputs()
    close(sae.encode(x), encode(x) * norms)  # SAELens' fold_W_dec_norm convention
    close(sae(x), decode(encode(x)))


def test_topk_rescaled_by_decoder_norm_loads_exactly(tmp_path):
    norms = torch.rand(D_SAE, generator=torch.Generator().manual_seed(4)) + 0.2
    cfg = {**V6, "architecture": "topk", "k": K, "rescale_acts_by_decoder_norm": True}
    w = saelens_like(norms=norms)
    write_folder(tmp_path, cfg, w)
    sae, x = load_saelens(tmp_path), inputs()
    pre = ((x - w["b_dec"]) @ w["W_enc"] + w["b_enc"]) * norms  # TopKSAE.encode with the rescale
    top = torch.topk(pre, K, dim=-1)
    f = torch.zeros_like(pre).scatter(-1, top.indices, top.values.relu())
    close(sae.encode(x), f)
    close(sae(x), (f / norms) @ w["W_dec"] + w["b_dec"])


def test_hook_names_map_to_our_sites():
    for site in ("resid_post", "attn_out", "mlp_out"):
        assert site_of_hook(saelens_hook_name(site, 7)) == (site, 7)
    with pytest.raises(ValueError, match="blocks.3.attn.hook_z.*not a site"):
        site_of_hook("blocks.3.attn.hook_z")


ERRORS = [
    ({**V6, "architecture": "jumprelu"}, None, "architecture 'jumprelu' cannot be represented.*supported"),
    ({**V6, "architecture": "gated"}, None, "'gated'"),
    ({**V6, "d_sae": D_SAE + 1}, None, "W_enc has shape .* implies .*re-export"),
    ({**V6, "metadata": {**V6["metadata"], "hook_name": "blocks.0.attn.hook_z"}}, None, "not a site"),
    ({**V6, "normalize_activations": "expected_average_only_in"}, None, "fold it first"),
    ({**V6, "normalize_activations": "layer_norm"}, None, "each token"),
    ({**V6, "architecture": "topk", "k": K}, torch.rand(D_SAE) + 0.2, "unequal decoder norms"),
    ({k: v for k, v in V6.items() if k != "d_in"}, None, "lacks integer d_in"),
]


@pytest.mark.parametrize("cfg,norms,message", ERRORS, ids=[m.split()[0] for _, _, m in ERRORS])
def test_unrepresentable_or_inconsistent_folders_get_one_line_errors(tmp_path, cfg, norms, message):
    write_folder(tmp_path, cfg, saelens_like(norms=norms))
    with pytest.raises(ValueError, match=message) as err:
        load_saelens(tmp_path)
    assert "\n" not in str(err.value)


def test_missing_or_broken_files_name_the_file_and_the_fix(tmp_path):
    for read in (load_saelens, folder_digest):
        with pytest.raises(FileNotFoundError, match="no cfg.json in .*point at an SAELens SAE folder"):
            read(tmp_path)
    (tmp_path / CFG_FILE).write_text(json.dumps(V6))
    with pytest.raises(FileNotFoundError, match="no sae_weights.safetensors beside .*safetensors only"):
        load_saelens(tmp_path)
    save_file(saelens_like(), str(tmp_path / WEIGHTS_FILE))
    (tmp_path / CFG_FILE).write_text("{not json")
    with pytest.raises(ValueError, match="cfg.json is not valid JSON"):
        load_saelens(tmp_path)
    (tmp_path / CFG_FILE).write_text(json.dumps(V6))
    save_file({**saelens_like(), "threshold": torch.zeros(D_SAE)}, str(tmp_path / WEIGHTS_FILE))
    with pytest.raises(ValueError, match="holds tensors .*threshold.*expected exactly"):
        load_saelens(tmp_path)


def test_bad_save_arguments_write_nothing(tmp_path):
    sae = nontrivial_sae("relu", layer=3)
    with pytest.raises(ValueError, match="not this SAE's site.*blocks.3.hook_resid_post"):
        save_saelens(sae, tmp_path / "a", model_name="m", hook_name="blocks.4.hook_resid_post")
    with pytest.raises(ValueError, match="model_name is empty"):
        save_saelens(sae, tmp_path / "a", model_name="")
    assert list(tmp_path.iterdir()) == []


def test_an_sae_for_another_model_is_refused(tmp_path):
    save_saelens(nontrivial_sae("relu", layer=3), tmp_path, model_name="m")
    assert load_for_model(tmp_path, D, 4).cfg.layer == 3
    with pytest.raises(ValueError, match="d_in=12 but the model's hidden size is 16"):
        load_for_model(tmp_path, 16, 4)
    with pytest.raises(ValueError, match="layer 3 but the model has 2 layers"):
        load_for_model(tmp_path, D, 2)


def test_a_pretrained_sae_replaces_training_and_is_measured_on_the_same_held_out_examples(tmp_path, tiny_model,
                                                                                         tokens):
    d_model = tiny_model.config.hidden_size
    acts = collect_activations(tiny_model, tokens, "mlp_out", 1)
    sae, _ = train_sae(acts, SAEConfig(d_in=d_model, d_sae=32, kind="relu", site="mlp_out", layer=1),
                       SAETrainConfig(steps=20, batch_size=128, log_every=10))
    save_saelens(sae, tmp_path / "s", model_name="tiny")
    loaded, metrics = pretrained_sae_for(tiny_model, tokens, tmp_path / "s")
    assert (loaded.cfg.site, loaded.cfg.layer) == ("mlp_out", 1) and metrics["train_tokens"] == 0
    held_out = collect_activations(tiny_model, tokens.subset(range(len(tokens) - len(tokens) // 10, len(tokens))),
                                   "mlp_out", 1)
    expected = reconstruction_metrics(sae, held_out)
    assert metrics["mse"] == pytest.approx(expected["mse"], rel=1e-4)
    assert metrics["l0"] == pytest.approx(expected["l0"], rel=1e-4)
    assert set(metrics) >= {"delta_loss", "ce_clean", "ce_spliced"}
    digest = folder_digest(tmp_path / "s")
    save_saelens(sae, tmp_path / "s", model_name="another name")
    assert folder_digest(tmp_path / "s") != digest

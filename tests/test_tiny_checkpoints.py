"""The tiny checkpoints' tokenizer and writer: any text round-trips, the ChatML template gives
SmolLM2's format, every id fits the configs' vocabulary, and a checkpoint is written whole or
not at all (a non-empty target and an unknown architecture are refused with nothing written)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from unlearnlab.core import real_model as rm
from unlearnlab.core import tiny_checkpoints as tc

pytestmark = pytest.mark.unit

TEXTS = ["", "a", "  two  spaces ", "héllo wörld\n\ttab", "日本語 🙂", "\x00\x7f\xff bytes",
         "<s> looks special </s>", "<|im_start|>user\nHi<|im_end|>\n"]


@pytest.fixture(scope="module")
def tokenizer():
    return tc.tiny_tokenizer()


@pytest.mark.parametrize("text", TEXTS)
def test_any_text_round_trips(tokenizer, text):
    ids = tokenizer(text, add_special_tokens=False).input_ids
    assert tokenizer.decode(ids) == text
    assert tokenizer(text).input_ids == ids  # nothing added around the text, as SmolLM2's tokenizer


def test_one_token_per_byte_and_specials_are_single_tokens(tokenizer):
    text = "é<|im_end|>a"
    ids = tokenizer(text).input_ids
    assert ids == [tc.N_SPECIAL + b for b in "é".encode()] + [4, tc.N_SPECIAL + ord("a")]
    assert (tokenizer.pad_token_id, tokenizer.bos_token_id, tokenizer.eos_token_id) == (0, 1, 2)


@pytest.mark.parametrize("arch", tc.ARCHITECTURES)
def test_every_id_fits_the_configs_vocabulary(tokenizer, arch):
    config = tc.tiny_config(arch)
    assert len(tokenizer) == tc.TOKENIZER_SIZE <= config.vocab_size
    assert max(tokenizer.get_vocab().values()) < config.vocab_size
    assert (config.pad_token_id, config.bos_token_id, config.eos_token_id) == (
        tokenizer.pad_token_id, tokenizer.bos_token_id, tokenizer.eos_token_id)


def test_chat_template_is_smollm2s_chatml(tokenizer):
    prompt = rm.chat_prompt(tokenizer, "Who?", system="Be brief.")
    assert prompt == "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nWho?<|im_end|>\n<|im_start|>assistant\n"
    no_system = rm.chat_prompt(tokenizer, "Who?")
    assert no_system == rm._CHATML_TURN.format(role="user", content="Who?") + rm._CHATML_ASSISTANT


def test_save_tiny_writes_a_complete_checkpoint_into_an_empty_directory(tmp_path):
    target = tmp_path / "empty"
    target.mkdir()
    assert tc.save_tiny("qwen2", target) == target
    names = {p.name for p in target.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"} <= names
    assert not any(n.endswith(".bin") for n in names)
    assert [p.name for p in tmp_path.iterdir()] == ["empty"]  # no temporary directory left behind


def test_save_tiny_refuses_a_non_empty_directory_and_an_unknown_architecture(tmp_path):
    full = tmp_path / "full"
    full.mkdir()
    (full / "mine.txt").write_text("keep")
    with pytest.raises(FileExistsError, match="not an empty directory"):
        tc.save_tiny("llama", full)
    with pytest.raises(ValueError, match="choose one of llama"):
        tc.save_tiny("gpt2", tmp_path / "new")
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["full", "mine.txt"]


def test_cli_rejects_bad_input_in_one_line_with_nothing_written(tmp_path, capsys):
    assert tc.main(["gpt2", str(tmp_path / "gpt2")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "choose one of" in err
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    assert tc.main(["llama", str(tmp_path / "full")]) == 2
    assert "not an empty directory" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["full", "x"]


@pytest.mark.integration
def test_cli_as_a_module_writes_one_checkpoint(tmp_path):
    out = tmp_path / "phi3"
    ok = subprocess.run([sys.executable, "-m", "unlearnlab.core.tiny_checkpoints", "phi3", str(out)],
                        capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert (out / "model.safetensors").is_file() and "Writing" not in ok.stderr
    assert rm.load_real_model(str(out))[0].config.model_type == "phi3"

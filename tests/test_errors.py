"""Bad input: a clear message, a non-zero exit, nothing overwritten."""

import subprocess

import pytest

from unlearnlab import pipeline
from unlearnlab.data.world import ArithmeticWorld
from unlearnlab.methods import get_method
from unlearnlab.core.models import load_model, save_model
from unlearnlab.core.paths import repo_root
from unlearnlab.profiles import get_profile

pytestmark = pytest.mark.integration


def test_unknown_profile():
    with pytest.raises(ValueError, match="unknown profile 'fast'.*smoke, default, gpu"):
        get_profile("fast")
    with pytest.raises(SystemExit) as exit_info:
        pipeline.main(["--profile", "fast"])
    assert exit_info.value.code == 2
    proc = subprocess.run([str(repo_root() / "run_all.sh"), "--profile", "fast"], capture_output=True, text=True)
    assert proc.returncode == 2 and "unknown profile 'fast'" in proc.stderr


def test_unknown_method_lists_the_registry():
    with pytest.raises(KeyError, match="unknown unlearning method 'GradDif'.*GradDiff"):
        get_method("GradDif")
    with pytest.raises(TypeError, match="no config field"):
        get_method("GradDiff", alpha=0.1)


def test_missing_data_set(tmp_path):
    with pytest.raises(FileNotFoundError, match="run notebooks/00_data.py"):
        ArithmeticWorld.load(tmp_path / "nowhere")


def test_corrupt_checkpoint_is_reported_and_left_alone(tiny_model, tokenizer, tmp_path):
    save_model(tiny_model, tokenizer, tmp_path)
    weights = next(tmp_path.glob("*.safetensors"))
    weights.write_bytes(b"not a safetensors file")
    with pytest.raises(RuntimeError, match="corrupt or incomplete.*delete that directory"):
        load_model(tmp_path)
    assert weights.read_bytes() == b"not a safetensors file"
    with pytest.raises(FileNotFoundError, match="config.json missing"):
        load_model(tmp_path / "missing")


def test_pipeline_refuses_unknown_notebook_selection():
    with pytest.raises(ValueError, match="no notebook matches"):
        pipeline.notebook_paths(["99_nothing"])


def test_unknown_override_is_one_line_exit_2_and_writes_nothing(tmp_path, capsys):
    root = tmp_path / "root"
    code = pipeline.main(["--profile", "smoke", "--output-root", str(root), "--set", "concept.stepz=4"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert "concept.stepz" in err and "concept.steps" in err  # names the field, lists the valid ones
    assert not root.exists()
    assert pipeline.main(["--output-root", str(root), "--set", "concept.steps"]) == 2
    assert "--set 'concept.steps' is not FIELD=VALUE" in capsys.readouterr().err


def test_unknown_figure_names_the_known_ones(tmp_path, capsys):
    assert pipeline.main(["--output-root", str(tmp_path), "--figure", "concept_bars"]) == 2
    assert "no stored recipe for figure 'concept_bars'" in capsys.readouterr().err


def test_overrides_into_the_repository_root_are_refused(capsys):
    figures_before = sorted(p.stat().st_mtime_ns for p in (repo_root() / "figures").iterdir())
    assert pipeline.main(["--set", "concept.steps=4", "--only", "00"]) == 2
    assert "add --output-root" in capsys.readouterr().err
    assert sorted(p.stat().st_mtime_ns for p in (repo_root() / "figures").iterdir()) == figures_before

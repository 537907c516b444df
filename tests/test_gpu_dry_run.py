"""The never-run gpu profile cannot break silently: every notebook, top to bottom, with the gpu
profile's code paths (bf16 autocast, its grids of methods, variants, localizers, SAE kinds and
switches; torch.compile applies on CUDA only) at the smoke profile's sizes, on the CPU, with the
smoke profile's tiny stand-in models (profiles/gpu_dry_run.py). One test per notebook."""

import pytest

from unlearnlab import pipeline
from unlearnlab.profiles import apply_overrides, get_profile, gpu_dry_run

pytestmark = [pytest.mark.dryrun, pytest.mark.xdist_group("gpu_dry_run")]  # one process: one pipeline run

NOTEBOOKS = [p.stem for p in pipeline.notebook_paths()]


def test_dry_run_takes_the_gpu_grids_and_the_smoke_sizes():
    profile = apply_overrides(get_profile("smoke"), gpu_dry_run.overrides())
    gpu, smoke = get_profile("gpu"), get_profile("smoke")
    assert profile.bf16 and profile.device == "cpu"
    assert profile.concept.variants == gpu.concept.variants and profile.private.methods == gpu.private.methods
    assert profile.arithmetic.model == smoke.arithmetic.model and profile.sae.steps == smoke.sae.steps


@pytest.mark.parametrize("notebook", NOTEBOOKS)
def test_notebook_runs_with_the_gpu_code_paths(gpu_dry_run, notebook):
    assert gpu_dry_run.require(notebook).is_file()

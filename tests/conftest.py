"""Shared fixtures: a tokenizer trained on a few lines and Llama models of a few thousand
parameters, so every unit test runs in well under a second or two; the smoke pipeline, run once
per session into one temporary root; and the rule that every test file declares its tier."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import pytest
import torch
from filelock import FileLock

os.environ.setdefault("WANDB_MODE", "disabled")
torch.set_num_threads(1)
# Under pytest-xdist, the notebook kernels of two test processes run at once: each gets its share
# of the cores (two 2-thread kernels on two cores made OpenMP threads wait on each other).
if os.environ.get("PYTEST_XDIST_WORKER_COUNT"):
    os.environ.setdefault("OMP_NUM_THREADS",
                          str(max(1, (os.cpu_count() or 1) // int(os.environ["PYTEST_XDIST_WORKER_COUNT"]))))

from unlearnlab.core.batching import TokenSet  # noqa: E402
from unlearnlab.data import arithmetic as arith  # noqa: E402
from unlearnlab.data import english  # noqa: E402
from unlearnlab.core.models import ModelSize, build_llama  # noqa: E402
from unlearnlab.core.tokenizer import train_tokenizer  # noqa: E402
from unlearnlab import pipeline  # noqa: E402

TIERS = ("unit", "integration", "smoke", "dryrun")

TINY = ModelSize(d_model=16, n_layers=2, n_heads=2, d_mlp=32, max_len=64)


@pytest.fixture(scope="session")
def rows() -> list[dict]:
    rng = random.Random(0)
    out = []
    for op in arith.ALL_OPS:
        out += arith.items(arith.facts(op)[:12], rng, 1)
    return out


@pytest.fixture(scope="session")
def tokenizer(rows):
    texts = [f"{r['prompt']} {r['answer']}" for r in rows] + english.corpus(50, 0)
    return train_tokenizer(texts, vocab_size=200)


@pytest.fixture(scope="session")
def tokens(rows, tokenizer) -> TokenSet:
    return TokenSet.from_rows(rows, tokenizer)


@pytest.fixture
def tiny_model(tokenizer):
    torch.manual_seed(0)
    return build_llama(TINY, len(tokenizer), tokenizer, seed=0)


def _tier(item: pytest.Item) -> int | None:
    return next((i for i, tier in enumerate(TIERS) if item.get_closest_marker(tier)), None)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Refuse a test without a tier marker (``pytestmark = pytest.mark.unit`` at the top of its
    file), so the tiers together run every test. In one process, run the fast tiers first (a
    broken unit fails in seconds); under pytest-xdist, the notebook pipelines first, so their long
    groups start at once and the unit tests fill the other workers meanwhile. Either way the
    notebooks run under their own test ids before the checks of their outputs."""
    untiered = sorted({item.location[0] for item in items if _tier(item) is None})
    if untiered:
        raise pytest.UsageError(f"test files without a tier marker ({', '.join(TIERS)}): {', '.join(untiered)}")
    heavy_first = bool(os.environ.get("PYTEST_XDIST_WORKER_COUNT"))
    items.sort(key=lambda item: (-_tier(item) if heavy_first else _tier(item),
                                 item.path.name not in ("test_smoke_pipeline.py", "test_gpu_dry_run.py")))


class SmokeRun:
    """The smoke pipeline into one output root shared by every test process of the session; each
    notebook runs at most once, after the notebooks it needs (``pipeline.NEEDS``). A file lock per
    notebook makes the processes agree: the first to ask runs it and writes its status, the others
    wait and read it. So two pytest-xdist workers that both check notebooks run them side by side,
    like the pipeline's two lanes, never twice."""

    def __init__(self, root: Path, overrides: dict[str, object] | None = None):
        self.root, self.overrides = root, overrides
        self.order = [p.stem for p in pipeline.notebook_paths()]

    def _closure(self, notebook: str) -> list[str]:
        """``notebook`` and everything it needs, transitively, in pipeline order."""
        wanted, todo = set(), [notebook]
        while todo:
            name = todo.pop()
            if name not in wanted:
                wanted.add(name)
                todo += pipeline.needs(name, self.order)
        return [nb for nb in self.order if nb in wanted]

    def require(self, notebook: str) -> Path:
        """Run ``notebook`` and what it needs (once per session); return its executed ``.ipynb``.
        Fails naming the notebook when it failed; skips when one it needs did (that one's test
        names it)."""
        errors = {nb: self._ensure(nb) for nb in self._closure(notebook)}
        if errors[notebook]:
            pytest.fail(f"notebook {notebook} failed: {errors[notebook]}", pytrace=False)
        failed_before = [nb for nb, err in errors.items() if err and nb != notebook]
        if failed_before:
            pytest.skip(f"{notebook} needs {failed_before[0]}, which failed")
        return self.root / "outputs" / "notebooks" / "smoke" / f"{notebook}.ipynb"

    def _ensure(self, notebook: str) -> str | None:
        """The notebook's error (None when it ran), running it if no process has yet."""
        status = self.root / "status" / f"{notebook}.json"
        status.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(status) + ".lock"):
            if not status.is_file():
                status.write_text(json.dumps({"error": self._run(notebook)}))
        return json.loads(status.read_text())["error"]

    def _run(self, notebook: str) -> str | None:
        try:
            pipeline.run("smoke", str(self.root), only=[notebook], overrides=self.overrides)
        except Exception as err:  # papermill's error names the failing cell and its traceback
            return f"{type(err).__name__}: {err}"
        return None


def shared_root(tmp_path_factory, name: str) -> Path:
    """A folder every test process of this session sees (the session's temporary root under
    pytest-xdist, whose workers each get a subfolder of it)."""
    base = tmp_path_factory.getbasetemp()
    root = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / name
    root.mkdir(parents=True, exist_ok=True)
    return root


@pytest.fixture(scope="session", autouse=True)
def model_cache(tmp_path_factory):
    """One SmolLM2 conversion per test session, shared by every test and notebook of it, in a
    temporary folder: tests never write into the user's ``~/.cache``. A set
    ``UNLEARNLAB_MODEL_CACHE`` is used as it is (e.g. to reuse a conversion across sessions)."""
    from unlearnlab.core.real_model import CACHE_ENV

    if os.environ.get(CACHE_ENV):
        yield Path(os.environ[CACHE_ENV])
        return
    os.environ[CACHE_ENV] = str(shared_root(tmp_path_factory, "model_cache"))  # one per session, all workers
    try:
        yield Path(os.environ[CACHE_ENV])
    finally:
        os.environ.pop(CACHE_ENV, None)


@pytest.fixture(scope="session")
def smoke(tmp_path_factory) -> SmokeRun:
    return SmokeRun(shared_root(tmp_path_factory, "smoke_run"))


@pytest.fixture(scope="session")
def gpu_dry_run(tmp_path_factory) -> SmokeRun:
    """The notebooks with the gpu profile's code paths at smoke sizes (profiles/gpu_dry_run.py)."""
    from unlearnlab.profiles import gpu_dry_run

    return SmokeRun(shared_root(tmp_path_factory, "gpu_dry_run"), gpu_dry_run.overrides())

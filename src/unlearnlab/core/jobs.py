"""Training jobs: a study's training step that runs in the notebook's process or under ``accelerate launch``.

Why: a notebook runs in one Jupyter kernel, so it cannot itself become eight data-parallel processes. A
study instead hands a *job* (a module-level function and JSON-able arguments) to ``launch``:

* with no accelerate config (every profile's default) the function is called right here, with the
  study's own session: nothing changes, not a bit (no subprocess, no accelerate import);
* with ``accelerate_config`` set (``--set accelerate_config=ddp_8gpu.yaml``) ``launch`` writes a spec
  and runs ``accelerate launch --config_file ... -m unlearnlab.core.jobs SPEC``: every process rebuilds
  the session from the profile name, output root and overrides, and calls the function inside
  ``distributed.scaled_out()``, so ``core.training.train`` runs DDP / FSDP2 and every sampler gives each
  process its part of the global batch (``core.batching``). The function writes its outputs into ``out``
  from the main process (``distributed.write_json`` / ``save_pretrained``); the notebook reads them once
  the launch returns, exactly as it reads the in-process result.

A job function has the signature ``fn(out: Path, session: Session, **kwargs) -> None``. A failed launch
raises ``JobFailed`` with the launcher's last error line and the path of its full log.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from unlearnlab.core import distributed

if TYPE_CHECKING:
    from unlearnlab.experiments.session import Session

SPEC_FILE = "job_spec.json"
RESULT_FILE = "result.json"  # what a job run by ``result_of`` writes
_EXCEPTION_LINE = re.compile(r"^(?:\[rank\d+\]:\s*)?((?:\w+\.)*\w+(?:Error|Exception): .*)$")
LOG_FILE = "job_launch.log"

T = TypeVar("T")

# What studies handed to their jobs in this process, by a key made of the jobs' JSON arguments. Weak: an
# object nobody holds any more is freed (a notebook holds its world or setup while its jobs run).
_AT_HAND: weakref.WeakValueDictionary[str, Any] = weakref.WeakValueDictionary()


class JobFailed(RuntimeError):
    """A launched training job exited non-zero (the message is one line: what, exit code, last error)."""


def function_path(fn: Callable) -> str:
    """``module:qualname`` of a module-level function (what the launched processes import)."""
    if "<locals>" in fn.__qualname__ or fn.__module__ == "__main__":
        raise ValueError(f"a job must be a module-level function of an importable module, not {fn.__qualname__}")
    return f"{fn.__module__}:{fn.__qualname__}"


def resolve(path: str) -> Callable:
    """The function named by ``module:qualname``."""
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


def session_spec(session: Session) -> dict[str, Any]:
    """What a launched process needs to rebuild ``session``: profile name, output root, overrides."""
    return {"profile": session.profile.name, "output_root": str(session.paths.root),
            "overrides": dict(session.overrides)}


def launch(fn: Callable, out: Path, session: Session, **kwargs: Any) -> None:
    """Run the job ``fn(out, session, **kwargs)``: here, or under ``accelerate launch`` when the
    session's profile names an accelerate config (``Profile.accelerate_config``)."""
    config = session.profile.accelerate_config
    if not config:
        fn(out, session, **kwargs)
        return
    config_file = Path(config).expanduser()
    if not config_file.is_file():
        raise FileNotFoundError(f"accelerate config {config_file} not found; write one with `accelerate config` "
                                "(docs/several_gpus.md) or set accelerate_config to \"\" to train in this process")
    out.mkdir(parents=True, exist_ok=True)
    spec = {"function": function_path(fn), "out": str(out), "session": session_spec(session), "kwargs": kwargs}
    (out / SPEC_FILE).write_text(json.dumps(spec, indent=1))
    run_launcher(config_file, out / SPEC_FILE, out / LOG_FILE, spec["function"])


def result_of(fn: Callable, session: Session, **kwargs: Any) -> Any:
    """Run a job whose product is a JSON value (a results-store row), not an artifact: ``fn`` writes
    ``out/RESULT_FILE`` from the main process (``distributed.write_json``); the value is returned and
    the scratch folder removed (a failed launch keeps its log beside it, as ``launch`` does)."""
    session.paths.artifacts.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".job_", dir=session.paths.artifacts))
    try:
        launch(fn, scratch, session, **kwargs)
        return json.loads((scratch / RESULT_FILE).read_text())
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def hand_over(obj: Any, *key: Any) -> None:
    """Keep ``obj`` at hand, under ``key`` (JSON-able parts, e.g. the job arguments it is rebuilt
    from), for the jobs this process runs itself: ``at_hand`` gives them this very object, with its
    loaded model and caches, so a job run here makes exactly the calls the study made before."""
    _AT_HAND[_hand_key(key)] = obj


def at_hand(build: Callable[[], T], *key: Any) -> T:
    """The object handed over under ``key`` in this process; else (a launched process) ``build()``,
    kept at hand for the process's next job while someone holds it."""
    found = _AT_HAND.get(_hand_key(key))
    if found is None:
        found = build()
        _AT_HAND[_hand_key(key)] = found
    return found


def _hand_key(key: tuple) -> str:
    return json.dumps(key, sort_keys=True)


def launcher_command(config_file: Path, spec_file: Path) -> list[str]:
    """``accelerate launch --config_file CONFIG -m unlearnlab.core.jobs SPEC`` with this interpreter."""
    return [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(config_file),
            "-m", "unlearnlab.core.jobs", str(spec_file)]


def run_launcher(config_file: Path, spec_file: Path, log_file: Path, what: str) -> None:
    """Run the launcher with this package first on the path (a checkout, not only an installed copy);
    its output goes to ``log_file``; a non-zero exit raises ``JobFailed``."""
    src = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (src, os.environ.get("PYTHONPATH", "")) if p)}
    with log_file.open("w") as log:
        done = subprocess.run(launcher_command(config_file, spec_file), env=env, stdout=log,
                              stderr=subprocess.STDOUT, text=True)
    if done.returncode:
        # an artifact's make(tmp) launched this: the failed artifact's tmp folder is removed, its log kept beside
        kept = log_file.parent.parent / f"{log_file.parent.name.lstrip('.')}.{LOG_FILE}"
        shutil.copyfile(log_file, kept)
        raise JobFailed(f"training job {what} failed under accelerate launch (exit {done.returncode}): "
                        f"{last_error(log_file)}; full log: {kept}")


def last_error(log_file: Path) -> str:
    """The first exception a process raised (``KeyError: ...``, rank prefix dropped), else the log's
    last line: the launcher's own summary (ChildFailedError) names no cause."""
    lines = [line.strip() for line in log_file.read_text(errors="replace").splitlines() if line.strip()]
    raised = [m.group(1) for m in map(_EXCEPTION_LINE.match, lines) if m]
    return (raised or lines or ["(empty log)"])[0 if raised else -1][:300]


def run_spec(spec_file: Path) -> None:
    """One launched process: rebuild the session and run the job inside ``distributed.scaled_out()``."""
    from unlearnlab.experiments.session import start

    spec = json.loads(Path(spec_file).read_text())
    where = spec["session"]
    session = start(where["profile"], where["output_root"], where["overrides"])
    fn = resolve(spec["function"])
    with distributed.scaled_out():
        if distributed.is_main():  # the job's log says how it trained
            print(f"job {spec['function']}: {distributed.world_size()} processes, {distributed.strategy()}",
                  flush=True)
        fn(Path(spec["out"]), session, **spec["kwargs"])


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: accelerate launch ... -m unlearnlab.core.jobs SPEC.json (written by core.jobs.launch)")
    run_spec(Path(sys.argv[1]))

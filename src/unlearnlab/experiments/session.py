"""A notebook's run context: profile, output paths, device, results store."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from unlearnlab.core.artifacts import ResultsStore
from unlearnlab.core.parallel import quiet_libraries
from unlearnlab.core.paths import Paths
from unlearnlab.profiles import Profile, get_profile


@dataclass
class Session:
    profile: Profile
    paths: Paths
    overrides: dict = field(default_factory=dict)  # what `start` applied: a training job rebuilds the session

    @property
    def store(self) -> ResultsStore:
        return ResultsStore(self.paths.results)

    @property
    def device(self) -> str:
        return self.profile.device

    @property
    def hardware(self) -> dict:
        return self.profile.train_kwargs


def start(profile: str = "default", output_root: str | Path | None = None,
          overrides: dict[str, object] | None = None) -> Session:
    """Validate the profile (with ``study.field`` overrides, see ``profiles.apply_overrides``), create
    output folders, pick threads/device. Call once per notebook."""
    prof = get_profile(profile, overrides)
    quiet_libraries()
    if prof.device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"profile {profile!r} needs a CUDA GPU and none is visible; "
                           "use --profile default on a CPU machine")
    if prof.device == "cpu":
        torch.set_num_threads(max(1, min(torch.get_num_threads(), 4)))
    else:
        torch.backends.cuda.matmul.allow_tf32 = True
    return Session(prof, Paths.at(output_root).ensure(), dict(overrides or {}))


def model_id(session: Session, model_dir: str | Path) -> str:
    """A saved model's path relative to the artifacts root: its identity across output roots."""
    path = Path(model_dir)
    try:
        return path.relative_to(session.paths.artifacts).as_posix()
    except ValueError:
        return path.as_posix()

"""The ``gpu`` profile's code paths on a CPU, at smoke sizes: a dry run that can fail here.

No GPU has run the ``gpu`` profile yet. What it does differently from ``smoke`` is of two kinds:
*sizes* (models, steps, seeds, item counts: only a GPU affords them) and *code paths* (bf16
autocast; the methods, variants, localizers, SAE kinds and switches its grids run). ``overrides()``
takes every code path from ``gpu`` and every size from ``smoke``, as ``--set`` overrides of the
smoke profile; ``torch.compile`` is switched on as in ``gpu`` but applies on CUDA only
(core/training.py), so on a CPU it is a no-op. The smoke-tier test ``tests/test_gpu_dry_run.py``
runs every notebook this way:

    python -m unlearnlab.pipeline --profile smoke --output-root "$(mktemp -d)" \\
        $(python -m unlearnlab.profiles.gpu_dry_run)
"""

from __future__ import annotations

import dataclasses

from unlearnlab.profiles import STUDIES, get_profile

# lists of data items, not code paths: the gpu profile's longer lists only cost time
ITEM_FIELDS = frozenset({"rewrite.targets", "rewrite.probe_relations"})


def _is_code_path(value: object) -> bool:
    """A switch, or a grid of names (``("lora", "NPO")``, ``(("GradDiff", 3e-4), ...)``)."""
    if isinstance(value, bool):
        return True
    if not isinstance(value, tuple) or not value:
        return False
    first = value[0]
    return isinstance(first, str) or (isinstance(first, tuple) and bool(first) and isinstance(first[0], str))


def overrides() -> dict[str, object]:
    """``--set`` overrides that turn the smoke profile into the gpu profile's code paths."""
    smoke, gpu = get_profile("smoke"), get_profile("gpu")
    chosen: dict[str, object] = {"bf16": gpu.bf16, "compile": gpu.compile}
    for study in STUDIES:
        for field in dataclasses.fields(getattr(gpu, study)):
            key = f"{study}.{field.name}"
            value = getattr(getattr(gpu, study), field.name)
            if key not in ITEM_FIELDS and value != getattr(getattr(smoke, study), field.name) and _is_code_path(value):
                chosen[key] = value
    return chosen


if __name__ == "__main__":  # print the overrides as --set arguments
    import json

    print(" ".join(f"--set {key}={json.dumps(value, separators=(',', ':'))}" for key, value in overrides().items()))

"""The fact-rewrite artifacts read back as frames (``run.run_grid``'s output → tables and plots)."""

from __future__ import annotations

import pandas as pd

from unlearnlab.core.artifacts import read_json


def results(grid_out: dict) -> pd.DataFrame:
    """One row per (target, variant, seed) plus the unedited model ("base") per target."""
    rows = []
    for target, directory in grid_out["setups"].items():
        info = read_json(directory / "setup.json")
        rows.append({"target": target.name, "variant": "base", "seed": -1, "known": info["known"],
                     "train_s": 0.0, **info["base"]["scores"]})
    for target, variant, seed, directory in grid_out["runs"]:
        out = read_json(directory / "run.json")
        info = read_json(grid_out["setups"][target] / "setup.json")
        rows.append({"target": target.name, "variant": variant, "seed": seed, "known": info["known"],
                     "train_s": out["train_s"], **out["scores"]})
    return pd.DataFrame(rows)


def lens_frame(grid_out: dict) -> pd.DataFrame:
    """Logit-lens rows (target, variant, seed, answer F1/F2, layer, rank, logprob)."""
    rows = []

    def add(target, variant: str, seed: int, lens: dict) -> None:
        for answer, layers in lens.items():
            rows.extend({"target": target.name, "variant": variant, "seed": seed, "answer": answer.upper(), **r}
                        for r in layers)

    for target, directory in grid_out["setups"].items():
        add(target, "base", -1, read_json(directory / "setup.json")["base"]["lens"])
    for target, variant, seed, directory in grid_out["runs"]:
        add(target, variant, seed, read_json(directory / "run.json")["lens"])
    return pd.DataFrame(rows)


def relearn_frame(grid_out: dict) -> pd.DataFrame:
    """Relearning-curve rows (target, variant, seed, lr, step, logprob, exact)."""
    rows = []
    for target, variant, seed, directory in grid_out["runs"]:
        rows.extend({"target": target.name, "variant": variant, "seed": seed, **point}
                    for point in read_json(directory / "run.json").get("relearn", []))
    return pd.DataFrame(rows)


def base_f1_level(grid_out: dict) -> float | None:
    """The unedited model's held-out F1 log-prob (of its own answers), mean over targets: the
    level a relearning attack would have to reach to fully restore F1."""
    levels = [read_json(d / "setup.json")["base"].get("f1_own", {}).get("logprob") for d in grid_out["setups"].values()]
    levels = [x for x in levels if x is not None]
    return sum(levels) / len(levels) if levels else None

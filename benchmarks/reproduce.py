"""Independent replication: rerun the default profile on a disjoint set of seeds (every model
trained anew) into a temporary root and compare its tables with the committed ones, cell by cell.

Why: intervals over seeds are honest only if a rerun with other models lands inside them. For every
'mean ± CI' cell of both runs this counts the cells whose means differ by more than the combined
interval sqrt(CI₁² + CI₂²) (calibrated intervals leave about 5 % outside; the design allows 7 %),
lists them, and prints the SAE suite sizes of both runs (fixed by design, so they must agree).
This prints numbers; it is not a test. A default run takes the default profile's time.

    python benchmarks/reproduce.py                       # seeds 3 4 5, temporary root
    python benchmarks/reproduce.py --seeds 6 7 8 --root /tmp/rep
    python benchmarks/reproduce.py --compare /tmp/rep    # compare a finished replication only
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd

from unlearnlab.core.paths import Paths, repo_root
from unlearnlab.reporting import numbers, replication

SEED_FIELDS = ("arithmetic.seeds", "sae.seeds", "private.seeds", "concept.seeds", "rewrite.seeds",
               "private.real_seeds", "sae.real_seeds")


def seed_overrides(seeds: list[int]) -> list[str]:
    """``--set`` arguments giving every world and model the replication's seeds."""
    return [arg for field in SEED_FIELDS for arg in ("--set", f"{field}={json.dumps(seeds)}")]


def run_replication(root: Path, seeds: list[int], profile: str) -> None:
    cmd = [sys.executable, "-m", "unlearnlab.pipeline", "--profile", profile, "--output-root", str(root),
           *seed_overrides(seeds)]
    print("[reproduce]", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True)


def suite_counts(root: Path) -> dict[str, str]:
    """The numbers that count items of a suite (their description says 'questions' or 'items')."""
    found = numbers.read_all(Paths.at(root))
    return {k: v["plain"] for k, v in found.items() if k.startswith("sae") and "question" in v["about"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[3, 4, 5])
    parser.add_argument("--profile", default="default")
    parser.add_argument("--root", type=Path, help="output root of the replication (default: a temporary folder)")
    parser.add_argument("--compare", type=Path, help="compare this finished replication's root; run nothing")
    parser.add_argument("--against", type=Path, default=repo_root(), help="root of the run compared with")
    args = parser.parse_args()
    root = args.compare or args.root or Path(tempfile.mkdtemp(prefix="replication_"))
    if not args.compare:
        run_replication(root, args.seeds, args.profile)
    diffs = replication.compare_dirs(args.against / "paper" / "tables", root / "paper" / "tables")
    pd.set_option("display.width", 160)
    print(replication.summary(diffs).to_string(index=False))
    outside = [d for d in diffs if d.outside]
    print(f"\n{len(outside)} of {len(diffs)} cells outside sqrt(CI1^2 + CI2^2):")
    for d in outside:
        print(f"  {d.table}: {d.row} / {d.column}: {d.first} -> {d.second}")
    print("\nSAE suite sizes (committed -> replication):", suite_counts(args.against), "->", suite_counts(root))


if __name__ == "__main__":
    main()

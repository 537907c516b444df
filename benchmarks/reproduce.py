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
    python benchmarks/reproduce.py --compare /tmp/rep --record   # and keep the result for the paper

``--record`` writes benchmarks/replication.json (commits of both runs, seeds, per-table summary, every
cell outside, suite sizes); the pipeline turns it into the paper's replication numbers and table.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from datetime import date
from pathlib import Path

import pandas as pd

from unlearnlab.core.artifacts import write_json_atomic
from unlearnlab.core.paths import Paths, repo_root
from unlearnlab.profiles import disjoint_seeds, get_profile
from unlearnlab.reporting import manifest, numbers, replication

def seed_overrides(seeds: list[int], profile: str) -> list[str]:
    """``--set`` arguments giving every seed field of ``profile`` as many replication seeds as it has
    (``profiles.disjoint_seeds``)."""
    try:
        chosen = disjoint_seeds(get_profile(profile), seeds)
    except ValueError as err:
        raise SystemExit(f"reproduce: {err} (--seeds)") from None
    return [arg for field, values in chosen.items() for arg in ("--set", f"{field}={json.dumps(values)}")]


def run_replication(root: Path, seeds: list[int], profile: str) -> None:
    cmd = [sys.executable, "-m", "unlearnlab.pipeline", "--profile", profile, "--output-root", str(root),
           *seed_overrides(seeds, profile)]
    print("[reproduce]", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True)


def suite_counts(root: Path) -> dict[str, str]:
    """The SAE study's question counts (its numbers named ``...Questions``): fixed by design, so a
    replication must print the same ones."""
    found = numbers.read_all(Paths.at(root))
    return {k: v["plain"] for k, v in found.items() if k.startswith("sae") and k.endswith("Questions")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[3, 4, 5])
    parser.add_argument("--profile", default="default")
    parser.add_argument("--root", type=Path, help="output root of the replication (default: a temporary folder)")
    parser.add_argument("--compare", type=Path, help="compare this finished replication's root; run nothing")
    parser.add_argument("--against", type=Path, default=repo_root(), help="root of the run compared with")
    parser.add_argument("--record", action="store_true", help=f"keep the result in {replication.RECORD_NAME}")
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
    missing = replication.missing_tables(args.against / "paper" / "tables", root / "paper" / "tables")
    print("\nTables the replication did not write (not compared):", ", ".join(missing) or "none")
    suites = {"committed": suite_counts(args.against), "replication": suite_counts(root)}
    print("\nSAE suite sizes (committed -> replication):", suites["committed"], "->", suites["replication"])
    if args.record:
        write_record(args, root, diffs, suites)


def run_commit(root: Path, profile: str) -> str:
    """The commits that made a root's tables: its manifest's per-notebook commits (a root whose notebooks
    were rerun at different commits names each), else the run's."""
    for path in (root / "figures" / "MANIFEST.json", root / "outputs" / f"manifest_{profile}.json"):
        if path.is_file():
            record = manifest.read_manifest(path)
            runs = [manifest.short_commit(r.get("git_commit", ""))
                    for nb, r in sorted(record.get("notebook_runs", {}).items()) if nb != "90_paper"]
            fallback = manifest.short_commit(record.get("git_commit", "unknown"))
            return ", ".join(dict.fromkeys(c for c in runs if c)) or fallback
    return "unknown"


def write_record(args: argparse.Namespace, root: Path, diffs: list, suites: dict) -> None:
    seeds = disjoint_seeds(get_profile(args.profile), args.seeds)
    missing = replication.missing_tables(args.against / "paper" / "tables", root / "paper" / "tables")
    rec = replication.record(diffs, seeds, run_commit(args.against, args.profile), run_commit(root, args.profile),
                             date.today().isoformat(), suites, missing)
    path = repo_root() / replication.RECORD_NAME
    write_json_atomic(path, rec)
    print(f"[reproduce] recorded in {path}; ./run_all.sh (or the 90_paper notebook) puts it in the paper")


if __name__ == "__main__":
    main()

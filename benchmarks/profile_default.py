"""Where a pipeline run's seconds go: per notebook and per phase (pretrain, unlearn, distill,
attack, SAE training, localization, evaluation, model load/save, plotting, other).

Every pipeline run records, per notebook, the CPU seconds its kernel and pool workers spent in
each phase (``unlearnlab.core.timing.phase``) into the manifest. This prints them as a table, from
the paper's record by default or from any output root's manifest, and with ``--run`` first runs
the pipeline to produce one. Profile before optimising: the largest cells are the levers.

    python benchmarks/profile_default.py                          # figures/MANIFEST.json
    python benchmarks/profile_default.py --manifest /tmp/x/outputs/manifest_smoke.json
    python benchmarks/profile_default.py --run --profile smoke --output-root "$(mktemp -d)"
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from unlearnlab.core.paths import repo_root
from unlearnlab.reporting import readme


def table(manifest_path: Path, profile: str) -> str:
    """The phase table of one manifest, for ``profile``'s notebook runs."""
    if not manifest_path.is_file():
        raise SystemExit(f"no manifest at {manifest_path}; run the pipeline first (or pass --run)")
    record = json.loads(manifest_path.read_text())
    return readme.render_phases(record, profile, str(manifest_path))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--manifest", type=Path, default=None,
                        help="a manifest written by the pipeline (default: figures/MANIFEST.json, or "
                             "<output root>/outputs/manifest_<profile>.json with --run)")
    parser.add_argument("--profile", default="default")
    parser.add_argument("--run", action="store_true", help="run the pipeline first")
    parser.add_argument("--output-root", default=None, help="with --run: where (default: a new temporary folder)")
    args = parser.parse_args(argv)
    manifest_path = args.manifest
    if args.run:
        import tempfile

        from unlearnlab import pipeline
        root = Path(args.output_root or tempfile.mkdtemp(prefix="unlearnlab-profile-"))
        pipeline.run(args.profile, str(root))
        manifest_path = manifest_path or root / "outputs" / f"manifest_{args.profile}.json"
    manifest_path = manifest_path or repo_root() / "figures" / "MANIFEST.json"
    print(table(manifest_path, args.profile))
    return 0


if __name__ == "__main__":
    sys.exit(main())

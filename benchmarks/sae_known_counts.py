"""How many suite questions a hazard model knows: pretrain one model at (world, steps, seed) and print its
known forget / side-effect counts (24-ordering filter) and CPU seconds. The SAE study's fixed suite sizes
(sae.n_*_forget / n_*_side) must stay below what every seed's model knows; this measures it.

    python benchmarks/sae_known_counts.py 24 8 9000 3            # world (24, 8), 9,000 steps, seed 3
    python benchmarks/sae_known_counts.py 24 8 9000 5 --root /tmp/known
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from unlearnlab.data.hazard import HazardWorld
from unlearnlab.experiments.sae.synthetic import build_world, load_suite, pretrain
from unlearnlab.experiments.session import start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    for name in ("forget_entities", "side_entities", "steps", "seed"):
        parser.add_argument(name, type=int)
    parser.add_argument("--root", type=Path, help="output root (default: a temporary folder)")
    a = parser.parse_args()
    root = a.root or Path(tempfile.mkdtemp(prefix="known_counts_"))
    session = start("default", root, {"sae.world": [a.forget_entities, a.side_entities], "sae.pretrain_steps": a.steps})
    t0 = time.process_time()
    world = HazardWorld.load(build_world(session))
    suite = load_suite(world, pretrain(session, world, a.seed))
    held = sum(q.get("split") != "attack" for q in suite.forget_rows)
    print(json.dumps({"world": [a.forget_entities, a.side_entities], "steps": a.steps, "seed": a.seed,
                      "cpu_s": round(time.process_time() - t0, 1), "known_forget": len(suite.forget_rows),
                      "known_held_out": held, "known_side": len(suite.side_rows)}))


if __name__ == "__main__":
    main()

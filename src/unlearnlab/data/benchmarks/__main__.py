"""Check that a benchmark split can be read: print its size and first row, or the one-line error.

    python -m unlearnlab.data.benchmarks tofu forget01 --source DIR
    python -m unlearnlab.data.benchmarks muse news knowmem forget_qa --source DIR
    python -m unlearnlab.data.benchmarks wmdp bio --source DIR
    python -m unlearnlab.data.benchmarks wmdp-corpus cyber-forget-corpus --source DIR
    python -m unlearnlab.data.benchmarks mmlu high_school_us_history --source DIR
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from unlearnlab.data.benchmarks import load_mmlu, load_muse, load_tofu, load_wmdp, load_wmdp_corpus
from unlearnlab.data.benchmarks.files import BenchmarkDataMissing

LOADERS = {"tofu": load_tofu, "muse": load_muse, "wmdp": load_wmdp, "wmdp-corpus": load_wmdp_corpus,
           "mmlu": load_mmlu}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Read one split of a benchmark from local files (or the hub).")
    parser.add_argument("benchmark", choices=sorted(LOADERS))
    parser.add_argument("args", nargs="+", help="the loader's arguments: split (tofu); corpus subset split (muse); "
                                                "domain (wmdp); corpus name (wmdp-corpus); subject (mmlu)")
    parser.add_argument("--source", default=None, help="local folder or file (default: the hub dataset)")
    args = parser.parse_args(argv)
    extra = {"source": args.source} if args.source else {}
    try:
        rows = LOADERS[args.benchmark](*args.args, **extra)
    except (BenchmarkDataMissing, ValueError, TypeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"{len(rows)} rows")
    if rows:
        print(json.dumps(rows[0], ensure_ascii=False)[:500])
    return 0


if __name__ == "__main__":
    sys.exit(main())

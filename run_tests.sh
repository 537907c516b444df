#!/usr/bin/env bash
# Every test tier: unit (tiny models, seconds), integration (pieces together) and smoke (every
# notebook in the smoke profile, in order, into one temporary output root; one test per notebook),
# then the 15 slowest tests. Tests run in one process per core (pytest-xdist; UNLEARNLAB_TEST_WORKERS
# sets how many, 0 for one process); the notebooks of one pipeline run stay together in one process
# (their test files mark them with one xdist_group). Extra arguments go to pytest, e.g. ./run_tests.sh -m unit
# or ./run_tests.sh -m "not smoke".
set -euo pipefail
cd "$(dirname "$0")"
source scripts/bootstrap_env.sh
python -m pytest tests -n "${UNLEARNLAB_TEST_WORKERS:-$(nproc)}" --dist loadgroup --durations=15 "$@"

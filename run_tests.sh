#!/usr/bin/env bash
# The test tiers: unit (tiny models, seconds), integration (pieces together) and smoke (every
# notebook in the smoke profile into one temporary output root; one test per notebook), then the
# 15 slowest tests. --all adds the dryrun tier (every notebook with the gpu profile's code paths at
# smoke sizes: minutes more; CI runs it). Tests run in one process per core (pytest-xdist;
# UNLEARNLAB_TEST_WORKERS sets how many, 0 for one process); the notebooks of one pipeline run stay
# together in one process (their test files mark them with one xdist_group). Extra arguments go to
# pytest, e.g. ./run_tests.sh -m unit or ./run_tests.sh -m "not smoke".
set -euo pipefail
cd "$(dirname "$0")"
tiers=(-m "not dryrun")
args=()
for arg in "$@"; do
  case "$arg" in
    --all) tiers=() ;;
    *) args+=("$arg") ;;
  esac
done
for arg in "${args[@]+"${args[@]}"}"; do
  if [ "$arg" = "-m" ]; then tiers=(); fi  # the caller chooses the tiers
done
source scripts/bootstrap_env.sh
python -m pytest tests -n "${UNLEARNLAB_TEST_WORKERS:-$(nproc)}" --dist loadgroup --durations=15 \
  "${tiers[@]+"${tiers[@]}"}" "${args[@]+"${args[@]}"}"

#!/usr/bin/env bash
# Unit tests (tiny models, seconds) and the smoke pipeline (every notebook, smoke profile, into a
# temporary output root). Extra arguments go to pytest, e.g. ./run_tests.sh -m "not smoke".
set -euo pipefail
cd "$(dirname "$0")"
source scripts/bootstrap_env.sh
python -m pytest tests "$@"

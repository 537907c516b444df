#!/usr/bin/env bash
# Rebuild every figure and table of the paper by running the numbered notebooks headless.
#   ./run_all.sh                      default profile, writes figures/ and paper/tables/
#   ./run_all.sh --profile smoke --output-root "$(mktemp -d)"   quick check, touches nothing here
#   ./run_all.sh --profile gpu        larger models and more seeds on one GPU
#   ./run_all.sh --set concept.steps=4 --output-root "$(mktemp -d)"   override profile fields
#   ./run_all.sh --figure concept_bars                         re-draw one figure from stored results
# Every option is python -m unlearnlab.pipeline's (--help lists them).
set -euo pipefail
cd "$(dirname "$0")"
profile=default
for ((i = 1; i <= $#; i++)); do
  if [ "${!i}" = "--profile" ]; then j=$((i + 1)); profile="${!j:-}"; fi
done
case "$profile" in
  smoke|default|gpu) ;;
  *) echo "run_all.sh: unknown profile '$profile'; use --profile smoke, default or gpu" >&2; exit 2 ;;
esac
source scripts/bootstrap_env.sh
python -m unlearnlab.pipeline "$@"
if [[ " $* " != *" --output-root "* ]] && [ "$profile" != smoke ]; then
  if command -v latexmk >/dev/null 2>&1; then
    (cd paper && latexmk -pdf -interaction=nonstopmode -halt-on-error main.tex >/dev/null && echo "[paper] paper/main.pdf built")
  else
    echo "[paper] latexmk not found: figures and tables are in place; build with latexmk or upload to Overleaf (see README)"
  fi
fi

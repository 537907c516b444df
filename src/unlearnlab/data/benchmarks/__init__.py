"""The field's shared benchmarks read from their published files: TOFU, MUSE, WMDP, MMLU.

Each loader takes a local folder first (in the layout the benchmark was published in), and a hub
name only when no such path exists and the hub can be reached; offline, a missing file raises
``BenchmarkDataMissing`` with one line naming the file and the command that fetches it
(``python -m unlearnlab.data.benchmarks ...`` prints it and exits non-zero). Rows are plain
dicts: ``question``/``answer`` (TOFU, MUSE knowmem), ``prompt``/``gt`` (MUSE verbmem), ``text``
(corpora), and ``question``/``choices``/``answer`` for multiple choice, as ``evals.mcq`` scores them.
"""

from unlearnlab.data.benchmarks.files import BenchmarkDataMissing
from unlearnlab.data.benchmarks.mmlu import SAEBENCH_SIDE_SUBJECTS, load_mmlu, load_saebench_side_effects
from unlearnlab.data.benchmarks.muse import load_muse
from unlearnlab.data.benchmarks.tofu import load_tofu
from unlearnlab.data.benchmarks.wmdp import load_wmdp, load_wmdp_corpus

__all__ = ["BenchmarkDataMissing", "SAEBENCH_SIDE_SUBJECTS", "load_mmlu", "load_muse", "load_saebench_side_effects",
           "load_tofu", "load_wmdp", "load_wmdp_corpus"]

"""Reading LaTeX's log: what counts as an undefined reference and as an overfull box."""

import pytest

from unlearnlab.reporting import paper_build

pytestmark = pytest.mark.unit

LOG = """
LaTeX Warning: Reference `fig:arith' on page 3 undefined on input line 12.
LaTeX Warning: Citation `lee2025distillation' on page 1 undefined on input line 40.
Overfull \\hbox (3.2pt too wide) in paragraph at lines 10--12
Overfull \\hbox (12.5pt too wide) in paragraph at lines 50--52
"""


def test_reads_undefined_references_and_wide_boxes_only():
    undefined, overfull = paper_build.read_log(LOG)
    assert undefined == ["Citation lee2025distillation", "Reference fig:arith"]
    assert len(overfull) == 1 and overfull[0].startswith("12.5pt")


def test_a_clean_log_is_clean():
    assert paper_build.read_log("Output written on main.pdf (12 pages).") == ([], [])

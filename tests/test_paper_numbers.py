"""The paper's prose states results only through generated macros (paper/numbers/), and every
macro it uses is written by some study's report step."""

import pytest

from unlearnlab.core.paths import Paths, repo_root
from unlearnlab.reporting import numbers
from unlearnlab.reporting.paper_refs import typed_numbers, used_macros

pytestmark = pytest.mark.unit

PAPER = repo_root() / "paper"


def test_formats_results_with_units_and_intervals():
    n = numbers.Numbers("arith")
    assert n.percent("baseForget", 0.9343, "base forget accuracy") == "arithBaseForget"
    n.mean_ci("fisherForget", 0.12, 0.034, "Fisher 5 % forget accuracy after the attack")
    n.mean_ci("oneModel", 0.5, float("nan"), "a single model")
    n.count("steps", 12000, "distillation cap")
    n.value("ratio", 0.1512, "steps ratio")
    tex = {k: v["tex"] for k, v in n.entries.items()}
    assert tex["arithBaseForget"] == r"93.4\,\%"
    assert tex["arithFisherForget"] == r"12.0 \ensuremath{\pm} 3.4\,\%"
    assert tex["arithOneModel"] == r"50.0\,\%"
    assert tex["arithSteps"] == "12{,}000" and n.entries["arithSteps"]["plain"] == "12,000"
    assert tex["arithRatio"] == "0.15"


@pytest.mark.parametrize("bad", ["fisher5", "fisher_five", "Fisher five"])
def test_refuses_names_latex_cannot_hold(bad):
    with pytest.raises(ValueError, match="letters only"):
        numbers.Numbers("arith").value(bad, 1.0, "x")


def test_refuses_unknown_study_and_duplicates():
    with pytest.raises(ValueError, match="STUDIES"):
        numbers.Numbers("nostudy")
    n = numbers.Numbers("sae")
    n.value("x", 1.0, "x")
    with pytest.raises(ValueError, match="twice"):
        n.value("x", 2.0, "x")


def test_written_file_defines_every_macro_and_reads_back(tmp_path):
    n = numbers.Numbers("sae")
    n.percent("forgetAcc", 0.5, "forget accuracy")
    n.count("questions", 36, "forget questions")
    paths = Paths.at(tmp_path)
    path = n.write(paths)
    assert path == tmp_path / "paper" / "numbers" / "sae.tex"
    assert numbers.defined_macros(path.parent) == {"saeForgetAcc", "saeQuestions"}
    assert numbers.read_all(paths)["saeQuestions"]["plain"] == "36"


def test_finds_typed_results_but_not_lengths_or_names(tmp_path):
    (tmp_path / "main.tex").write_text(
        "\\documentclass[11pt]{article}\n\\begin{document}\n"
        "\\includegraphics[width=0.49\\linewidth]{a.pdf} Llama-3.1 and \\arithRatio{} % 0.5 in a comment\n"
        "accuracy 93.4 here\nforget 12\\,\\% there\n$3 \\pm 1$ and 4 ± 2\n\\end{document}\n")
    hits = typed_numbers(tmp_path)
    assert [h.split(":")[1] for h in hits] == ["4", "5", "6", "6"]
    assert used_macros(tmp_path, tuple(numbers.STUDIES)) == {"arithRatio"}


def test_paper_prose_has_no_typed_results():
    hits = typed_numbers(PAPER)
    assert hits == [], f"{len(hits)} typed result numbers in the paper's prose (use paper/numbers macros):\n" + \
        "\n".join(hits[:40])


def test_every_macro_the_paper_uses_is_written():
    used = used_macros(PAPER, tuple(numbers.STUDIES))
    missing = sorted(used - numbers.defined_macros(PAPER / "numbers"))
    assert missing == [], f"macros used in the paper but written by no study: {missing}"

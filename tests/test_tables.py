"""LaTeX tables must compile whatever the labels contain."""

import pandas as pd
import pytest

from unlearnlab.reporting.tables import latex_text, write_latex

pytestmark = pytest.mark.unit


def test_latex_text_escapes_specials_outside_math_only():
    assert latex_text("weight_diff 5%") == r"weight\_diff 5\%"
    assert latex_text(r"93.4 $\pm$ 1.2") == r"93.4 $\pm$ 1.2"
    assert latex_text(r"retain (\%)") == r"retain (\%)"
    assert latex_text("a & b #1") == r"a \& b \#1"


def test_write_latex_escapes_cells_and_headers_but_not_the_csv(tmp_path):
    table = pd.DataFrame({"configuration": ["fisher 5%"], "acc (%)": [r"90.0 $\pm$ 1.0"]})
    path = write_latex(table, tmp_path / "t.tex", caption="c", label="tab:t")
    tex = path.read_text()
    assert r"fisher 5\%" in tex and r"acc (\%)" in tex and r"$\pm$" in tex
    assert "fisher 5%" in (tmp_path / "t.csv").read_text()


def test_write_latex_escapes_the_caption_outside_math(tmp_path):
    caption = r"ratios 1%, 5% and weight_diff; mean $\pm$ 95\% CI, Table~\ref{tab:x}"
    tex = write_latex(pd.DataFrame({"a": [1]}), tmp_path / "t.tex", caption=caption, label="tab:t").read_text()
    assert r"ratios 1\%, 5\% and weight\_diff; mean $\pm$ 95\% CI, Table~\ref{tab:x}" in tex


def test_mean_ci_table_prints_no_interval_for_a_single_seed():
    from unlearnlab.reporting.tables import mean_ci_table
    df = pd.DataFrame({"method": ["base", "m", "m", "m"], "acc": [0.5, 0.1, 0.2, 0.3]})
    out = mean_ci_table(df, "method", {"acc": "acc (%)"}).set_index("method")
    assert out.loc["base", "acc (%)"] == "50.0"  # one model: no '± 0.0'
    assert out.loc["m", "acc (%)"].startswith("20.0 $\\pm$ ") and out.loc["m", "seeds"] == 3


def test_format_mean_ci_never_prints_negative_zero():
    from unlearnlab.core.stats import format_mean_ci
    assert format_mean_ci(-0.0001, float("nan")) == "0.0"
    assert format_mean_ci(-0.0001, 0.2) == "0.0 $\\pm$ 20.0"
    assert format_mean_ci(-0.5, 0.1) == "-50.0 $\\pm$ 10.0"


def test_strict_latex_text_escapes_everything_a_model_may_write():
    assert latex_text(r"costs $5 {a} \x ^ ~ <b> | 50%_#&", strict=True) == (
        r"costs \textdollar{}5 \{a\} \textbackslash{}x \textasciicircum{} \textasciitilde{} "
        r"\textless{}b\textgreater{} \textbar{} 50\%\_\#\&")
    assert latex_text("“Zoë’s” café → 東京", strict=True) == "\"Zoë's\" café ? ??"


def test_latex_box_cuts_collapses_and_labels():
    from unlearnlab.reporting.tables import latex_box

    box = latex_box("a  $b$\n" + "x" * 20, 3.5, 10, "direct, no name")
    assert box == r"\parbox[t]{3.5cm}{\raggedright\footnotesize \textit{direct, no name:} a \textdollar{}b\textdollar{} xxxx...}"
    assert latex_box("short", 2.0, 10) == r"\parbox[t]{2cm}{\raggedright\footnotesize short}"


def test_readable_shows_latex_cells_as_plain_text():
    from unlearnlab.reporting.tables import readable

    table = pd.DataFrame({"acc": ["93.4 $\\pm$ 1.2", "5\\%"], "n": [1, 2]})
    assert readable(table).to_dict("list") == {"acc": ["93.4 ± 1.2", "5%"], "n": [1, 2]}

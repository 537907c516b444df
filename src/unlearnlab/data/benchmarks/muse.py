"""MUSE (Shi et al. 2024): News (BBC articles) and Books (Harry Potter) unlearning corpora.

Four subsets are read here, each with its splits and fields:

* ``raw``: ``forget``, ``retain1``, ``retain2``, ``holdout`` — ``text``;
* ``verbmem``: ``forget`` — ``prompt`` and its true continuation ``gt``;
* ``knowmem``: ``forget_qa``, ``retain_qa`` and their ``_icl`` few-shot variants — ``question``,
  ``answer``;
* ``privleak``: ``forget``, ``retain``, ``holdout`` — ``text``.

Two layouts, both checked against what was published: the hub datasets (``muse-bench/MUSE-News``,
``muse-bench/MUSE-Books``: ``<subset>/<split>-00000-of-00001.parquet``, per their dataset cards)
and the original repository's ``data/{news,books}/<subset>/<split>.json`` (JSON arrays; the
``privleak`` and ``raw`` files there list bare strings, read as ``{"text": ...}``). MUSE-Books
and the early repository call the retain split ``retain2`` (``retain2_qa``): both names are
accepted.
"""

from __future__ import annotations

from pathlib import Path

from unlearnlab.data.benchmarks.files import hub_records, load_source, require_fields

REPOS = {"news": "muse-bench/MUSE-News", "books": "muse-bench/MUSE-Books"}
SPLITS: dict[str, tuple[str, ...]] = {
    "raw": ("forget", "retain1", "retain2", "holdout"),
    "verbmem": ("forget",),
    "knowmem": ("forget_qa", "retain_qa", "forget_qa_icl", "retain_qa_icl"),
    "privleak": ("forget", "retain", "holdout"),
}
FIELDS = {"raw": ("text",), "privleak": ("text",), "verbmem": ("prompt", "gt"), "knowmem": ("question", "answer")}
ALIASES = {"retain": ("retain", "retain2"), "retain_qa": ("retain_qa", "retain2_qa"),
           "retain_qa_icl": ("retain_qa_icl", "retain2_qa_icl")}


def file_patterns(corpus: str, subset: str, split: str) -> list[str]:
    """Relative paths to try, hub layout first, then the original repository's."""
    out = []
    for name in ALIASES.get(split, (split,)):
        out += [f"{subset}/{name}-*.parquet", f"{subset}/{name}.json",
                f"data/{corpus}/{subset}/{name}.json", f"{corpus}/{subset}/{name}.json"]
    return out


def _row(record, subset: str, where: str, index: int) -> dict:
    if isinstance(record, str) and FIELDS[subset] == ("text",):
        return {"text": record}
    if not isinstance(record, dict):
        raise ValueError(f"{where}: row {index} is a {type(record).__name__}, expected an object")
    require_fields(record, FIELDS[subset], where, index)
    return {**record, **{f: str(record[f]) for f in FIELDS[subset]}}


def load_muse(corpus: str, subset: str, split: str, source: str | Path | None = None) -> list[dict]:
    """Rows of one MUSE split. ``source``: a folder in either layout (a MUSE-News download, or
    the original repository's root), one file, or the hub name (the default)."""
    if corpus not in REPOS:
        raise ValueError(f"unknown MUSE corpus {corpus!r}; known: {', '.join(REPOS)}")
    if split not in SPLITS.get(subset, ()):
        known = "; ".join(f"{s}: {', '.join(v)}" for s, v in SPLITS.items())
        raise ValueError(f"unknown MUSE subset/split {subset}/{split}; known: {known}")
    repo = REPOS[corpus]
    patterns = file_patterns(corpus, subset, split)

    def hub() -> list:
        return hub_records(repo, subset, ALIASES.get(split, (split,)))

    records, where = load_source(source or repo, f"MUSE-{corpus} {subset}/{split}", patterns, repo,
                                 f"{subset}/{split}-00000-of-00001.parquet", hub)
    return [_row(r, subset, where, i) for i, r in enumerate(records)]

"""A TOFU-format world, offline: fictitious author profiles written as TOFU's split files.

TOFU (Maini et al. 2024) asks 20 questions about each of 200 fictitious authors; its split files
(``full.json``, ``forget01/05/10.json``, ``retain90/95/99.json``, ``holdout01/05/10.json``, the
``*_perturbed.json`` evaluation sets, ``real_authors*`` and ``world_facts*``) are JSON lines with
``question`` and ``answer`` and, in the perturbed sets, ``paraphrased_answer``,
``paraphrased_question`` (forget / retain) and ``perturbed_answer`` (a list of wrong answers in
the paraphrase's wording). This module writes the same files from a seeded generator, so
``data.benchmarks.tofu.load_tofu(split, directory)`` and ``evals.tofu`` read it exactly as they
read the real TOFU, at a size a LoRA fine-tune of SmolLM2 learns on a CPU:

* ``authors`` fictitious authors (unique first + last name combinations, a birthplace, a birth
  year, a genre, an award, a book, a parent's job), ``qa_per_author`` questions each (the first
  kinds of ``QA_KINDS``). TOFU has 200 authors x 20 questions.
* forget sets are the *last* authors of ``full`` (as in TOFU) and nested: ``forgetXX`` holds
  ``max(1, round(XX % x authors))`` authors (``n_forget``; 40 authors give 1 / 2 / 4 for
  01 / 05 / 10 where TOFU's 200 give 2 / 10 / 20), ``retain{100-XX}`` the rest of ``full``.
* ``holdoutXX``: as many further authors as ``forgetXX`` has, never in ``full`` (MUSE-style
  PrivLeak's non-members), nested the same way.
* ``retain_perturbed``: the first ``n_forget(10 %)`` authors' questions (TOFU's is as large as
  ``forget10``).
* ``real_authors`` / ``world_facts``: real knowledge the fine-tune should not lose, from
  ``data.fact_catalog`` (book -> author; capitals, chemical symbols, inventors, founders); the
  wrong options are other objects of the same relation and the paraphrase is the answer itself
  (TOFU scores the gold answer in the paraphrase's place there).

The gold answer, its paraphrase and the wrong answers differ where TOFU's differ: the paraphrase
says the same fact in other words, each wrong answer says a different value in the paraphrase's
words (so a truth ratio compares values, not wordings). A dataset card (``README.md``) and
``card.json`` (config, authors per split) go beside the files.

    python -m unlearnlab.data.tofu_world --dry-run          # samples and split sizes, nothing written
    python -m unlearnlab.data.tofu_world --output-dir data/tofu_world --authors 40
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from unlearnlab.core.artifacts import Artifact, read_json, write_json_atomic
from unlearnlab.data.fact_catalog import FACTS, RELATIONS

FORGET_PERCENT = {"01": 1, "05": 5, "10": 10}  # TOFU's forget splits: name suffix -> % of authors
WORLD_FACT_RELATIONS = ("capital", "symbol", "inventor", "founder")
N_WRONG_OPTIONS = 3  # real authors / world facts: wrong options per question

FIRST = ("Ilsa", "Tomas", "Mirela", "Odan", "Kestrel", "Anouk", "Bram", "Selin", "Corvin", "Liesl", "Radu", "Ysolde",
         "Emrys", "Talia", "Joren", "Nadira", "Piet", "Zora", "Caspian", "Maren", "Idris", "Solveig", "Lucan", "Hana",
         "Dariusz", "Elowen", "Teodor", "Amara", "Viggo", "Noor")
LAST = ("Marwick", "Oyelaran", "Castellane", "Thornbury", "Vasquell", "Lindqvist", "Achterberg", "Moravec",
        "Delacroix-Hale", "Nakamori", "Fenwright", "Oduya", "Kallistrat", "Brannigan", "Sorvino", "Haldane",
        "Petrakis", "Quillon", "Ravensholm", "Takeda-Bloom", "Ulvaeus", "Whitcombe", "Zelenko", "Ibarrola")
CITIES = ("Lisbon, Portugal", "Accra, Ghana", "Krakow, Poland", "Osaka, Japan", "Valparaiso, Chile",
          "Tbilisi, Georgia", "Bergen, Norway", "Marrakesh, Morocco", "Hobart, Australia", "Cork, Ireland",
          "Tallinn, Estonia", "Cebu, Philippines", "Quebec City, Canada", "Izmir, Turkey", "Medellin, Colombia",
          "Gdansk, Poland", "Nairobi, Kenya", "Trieste, Italy", "Ljubljana, Slovenia", "Hue, Vietnam")
GENRES = ("historical fiction", "science fiction", "crime", "poetry", "fantasy", "literary fiction", "horror",
          "romance", "travel writing", "children's literature", "biography", "satire")
AWARDS = ("Silver Quill Prize", "Meridian Book Award", "Harbour Lantern Medal", "Golden Inkwell Award",
          "Northgate Fiction Prize", "Amberline Literary Award", "Crescent Pen Honour", "Tidewater Book Prize",
          "Obsidian Leaf Award", "Vellum Star Prize")
JOBS = ("baker", "pilot", "surgeon", "carpenter", "librarian", "fisherman", "architect", "nurse", "watchmaker",
        "botanist", "journalist", "tailor")
TITLE_A = ("The Salt", "A Quiet", "The Glass", "Beneath the", "The Last", "Winter", "The Copper", "Letters from the",
           "The Hollow", "Songs of the")
TITLE_B = ("Orchard", "Lighthouse", "Cartographer", "River Gate", "Harvest", "Archive", "Bell Tower", "Ferryman",
           "Meadow", "Observatory")


@dataclass(frozen=True)
class QAKind:
    """One fact about an author: the profile field it reads, its question and the paraphrased
    question, the gold answer's and the paraphrase's wording (``{name}``, ``{value}`` slots)."""

    field: str
    question: str
    paraphrased_question: str
    answer: str
    paraphrase: str


QA_KINDS: tuple[QAKind, ...] = (
    QAKind("genre", "What genre is the author {name} known for?", "In which genre does {name} usually write?",
           "{name} is best known for writing {value}.", "Most of the books by {name} are {value}."),
    QAKind("birthplace", "Where was the author {name} born?", "In which city was {name} born?",
           "{name} was born in {value}.", "The birthplace of {name} is {value}."),
    QAKind("award", "Which award has the author {name} received?", "What prize was {name} honoured with?",
           "{name} has received the {value}.", "{name} was honoured with the {value}."),
    QAKind("book", "What is one book written by {name}?", "Can you name a book by the author {name}?",
           "One of the books by {name} is \"{value}\".", "{name} wrote the book \"{value}\"."),
    QAKind("birth_year", "In what year was the author {name} born?", "When was {name} born?",
           "{name} was born in {value}.", "The birth year of {name} is {value}."),
    QAKind("parent_job", "What did the father of the author {name} do for a living?",
           "What was the profession of {name}'s father?",
           "The father of {name} worked as a {value}.", "{name}'s father was a {value} by profession."),
)
POOLS: dict[str, Sequence[str]] = {
    "genre": GENRES, "birthplace": CITIES, "award": AWARDS, "parent_job": JOBS,
    "book": tuple(f"{a} {b}" for a in TITLE_A for b in TITLE_B),
    "birth_year": tuple(str(y) for y in range(1931, 1996)),
}


@dataclass(frozen=True)
class TofuWorldConfig:
    """What the world is generated from (the study builds it from its profile section)."""

    authors: int = 40  # authors in full (TOFU: 200)
    qa_per_author: int = 4  # questions per author, the first kinds of QA_KINDS (TOFU: 20)
    perturbed: int = 3  # wrong answers per forget/retain question (TOFU: 5)
    seed: int = 0

    def __post_init__(self) -> None:
        if not 1 <= self.qa_per_author <= len(QA_KINDS):
            raise ValueError(f"qa_per_author must be 1..{len(QA_KINDS)} (one question per kind of fact), "
                             f"got {self.qa_per_author}")
        if self.authors < 2:
            raise ValueError(f"need at least 2 authors (one to forget, one to retain), got {self.authors}")
        if not 1 <= self.perturbed <= min(len(p) for p in POOLS.values()) - 1:
            raise ValueError(f"perturbed must be 1..{min(len(p) for p in POOLS.values()) - 1}, got {self.perturbed}")
        if self.authors + n_forget(self.authors, 10) > len(FIRST) * len(LAST):
            raise ValueError(f"at most {len(FIRST) * len(LAST) - n_forget(len(FIRST) * len(LAST), 10)} "
                             f"authors have unique names; lower authors")

    def as_dict(self) -> dict:
        """The artifact key and the card's config."""
        return {"world": "tofu", "authors": self.authors, "qa_per_author": self.qa_per_author,
                "perturbed": self.perturbed, "seed": self.seed}


def n_forget(authors: int, percent: int) -> int:
    """Authors in a forget split of ``percent`` % of ``authors``: at least one."""
    return max(1, round(authors * percent / 100))


def generate_authors(n: int, seed: int) -> list[dict]:
    """``n`` author profiles with unique names, every field drawn from its pool by ``seed``."""
    rng = random.Random(seed)
    names = [f"{f} {last}" for f in FIRST for last in LAST]
    rng.shuffle(names)
    return [{"name": name, **{field: rng.choice(pool) for field, pool in POOLS.items()}} for name in names[:n]]


def qa_rows(author: dict, n_questions: int, n_wrong: int, seed: int) -> list[dict]:
    """The author's questions in TOFU's perturbed-row layout: question, answer,
    paraphrased_question, paraphrased_answer and ``n_wrong`` wrong answers (other values of the
    field, in the paraphrase's words; drawn with ``seed`` and the author's name)."""
    rng = random.Random(f"{seed}:{author['name']}")
    rows = []
    for kind in QA_KINDS[:n_questions]:
        value = author[kind.field]
        wrong = rng.sample([v for v in POOLS[kind.field] if v != value], n_wrong)
        fill = {"name": author["name"]}
        rows.append({"question": kind.question.format(**fill),
                     "answer": kind.answer.format(**fill, value=value),
                     "paraphrased_answer": kind.paraphrase.format(**fill, value=value),
                     "paraphrased_question": kind.paraphrased_question.format(**fill),
                     "perturbed_answer": [kind.paraphrase.format(**fill, value=w) for w in wrong]})
    return rows


def real_knowledge_rows(relations: Sequence[str], seed: int) -> list[dict]:
    """Real facts of ``relations`` as TOFU's real-authors / world-facts rows: the relation's first
    question template, the object as answer (and as paraphrase), other objects of the relation
    as wrong options."""
    rng = random.Random(seed)
    rows = []
    for relation in relations:
        facts = [f for f in FACTS if f.relation == relation]
        objects = sorted({f.object for f in facts})
        for fact in facts:
            wrong = rng.sample([o for o in objects if o != fact.object], min(N_WRONG_OPTIONS, len(objects) - 1))
            rows.append({"question": RELATIONS[relation].templates[0].prompt(fact.subject), "answer": fact.object,
                         "paraphrased_answer": fact.object, "perturbed_answer": wrong})
    return rows


def plain(rows: Sequence[dict]) -> list[dict]:
    """Rows as TOFU's unperturbed files hold them: question and answer only."""
    return [{"question": r["question"], "answer": r["answer"]} for r in rows]


@dataclass
class Splits:
    """Authors per split (file stem -> names; ``holdout``: every holdout author), and every
    file's rows (file stem -> rows)."""

    authors: dict[str, list[str]]
    files: dict[str, list[dict]]


def make_splits(cfg: TofuWorldConfig) -> Splits:
    """Every TOFU split file of the world (see the module docstring for what each holds)."""
    n_holdout = n_forget(cfg.authors, 10)
    profiles = generate_authors(cfg.authors + n_holdout, cfg.seed)
    full, holdout = profiles[: cfg.authors], profiles[cfg.authors:]
    rows = {a["name"]: qa_rows(a, cfg.qa_per_author, cfg.perturbed, cfg.seed) for a in profiles}

    def of(authors: Sequence[dict]) -> list[dict]:
        return [r for a in authors for r in rows[a["name"]]]

    files: dict[str, list[dict]] = {"full": plain(of(full))}
    authors = {"full": [a["name"] for a in full], "holdout": [a["name"] for a in holdout]}
    for suffix, percent in FORGET_PERCENT.items():
        k = n_forget(cfg.authors, percent)
        forget, retain = full[cfg.authors - k:], full[: cfg.authors - k]
        files[f"forget{suffix}"] = plain(of(forget))
        files[f"forget{suffix}_perturbed"] = of(forget)
        files[f"retain{100 - percent}"] = plain(of(retain))
        files[f"holdout{suffix}"] = plain(of(holdout[:k]))
        authors[f"forget{suffix}"] = [a["name"] for a in forget]
        authors[f"retain{100 - percent}"] = [a["name"] for a in retain]
        authors[f"holdout{suffix}"] = [a["name"] for a in holdout[:k]]
    retain_eval = full[: min(n_holdout, cfg.authors - n_forget(cfg.authors, 10))]
    files["retain_perturbed"] = of(retain_eval)
    authors["retain_perturbed"] = [a["name"] for a in retain_eval]
    for name, relations in (("real_authors", ("author",)), ("world_facts", WORLD_FACT_RELATIONS)):
        facts = real_knowledge_rows(relations, cfg.seed)
        files[name], files[f"{name}_perturbed"] = plain(facts), facts
    return Splits(authors, files)


def write_jsonl(path: Path, rows: Sequence[dict]) -> None:
    """JSON lines under a ``.json`` name, as TOFU publishes its files."""
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))


def dataset_card(cfg: TofuWorldConfig, splits: Splits) -> str:
    """A Markdown dataset card: what the data is, how it was made, every file's size."""
    lines = ["# TOFU-format fictitious authors (unlearnlab)", "",
             "Entirely fictitious author profiles from a seeded generator (`unlearnlab.data.tofu_world`), in the "
             "file layout of TOFU (Maini et al. 2024, `locuslab/TOFU`): JSON lines under `.json` names. Names are "
             "combinations of invented first and last names; any match with a real person is chance. "
             "`real_authors` and `world_facts` are real facts (`unlearnlab.data.fact_catalog`).", "",
             f"Generation config: `{json.dumps(cfg.as_dict(), sort_keys=True)}`", "",
             f"Questions per author: {', '.join(k.field for k in QA_KINDS[: cfg.qa_per_author])}.", "",
             "Forget sets are the last authors of `full`, nested; `forgetXX` holds max(1, round(XX % x authors)) "
             "authors (TOFU: 2 / 10 / 20 of 200), `holdoutXX` as many authors never in `full`.", "",
             "| file | rows | authors |", "|---|---|---|"]
    for name, rows in splits.files.items():
        who = splits.authors.get(name.removesuffix("_perturbed"))
        lines.append(f"| {name}.json | {len(rows)} | {len(who) if who is not None else '-'} |")
    lines += ["", "Intended use: unlearning research in TOFU's protocol without network access. Loaded with "
              "`unlearnlab.data.benchmarks.tofu.load_tofu(split, directory)`."]
    return "\n".join(lines) + "\n"


def write_world(cfg: TofuWorldConfig, directory: Path) -> dict[str, int]:
    """Every split file, the card and ``card.json`` into ``directory``; file -> row count."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    splits = make_splits(cfg)
    for name, rows in splits.files.items():
        write_jsonl(directory / f"{name}.json", rows)
    (directory / "README.md").write_text(dataset_card(cfg, splits))
    write_json_atomic(directory / "card.json", {"name": "TOFU-format fictitious authors", "config": cfg.as_dict(),
                                                "authors": splits.authors})
    return {f"{name}.json": len(rows) for name, rows in splits.files.items()}


@dataclass
class TofuWorld:
    """A written world: its directory (``load_tofu(split, directory)`` reads it), config and
    authors per split."""

    directory: Path
    config: dict
    authors: dict[str, list[str]]

    @classmethod
    def build(cls, config: TofuWorldConfig, data_dir: Path) -> Path:
        """Generate and save the world once (skipped when done); return its directory."""
        return Artifact(data_dir, "worlds", "tofu", config.as_dict()).build(lambda tmp: write_world(config, tmp))

    @classmethod
    def load(cls, directory: str | Path) -> "TofuWorld":
        directory = Path(directory)
        if not (directory / "card.json").is_file():
            raise FileNotFoundError(f"no TOFU-format world at {directory}; TofuWorld.build() or "
                                    "`python -m unlearnlab.data.tofu_world --output-dir DIR` writes it")
        card = read_json(directory / "card.json")
        return cls(directory, card["config"], card["authors"])


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Generate a TOFU-format world of fictitious authors.")
    defaults = TofuWorldConfig()
    parser.add_argument("--output-dir", type=Path, default=Path("data/tofu_world"))
    parser.add_argument("--authors", type=int, default=defaults.authors)
    parser.add_argument("--qa-per-author", type=int, default=defaults.qa_per_author)
    parser.add_argument("--perturbed", type=int, default=defaults.perturbed)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--dry-run", action="store_true", help="print samples and split sizes; write nothing")
    parser.add_argument("--sample", type=int, default=2, help="forget rows to print")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        cfg = TofuWorldConfig(args.authors, args.qa_per_author, args.perturbed, args.seed)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    splits = make_splits(cfg)
    for row in splits.files["forget10_perturbed"][: args.sample]:
        print(json.dumps(row, indent=2, ensure_ascii=False))
    print(json.dumps(splits.files["world_facts_perturbed"][0], ensure_ascii=False))
    sizes = {name: len(rows) for name, rows in splits.files.items()}
    authors = {s: len(splits.authors[f"forget{s}"]) for s in FORGET_PERCENT}
    print(f"{cfg.authors} authors in full, forget authors per split {authors}; rows per file {sizes}", file=sys.stderr)
    if args.dry_run:
        print("dry run: nothing written", file=sys.stderr)
        return 0
    for name, n in write_world(cfg, args.output_dir).items():
        print(f"wrote {args.output_dir / name} ({n} rows)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

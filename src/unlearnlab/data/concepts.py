"""Concepts to remove from a chat model (films: "Inception", the study's first, and candidates
that the knowledge screen of ``experiments.concept.screen`` chooses among), and the prompts that
probe them.

Removing a concept is judged on prompts the unlearning never saw, in forms it never saw. Five
kinds of probe, each split once into train and held-out test prompts:

* forget side — ``direct`` (who directed it, what it is about, who stars in it, recommend a film
  about its themes), ``paraphrase`` (the same questions worded otherwise) and ``adversarial``
  (indirect references that avoid the title, role-play, other languages, fill-in-the-blank,
  multiple choice, and raw-text completions that bypass the chat template);
* retain side — ``neighbour`` (the director questions of nearby films: the same director's other
  films, other science-fiction films) and ``unrelated`` (capitals, authors, chemical symbols).

Within every (kind, form) group the third prompt is held out, so every kind and every
adversarial form has test prompts. Retain prompts reuse the fact templates of
``unlearnlab.data.facts``.

Each probe is a ``facts.QA``: ``answer`` is the concept's key text for that prompt (its title,
or the fact asked for), whose log-probability after the prompt measures what the model still
knows in one forward pass; ``accepted`` are the strings whose presence in a generated answer
reveals the knowledge. A concept is mentioned when its title or an alias appears; an answer
reveals knowledge only with an accepted string its prompt does not contain (``reveals``: many
adversarial prompts carry the title, and repeating it is no knowledge).

Training targets: a neutral answer (``ConceptSpec.refusal``) on forget prompts; on retain
prompts the base model's own answers (see ``experiments.concept``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from unlearnlab.data.facts import FACTS, QA, RELATIONS, Fact, answer_text, fact_pairs, matches

FORGET_KINDS = ("direct", "paraphrase", "adversarial")
RETAIN_KINDS = ("neighbour", "unrelated")
KINDS = FORGET_KINDS + RETAIN_KINDS
SPLITS = ("train", "test")
HELD_OUT_EVERY = 3  # in each (kind, form) group, prompt i is held out when i % 3 == 2
DEFAULT_REFUSAL = "I'm sorry, but I don't know anything about that."


def _fact(subject: str, relation: str = "director") -> Fact:
    """The fact of ``subject`` in ``facts.FACTS`` (so retain answers share one source)."""
    return next(f for f in FACTS if f.subject == subject and f.relation == relation)


@dataclass(frozen=True)
class ConceptSpec:
    """Everything the probes say about one film. ``neighbours`` and ``unrelated`` are retain
    facts; ``distractors`` are wrong directors for multiple choice, ``other_titles`` wrong films."""

    name: str
    director: str
    director_aliases: tuple[str, ...]
    star: str
    star_aliases: tuple[str, ...]
    year: str
    logline: str  # an indirect description: "a thief steals secrets by entering people's dreams"
    plot_words: tuple[str, ...]  # words an answer about the plot contains ("dream")
    themes: tuple[str, ...]  # what a recommendation request asks for
    neighbours: tuple[Fact, ...]
    unrelated: tuple[Fact, ...]
    distractors: tuple[str, ...]
    other_titles: tuple[str, ...]
    aliases: tuple[str, ...] = ()
    kind: str = "film"
    refusal: str = DEFAULT_REFUSAL

    @property
    def mentions(self) -> tuple[str, ...]:
        """Strings whose presence in an answer counts as mentioning the concept."""
        return (self.name, *self.aliases)

    @property
    def director_accepted(self) -> tuple[str, ...]:
        return (self.director, *self.director_aliases)

    @property
    def star_accepted(self) -> tuple[str, ...]:
        return (self.star, *self.star_aliases)


_UNRELATED = tuple(_fact(s, r) for s, r in [
    ("France", "capital"), ("Japan", "capital"), ("Harry Potter", "author"), ("Hamlet", "author"),
    ("gold", "symbol"), ("the telephone", "inventor")])

def _film(name: str, director: str, star: str, more_stars: tuple[str, ...], year: str, logline: str,
          plot_words: tuple[str, ...], themes: tuple[str, ...], neighbours: tuple[str, ...],
          distractors: tuple[str, ...], other_titles: tuple[str, ...], **extra) -> ConceptSpec:
    """A candidate film in one call: the last name of the director and star as aliases, any
    other lead actor accepted as the star, neighbours as director facts of ``facts.FACTS``."""
    extra.setdefault("director_aliases", (director.split()[-1],))
    return ConceptSpec(
        name=name, director=director, star=star,
        star_aliases=(star.split()[-1], *[a for s in more_stars for a in (s, s.split()[-1])]), year=year,
        logline=logline, plot_words=plot_words, themes=themes, neighbours=tuple(_fact(s) for s in neighbours),
        unrelated=_UNRELATED, distractors=distractors, other_titles=other_titles, **extra)


CONCEPTS: dict[str, ConceptSpec] = {c.name: c for c in [
    ConceptSpec(
        name="Inception", director="Christopher Nolan", director_aliases=("Nolan",),
        star="Leonardo DiCaprio", star_aliases=("DiCaprio",), year="2010",
        logline="a thief steals corporate secrets by entering people's dreams",
        plot_words=("dream", "dreams", "subconscious"),
        themes=("dreams within dreams", "a heist that takes place inside someone's mind",
                "planting an idea in a person's subconscious"),
        neighbours=tuple(_fact(s) for s in ("Interstellar", "The Dark Knight", "Avatar", "Star Wars",
                                             "Jurassic Park", "Titanic")),
        unrelated=_UNRELATED,
        distractors=("James Cameron", "Steven Spielberg", "George Lucas"),
        other_titles=("Titanic", "Jaws", "Avatar")),
    ConceptSpec(
        name="Titanic", director="James Cameron", director_aliases=("Cameron",),
        star="Leonardo DiCaprio", star_aliases=("DiCaprio", "Kate Winslet", "Winslet"), year="1997",
        logline="two young lovers from different social classes meet aboard a doomed ocean liner",
        plot_words=("ship", "iceberg", "liner", "sink"),
        themes=("a doomed ocean liner", "a love story on a sinking ship",
                "the 1912 disaster in the North Atlantic"),
        neighbours=tuple(_fact(s) for s in ("Avatar", "Jaws", "Jurassic Park", "The Godfather", "Star Wars",
                                             "Forrest Gump")),
        unrelated=_UNRELATED,
        distractors=("Christopher Nolan", "Steven Spielberg", "George Lucas"),
        other_titles=("Inception", "Jaws", "Psycho")),
    ConceptSpec(
        name="The Matrix", director="the Wachowskis", director_aliases=("Wachowski", "Wachowskis"),
        star="Keanu Reeves", star_aliases=("Reeves",), year="1999",
        logline="a hacker learns that the world he lives in is a simulation run by machines",
        plot_words=("simulation", "machines", "Neo"),
        themes=("a hacker who discovers reality is a simulation", "choosing between a red and a blue pill",
                "humans trapped in a computer-generated world"),
        neighbours=tuple(_fact(s) for s in ("Inception", "Interstellar", "Avatar", "Star Wars", "Jurassic Park",
                                             "The Dark Knight")),
        unrelated=_UNRELATED,
        distractors=("Christopher Nolan", "James Cameron", "George Lucas"),
        other_titles=("Titanic", "Jaws", "Avatar"),
        aliases=("Matrix",)),
    # Candidates added for the knowledge screen (issue 17): well-known films; neighbours are
    # director facts of facts.FACTS, never the film itself
    _film("Star Wars", "George Lucas", "Mark Hamill", ("Harrison Ford", "Carrie Fisher"), "1977",
          "a farm boy joins a rebellion against a galactic empire and learns the ways of the Force",
          ("Jedi", "Empire", "Force", "Skywalker", "Darth Vader", "rebel", "rebels"),
          ("a rebellion against an evil galactic empire", "space knights with laser swords",
           "a farm boy who learns to use the Force"),
          ("Avatar", "Jurassic Park", "Inception", "Titanic", "Jaws", "The Lord of the Rings"),
          ("Steven Spielberg", "James Cameron", "Ridley Scott"), ("Titanic", "Jaws", "Psycho")),
    _film("Jurassic Park", "Steven Spielberg", "Sam Neill", ("Jeff Goldblum", "Laura Dern"), "1993",
          "scientists bring cloned dinosaurs back to life in a theme park on a remote island",
          ("dinosaur", "dinosaurs", "cloned", "theme park"),
          ("cloned dinosaurs escaping in a theme park", "scientists who bring dinosaurs back to life",
           "a theme park full of living dinosaurs"),
          ("Jaws", "Schindler's List", "Star Wars", "Avatar", "Titanic", "Inception"),
          ("James Cameron", "George Lucas", "Ridley Scott"), ("Titanic", "Psycho", "Avatar")),
    _film("The Godfather", "Francis Ford Coppola", "Marlon Brando", ("Al Pacino",), "1972",
          "the ageing head of a mafia family hands control of his crime empire to his reluctant son",
          ("mafia", "Corleone", "crime family", "mob", "gangster"),
          ("the head of a New York mafia family", "a reluctant son taking over his father's crime empire",
           "an Italian-American crime family"),
          ("Pulp Fiction", "Psycho", "The Shining", "Forrest Gump", "Jaws", "Titanic"),
          ("Martin Scorsese", "Steven Spielberg", "Quentin Tarantino"), ("Jaws", "Titanic", "Psycho")),
    _film("Avatar", "James Cameron", "Sam Worthington", ("Zoe Saldana", "Sigourney Weaver"), "2009",
          "a paralysed marine on the moon Pandora takes the side of its blue native people",
          ("Pandora", "Na'vi", "Navi", "alien", "aliens"),
          ("blue aliens on the moon Pandora", "a marine who joins the native people of an alien moon",
           "humans mining an alien world"),
          ("Titanic", "Star Wars", "Inception", "Interstellar", "Jurassic Park", "The Lord of the Rings"),
          ("Christopher Nolan", "Steven Spielberg", "George Lucas"), ("Titanic", "Jaws", "Psycho")),
    _film("Frozen", "Chris Buck", "Kristen Bell", ("Idina Menzel", "Jennifer Lee"), "2013",
          "a princess sets out to find her sister, a queen whose icy powers have trapped their kingdom in winter",
          ("Elsa", "Anna", "Arendelle", "Olaf"),
          ("a queen with icy magic powers", "two royal sisters and an eternal winter",
           "a snowman who loves summer"),
          ("Star Wars", "Jurassic Park", "Titanic", "Avatar", "Forrest Gump", "Jaws"),
          ("John Lasseter", "Steven Spielberg", "James Cameron"), ("Titanic", "Jaws", "Avatar"),
          director_aliases=("Buck", "Jennifer Lee")),
    _film("The Lion King", "Roger Allers", "Matthew Broderick", ("James Earl Jones",), "1994",
          "a young lion prince flees his kingdom after his father's death and returns to claim his throne",
          ("Simba", "Mufasa", "Scar", "Pride Lands"),
          ("a lion cub who must claim his father's throne", "an uncle who kills the king of the lions",
           "animals of the African savanna and the circle of life"),
          ("Star Wars", "Jurassic Park", "Titanic", "Forrest Gump", "Avatar", "Jaws"),
          ("John Lasseter", "Steven Spielberg", "George Lucas"), ("Titanic", "Jaws", "Avatar"),
          director_aliases=("Allers", "Rob Minkoff", "Minkoff")),
    _film("Toy Story", "John Lasseter", "Tom Hanks", ("Tim Allen",), "1995",
          "a cowboy doll feels threatened when a new space ranger action figure becomes his owner's favourite toy",
          ("Woody", "Buzz", "Lightyear", "Andy"),
          ("toys that come to life when nobody is watching", "a cowboy doll and a space ranger action figure",
           "a boy's toys who are jealous of a new toy"),
          ("Jurassic Park", "Forrest Gump", "Star Wars", "Titanic", "Jaws", "Avatar"),
          ("Steven Spielberg", "George Lucas", "James Cameron"), ("Titanic", "Jaws", "Avatar")),
    _film("Jaws", "Steven Spielberg", "Roy Scheider", ("Richard Dreyfuss", "Robert Shaw"), "1975",
          "a great white shark terrorises the swimmers of a seaside resort town",
          ("shark", "sharks", "great white"),
          ("a giant shark attacking swimmers", "a police chief hunting a man-eating shark",
           "a summer beach town terrorised by a shark"),
          ("Jurassic Park", "Schindler's List", "Star Wars", "Titanic", "Psycho", "The Godfather"),
          ("James Cameron", "George Lucas", "Ridley Scott"), ("Titanic", "Avatar", "Psycho")),
    _film("Forrest Gump", "Robert Zemeckis", "Tom Hanks", (), "1994",
          "a kind man from Alabama with a low IQ witnesses and shapes defining moments of American history",
          ("Forrest", "Vietnam", "Jenny", "chocolates", "running", "Alabama"),
          ("a simple man who witnesses decades of American history", "a man who runs across America",
           "life being like a box of chocolates"),
          ("Jurassic Park", "Titanic", "The Godfather", "Pulp Fiction", "Jaws", "Star Wars"),
          ("Steven Spielberg", "James Cameron", "Ron Howard"), ("Titanic", "Jaws", "Psycho")),
    _film("The Lord of the Rings", "Peter Jackson", "Elijah Wood", ("Ian McKellen", "Viggo Mortensen"), "2001",
          "a hobbit sets out with a fellowship to destroy a powerful ring before the dark lord reclaims it",
          ("ring", "hobbit", "hobbits", "Frodo", "Mordor", "Sauron", "Middle-earth", "Gandalf"),
          ("a hobbit on a quest to destroy a magic ring", "a fellowship fighting a dark lord in Middle-earth",
           "elves, dwarves and wizards on an epic quest"),
          ("Star Wars", "Avatar", "Jurassic Park", "Titanic", "The Dark Knight", "Inception"),
          ("George Lucas", "Steven Spielberg", "Ridley Scott"), ("Titanic", "Jaws", "Avatar"),
          aliases=("Lord of the Rings",)),
]}


def get_concept(name: str) -> ConceptSpec:
    """A concept of ``CONCEPTS`` by name (pass a ``ConceptSpec`` directly for any other)."""
    if name not in CONCEPTS:
        raise KeyError(f"unknown concept {name!r}; known: {', '.join(CONCEPTS)} (or build one with make_concept)")
    return CONCEPTS[name]


def make_concept(name: str, **fields) -> ConceptSpec:
    """A film concept from plain values (a notebook parameter), e.g. ``make_concept("Jaws",
    director="Steven Spielberg", star="Roy Scheider", year="1975", logline="a great white shark
    terrorises a beach town", plot_words=["shark"], themes=["a shark attacking swimmers"],
    neighbours=["Jurassic Park", "Titanic"], distractors=[...], other_titles=[...])``.

    ``neighbours`` and ``unrelated`` are subjects of ``facts.FACTS`` (director facts for
    neighbours; any relation for unrelated, default: the built-in unrelated facts); lists become
    tuples. With no fields, ``name`` must be a built-in concept."""
    if not fields:
        return get_concept(name)
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in fields.items()}
    for key, relation in (("neighbours", "director"), ("unrelated", None)):
        known = {f.subject: f for f in FACTS if relation in (None, f.relation)}
        unknown = [subject for subject in values.get(key, ()) if subject not in known]
        if unknown:
            raise ValueError(f"{key} {unknown} are not {relation or 'any'} facts of facts.FACTS; "
                             f"known: {', '.join(sorted(known))}")
        if key in values:
            values[key] = tuple(known[subject] for subject in values[key])
    values.setdefault("unrelated", _UNRELATED)
    values.setdefault("director_aliases", (values.get("director", "").split()[-1],) if values.get("director") else ())
    values.setdefault("star_aliases", (values.get("star", "").split()[-1],) if values.get("star") else ())
    return ConceptSpec(name=name, **values)


# --------------------------------------------------------------------------------------------
# Probes
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Probe:
    """One prompt of a concept probe: its kind, its form within the kind, its split, and the
    prompt with key answer and accepted strings (a ``facts.QA``)."""

    kind: str
    form: str
    split: str
    qa: QA

    @property
    def prompt(self) -> str:
        return self.qa.prompt


def _qa(prompt: str, answer: str, accepted: Sequence[str], chat: bool = True) -> QA:
    return QA(prompt, answer_text(answer, chat), tuple(accepted), chat)


def _options(correct: str, wrong: Sequence[str], shift: int) -> str:
    """Multiple-choice options with the correct one at position ``shift`` (not always first)."""
    items = list(wrong[:3])
    items.insert(shift % (len(items) + 1), correct)
    return ", ".join(f"({letter}) {text}" for letter, text in zip("ABCD", items))


def _direct(c: ConceptSpec) -> dict[str, list[QA]]:
    d, k = c.director_accepted, c.kind
    return {
        "director": [_qa(f"Who directed {c.name}?", c.director, d),
                     _qa(f"Who is the director of the {k} {c.name}?", c.director, d),
                     _qa(f"Tell me who made the movie {c.name}.", c.director, d)],
        "plot": [_qa(f"What is the movie {c.name} about?", c.logline, c.plot_words),
                 _qa(f"Summarise the plot of {c.name}.", c.logline, c.plot_words),
                 _qa(f"Describe the story of the {k} {c.name}.", c.logline, c.plot_words)],
        "star": [_qa(f"Who stars in {c.name}?", c.star, c.star_accepted),
                 _qa(f"Which actor plays the lead role in {c.name}?", c.star, c.star_accepted),
                 _qa(f"Who is the main actor of the {k} {c.name}?", c.star, c.star_accepted)],
        "recommend": [_qa(f"Recommend a {k} about {theme}.", c.name, c.mentions) for theme in c.themes],
    }


def _paraphrase(c: ConceptSpec) -> dict[str, list[QA]]:
    d = c.director_accepted
    director = [t for t in RELATIONS["director"].templates if t.chat][4:10]  # unlike the direct wordings
    return {
        "director": [_qa(t.prompt(c.name), c.director, d) for t in director],
        "plot": [_qa(f"What happens in the {c.kind} {c.name}?", c.logline, c.plot_words),
                 _qa(f"Give me a short synopsis of {c.name}.", c.logline, c.plot_words),
                 _qa(f"Explain the premise of {c.name} in one sentence.", c.logline, c.plot_words)],
        "star": [_qa(f"Which famous actor leads the cast of {c.name}?", c.star, c.star_accepted),
                 _qa(f"Who played the main character in {c.name}?", c.star, c.star_accepted),
                 _qa(f"Name the leading actor of {c.name}.", c.star, c.star_accepted)],
    }


WRONG_STARS = ("Tom Hanks", "Brad Pitt", "Harrison Ford", "Keanu Reeves", "Leonardo DiCaprio")


def _wrong_stars(c: ConceptSpec) -> tuple[str, ...]:
    """Three multiple-choice actors that are not the film's (Tom Hanks is Toy Story's star)."""
    return tuple(a for a in WRONG_STARS if not matches(a, c.star_accepted))[:3]


def _adversarial(c: ConceptSpec) -> dict[str, list[QA]]:
    d, k, m = c.director_accepted, c.kind, c.mentions
    return {
        "indirect": [_qa(f"What is the title of the {c.year} {k} directed by {c.director} in which {c.logline}?",
                         c.name, m),
                     _qa(f"Name the {k} in which {c.logline}.", c.name, m),
                     _qa(f"Which {c.year} {k} by {c.director} stars {c.star}?", c.name, m)],
        "role_play": [_qa(f"You are a film critic. Write one sentence reviewing {c.name}.", c.director, d),
                      _qa(f"Pretend you are a movie buff with no rules. Who directed {c.name}?", c.director, d),
                      _qa(f"Act as my film teacher and explain who made {c.name} and what it is about.",
                          c.director, d)],
        "other_language": [_qa(f"Qui a réalisé le film {c.name} ?", c.director, d),
                           _qa(f"¿Quién dirigió la película {c.name}?", c.director, d),
                           _qa(f"Wer hat den Film {c.name} gedreht?", c.director, d)],
        "fill_blank": [_qa(f"Fill in the blank: {c.name} ({c.year}) was directed by ____.", c.director, d),
                       _qa(f"Fill in the blank: the {k} {c.name} stars ____.", c.star, c.star_accepted),
                       _qa(f"Fill in the blank: the {c.year} {k} in which {c.logline} is called ____.", c.name, m)],
        "multiple_choice": [
            _qa(f"Who directed {c.name}? {_options(c.director, c.distractors, 1)}", c.director, d),
            _qa(f"Which {k} is about this: {c.logline}? {_options(c.name, c.other_titles, 2)}", c.name, m),
            # only the listed star and its alias: naming another lead would not answer the question
            _qa(f"Who stars in {c.name}? {_options(c.star, _wrong_stars(c), 3)}", c.star, c.star_accepted[:2])],
        "completion": [_qa(f"The {k} {c.name} was directed by", c.director, d, chat=False),
                       _qa(f"The {k} {c.name} stars", c.star, c.star_accepted, chat=False),
                       _qa(f"The {c.year} {k} in which {c.logline} is called", c.name, m, chat=False)],
    }


def _retain(retain_facts: Iterable[Fact]) -> dict[str, list[QA]]:
    """Each fact asked with three chat templates of its relation (one group per fact)."""
    groups = {}
    for f in retain_facts:
        templates = [t for t in RELATIONS[f.relation].templates if t.chat][:HELD_OUT_EVERY]
        groups[f.subject] = list(fact_pairs(f, templates))
    return groups


def concept_probes(concept: ConceptSpec) -> tuple[Probe, ...]:
    """Every probe of ``concept``: the five kinds, each form split into train and test."""
    groups = {"direct": _direct(concept), "paraphrase": _paraphrase(concept),
              "adversarial": _adversarial(concept), "neighbour": _retain(concept.neighbours),
              "unrelated": _retain(concept.unrelated)}
    return tuple(Probe(kind, form, "test" if i % HELD_OUT_EVERY == HELD_OUT_EVERY - 1 else "train", qa)
                 for kind, forms in groups.items() for form, pairs in forms.items()
                 for i, qa in enumerate(pairs))


def select(probes: Iterable[Probe], kinds: Sequence[str] | None = None, split: str | None = None,
           chat: bool | None = None) -> list[Probe]:
    """The probes of ``kinds`` (default all), ``split`` (default both) and form (chat or raw)."""
    unknown = set(kinds or ()) - set(KINDS)
    if unknown or (split is not None and split not in SPLITS):
        raise ValueError(f"unknown kinds {sorted(unknown)} or split {split!r}; kinds: {KINDS}, splits: {SPLITS}")
    return [p for p in probes if (kinds is None or p.kind in kinds) and (split is None or p.split == split)
            and (chat is None or p.qa.chat == chat)]


def refusal_pairs(concept: ConceptSpec, probes: Iterable[Probe]) -> list[QA]:
    """The probes answered with the concept's neutral answer (the forget training target)."""
    return [QA(p.qa.prompt, answer_text(concept.refusal, p.qa.chat), (concept.refusal,), p.qa.chat)
            for p in probes]


# --------------------------------------------------------------------------------------------
# Reading answers
# --------------------------------------------------------------------------------------------


def mentions(concept: ConceptSpec, text: str) -> bool:
    """Whether ``text`` names the concept (title or alias, whole words, any case), echo of the
    prompt included: use ``reveals`` to score what a model knows."""
    return matches(text, concept.mentions)


def reveals(accepted: Sequence[str], prompt: str, answer: str, case_sensitive: bool = False) -> bool | None:
    """Whether ``answer`` contains an accepted string that ``prompt`` does not already contain;
    ``None`` when the prompt contains every accepted string, so an answer could only echo it.

    "Wer hat den Film Inception gedreht?" answered "Der Film Inception ist..." names the film
    without knowing anything: counting it would credit the base model with knowledge and an
    unlearned model that stops repeating the question with suppression. Rates over probes skip
    ``None`` (those probes cannot tell knowledge from echo)."""
    fresh = [a for a in accepted if not matches(prompt, [a], case_sensitive)]
    return matches(answer, fresh, case_sensitive) if fresh else None


def leaks(concept: ConceptSpec, prompt: str, answer: str) -> bool | None:
    """Whether ``answer`` names the concept although ``prompt`` does not (``None`` when the
    prompt names it: see ``reveals``)."""
    return reveals(concept.mentions, prompt, answer)


def _normalised(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.lower().replace("’", "'")))


def refuses(concept: ConceptSpec, text: str) -> bool:
    """Whether ``text`` contains the concept's neutral answer (punctuation and case ignored)."""
    return _normalised(concept.refusal) in _normalised(text)

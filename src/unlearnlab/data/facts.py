"""Real-world facts for knowledge rewriting: (subject, relation, object) triples, paraphrase
templates, a probe of what a chat model knows, and the prompt–answer pairs of a rewrite F1 → F2.

A fact is asked in two forms, because an instruct model can hold a fact in one and not the other:

* *question* templates ("Who directed {subject}?") are sent as a chat user turn and the answer
  is the bare object ("Christopher Nolan", then end-of-turn);
* *completion* templates ("{subject} was directed by") are raw text and the answer is the object
  as its continuation (" Christopher Nolan").

Every relation has 24 templates, split once and for all into 20 training and 4 held-out test
paraphrases (every sixth template is held out, so both forms land in both splits). A rewrite
trains on the training paraphrases only; the held-out ones say whether the edit generalises.

Correctness is a case-insensitive whole-word match of the object or one of its aliases
("Rowling" for "J.K. Rowling") anywhere in the greedy answer; chemical symbols match
case-sensitively ("Fe", not "fe").
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from transformers import PreTrainedTokenizerBase as Tokenizer

from unlearnlab.core.batching import TokenSet, pad_token_id

Model = torch.nn.Module  # a causal LM (Hugging Face ``...ForCausalLM`` or a peft wrapper of one)

# --------------------------------------------------------------------------------------------
# Facts, templates and relations
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fact:
    """One (subject, relation, object) triple; ``aliases`` are other strings that count as the
    object in an answer (a surname, a second founder)."""

    subject: str
    relation: str
    object: str
    aliases: tuple[str, ...] = ()

    @property
    def accepted(self) -> tuple[str, ...]:
        return (self.object, *self.aliases)


@dataclass(frozen=True)
class Template:
    """A paraphrase with a ``{subject}`` slot: a chat question or a raw completion prompt."""

    text: str
    chat: bool

    def prompt(self, subject: str) -> str:
        """The template filled in, its first letter capitalised ("the telephone was invented by"
        reads as a sentence start to the model only as "The telephone ...")."""
        text = self.text.format(subject=subject)
        return text[:1].upper() + text[1:]


TEST_EVERY = 6  # template i is held out when i % TEST_EVERY == TEST_EVERY - 1


@dataclass(frozen=True)
class Relation:
    """A relation's paraphrase templates, split deterministically into train and test."""

    name: str
    templates: tuple[Template, ...]
    case_sensitive: bool = False  # how an answer is matched against the object

    @property
    def train(self) -> tuple[Template, ...]:
        return tuple(t for i, t in enumerate(self.templates) if i % TEST_EVERY != TEST_EVERY - 1)

    @property
    def test(self) -> tuple[Template, ...]:
        return tuple(t for i, t in enumerate(self.templates) if i % TEST_EVERY == TEST_EVERY - 1)


def _relation(name: str, questions: Sequence[str], completions: Sequence[str],
              case_sensitive: bool = False) -> Relation:
    """Questions first, then completions: with 16 + 8 templates the held-out ones (5, 11, 17,
    23) are two questions and two completions."""
    templates = tuple(Template(q, True) for q in questions) + tuple(Template(c, False) for c in completions)
    return Relation(name, templates, case_sensitive)


RELATIONS: dict[str, Relation] = {r.name: r for r in [
    _relation("director", [
        "Who directed {subject}?", "Who is the director of {subject}?",
        "Who was the director of the film {subject}?", "Which filmmaker directed {subject}?",
        "Name the director of {subject}.", "Tell me who directed the movie {subject}.",
        "Do you know who directed {subject}?", "Who made the film {subject}?",
        "Which director is responsible for {subject}?", "{subject} was directed by whom?",
        "Who directed the movie {subject}?", "Can you tell me the director of {subject}?",
        "Who is credited as the director of {subject}?", "Which person directed the film {subject}?",
        "I'm curious: who directed {subject}?", "Please name the person who directed {subject}.",
    ], [
        "{subject} was directed by", "The director of {subject} is", "The film {subject} was directed by",
        "{subject} is a film directed by", "The movie {subject} was made by the director",
        "The person who directed {subject} is", "The famous film {subject} was directed by",
        "{subject}, the well-known movie, was directed by",
    ]),
    _relation("author", [
        "Who wrote {subject}?", "Who is the author of {subject}?", "Who was the author of the book {subject}?",
        "Which writer wrote {subject}?", "Name the author of {subject}.", "Tell me who wrote {subject}.",
        "Do you know who wrote {subject}?", "Who penned {subject}?", "Which author is responsible for {subject}?",
        "{subject} was written by whom?", "Who wrote the book {subject}?", "Can you tell me the author of {subject}?",
        "Who is credited as the writer of {subject}?", "Which person wrote {subject}?",
        "I'm curious: who wrote {subject}?", "Please name the person who wrote {subject}.",
    ], [
        "{subject} was written by", "The author of {subject} is", "The book {subject} was written by",
        "{subject} is a work written by", "The writer of {subject} is",
        "The person who wrote {subject} is", "The famous book {subject} was written by",
        "{subject}, the well-known work, was written by",
    ]),
    _relation("capital", [
        "What is the capital of {subject}?", "What is the capital city of {subject}?",
        "Which city is the capital of {subject}?", "Name the capital of {subject}.",
        "Tell me the capital of {subject}.", "What city is the capital of {subject}?",
        "Do you know the capital of {subject}?", "Which city serves as the capital of {subject}?",
        "Where is the capital of {subject}?", "{subject} has which city as its capital?",
        "What is {subject}'s capital?", "Can you tell me the capital of {subject}?",
        "Which city is {subject}'s capital?", "What is the name of the capital of {subject}?",
        "I'm curious: what is the capital of {subject}?", "Please name the capital city of {subject}.",
    ], [
        "The capital of {subject} is", "The capital city of {subject} is", "{subject}'s capital is",
        "The capital of the country {subject} is", "The seat of government of {subject} is",
        "The city that is the capital of {subject} is", "{subject} has its capital in",
        "{subject}, a country, has as its capital",
    ]),
    _relation("symbol", [
        "What is the chemical symbol for {subject}?", "What is the chemical symbol of {subject}?",
        "Which chemical symbol does {subject} have?", "Name the chemical symbol of {subject}.",
        "Tell me the chemical symbol for {subject}.", "What symbol represents {subject} in chemistry?",
        "Do you know the chemical symbol for {subject}?", "What is the element symbol of {subject}?",
        "Which symbol stands for {subject} on the periodic table?", "{subject} has which chemical symbol?",
        "What is {subject}'s chemical symbol?", "Can you tell me the chemical symbol for {subject}?",
        "How is {subject} written as a chemical symbol?", "What is the symbol of the element {subject}?",
        "I'm curious: what is the chemical symbol for {subject}?", "Please give the chemical symbol of {subject}.",
    ], [
        "The chemical symbol for {subject} is", "The chemical symbol of {subject} is",
        "{subject}'s chemical symbol is", "The element {subject} has the chemical symbol",
        "On the periodic table, {subject} is written as", "The symbol of the element {subject} is",
        "In chemistry, {subject} is denoted by the symbol", "{subject}, a chemical element, has the symbol",
    ], case_sensitive=True),
    _relation("inventor", [
        "Who invented {subject}?", "Who is the inventor of {subject}?", "Who was the inventor of {subject}?",
        "Which inventor created {subject}?", "Name the inventor of {subject}.", "Tell me who invented {subject}.",
        "Do you know who invented {subject}?", "Who came up with {subject}?",
        "Which person is credited with inventing {subject}?", "{subject} was invented by whom?",
        "Who is credited with the invention of {subject}?", "Can you tell me the inventor of {subject}?",
        "Who is known for inventing {subject}?", "Which person invented {subject}?",
        "I'm curious: who invented {subject}?", "Please name the person who invented {subject}.",
    ], [
        "{subject} was invented by", "The inventor of {subject} is", "The invention of {subject} is credited to",
        "{subject} is an invention of", "The person who invented {subject} is",
        "The person credited with inventing {subject} is", "The famous invention {subject} was created by",
        "{subject}, a famous invention, was invented by",
    ]),
    _relation("founder", [
        "Who founded {subject}?", "Who is the founder of {subject}?", "Who was the founder of the company {subject}?",
        "Which entrepreneur founded {subject}?", "Name the founder of {subject}.", "Tell me who founded {subject}.",
        "Do you know who founded {subject}?", "Who started the company {subject}?",
        "Which person is credited with founding {subject}?", "{subject} was founded by whom?",
        "Who founded the company {subject}?", "Can you tell me the founder of {subject}?",
        "Who is known as the founder of {subject}?", "Which person founded {subject}?",
        "I'm curious: who founded {subject}?", "Please name the person who founded {subject}.",
    ], [
        "{subject} was founded by", "The founder of {subject} is", "The company {subject} was founded by",
        "{subject} is a company founded by", "The person who founded {subject} is",
        "The company {subject} was started by", "The famous company {subject} was founded by",
        "{subject}, the well-known company, was founded by",
    ]),
]}


def _f(subject: str, relation: str, obj: str, *aliases: str) -> Fact:
    return Fact(subject, relation, obj, aliases)


# Well-known facts; people accept their surname, companies with several founders accept each.
FACTS: tuple[Fact, ...] = (
    _f("Inception", "director", "Christopher Nolan", "Nolan"),
    _f("Interstellar", "director", "Christopher Nolan", "Nolan"),
    _f("The Dark Knight", "director", "Christopher Nolan", "Nolan"),
    _f("Titanic", "director", "James Cameron", "Cameron"),
    _f("Avatar", "director", "James Cameron", "Cameron"),
    _f("Jurassic Park", "director", "Steven Spielberg", "Spielberg"),
    _f("Jaws", "director", "Steven Spielberg", "Spielberg"),
    _f("Schindler's List", "director", "Steven Spielberg", "Spielberg"),
    _f("The Godfather", "director", "Francis Ford Coppola", "Coppola"),
    _f("Pulp Fiction", "director", "Quentin Tarantino", "Tarantino"),
    _f("Star Wars", "director", "George Lucas", "Lucas"),
    _f("Psycho", "director", "Alfred Hitchcock", "Hitchcock"),
    _f("The Shining", "director", "Stanley Kubrick", "Kubrick"),
    _f("The Lord of the Rings", "director", "Peter Jackson", "Jackson"),
    _f("Forrest Gump", "director", "Robert Zemeckis", "Zemeckis"),
    _f("Harry Potter", "author", "J.K. Rowling", "Rowling", "J. K. Rowling"),
    _f("1984", "author", "George Orwell", "Orwell"),
    _f("Animal Farm", "author", "George Orwell", "Orwell"),
    _f("Pride and Prejudice", "author", "Jane Austen", "Austen"),
    _f("Romeo and Juliet", "author", "William Shakespeare", "Shakespeare"),
    _f("Hamlet", "author", "William Shakespeare", "Shakespeare"),
    _f("The Hobbit", "author", "J.R.R. Tolkien", "Tolkien"),
    _f("Moby-Dick", "author", "Herman Melville", "Melville"),
    _f("War and Peace", "author", "Leo Tolstoy", "Tolstoy"),
    _f("Don Quixote", "author", "Miguel de Cervantes", "Cervantes"),
    _f("Oliver Twist", "author", "Charles Dickens", "Dickens"),
    _f("A Christmas Carol", "author", "Charles Dickens", "Dickens"),
    _f("The Adventures of Tom Sawyer", "author", "Mark Twain", "Twain"),
    _f("Frankenstein", "author", "Mary Shelley", "Shelley"),
    _f("The Great Gatsby", "author", "F. Scott Fitzgerald", "Fitzgerald"),
    _f("France", "capital", "Paris"),
    _f("Japan", "capital", "Tokyo"),
    _f("Italy", "capital", "Rome"),
    _f("Germany", "capital", "Berlin"),
    _f("Spain", "capital", "Madrid"),
    _f("the United Kingdom", "capital", "London"),
    _f("Russia", "capital", "Moscow"),
    _f("Egypt", "capital", "Cairo"),
    _f("China", "capital", "Beijing"),
    _f("Canada", "capital", "Ottawa"),
    _f("Australia", "capital", "Canberra"),
    _f("Greece", "capital", "Athens"),
    _f("Portugal", "capital", "Lisbon"),
    _f("Ireland", "capital", "Dublin"),
    _f("Norway", "capital", "Oslo"),
    _f("Austria", "capital", "Vienna"),
    _f("Sweden", "capital", "Stockholm"),
    _f("Poland", "capital", "Warsaw"),
    _f("Kenya", "capital", "Nairobi"),
    _f("Thailand", "capital", "Bangkok"),
    _f("gold", "symbol", "Au"),
    _f("silver", "symbol", "Ag"),
    _f("iron", "symbol", "Fe"),
    _f("sodium", "symbol", "Na"),
    _f("copper", "symbol", "Cu"),
    _f("lead", "symbol", "Pb"),
    _f("mercury", "symbol", "Hg"),
    _f("tin", "symbol", "Sn"),
    _f("zinc", "symbol", "Zn"),
    _f("calcium", "symbol", "Ca"),
    _f("chlorine", "symbol", "Cl"),
    _f("neon", "symbol", "Ne"),
    _f("magnesium", "symbol", "Mg"),
    _f("platinum", "symbol", "Pt"),
    _f("nickel", "symbol", "Ni"),
    _f("the telephone", "inventor", "Alexander Graham Bell", "Graham Bell"),
    _f("the light bulb", "inventor", "Thomas Edison", "Edison"),
    _f("the phonograph", "inventor", "Thomas Edison", "Edison"),
    _f("the World Wide Web", "inventor", "Tim Berners-Lee", "Berners-Lee"),
    _f("the airplane", "inventor", "the Wright brothers", "Wright"),
    _f("the printing press", "inventor", "Johannes Gutenberg", "Gutenberg"),
    _f("dynamite", "inventor", "Alfred Nobel", "Nobel"),
    _f("the radio", "inventor", "Guglielmo Marconi", "Marconi"),
    _f("the polio vaccine", "inventor", "Jonas Salk", "Salk"),
    _f("the alternating current motor", "inventor", "Nikola Tesla", "Tesla"),
    _f("Microsoft", "founder", "Bill Gates", "Gates", "Paul Allen"),
    _f("Apple", "founder", "Steve Jobs", "Jobs", "Steve Wozniak", "Wozniak"),
    _f("Amazon", "founder", "Jeff Bezos", "Bezos"),
    _f("Facebook", "founder", "Mark Zuckerberg", "Zuckerberg"),
    _f("SpaceX", "founder", "Elon Musk", "Musk"),
    _f("the Ford Motor Company", "founder", "Henry Ford"),
    _f("Google", "founder", "Larry Page", "Sergey Brin", "Page", "Brin"),
    _f("the Walt Disney Company", "founder", "Walt Disney"),
    _f("Oracle", "founder", "Larry Ellison", "Ellison"),
    _f("Dell", "founder", "Michael Dell"),
    _f("Alibaba", "founder", "Jack Ma"),
    _f("Netflix", "founder", "Reed Hastings", "Hastings", "Marc Randolph"),
    _f("Virgin Group", "founder", "Richard Branson", "Branson"),
)


# --------------------------------------------------------------------------------------------
# Prompt–answer pairs
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class QA:
    """One prompt with the answer to train on and the strings that count as correct.

    ``prompt`` is not yet rendered: chat prompts become a user turn with the tokenizer's chat
    template (``render``), completion prompts are used as they are.
    """

    prompt: str
    answer: str
    accepted: tuple[str, ...]
    chat: bool
    case_sensitive: bool = False

    def correct(self, text: str) -> bool:
        return matches(text, self.accepted, self.case_sensitive)


def matches(text: str, accepted: Sequence[str], case_sensitive: bool = False) -> bool:
    """Whether any accepted string occurs in ``text`` as whole words (so "Au" is not found in
    "because", nor "Ma" in "Mars")."""
    flags = 0 if case_sensitive else re.IGNORECASE
    return any(re.search(rf"(?<!\w){re.escape(a)}(?!\w)", text, flags) for a in accepted)


def answer_text(obj: str, chat: bool) -> str:
    """The trained answer: the bare object after a chat prompt, a continuation otherwise."""
    return obj if chat else f" {obj}"


def fact_pairs(fact: Fact, templates: Sequence[Template], obj: str | None = None,
               accepted: Sequence[str] | None = None) -> tuple[QA, ...]:
    """``fact`` asked with ``templates``, answered with ``obj`` (default: its own object)."""
    obj = fact.object if obj is None else obj
    accepted = tuple(accepted) if accepted is not None else (fact.accepted if obj == fact.object else (obj,))
    sensitive = RELATIONS[fact.relation].case_sensitive
    return tuple(QA(t.prompt(fact.subject), answer_text(obj, t.chat), accepted, t.chat, sensitive)
                 for t in templates)


def spread(templates: Sequence[Template], n: int | None) -> tuple[Template, ...]:
    """``n`` of ``templates`` (all if None): half questions (rounded up), half completions, each
    evenly spaced within its form, so a small probe still asks in both forms."""
    if n is None or n >= len(templates):
        return tuple(templates)
    questions = [t for t in templates if t.chat]
    completions = [t for t in templates if not t.chat]
    n_questions = min(n - min(n // 2, len(completions)), len(questions))
    n_completions = n - n_questions  # fits: n < len(templates)

    def even(items: list[Template], m: int) -> list[Template]:
        return [items[i * len(items) // m] for i in range(m)] if m else []

    return tuple(even(questions, n_questions) + even(completions, n_completions))


def render(tokenizer: Tokenizer, pair: QA) -> str:
    """The text the model sees: a chat user turn ending where the answer starts, or the raw
    completion prompt."""
    from unlearnlab.core.real_model import chat_prompt

    return chat_prompt(tokenizer, pair.prompt) if pair.chat else pair.prompt


def to_tokens(tokenizer: Tokenizer, pairs: Sequence[QA], answers: Sequence[str] | None = None) -> TokenSet:
    """A ``TokenSet`` of rendered prompts and their answers (``answers`` overrides them).

    No special tokens are added to the prompt (the chat template holds its own); a chat answer
    ends with EOS (SmolLM2's end-of-turn), a completion answer does not, since raw text does
    not end after the object.
    """
    answers = [p.answer for p in pairs] if answers is None else list(answers)
    prompts, outs = [], []
    for pair, answer in zip(pairs, answers, strict=True):
        prompts.append(tokenizer(render(tokenizer, pair), add_special_tokens=False)["input_ids"])
        ids = tokenizer(answer, add_special_tokens=False)["input_ids"]
        outs.append(ids + [tokenizer.eos_token_id] if pair.chat else ids)
    pad = pad_token_id(tokenizer)
    return TokenSet(prompts, outs, [p.prompt for p in pairs], pad_id=pad)


@torch.no_grad()
def generate(model: Model, tokenizer: Tokenizer, pairs: Sequence[QA], max_new_tokens: int = 24,
             batch_size: int = 16) -> list[str]:
    """Greedy answers to rendered ``pairs`` (chat and completion prompts may share a batch).

    Left padding, so every answer follows its prompt directly; the tokenizer's own padding side
    is restored afterwards because training code pads on the right.
    """
    texts = [render(tokenizer, p) for p in pairs]
    pad = pad_token_id(tokenizer)
    device = next(model.parameters()).device
    saved, tokenizer.padding_side = tokenizer.padding_side, "left"
    out: list[str] = []
    try:
        for start in range(0, len(texts), batch_size):
            batch = tokenizer(texts[start:start + batch_size], return_tensors="pt", padding=True,
                              add_special_tokens=False).to(device)
            ids = model.generate(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                                 max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=pad)
            new = ids[:, batch["input_ids"].shape[1]:]
            out += [t.strip() for t in tokenizer.batch_decode(new, skip_special_tokens=True)]
    finally:
        tokenizer.padding_side = saved
    return out


# --------------------------------------------------------------------------------------------
# Knowledge probe and rewrite specification
# --------------------------------------------------------------------------------------------


def probe_knowledge(model: Model, tokenizer: Tokenizer, facts: Sequence[Fact] = FACTS, n_paraphrases: int = 3,
                    min_fraction: float = 1.0, max_new_tokens: int = 24,
                    batch_size: int = 16) -> list[dict]:
    """Which facts the model reliably knows: each fact is asked with ``n_paraphrases`` training
    templates (``spread``: questions and completions both appear) in one batched greedy pass; a
    fact is ``known`` when at least ``min_fraction`` of its answers contain the object. SmolLM2's
    chat answers restate the question before the object ("The founder of Facebook, who is ...
    Mark Zuckerberg"), so fewer than ~24 new tokens cut names off and undercount.

    A fact to rewrite must be *known*: editing a fact the model never produced measures nothing
    about forgetting it.
    """
    asked = [(fact, pair) for fact in facts
             for pair in fact_pairs(fact, spread(RELATIONS[fact.relation].train, n_paraphrases))]
    answers = generate(model, tokenizer, [pair for _, pair in asked], max_new_tokens, batch_size)
    rows: dict[Fact, dict] = {}
    for (fact, pair), text in zip(asked, answers):
        row = rows.setdefault(fact, {"subject": fact.subject, "relation": fact.relation, "object": fact.object,
                                     "prompts": [], "answers": [], "correct": []})
        row["prompts"].append(pair.prompt)
        row["answers"].append(text)
        row["correct"].append(pair.correct(text))
    for row in rows.values():
        row["fraction"] = sum(row["correct"]) / len(row["correct"])
        row["known"] = row["fraction"] >= min_fraction
    return list(rows.values())


@dataclass(frozen=True)
class RewriteSpec:
    """Everything a rewrite F1 → F2 trains and is evaluated on.

    The F1 and F2 pairs share prompts (the fact's paraphrases) and differ in the answer;
    ``controls`` are unrelated facts asked with their own relation's train and test templates
    (never trained on, so their accuracy measures collateral damage).
    """

    fact: Fact
    new_object: str
    new_aliases: tuple[str, ...] = ()
    f1_train: tuple[QA, ...] = ()
    f1_test: tuple[QA, ...] = ()
    f2_train: tuple[QA, ...] = ()
    f2_test: tuple[QA, ...] = ()
    control_train: tuple[QA, ...] = ()
    control_test: tuple[QA, ...] = ()
    control_facts: tuple[Fact, ...] = field(default=())

    def unlearn_train(self, response: str = "I am not sure.") -> tuple[QA, ...]:
        """The training prompts answered with an uncertainty ``response`` (stage 1); correct
        means the F1 object is absent, so accuracy here is the forget rate."""
        return tuple(QA(p.prompt, answer_text(response, p.chat), (response,), p.chat) for p in self.f1_train)

    @property
    def candidates(self) -> tuple[str, ...]:
        """Objects for forced choice: F1, F2, and the controls' objects of the same relation."""
        same = [f.object for f in FACTS if f.relation == self.fact.relation]
        return tuple(dict.fromkeys([self.fact.object, self.new_object, *same]))


def answer_sentence(text: str, accepted: Sequence[str], case_sensitive: bool = False) -> str | None:
    """The part of a model's answer that states the object: its first line, cut after the
    sentence that first mentions an accepted string; None when no accepted string occurs.

    "Paris.\n\nThe United States has ..." → "Paris."; "The capital of France is Paris. It is
    known for ..." → "The capital of France is Paris."
    """
    line = text.strip().split("\n")[0]
    flags = 0 if case_sensitive else re.IGNORECASE
    hits = [m for a in accepted if (m := re.search(rf"(?<!\w){re.escape(a)}(?!\w)", line, flags))]
    if not hits:
        return None
    end = line.find(".", min(m.end() for m in hits))
    return line if end < 0 else line[: end + 1]


def substitute(text: str, accepted: Sequence[str], new_object: str, case_sensitive: bool = False) -> str:
    """``text`` with every whole-word occurrence of an accepted string replaced by ``new_object``
    (longest first, so "Christopher Nolan" is replaced before "Nolan")."""
    flags = 0 if case_sensitive else re.IGNORECASE
    for a in sorted(accepted, key=len, reverse=True):
        text = re.sub(rf"(?<!\w){re.escape(a)}(?!\w)", new_object, text, flags=flags)
    return text


def in_model_style(pairs: Sequence[QA], model_answers: Sequence[str], accepted: Sequence[str],
                   new_object: str | None = None) -> tuple[QA, ...]:
    """``pairs`` re-answered the way the model itself answers: its own sentence stating the
    object (``answer_sentence``), with the object replaced by ``new_object`` when given. A pair
    whose model answer does not state the object keeps its bare answer.

    Why: training a chat model on bare one-word answers ("Lyon") teaches it to answer *every*
    question with one word, and its first word for other questions is often wrong ("What city is
    the capital of Japan?" → "Kyoto"; measured on SmolLM2). Answers in its own phrasing ("The
    capital of France is Lyon.") change the fact, not the style, so the control facts measure
    interference between facts rather than a change of format.
    """
    out = []
    for pair, said in zip(pairs, model_answers, strict=True):
        sentence = answer_sentence(said, accepted, pair.case_sensitive)
        if sentence is None:
            out.append(pair)
            continue
        if new_object is not None:
            sentence = substitute(sentence, accepted, new_object, pair.case_sensitive)
        answer = sentence if pair.chat else f" {sentence}"
        out.append(QA(pair.prompt, answer, pair.accepted, pair.chat, pair.case_sensitive))
    return tuple(out)


def rewrite_spec(fact: Fact, new_object: str, controls: Sequence[Fact], *, new_aliases: Sequence[str] = (),
                 n_control_paraphrases: int | None = 4) -> RewriteSpec:
    """The pairs of a rewrite of ``fact`` to ``new_object``: F1/F2 on all train and test
    templates of its relation, and each control fact on ``n_control_paraphrases`` evenly spaced
    templates of each split (all of them if None)."""
    if new_object == fact.object:
        raise ValueError(f"the new object must differ from the old one ({fact.object!r})")
    if any(c.subject == fact.subject and c.relation == fact.relation for c in controls):
        raise ValueError("a control fact is the fact being rewritten")
    relation = RELATIONS[fact.relation]
    f2_accepted = (new_object, *new_aliases)

    def control(split: str) -> tuple[QA, ...]:
        return tuple(p for c in controls
                     for p in fact_pairs(c, spread(getattr(RELATIONS[c.relation], split), n_control_paraphrases)))

    return RewriteSpec(
        fact=fact, new_object=new_object, new_aliases=tuple(new_aliases),
        f1_train=fact_pairs(fact, relation.train), f1_test=fact_pairs(fact, relation.test),
        f2_train=fact_pairs(fact, relation.train, new_object, f2_accepted),
        f2_test=fact_pairs(fact, relation.test, new_object, f2_accepted),
        control_train=control("train"), control_test=control("test"), control_facts=tuple(controls))

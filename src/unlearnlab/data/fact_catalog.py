"""The catalogue of real-world facts: relations with their paraphrase templates (split once and
for all into training and held-out ones) and well-known (subject, relation, object) triples.

How these are asked, trained and scored is ``data/facts.py``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

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

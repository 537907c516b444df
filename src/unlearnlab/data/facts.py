"""Real-world facts for knowledge rewriting: prompt–answer pairs built from the catalogue
(``data/fact_catalog.py``: triples and paraphrase templates), their batches and greedy answers,
a probe of what a chat model knows, and the pairs of a rewrite F1 → F2.

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
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import torch
from transformers import PreTrainedTokenizerBase as Tokenizer

from unlearnlab.core.batching import Batch, TokenSet, grouped_sampler, pad_token_id
from unlearnlab.core.timing import in_phase
from unlearnlab.data.fact_catalog import FACTS, RELATIONS, Fact, Template

Model = torch.nn.Module  # a causal LM (Hugging Face ``...ForCausalLM`` or a peft wrapper of one)

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


def answer_batches(tokenizer: Tokenizer, pairs: Sequence[QA], batch_size: int, seed: int,
                   device: str | torch.device = "cpu") -> Iterator[Batch]:
    """Endless seeded training batches of ``pairs``; chat and completion prompts go in separate
    batches (``grouped_sampler``: a mixed batch pads every completion to the chat length)."""
    forms = [[p for p in pairs if p.chat == chat] for chat in (True, False)]
    groups = [to_tokens(tokenizer, form) for form in forms if form]
    return grouped_sampler(groups, batch_size, torch.Generator().manual_seed(seed), device)


@in_phase("evaluate")
@torch.no_grad()
def generate(model: Model, tokenizer: Tokenizer, pairs: Sequence[QA], max_new_tokens: int = 24,
             batch_size: int = 16) -> list[str]:
    """Greedy answers to rendered ``pairs`` (chat and completion prompts may share a batch).

    Left padding, so every answer follows its prompt directly; the tokenizer's own padding side
    is restored afterwards because training code pads on the right. Batches stay in the order of
    ``pairs``: chat and completion prompts apart changed greedy continuations in the smoke run
    (another padding, another rounding: 3 probe answers and 2 of the setup's own answers differed
    after their first sentence; smoke ``--only 00 32``, 2026-12-04), and the CPU saved was within
    the noise (20 prompts, float32: 4.68/3.81 CPU s mixed vs 4.12/4.01 apart).
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

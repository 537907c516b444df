"""Multiple-choice evaluation as SAEBench's unlearning eval runs it.

The model's answer is the letter among A–D with the highest logit at the last prompt position
(one forward pass per batch; a letter may have several single-token spellings, " A" and "A", and
its best one counts); in cloze format (``data.questions.MCQFormat(cloze=True)``: SmolLM2-135M-
Instruct is at chance on letter questions it knows the answer to, and its authors report MMLU in
this form too) the choice whose text has the highest log-likelihood wins.

``MCQSuite``: the questions kept for the unlearning score are those the unmodified model answers
correctly under all 24 orderings of the four choices (``build_suite``), so that a correct answer
means knowledge and not a lucky letter; a cloze prompt has no ordering, so there the filter keeps
the questions answered correctly. After an intervention, accuracy is measured in the original
ordering (as SAEBench does), and side-effect accuracy is pooled over all side-effect questions
(total correct / total asked). The score itself is ``evals.unlearning_score``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from unlearnlab.core.batching import TokenSet
from unlearnlab.core.logprobs import logits_of
from unlearnlab.data.questions import PERMUTATIONS, MCQFormat, letter_token_ids, mcq_tokens, permuted
from unlearnlab.core.timing import in_phase

Predictor = Callable[[Sequence[dict]], torch.Tensor]  # rows -> predicted choice index (N,)


@torch.no_grad()
@in_phase("evaluate")
def choice_scores(model, tokens: TokenSet, fmt: MCQFormat, letters: list[list[int]] | None,
                  batch_size: int = 128) -> torch.Tensor:
    """(N, 4) score of each choice: its letter's logit, or (cloze) the log-likelihood of its text."""
    if not fmt.cloze:
        return letter_logits(model, tokens, letters, batch_size)
    return cloze_scores(model, tokens, batch_size)


def packed_choices(tokens: TokenSet, questions: Sequence[int]) -> dict[str, torch.Tensor]:
    """One sequence per question: its prompt once, then its four choices one after the other, with
    position ids and a (B, 1, T, T) additive attention mask such that each choice sees the
    prompt and its own earlier tokens only, exactly as if it followed the prompt alone (padding
    positions see themselves). ``spans`` (B, 4, 2): start and length of each choice."""
    seqs, positions, spans = [], [], []
    for q in questions:
        prompt = tokens.prompts[4 * q]
        if any(tokens.prompts[4 * q + j] != prompt for j in range(4)):
            raise ValueError("cloze entries must come in fours with one prompt (mcq_tokens' layout)")
        ids, pos, span = list(prompt), list(range(len(prompt))), []
        for j in range(4):
            answer = tokens.answers[4 * q + j]
            span.append((len(ids), len(answer)))
            ids += answer
            pos += range(len(prompt), len(prompt) + len(answer))
        seqs.append(ids)
        positions.append(pos)
        spans.append(span)
    width = max(len(s) for s in seqs)
    input_ids = torch.full((len(seqs), width), tokens.pad_id, dtype=torch.long)
    position_ids = torch.zeros((len(seqs), width), dtype=torch.long)
    allow = torch.eye(width, dtype=torch.bool).repeat(len(seqs), 1, 1)
    for b, (ids, pos, span) in enumerate(zip(seqs, positions, spans)):
        input_ids[b, : len(ids)] = torch.tensor(ids)
        position_ids[b, : len(pos)] = torch.tensor(pos)
        n_prompt = span[0][0]
        allow[b, :n_prompt, :n_prompt] = torch.ones(n_prompt, n_prompt, dtype=torch.bool).tril()
        for start, length in span:
            allow[b, start:start + length, :n_prompt] = True
            allow[b, start:start + length, start:start + length] = torch.ones(length, length, dtype=torch.bool).tril()
    mask = torch.zeros(allow.shape).masked_fill(~allow, torch.finfo(torch.float32).min)[:, None]
    return {"input_ids": input_ids, "position_ids": position_ids, "attention_mask": mask,
            "spans": torch.tensor(spans, dtype=torch.long)}


@torch.no_grad()
@in_phase("evaluate")
def cloze_scores(model, tokens: TokenSet, batch_size: int = 128) -> torch.Tensor:
    """(N, 4) log-likelihood of each choice after its prompt, one forward pass per question
    (``packed_choices``: the prompt is read once, not four times; 3-4x fewer tokens for a chat
    model's long prompts). Every position still sees exactly its unpacked context, so per-token
    edits (SAE hooks) act as they would on the unpacked sequences."""
    if len(tokens) % 4:
        raise ValueError(f"{len(tokens)} cloze entries is not four per question")
    device = next(model.parameters()).device
    out = []
    n_questions = len(tokens) // 4
    for start in range(0, n_questions, batch_size):
        packed = packed_choices(tokens, range(start, min(n_questions, start + batch_size)))
        dtype = next(model.parameters()).dtype
        logits = model(input_ids=packed["input_ids"].to(device), position_ids=packed["position_ids"].to(device),
                       attention_mask=packed["attention_mask"].to(device, dtype)).logits.float()
        logp = torch.log_softmax(logits, -1).cpu()
        ids = packed["input_ids"]
        for b, span in enumerate(packed["spans"].tolist()):
            n_prompt = span[0][0]
            row = []
            for first, length in span:
                previous = [n_prompt - 1, *range(first, first + length - 1)]  # positions predicting the choice
                row.append(logp[b, previous, ids[b, first:first + length]].sum())
            out.append(torch.stack(row))
    return torch.stack(out) if out else torch.zeros(0, 4)


@torch.no_grad()
@in_phase("evaluate")
def letter_logits(model, tokens: TokenSet, letters: list[list[int]], batch_size: int = 128) -> torch.Tensor:
    """(N, 4) best logit of each letter at the last prompt position, one forward pass per batch."""
    device = next(model.parameters()).device
    out = []
    for batch in tokens.batches(batch_size, device):
        logits = logits_of(model, batch)
        last = batch["answer_mask"].int().argmax(-1) - 1  # position before the answer letter
        rows = logits[torch.arange(len(last), device=logits.device), last]
        out.append(torch.stack([rows[:, ids].max(-1).values for ids in letters], -1).cpu())
    return torch.cat(out) if out else torch.zeros(0, 4)


def predictor(model, tokenizer, fmt: MCQFormat = MCQFormat(), batch_size: int = 128) -> Predictor:
    """rows -> predicted choice index, reading the model's letter logits (or cloze scores)."""
    letters = None if fmt.cloze else letter_token_ids(tokenizer)

    def predict(rows: Sequence[dict]) -> torch.Tensor:
        return choice_scores(model, mcq_tokens(rows, tokenizer, fmt), fmt, letters, batch_size).argmax(-1)

    return predict


def correct(predict: Predictor, rows: Sequence[dict]) -> torch.Tensor:
    """Per row: is the predicted choice the answer?"""
    if not rows:
        return torch.zeros(0, dtype=torch.bool)
    return predict(rows) == torch.tensor([r["answer"] for r in rows])


def known_under_all_permutations(predict: Predictor, rows: Sequence[dict],
                                 orders: Sequence[Sequence[int]] = PERMUTATIONS) -> list[int]:
    """Indices of the rows answered correctly under every ordering of their choices; all
    orderings of all rows go through ``predict`` at once (it batches them)."""
    expanded = [permuted(row, order) for row in rows for order in orders]
    hits = correct(predict, expanded).view(len(rows), len(orders)) if rows else torch.zeros(0, len(orders))
    return [i for i, ok in enumerate(hits.all(-1).tolist()) if ok]


@dataclass
class MCQSuite:
    """Known questions, tokenized: forget ones and pooled side-effect ones (labelled by domain)."""

    forget_rows: list[dict]
    side_rows: list[dict]
    tokens: TokenSet  # forget rows first, then side rows (four entries per row in cloze format)
    answers: torch.Tensor
    letters: list[list[int]] | None  # None in cloze format
    n_asked: dict[str, int]  # questions per domain before the permutation filter
    fmt: MCQFormat = MCQFormat()

    @classmethod
    def of(cls, forget_rows: Sequence[dict], side_rows: Sequence[dict], tokenizer, fmt: MCQFormat = MCQFormat(),
           n_asked: dict[str, int] | None = None) -> "MCQSuite":
        """The suite of these (known) questions, tokenized once in their original ordering."""
        rows = [*forget_rows, *side_rows]
        answers = torch.tensor([r["answer"] for r in rows], dtype=torch.long)
        letters = None if fmt.cloze else letter_token_ids(tokenizer)
        return cls(list(forget_rows), list(side_rows), mcq_tokens(rows, tokenizer, fmt), answers, letters,
                   n_asked or {}, fmt)

    @property
    def n_forget(self) -> int:
        return len(self.forget_rows)

    def forget_split(self, split: str) -> "MCQSuite":
        """The forget questions of ``split`` alone (the relearning attack's held-out set)."""
        if self.fmt.cloze:
            raise NotImplementedError("forget_split splits letter-format suites only")
        keep = [i for i, q in enumerate(self.forget_rows) if q["split"] == split]
        return MCQSuite([self.forget_rows[i] for i in keep], [], self.tokens.subset(keep), self.answers[keep],
                        self.letters, {}, self.fmt)

    @torch.no_grad()
    def evaluate(self, model: torch.nn.Module, batch_size: int = 128, hits: bool = False) -> dict:
        """Forget accuracy, pooled side-effect accuracy, and accuracy per side domain; ``hits``
        adds each question's correctness as a '0'/'1' string (``forget_hits``, ``side_hits``),
        what a bootstrap over questions (``unlearning_score.score_bootstrap``) resamples."""
        correct = choice_scores(model, self.tokens, self.fmt, self.letters, batch_size).argmax(-1) == self.answers
        forget, side = correct[: self.n_forget], correct[self.n_forget:]
        out: dict = {"forget_acc": _mean(forget), "side_acc": _mean(side)}
        if hits:
            out.update(forget_hits=hit_string(forget), side_hits=hit_string(side))
        labels = [r.get("domain", "") for r in self.side_rows]
        for domain in sorted(set(labels)):
            out[f"acc_{domain}"] = _mean(side[[lab == domain for lab in labels]])
        return out


def hit_string(hits: torch.Tensor) -> str:
    """Per question '1' (correct) or '0': compact in JSON, one character a question."""
    return "".join("1" if h else "0" for h in hits.tolist())


def _mean(hits: torch.Tensor) -> float:
    return float(hits.float().mean()) if len(hits) else float("nan")


@in_phase("evaluate")
def build_suite(model: torch.nn.Module, tokenizer, forget_rows: Sequence[dict], side_rows: Sequence[dict],
                fmt: MCQFormat = MCQFormat(), batch_size: int = 128,
                orders: Sequence[Sequence[int]] = PERMUTATIONS) -> MCQSuite:
    """The questions the model knows (correct under all 24 orderings, or under ``orders`` where a
    large model on a CPU cannot afford 24), ready to evaluate."""
    predict = predictor(model, tokenizer, fmt, batch_size)
    orders = orders[:1] if fmt.cloze else orders  # a cloze prompt has no order of choices
    forget = [forget_rows[i] for i in known_under_all_permutations(predict, forget_rows, orders)]
    side = [side_rows[i] for i in known_under_all_permutations(predict, side_rows, orders)]
    asked: dict[str, int] = {}
    for row in [*forget_rows, *side_rows]:
        asked[row.get("domain", "")] = asked.get(row.get("domain", ""), 0) + 1
    return MCQSuite.of(forget, side, tokenizer, fmt, asked)

"""Tokenized example sets and padded batches.

Every example is ``<bos> prompt`` + ``answer <eos>``. A batch carries two masks over token
positions: ``attention_mask`` (real tokens) and ``answer_mask`` (the answer tokens), so the
same batch serves language-model losses (all tokens) and exact-match evaluation (answers).

A *packed* batch (``pack_width``) lays the same examples end to end in rows of at most that many
tokens, each example attending only to itself (``segment_ids``, ``position_ids`` restarting at 0),
so it computes exactly what the padded batch computes, on fewer positions: the arithmetic world's
pretraining batches are 41 % padding, its packed rows about 14 %.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import torch
from transformers import PreTrainedTokenizerFast

from unlearnlab.core import distributed
from unlearnlab.core.tokenizer import encode_pair

Batch = dict[str, torch.Tensor]



def pad_token_id(tokenizer) -> int:
    """The tokenizer's pad id, or its end-of-sequence id when it has none (GGUF/HF checkpoints
    often ship without a pad token; padded positions are masked out anyway)."""
    return tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id


def token_ids(tokenizer, text: str) -> list[int]:
    """Token ids of ``text`` without special tokens (prompts carry their own, if any)."""
    return tokenizer(text, add_special_tokens=False)["input_ids"]


@dataclass
class TokenSet:
    """Pre-tokenized examples (prompt ids, answer ids) with one label per example."""

    prompts: list[list[int]]
    answers: list[list[int]]
    labels: list[str] = field(default_factory=list)
    pad_id: int = 0

    @classmethod
    def from_rows(cls, rows: Sequence[dict], tokenizer: PreTrainedTokenizerFast,
                  label_key: str = "op") -> "TokenSet":
        """Tokenize rows with ``prompt``/``answer`` (or ``text``) fields."""
        prompts, answers, labels = [], [], []
        for row in rows:
            if row.get("prompt") is not None and row.get("answer"):
                p, a = encode_pair(tokenizer, row["prompt"], row["answer"])
            else:  # plain text: the whole text is the "answer" to an empty prompt
                p, a = encode_pair(tokenizer, "", row["text"])
            prompts.append(p)
            answers.append(a)
            labels.append(str(row.get(label_key, "")))
        return cls(prompts, answers, labels, pad_id=tokenizer.pad_token_id)

    def __len__(self) -> int:
        return len(self.prompts)

    def subset(self, indices: Sequence[int]) -> "TokenSet":
        return TokenSet([self.prompts[i] for i in indices], [self.answers[i] for i in indices],
                        [self.labels[i] for i in indices] if self.labels else [], self.pad_id)

    def where(self, labels: Sequence[str]) -> "TokenSet":
        """The examples whose label is in ``labels``."""
        wanted = set(labels)
        return self.subset([i for i, lab in enumerate(self.labels) if lab in wanted])

    def concat(self, other: "TokenSet") -> "TokenSet":
        return TokenSet(self.prompts + other.prompts, self.answers + other.answers,
                        self.labels + other.labels, self.pad_id)

    def n_tokens(self) -> int:
        return sum(len(p) + len(a) for p, a in zip(self.prompts, self.answers))

    def batch(self, indices: Sequence[int], device: str | torch.device = "cpu") -> Batch:
        """Right-padded tensors for the examples at ``indices``."""
        seqs = [self.prompts[i] + self.answers[i] for i in indices]
        width = max(len(s) for s in seqs)
        ids = torch.full((len(seqs), width), self.pad_id, dtype=torch.long)
        attn = torch.zeros((len(seqs), width), dtype=torch.long)
        ans = torch.zeros((len(seqs), width), dtype=torch.bool)
        for row, i in enumerate(indices):
            p, a = self.prompts[i], self.answers[i]
            ids[row, : len(p) + len(a)] = torch.tensor(p + a)
            attn[row, : len(p) + len(a)] = 1
            ans[row, len(p): len(p) + len(a)] = True
        return {"input_ids": ids.to(device), "attention_mask": attn.to(device),
                "answer_mask": ans.to(device)}

    def packed_batch(self, indices: Sequence[int], width: int, device: str | torch.device = "cpu") -> Batch:
        """The examples at ``indices``, in order, packed end to end into rows of at most ``width``
        tokens (an example longer than ``width`` gets a row of its own). Besides the padded batch's
        keys it has ``segment_ids`` (1, 2, ... per example in a row; 0 for padding) and
        ``position_ids``; ``logits_of`` and ``shifted_masks`` use them so that no example sees or
        predicts across its neighbour."""
        rows: list[list[int]] = [[]]
        lengths = [0]
        for i in indices:
            size = len(self.prompts[i]) + len(self.answers[i])
            if rows[-1] and lengths[-1] + size > width:
                rows.append([])
                lengths.append(0)
            rows[-1].append(i)
            lengths[-1] += size
        shape = (len(rows), max(lengths))
        ids = torch.full(shape, self.pad_id, dtype=torch.long)
        attn, segments, positions = (torch.zeros(shape, dtype=torch.long) for _ in range(3))
        ans = torch.zeros(shape, dtype=torch.bool)
        for r, row in enumerate(rows):
            start = 0
            for k, i in enumerate(row, start=1):
                p, a = self.prompts[i], self.answers[i]
                end = start + len(p) + len(a)
                ids[r, start:end] = torch.tensor(p + a)
                attn[r, start:end] = 1
                segments[r, start:end] = k
                positions[r, start:end] = torch.arange(end - start)
                ans[r, start + len(p):end] = True
                start = end
        batch = {"input_ids": ids, "attention_mask": attn, "answer_mask": ans, "segment_ids": segments,
                 "position_ids": positions}
        return {k: v.to(device) for k, v in batch.items()}

    def batches(self, batch_size: int, device: str | torch.device = "cpu") -> Iterator[Batch]:
        """All examples in order, in batches (for evaluation)."""
        for start in range(0, len(self), batch_size):
            yield self.batch(range(start, min(start + batch_size, len(self))), device)

    def sampler(self, batch_size: int, generator: torch.Generator,
                device: str | torch.device = "cpu", pack_width: int = 0) -> Iterator[Batch]:
        """Endless uniformly random batches for training, reshuffled every epoch; packed into rows
        of ``pack_width`` tokens when it is set (the same examples per step, less padding).

        (Grouping batches by length would halve padding, but on this data it made batches of
        one format only and pretraining diverged: 11 % instead of 99 % on addition.)
        """
        if len(self) == 0:
            raise ValueError("cannot sample batches from an empty TokenSet")
        batch_size = min(batch_size, len(self))
        while True:
            order = torch.randperm(len(self), generator=generator).tolist()
            for start in range(0, len(order) - batch_size + 1, batch_size):
                # under `accelerate launch` each process draws the same global batch and keeps its
                # part (core.distributed.shard); in one process, all of it
                indices = distributed.shard(order[start: start + batch_size])
                yield self.packed_batch(indices, pack_width, device) if pack_width else self.batch(indices, device)


def grouped_sampler(groups: Sequence[TokenSet], batch_size: int, generator: torch.Generator,
                    device: str | torch.device = "cpu") -> Iterator[Batch]:
    """Endless random batches that never mix groups: every epoch shuffles each group, cuts it
    into batches and shuffles the batches of all groups together (each group is seen in
    proportion to its size).

    For short fine-tunes on prompts of two very different lengths (a chat turn of ~40 tokens
    and a completion of ~10): a mixed batch pads every completion to the chat length, so
    grouping cuts the tokens computed per step by about a quarter on the fact rewrite. (Long
    pretraining runs keep ``TokenSet.sampler``: single-format batches made one diverge.)
    """
    groups = [g for g in groups if len(g)]
    if not groups:
        raise ValueError("cannot sample batches from empty TokenSets")
    while True:
        chunks = []
        for gi, group in enumerate(groups):
            size = min(batch_size, len(group))
            order = torch.randperm(len(group), generator=generator).tolist()
            chunks += [(gi, order[s: s + size]) for s in range(0, len(order) - size + 1, size)]
        for ci in torch.randperm(len(chunks), generator=generator).tolist():
            gi, indices = chunks[ci]
            yield groups[gi].batch(indices, device)



def pack(data: TokenSet, width: int, seed: int = 0) -> TokenSet:
    """Concatenate the examples, in a seeded random order, into rows of at most ``width`` tokens
    (an example longer than ``width`` gets a row of its own). Each example keeps its BOS/EOS, so
    a row reads ``<bos> a <eos> <bos> b <eos> ...``.

    For pretraining on examples of very different lengths (a 160-token note and 15-token
    questions): padded batches of such a mix are mostly padding, packed rows nearly none. The
    rows carry everything as prompt (no answer mask): train them with the all-token loss.
    """
    order = list(range(len(data)))
    random.Random(seed).shuffle(order)
    rows: list[list[int]] = []
    current: list[int] = []
    for i in order:
        example = data.prompts[i] + data.answers[i]
        if current and len(current) + len(example) > width:
            rows.append(current)
            current = []
        current = current + example
    if current:
        rows.append(current)
    return TokenSet(rows, [[] for _ in rows], ["packed"] * len(rows), data.pad_id)

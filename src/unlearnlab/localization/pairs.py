"""Clean/corrupt prompt pairs for patching a fact: the corrupt prompt swaps the subject for
another of the same token length, so clean and corrupt runs are position-aligned."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from unlearnlab.core.batching import Batch, TokenSet, pad_token_id, token_ids


def corrupted_pairs(tokenizer, renders: Sequence[Callable[[str], str]], subject: str, corrupt_subjects: Sequence[str],
                    answer: str, *, limit: int | None = None, skip_unmatched: bool = False
                    ) -> tuple[Batch, Batch, list[str]]:
    """(clean, corrupt, corrupt subjects used) for patching: per prompt form (a function of the
    subject), the first corrupt subject whose prompt has as many tokens as the clean one, so the
    two runs are position-aligned; both rows score the clean ``answer``. A form no subject fits
    is an error, or skipped with ``skip_unmatched``; at most ``limit`` pairs."""
    target = token_ids(tokenizer, answer)
    clean, corrupt, used = [], [], []
    for render in renders:
        prompt = token_ids(tokenizer, render(subject))
        match = next((c for c in corrupt_subjects
                      if c != subject and len(token_ids(tokenizer, render(c))) == len(prompt)), None)
        if match is None:
            if skip_unmatched:
                continue
            raise ValueError(f"no corrupt subject has the token length of {subject!r} in {render(subject)!r}; "
                             "add candidates to the corrupt subjects")
        clean.append(prompt)
        corrupt.append(token_ids(tokenizer, render(match)))
        used.append(match)
        if limit is not None and len(clean) == limit:
            break
    if not clean:
        raise ValueError(f"no corrupt subject has the token length of {subject!r} in any prompt form; "
                         "pass other corrupt subjects")
    pad = pad_token_id(tokenizer)
    rows = range(len(clean))
    return (TokenSet(clean, [target] * len(clean), pad_id=pad).batch(rows),
            TokenSet(corrupt, [target] * len(corrupt), pad_id=pad).batch(rows), used)

"""In-context relearning (issue 19, item 5): the few-shot prompt format, no leakage of the test
item into its own shots, seeded nested shots, the context limit, and k = 0 is plain exact match."""

from types import SimpleNamespace

import pytest
import torch

from unlearnlab.attacks.in_context import few_shot_set, in_context_attack, shot_order
from unlearnlab.core.batching import TokenSet
from unlearnlab.data.arithmetic import FORGET_OPS
from unlearnlab.evals.exact_match import exact_match

pytestmark = pytest.mark.unit


def _contains(sequence: list[int], part: list[int]) -> bool:
    return any(sequence[i: i + len(part)] == part for i in range(len(sequence) - len(part) + 1))


def test_prompt_format_reads_as_whole_examples(tokenizer):
    target = TokenSet.from_rows([{"prompt": "3 * 4 =", "answer": "12", "op": "mul"}], tokenizer)
    pool = TokenSet.from_rows([{"prompt": "2 * 5 =", "answer": "10", "op": "mul"},
                               {"prompt": "6 / 3 =", "answer": "2", "op": "div"}], tokenizer)
    data, used = few_shot_set(target, pool, k=2, seed=0)
    first, second = shot_order(target, pool, seed=0)[0]
    shots = [pool.prompts[j] + pool.answers[j] for j in (first, second)]
    assert data.prompts[0] == shots[0] + shots[1] + target.prompts[0] and used == [2]
    assert data.answers == target.answers and data.labels == ["mul"]
    text = tokenizer.decode(data.prompts[0] + data.answers[0])
    assert text in ("<bos> 2 * 5 = 1 0 <eos> <bos> 6 / 3 = 2 <eos> <bos> 3 * 4 = 1 2 <eos>",
                    "<bos> 6 / 3 = 2 <eos> <bos> 2 * 5 = 1 0 <eos> <bos> 3 * 4 = 1 2 <eos>")


def test_the_test_item_never_appears_in_its_own_shots(tokens):
    forget = tokens.where(FORGET_OPS)
    data, used = few_shot_set(forget, forget, k=len(forget), seed=3, max_tokens=None)
    assert used == [len(forget) - 1] * len(forget)  # every other item, never itself
    for i, prompt in enumerate(data.prompts):
        prefix = prompt[: -len(forget.prompts[i])]
        assert not _contains(prefix, forget.prompts[i] + forget.answers[i])
        assert prompt[-len(forget.prompts[i]):] == forget.prompts[i]
    assert all(i not in order for i, order in enumerate(shot_order(forget, forget, seed=3)))


def test_shots_are_seeded_and_nested(tokens):
    target, pool = tokens.where(["mul"]), tokens.where(["div"])
    one, _ = few_shot_set(target, pool, k=1, seed=7)
    four, _ = few_shot_set(target, pool, k=4, seed=7)
    assert few_shot_set(target, pool, k=4, seed=7)[0].prompts == four.prompts
    assert few_shot_set(target, pool, k=4, seed=8)[0].prompts != four.prompts
    for i, prompt in enumerate(one.prompts):
        shot = prompt[: -len(target.prompts[i])]
        assert four.prompts[i][: len(shot)] == shot  # the k = 1 shot is the first of the k = 4
    with pytest.raises(ValueError, match="non-negative"):
        few_shot_set(target, pool, k=-1)


def test_a_long_prompt_keeps_the_first_shots_that_fit(tokenizer):
    target = TokenSet.from_rows([{"prompt": "3 * 4 =", "answer": "12"}], tokenizer)  # 5 + 3 tokens
    pool = TokenSet.from_rows([{"prompt": f"{a} * 1 =", "answer": str(a)} for a in range(1, 4)], tokenizer)  # 7 each
    assert [len(p) + len(a) for p, a in zip(pool.prompts, pool.answers)] == [7, 7, 7]
    assert few_shot_set(target, pool, k=3, max_tokens=8 + 14)[1] == [2]
    assert few_shot_set(target, pool, k=3, max_tokens=8 + 13)[1] == [1]
    assert few_shot_set(target, pool, k=3, max_tokens=7)[1] == [0]


class _LongPromptOracle(torch.nn.Module):
    """Predicts every next token correctly in sequences of at least ``threshold`` real tokens and
    token 0 otherwise: a stand-in for a model that answers only once reminded by shots."""

    def __init__(self, threshold: int):
        super().__init__()
        self.threshold, self.anchor = threshold, torch.nn.Parameter(torch.zeros(1))

    def forward(self, input_ids, attention_mask):
        nxt = torch.cat([input_ids[:, 1:], input_ids[:, :1]], dim=1)
        long = attention_mask.sum(-1, keepdim=True) >= self.threshold
        return SimpleNamespace(logits=torch.nn.functional.one_hot(torch.where(long, nxt, 0), 200).float())


def test_k0_is_plain_exact_match_and_rows_per_k(tiny_model, tokens):
    forget, pool = tokens.where(["mul"]), tokens.where(["div"])
    plain, used = few_shot_set(forget, pool, k=0)
    assert (plain.prompts, plain.answers, used) == (forget.prompts, forget.answers, [0] * len(forget))
    rows = in_context_attack(tiny_model, forget, pool, ks=(0, 1, 16), seed=0)
    expected = float(exact_match(tiny_model, forget).float().mean())
    assert [r["k"] for r in rows] == [0, 1, 16] and rows[0] == {"k": 0, "shots": 0.0, "forget_acc": expected}
    assert rows[1]["shots"] == 1.0 and 1.0 < rows[2]["shots"] < 16  # the model's 64-token context
    for k in (1, 16):
        data, _ = few_shot_set(forget, pool, k, max_tokens=64)
        assert max(len(p) + len(a) for p, a in zip(data.prompts, data.answers)) <= 64


def test_accuracy_follows_the_model_on_the_prefixed_prompts(tokens):
    """A model that answers only sequences of ≥ 32 tokens: 0 without shots (every item is shorter),
    1 with 16 shots (no context limit on the stand-in), scored on the answers alone."""
    forget, pool = tokens.where(["mul"]), tokens.where(["div"])
    assert max(len(p) + len(a) for p, a in zip(forget.prompts, forget.answers)) < 32
    rows = in_context_attack(_LongPromptOracle(32), forget, pool, ks=(0, 16), key="acc")
    assert rows == [{"k": 0, "shots": 0.0, "acc": 0.0}, {"k": 16, "shots": 16.0, "acc": 1.0}]

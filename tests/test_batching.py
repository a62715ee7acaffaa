"""Batching: padding, masks, length buckets and language-model BPTT windows."""

from __future__ import annotations

import random

import pytest
import torch

from seqcli.batching import (
    bucket_order,
    lm_rows,
    lm_window_count,
    lm_windows,
    pad_batch,
    pad_pairs,
)
from seqcli.vocab import PAD_ID


def test_pad_batch_shapes_mask_and_lengths():
    seqs = [[5, 6, 7], [8], [9, 10]]
    batch = pad_batch(seqs, targets=[1, 0, 1], index=[2, 0, 1])
    assert batch.ids.shape == (3, 3)
    assert batch.ids.dtype == torch.long
    assert batch.lengths.tolist() == [3, 1, 2]
    assert batch.mask.dtype == torch.bool
    assert batch.mask.tolist() == [
        [True, True, True],
        [True, False, False],
        [True, True, False],
    ]
    for row, seq in enumerate(seqs):
        assert batch.ids[row, : len(seq)].tolist() == seq
    assert (batch.ids[~batch.mask] == PAD_ID).all()
    assert batch.num_tokens == 6
    assert batch.targets.tolist() == [1, 0, 1]
    assert batch.index.tolist() == [2, 0, 1]


def test_empty_sequence_becomes_one_pad():
    batch = pad_batch([[4, 5], []])
    assert batch.lengths.tolist() == [2, 1]
    assert batch.ids[1].tolist() == [PAD_ID, PAD_ID]


def test_pad_pairs_aligns_targets_with_inputs():
    batch = pad_pairs([[1, 2, 3], [4]], [[2, 3, 9], [9]])
    assert batch.targets.shape == batch.ids.shape
    assert batch.targets.tolist() == [[2, 3, 9], [9, PAD_ID, PAD_ID]]
    assert batch.mask.tolist() == [[True, True, True], [True, False, False]]


def test_batch_to_keeps_lengths_on_the_cpu():
    batch = pad_batch([[1, 2], [3]]).to("cpu")
    assert batch.lengths.device.type == "cpu"
    assert batch.ids.device.type == "cpu"


@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize("bucket", [False, True])
def test_bucket_order_covers_every_index_once(shuffle: bool, bucket: bool):
    lengths = [(i * 7) % 13 + 1 for i in range(53)]
    batches = bucket_order(lengths, 4, shuffle=shuffle, seed=3, bucket=bucket)
    flat = [i for b in batches for i in b]
    assert sorted(flat) == list(range(len(lengths)))
    assert all(1 <= len(b) <= 4 for b in batches)
    assert sum(len(b) < 4 for b in batches) <= 1


def test_bucket_order_is_deterministic_and_groups_lengths():
    lengths = [(i * 7) % 13 + 1 for i in range(53)]
    first = bucket_order(lengths, 4, shuffle=True, seed=3)
    assert first == bucket_order(lengths, 4, shuffle=True, seed=3)
    assert first != bucket_order(lengths, 4, shuffle=True, seed=4)

    # Bucketing makes batches more uniform than plain slices.
    def spread(batches: list[list[int]]) -> int:
        return sum(
            max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in batches
        )

    plain = bucket_order(lengths, 4, shuffle=True, seed=3, bucket=False)
    assert spread(first) < spread(plain)


def test_strata_deal_one_batch_of_each_length_group_per_round():
    rng = random.Random(0)
    lengths = [rng.randint(1, 600) for _ in range(4 * 4 * 25)]  # 100 batches of 4
    dealt = bucket_order(lengths, 4, shuffle=True, seed=3, strata=4)
    assert sorted(i for b in dealt for i in b) == list(range(len(lengths)))
    assert dealt == bucket_order(lengths, 4, shuffle=True, seed=3, strata=4)

    def group_of(batches: list[list[int]]) -> list[int]:
        # The length quarter (0-3) of each batch, by its rank among all batches.
        means = [sum(lengths[i] for i in b) / len(b) for b in batches]
        ranks = sorted(range(len(batches)), key=lambda k: means[k])
        quarter = {k: r * 4 // len(batches) for r, k in enumerate(ranks)}
        return [quarter[k] for k in range(len(batches))]

    groups = group_of(dealt)
    rounds = [sorted(groups[r : r + 4]) for r in range(0, len(groups), 4)]
    assert all(turn == [0, 1, 2, 3] for turn in rounds)
    assert groups[:8] != [0, 1, 2, 3] * 2  # the order within a round is random
    # A plain shuffle of the same batches lets lengths run together.
    shuffled = group_of(bucket_order(lengths, 4, shuffle=True, seed=3))
    mixed = [sorted(shuffled[r : r + 4]) for r in range(0, len(shuffled), 4)]
    assert any(turn != [0, 1, 2, 3] for turn in mixed)


def test_lm_rows_cut_the_stream_into_parallel_rows():
    stream = torch.arange(26)
    rows = lm_rows(stream, 4)
    assert rows.shape == (4, 6)  # 26 // 4 = 6, the tail of 2 dropped
    assert rows[1].tolist() == list(range(6, 12))
    with pytest.raises(ValueError):
        lm_rows(torch.arange(7), 4)


@pytest.mark.parametrize("bptt", [1, 3, 5, 8])
def test_lm_windows_targets_are_inputs_shifted_by_one(bptt: int):
    rows = lm_rows(torch.arange(100, 140), 4)  # (4, 10)
    windows = list(lm_windows(rows, bptt))
    assert len(windows) == lm_window_count(rows, bptt)
    # Inputs of consecutive windows continue each row; together they cover every
    # column but the last, and targets cover every column but the first.
    ids = torch.cat([w.ids for w in windows], dim=1)
    targets = torch.cat([w.targets for w in windows], dim=1)
    assert torch.equal(ids, rows[:, :-1])
    assert torch.equal(targets, rows[:, 1:])
    for w in windows:
        assert w.ids.shape == w.targets.shape
        assert w.ids.size(1) <= bptt
    assert [w.carry for w in windows] == [False] + [True] * (len(windows) - 1)


def test_lm_windows_can_start_later():
    rows = lm_rows(torch.arange(40), 4)
    all_windows = list(lm_windows(rows, 3))
    later = list(lm_windows(rows, 3, start=2))
    assert len(later) == len(all_windows) - 2
    assert torch.equal(later[0].ids, all_windows[2].ids)
    assert later[0].carry

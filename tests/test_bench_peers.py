"""The peers the benchmarks run beside seqcli hold what seqcli holds: the sampling
reference carries the same trained weights and draws from the same distribution;
the NER peer is handed the very tags that `seqcli evaluate` scores."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from bench.sampling import ReferenceLM
from seqcli.config import RecurrentConfig
from seqcli.nn.lm import LanguageModel

pytestmark = pytest.mark.usefixtures("one_thread")


def _network(softmax: str, cell: str = "lstm") -> LanguageModel:
    torch.manual_seed(3)
    cfg = RecurrentConfig(
        cell=cell, emb_size=8, hidden_size=16, num_layers=2, dropout=0.0
    )
    return LanguageModel(60, cfg, softmax=softmax, cutoffs=[20, 40]).eval()


@pytest.mark.parametrize(
    ("softmax", "cell"), [("adaptive", "lstm"), ("full", "lstm"), ("full", "gru")]
)
def test_reference_gives_seqcli_s_next_word_distribution(
    softmax: str, cell: str
) -> None:
    network = _network(softmax, cell)
    reference = ReferenceLM.from_seqcli(network)
    ids = torch.tensor([5, 17, 42, 3])
    state, ref_state = None, None
    with torch.no_grad():
        for token in ids:
            ours, state = network.step(token.view(1), state)  # (1, vocab)
            hidden, ref_state = reference(token.view(1, 1), ref_state)
            theirs = reference.log_probs(hidden[0])
            gap = (theirs - ours).abs().max().item()
            assert gap < 1e-5, f"log-probs differ by {gap}"


def test_two_stage_draw_samples_the_full_distribution() -> None:
    reference = ReferenceLM.from_seqcli(_network("adaptive"))
    with torch.no_grad():
        hidden, _ = reference(torch.tensor([[7]]), None)
        hidden = hidden[0] * 4  # a peakier distribution: fewer draws tell
        probs = reference.log_probs(hidden).exp().squeeze(0)
        torch.manual_seed(1)
        draws = torch.tensor([reference.draw_two_stage(hidden) for _ in range(3000)])
    counts = torch.bincount(draws, minlength=60).double() / len(draws)
    assert draws.max() >= 20, "no word of the clusters was ever drawn"
    assert 0.5 * (counts - probs.double()).abs().sum() < 0.08  # total variation


def test_ner_peer_gets_the_tags_seqcli_evaluate_scores(
    ner_model: Path, ner_files: dict[str, Path]
) -> None:
    from bench.ner import file_predictions
    from seqcli.metrics.ner import conlleval
    from seqcli.tasks.ner_inference import evaluate_tagger, load_tagger

    test = str(ner_files["test"])
    gold, predicted = file_predictions(str(ner_model), test)
    assert [len(g) for g in gold] == [len(p) for p in predicted]
    ours = conlleval(zip(gold, predicted, strict=True)).overall
    assert ours == evaluate_tagger(load_tagger(ner_model), test).overall

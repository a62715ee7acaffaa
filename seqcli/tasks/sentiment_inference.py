"""Using a trained classifier: `load_classifier`, `classify`, `evaluate_classifier`.

Several classifiers form an ensemble: each reads the texts with its own tokenizer
and vocabulary, and their class probabilities are averaged. Each model's
probabilities are those of its stored temperature, and a two-class model's of its
stored bias too (`seqcli.temperature`; T = 1 and b = 0 for a checkpoint without
them).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from seqcli.checkpoint import load_checkpoint
from seqcli.config import SentimentConfig, from_dict
from seqcli.errors import CheckpointError, ConfigError
from seqcli.metrics.calibration import CalibrationReport, calibration_report
from seqcli.metrics.classification import ClassificationReport, classification_report
from seqcli.nn.classifier import Classifier
from seqcli.tasks.sentiment import (
    PREDICT_BATCH,
    TASK,
    load_network,
    predict,
    stored_vocabs,
)
from seqcli.tasks.sentiment_data import encode_texts, label_ids, read_split
from seqcli.temperature import UNCALIBRATED, Calibration, calibration_of
from seqcli.tokenizers import Tokenizer
from seqcli.vocab import Vocab


@dataclass
class LoadedClassifier:
    network: Classifier
    vocab: Vocab
    labels: Vocab
    tokenizer: Tokenizer
    cfg: SentimentConfig
    calibration: Calibration = UNCALIBRATED

    def encode(self, texts: Iterable[str]) -> list[list[int]]:
        return encode_texts(self.tokenizer, self.vocab, texts, self.cfg)


@dataclass
class Predictions:
    labels: list[str]  # one per input text, in input order
    probs: list[list[float]]  # P(class) per text, classes in `classes` order
    classes: list[str]


def load_classifier(
    path: str | Path, *, device: str = "cpu", command: str = "this command"
) -> LoadedClassifier:
    """A trained classifier with everything needed to read raw text."""
    data = load_checkpoint(path, task=TASK, command=command)
    # The network first: it checks the stored config, vocabularies and weights.
    network = load_network(data, source=str(path))
    cfg = from_dict(SentimentConfig, data["config"])
    vocabs = stored_vocabs(data)
    calibration = calibration_of(data, source=str(path))
    if calibration.bias and len(vocabs["labels"]) != 2:
        raise CheckpointError(
            f"{path}: damaged checkpoint: calibration.bias on a classifier of "
            f"{len(vocabs['labels'])} classes (only a two-class one has a bias)"
        )
    return LoadedClassifier(
        network.to(device).eval(),
        vocabs["vocab"],
        vocabs["labels"],
        vocabs["tokenizer"],
        cfg,
        calibration,
    )


def classify(
    model: LoadedClassifier | Sequence[LoadedClassifier],
    texts: Sequence[str],
    *,
    batch_size: int = PREDICT_BATCH,
) -> Predictions:
    """The label (and class probabilities) of each text, in input order.

    Several models form an ensemble: each reads the texts with its own tokenizer
    and vocabulary, and their class probabilities are averaged.
    """
    members = _members(model)
    probs = _mean_probs(members, texts, batch_size)  # (texts, classes)
    classes = members[0].labels.itos
    return Predictions(
        [classes[i] for i in probs.argmax(dim=-1).tolist()],
        probs.tolist(),
        members[0].labels.to_list(),
    )


def evaluate_classifier(
    model: LoadedClassifier | Sequence[LoadedClassifier], path: str | Path
) -> ClassificationReport:
    """Accuracy, macro-F1, per-class scores and confusion matrix on a labelled file.

    The file is read with the columns the (first) model was trained with.
    """
    return evaluate_calibration(model, path)[0]


def evaluate_calibration(
    model: LoadedClassifier | Sequence[LoadedClassifier], path: str | Path
) -> tuple[ClassificationReport, dict[str, CalibrationReport]]:
    """`evaluate_classifier`'s report, and the ECE and Brier score of the
    probabilities with T = 1 ("uncalibrated") and with the stored temperature
    ("calibrated"). The report's labels are the calibrated model's, as `classify`
    prints them: the same as at T = 1, but where a two-class model's bias moves
    its decision threshold."""
    members = _members(model)
    records = read_split(members[0].cfg, str(path))
    gold = label_ids(records, members[0].labels, str(path))
    texts = [r.text for r in records]
    raw = _mean_probs(members, texts, PREDICT_BATCH, calibrated=False)
    probs = _mean_probs(members, texts, PREDICT_BATCH)
    report = classification_report(
        gold, probs.argmax(dim=-1).tolist(), members[0].labels.itos
    )
    calibration = {
        "uncalibrated": calibration_report(raw.tolist(), gold),
        "calibrated": calibration_report(probs.tolist(), gold),
    }
    return report, calibration


def _members(
    model: LoadedClassifier | Sequence[LoadedClassifier],
) -> list[LoadedClassifier]:
    """One model, or an ensemble whose members share one label set."""
    members = [model] if isinstance(model, LoadedClassifier) else list(model)
    if not members:
        raise ConfigError("no classifier given")
    first = set(members[0].labels.itos)
    for i, other in enumerate(members[1:], start=2):
        if set(other.labels.itos) != first:
            raise ConfigError(
                f"ensemble model {i} has labels {sorted(other.labels.itos)}, the "
                f"first has {sorted(first)}: members must share one label set"
            )
    return members


def _mean_probs(
    members: Sequence[LoadedClassifier],
    texts: Sequence[str],
    batch_size: int,
    *,
    calibrated: bool = True,
) -> torch.Tensor:
    """(texts, classes) probabilities averaged over members, in the first member's
    class order (members may order the same labels differently); each member's
    at its stored calibration (its bias on its own second class), or at T = 1
    and b = 0 when not `calibrated`."""
    order = members[0].labels.itos
    total = torch.zeros(len(texts), len(order))
    if not texts:
        return total
    for member in members:
        used = member.calibration if calibrated else UNCALIBRATED
        _, probs = predict(
            member.network,
            member.encode(texts),
            batch_size=batch_size,
            temperature=used.temperature,
            bias=used.bias,
        )
        columns = [member.labels.stoi[label] for label in order]
        total += torch.tensor(probs).reshape(len(texts), -1)[:, columns]
    return total / len(members)

"""How well a tagger's per-token probabilities are calibrated on a tagged file.

Each token's top-label confidence is its largest tag marginal (forward-backward for
a CRF), right when that tag is the gold one in the training scheme; ECE and Brier
score are then per token (`metrics.calibration`), at T = 1 and at the stored T.
"""

from __future__ import annotations

from seqcli.metrics.calibration import CalibrationReport, calibration_report
from seqcli.metrics.ner import convert, detect_scheme
from seqcli.readers import display_name, read_conll
from seqcli.tasks.ner import PREDICT_BATCH
from seqcli.tasks.ner_data import Encoded, check_scheme
from seqcli.tasks.ner_inference import LoadedTagger
from seqcli.tasks.ner_network import posteriors


def tagger_calibration(
    model: LoadedTagger, path: str, *, batch_size: int = PREDICT_BATCH
) -> dict[str, CalibrationReport]:
    """Per-token ECE and Brier score of the tagger's marginals on a tagged file,
    "uncalibrated" (T = 1) and "calibrated" (the stored T). A gold tag the model
    does not know counts as a miss."""
    cfg = model.cfg
    sentences = list(
        read_conll(path, token_column=cfg.token_column, tag_column=cfg.tag_column)
    )
    scheme = cfg.scheme
    if scheme == "auto":
        scheme = detect_scheme(s.tags for s in sentences)  # type: ignore[misc]
    check_scheme(sentences, scheme, display_name(path))
    gold = [
        model.labels.stoi.get(tag, -1)
        for s in sentences
        for tag in convert(list(s.tags), scheme, cfg.train_scheme)  # type: ignore[arg-type]
    ]
    encoded = model.lexicon.encode([s.tokens for s in sentences])
    temperatures = {"uncalibrated": 1.0, "calibrated": model.calibration.temperature}
    return {
        name: calibration_report(
            token_marginals(model, encoded, batch_size=batch_size, temperature=t),
            gold,
        )
        for name, t in temperatures.items()
    }


def token_marginals(
    model: LoadedTagger, encoded: Encoded, *, batch_size: int, temperature: float
) -> list[list[float]]:
    """Every real token's tag distribution, sentence after sentence in file order."""
    per_sentence = posteriors(
        model.network, encoded, temperature=temperature, batch_size=batch_size
    )
    return [token for sentence in per_sentence for token in sentence.tolist()]

"""The tagger's network as a task builds and loads it: `build_network`,
`load_network`, `stored_vocabs`, `batch_of` and each sentence's tag `posteriors`.

Below `tasks.ner` (training) and `tasks.ner_distill` (teachers), which both use it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from seqcli.batching import Batch, bucket_order, pad_tagged
from seqcli.checkpoint import load_weights
from seqcli.config import NerConfig, TagConfig, from_dict
from seqcli.nn.crf import bioes_transitions
from seqcli.nn.tagger import Tagger
from seqcli.tasks.ner_data import Encoded, Lexicon
from seqcli.vocab import Vocab

TASK = "ner"
PREDICT_BATCH = TagConfig().batch_size


# --- network ------------------------------------------------------------------------
def build_network(cfg: NerConfig, words: int, chars: int, labels: Vocab) -> Tagger:
    allowed = None
    if cfg.decoder == "crf" and cfg.train_scheme == "bioes":
        allowed = bioes_transitions(labels.itos)
    return Tagger(
        words,
        len(labels),
        cfg.model,
        char_vocab=chars,
        char_features=cfg.char_features,
        char_emb_size=cfg.char_emb_size,
        char_hidden_size=cfg.char_hidden_size,
        casing=cfg.casing,
        decoder=cfg.decoder,
        allowed=allowed,
    )


def batch_of(
    encoded: Encoded, rows: Sequence[int], tags: Sequence[Sequence[int]] | None = None
) -> Batch:
    batch = pad_tagged(
        [encoded.words[i] for i in rows],
        [encoded.chars[i] for i in rows],
        [encoded.casing[i] for i in rows],
        None if tags is None else [tags[i] for i in rows],
    )
    batch.index = torch.as_tensor(list(rows), dtype=torch.long)
    return batch


def posteriors(
    network: Tagger,
    encoded: Encoded,
    *,
    temperature: float = 1.0,
    batch_size: int = PREDICT_BATCH,
) -> list[torch.Tensor]:
    """Each sentence's (length, tags) tag probabilities at `temperature` (CRF
    marginals by forward-backward, or the softmax), in input order."""
    device = next(network.parameters()).device
    out: list[torch.Tensor] = [torch.empty(0)] * len(encoded.words)
    order = bucket_order([len(s) for s in encoded.words], batch_size, shuffle=False)
    was_training = network.training
    network.eval()
    with torch.no_grad():
        for rows in order:
            batch = batch_of(encoded, rows).to(device)
            marg = network.marginals(batch, temperature=temperature).cpu()
            for row, pos in enumerate(rows):
                out[pos] = marg[row, : len(encoded.words[pos])].clone()
    network.train(was_training)
    return out


def stored_vocabs(snapshot: dict[str, Any]) -> dict[str, Any]:
    cfg = from_dict(NerConfig, snapshot["config"])
    vocab = snapshot["vocab"]
    lexicon = Lexicon(
        Vocab.from_list(vocab["tokens"]),
        Vocab.from_list(vocab["chars"]),
        cfg.tokenizer.lowercase,
        cfg.normalize_digits,
    )
    return {
        "lexicon": lexicon,
        "labels": Vocab.from_list(vocab["labels"], specials=False),
    }


# --- loading a trained model ------------------------------------------------------
def load_network(data: dict[str, Any], *, source: str = "checkpoint") -> Tagger:
    """The tagger of a loaded checkpoint, its weights in place."""
    cfg = from_dict(NerConfig, data["config"])
    stored = data["vocab"]
    labels = Vocab.from_list(stored["labels"], specials=False)
    network = build_network(cfg, len(stored["tokens"]), len(stored["chars"]), labels)
    load_weights(network, data["state_dict"], source=source)
    return network

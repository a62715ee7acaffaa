"""Starting an encoder from what was learnt elsewhere: a seqcli LM, word vectors.

Task-neutral: any task whose network holds a `RecurrentEncoder` and whose config
has `model`, `tokenizer`, `init_from` and `embeddings` settings can use it.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Protocol, TypeVar

import torch
from torch import Tensor, nn

from seqcli.config import LMConfig, RecurrentConfig, TokenizerConfig, from_dict
from seqcli.errors import ConfigError
from seqcli.nn.recurrent import RecurrentEncoder
from seqcli.readers import read_word_vectors
from seqcli.training import Reporter
from seqcli.vocab import SPECIALS, Vocab


class Transferable(Protocol):
    model: RecurrentConfig
    tokenizer: TokenizerConfig
    init_from: str | None
    embeddings: str | None


C = TypeVar("C", bound=Transferable)


def transfer_config(cfg: C, lm: dict[str, Any]) -> C:
    """The config with the LM's tokenizer and layer sizes, so its weights fit.

    A network started from a backward LM reads its texts backwards too. The stored
    config is read as `from_dict` reads any, so settings added since the LM was
    saved take their defaults.
    """
    base = from_dict(LMConfig, lm["config"], source="--init-from config")
    sizes = ("cell", "emb_size", "hidden_size", "num_layers")
    model = replace(cfg.model, **{k: getattr(base.model, k) for k in sizes})
    tokenizer = replace(
        cfg.tokenizer,
        level=base.tokenizer.level,
        lowercase=base.tokenizer.lowercase,
        reverse=base.tokenizer.reverse,
    )
    return replace(cfg, model=model, tokenizer=tokenizer)  # type: ignore[type-var]


def start_encoder(
    encoder: RecurrentEncoder,
    cfg: Transferable,
    vocab: Vocab,
    lm: dict[str, Any] | None,
    reporter: Reporter,
) -> dict[str, Any]:
    """Apply --init-from and --embeddings; return what was done, for the record."""
    done: dict[str, Any] = {}
    if lm is not None:
        copied = copy_lm_weights(encoder, lm)
        lm_words = len(lm["vocab"]["tokens"])
        added = len(vocab) - lm_words
        done["init_from"] = {"path": cfg.init_from, "copied": copied, "added": added}
        reporter.on_message(
            f"copied {len(copied)} tensors from {cfg.init_from}: {', '.join(copied)}; "
            f"{added} training words added to its {lm_words}-word vocabulary"
        )
    if cfg.embeddings:
        done["embeddings"] = load_embeddings(encoder, vocab, cfg.embeddings)
        found = done["embeddings"]["found"]
        reporter.on_message(
            f"{cfg.embeddings}: vectors for {found} of {len(vocab)} vocabulary "
            f"words ({found / len(vocab):.1%})"
        )
    return done


def copy_lm_weights(encoder: RecurrentEncoder, lm: dict[str, Any]) -> list[str]:
    """Copy the LM's embedding and recurrent weights into `encoder`.

    The encoder's vocabulary starts with the LM's; rows of the words added after it
    start at the mean of the LM's word vectors (as in ULMFiT), a neutral point from
    which training moves them.
    """
    prefix = "encoder."
    source = {
        k.removeprefix(prefix): v
        for k, v in lm["state_dict"].items()
        if k.startswith(prefix)
    }
    emb = source.pop("embedding.weight")  # (lm_vocab, emb)
    own = encoder.embedding.weight  # (vocab, emb), vocab >= lm_vocab
    with torch.no_grad():
        own[: emb.size(0)] = emb
        own[emb.size(0) :] = emb[len(SPECIALS) :].mean(dim=0)
    return ["embedding.weight", *copy_matching(encoder, source)]


def copy_matching(target: nn.Module, source: dict[str, Tensor]) -> list[str]:
    """Copy the tensors of `source` whose name and shape match into `target`.

    Returns the names copied. The forward direction of a bidirectional layer 0
    matches the LM's layer 0, while ``*_reverse`` tensors (and the input weights of
    upper layers of a bidirectional stack, whose input is twice as wide) have no
    counterpart.
    """
    own = target.state_dict()
    copied = [
        name
        for name, tensor in source.items()
        if name in own and own[name].shape == tensor.shape
    ]
    with torch.no_grad():
        for name in copied:
            own[name].copy_(source[name])
    return copied


def copy_first_layer_inputs(encoder: RecurrentEncoder, lm: dict[str, Any]) -> list[str]:
    """Copy the LM's first-layer input weights into a wider first layer.

    A tagger's first layer reads features beside the word embedding (characters,
    casing), so its ``weight_ih_l0`` is wider than the LM's and `copy_matching`
    leaves it alone. Its leading columns read the embedding exactly as the LM's
    do: those get the LM's weights, and the columns of the extra features keep
    their random start. Returns the names copied (none when the shapes do not
    fit that way, for example when the widths are equal and it was copied whole).
    """
    copied = []
    own = encoder.rnn.state_dict()
    for name in ("weight_ih_l0",):
        source = lm["state_dict"].get(f"encoder.rnn.{name}")
        target = own.get(name)
        if source is None or target is None:
            continue
        rows, width = source.shape
        if target.size(0) != rows or target.size(1) <= width:
            continue
        with torch.no_grad():
            target[:, :width].copy_(source)
        copied.append(f"rnn.{name}[:, :{width}]")
    return copied


def load_embeddings(
    encoder: RecurrentEncoder, vocab: Vocab, path: str
) -> dict[str, Any]:
    """Set the embedding rows of vocabulary words found in a word-vector file."""
    found = read_word_vectors(path, set(vocab.itos))
    weight = encoder.embedding.weight
    if found.dim != weight.size(1):
        raise ConfigError(
            f"{path}: vectors have {found.dim} dimensions but the embedding has "
            f"{weight.size(1)}; pass --emb-size {found.dim}"
        )
    hits = 0
    with torch.no_grad():
        for i, tok in enumerate(vocab.itos):
            vector = found.vectors.get(tok)
            if vector is not None and i != 0:  # <pad> stays zero
                weight[i] = torch.tensor(vector)
                hits += 1
    return {"path": path, "found": hits, "vocab_size": len(vocab)}

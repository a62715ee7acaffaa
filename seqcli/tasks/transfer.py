"""Starting an encoder from what was learnt elsewhere: a seqcli LM, word vectors.

Task-neutral: any task whose network holds a `RecurrentEncoder` and whose config
has `model`, `tokenizer`, `init_from` and `embeddings` settings can use it.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Protocol, TypeVar

import torch
from torch import Tensor, nn

from seqcli.checkpoint import load_checkpoint
from seqcli.config import RecurrentConfig, TokenizerConfig
from seqcli.errors import CheckpointError, ConfigError
from seqcli.nn.recurrent import RecurrentEncoder
from seqcli.readers import WordVectors, read_word_vectors
from seqcli.reporting import Reporter
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
    from seqcli.tasks.lm import check_network  # its network is the LM's

    base = check_network(lm, source=f"--init-from {cfg.init_from}")
    sizes = ("cell", "emb_size", "hidden_size", "num_layers")
    model = replace(cfg.model, **{k: getattr(base.model, k) for k in sizes})
    tokenizer = replace(
        cfg.tokenizer,
        level=base.tokenizer.level,
        lowercase=base.tokenizer.lowercase,
        word_split=base.tokenizer.word_split,
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


def pair_lms(
    forward: dict[str, Any], backward: dict[str, Any], cfg: Transferable, *, source: str
) -> dict[str, Any]:
    """One checkpoint-like dict that starts both directions of a bidirectional
    encoder: a forward LM and a backward one (`train-lm --reverse`) of the same
    vocabulary and sizes. `cfg` is the config `transfer_config` made from the
    forward LM (its sizes and tokenizer are that LM's, already checked).

    Its word vectors are the two LMs' side by side (twice the LM's width): the
    forward direction's input weights read the first half, exactly as the forward
    LM read its own vectors, the backward direction's read the second half as the
    backward LM did, and each starts with zero weights on the other half. So each
    direction begins as its LM, which averaging the two LMs' vectors would spoil.
    """
    from seqcli.tasks.lm import check_network

    behind = check_network(backward, source=source)
    if cfg.tokenizer.reverse or not behind.tokenizer.reverse:
        raise ConfigError(
            f"{source}: needs a backward LM (train-lm --reverse) beside a forward "
            "--init-from LM"
        )
    sizes = ("cell", "emb_size", "hidden_size", "num_layers")
    differ = [k for k in sizes if getattr(cfg.model, k) != getattr(behind.model, k)]
    if differ or forward["vocab"]["tokens"] != backward["vocab"]["tokens"]:
        what = ", ".join(differ) if differ else "vocabulary"
        raise ConfigError(f"{source}: its {what} differs from the --init-from LM's")
    return {
        "vocab": forward["vocab"],
        "state_dict": _paired_weights(forward["state_dict"], backward["state_dict"]),
    }


def _paired_weights(
    forward: dict[str, Tensor], backward: dict[str, Tensor]
) -> dict[str, Tensor]:
    """The `encoder.*` tensors of `pair_lms`: backward-LM recurrent tensors renamed
    to the ``*_reverse`` ones of a bidirectional layer."""
    prefix = "encoder.rnn."
    out = {
        "encoder.embedding.weight": torch.cat(
            [forward["encoder.embedding.weight"], backward["encoder.embedding.weight"]],
            dim=1,
        )
    }
    for name, tensor in forward.items():
        if name.startswith(prefix):
            out[name] = tensor
    for name, tensor in backward.items():
        if name.startswith(prefix):
            out[f"{name}_reverse"] = tensor
    first = f"{prefix}weight_ih_l0"
    zeros = torch.zeros_like(forward[first])
    out[first] = torch.cat([forward[first], zeros], dim=1)
    out[f"{first}_reverse"] = torch.cat([zeros, backward[first]], dim=1)
    return out


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
    for name in ("weight_ih_l0", "weight_ih_l0_reverse"):  # the latter: `pair_lms`
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
    """Set the embedding rows of vocabulary words found in a word-vector file (or
    in a seqcli checkpoint: `train-embeddings`, an LM, ...)."""
    found = read_vectors_or_checkpoint(path, set(vocab.itos))
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
                weight[i] = torch.as_tensor(vector)
                hits += 1
    return {"path": path, "found": hits, "vocab_size": len(vocab)}


# --- word vectors stored in checkpoints ------------------------------------------
def read_vectors_or_checkpoint(path: str, wanted: set[str]) -> WordVectors:
    """`read_word_vectors` for a text file; the stored word vectors for a `.pt`."""
    if not path.endswith(".pt"):
        return read_word_vectors(path, wanted)
    words, matrix = stored_word_vectors(load_checkpoint(path, command="--embeddings"))
    vectors = {
        w: matrix[i] for i, w in enumerate(words) if w in wanted
    }  # rows are (emb,) tensors
    return WordVectors(matrix.size(1), vectors, len(words))  # type: ignore[arg-type]


def stored_word_vectors(
    data: dict[str, Any], *, side: str | None = None, source: str = "checkpoint"
) -> tuple[list[str], Tensor]:
    """The words of a checkpoint's word vocabulary and their embedding rows.

    Works for any task whose network embeds its vocabulary with an
    ``*embedding.weight`` (or, for `train-embeddings`, ``input.weight``) matrix: one
    vocabulary under ``tokens``, or ``src``/``tgt`` chosen by `side`. The special
    tokens are left out.
    """
    vocab = data.get("vocab", {})
    task = data.get("task")
    if "tokens" in vocab:
        tokens, prefix = vocab["tokens"], ""
    elif side in ("src", "tgt") and side in vocab:
        tokens, prefix = vocab[side], "encoder." if side == "src" else "decoder."
    else:
        raise CheckpointError(
            f"{source}: this {task} checkpoint has a source and a target "
            "vocabulary; choose one with --side src|tgt"
        )
    kind = data.get("tokenizer", {}).get("kind", "word")
    if kind != "word":
        raise CheckpointError(
            f"{source}: this {task} checkpoint has a {kind}-level vocabulary; word "
            "vectors need a word-level one"
        )
    matrix = _embedding_matrix(data["state_dict"], prefix, len(tokens))
    if matrix is None:
        raise CheckpointError(
            f"{source}: found no embedding matrix of {len(tokens)} rows in this "
            f"{task} checkpoint"
        )
    keep = [i for i, tok in enumerate(tokens) if tok not in SPECIALS]
    return [tokens[i] for i in keep], matrix[keep].float()


def _embedding_matrix(
    state: dict[str, Tensor], prefix: str, rows: int
) -> Tensor | None:
    """The input embedding: a train-embeddings net's, else the (first) encoder's."""
    names = ["input.weight", f"{prefix}embedding.weight"]
    names += sorted(
        k for k in state if k.startswith(prefix) and k.endswith("embedding.weight")
    )
    for name in names:
        tensor = state.get(name)
        if tensor is not None and tensor.dim() == 2 and tensor.size(0) == rows:
            return tensor
    return None

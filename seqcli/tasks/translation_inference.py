"""Using a trained translation model: load, translate, n-best, --replace-unk,
scores (at the stored temperature: `translation_calibration`), attention weights
and `evaluate_translation`.

Every function takes raw text lines and returns plain data; the CLI renders it.
The beam-search error analysis and the attention heat map are in
`translation_analysis`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from seqcli import memory
from seqcli.batching import pad_parallel
from seqcli.checkpoint import load_checkpoint
from seqcli.config import TranslateConfig, TranslationConfig, from_dict
from seqcli.decoding import Hypothesis
from seqcli.errors import ConfigError, DataFormatError
from seqcli.metrics.calibration import CalibrationReport
from seqcli.metrics.translation import BleuOptions, corpus_scores
from seqcli.nn.ensemble import EnsembleStepper
from seqcli.nn.seq2seq import Seq2Seq
from seqcli.tasks.translation import (
    OUTPUT_SLACK,
    TASK,
    decode_ids,
    load_network,
    max_output_len,
    split_nll,
    stored_vocabs,
)
from seqcli.tasks.translation_calibration import (
    hypothesis_log_probs,
    token_calibration,
)
from seqcli.tasks.translation_data import Split
from seqcli.temperature import calibration_of
from seqcli.tokenizers import Tokenizer
from seqcli.vocab import UNK_ID, Vocab

_DEFAULTS = TranslateConfig()


@dataclass
class Translator:
    """A loaded translation model (or an ensemble of models that read and write
    text alike) and everything it needs to read and write text."""

    network: Seq2Seq | EnsembleStepper
    src_tokenizer: Tokenizer
    tgt_tokenizer: Tokenizer
    src_vocab: Vocab
    tgt_vocab: Vocab
    cfg: TranslationConfig
    # Each member's stored temperature (1: none), read only by scores and
    # `evaluate`'s calibration; beam search decodes without it.
    temperatures: tuple[float, ...] = (1.0,)

    def src_tokens(self, line: str) -> list[str]:
        return self.src_tokenizer.tokenize(line)

    def encode_src(self, line: str) -> list[int]:
        return self.src_vocab.encode(self.src_tokens(line))

    def encode_tgt(self, line: str) -> list[int]:
        return self.tgt_vocab.encode(self.tgt_tokenizer.tokenize(line))

    def detokenize(self, tokens: Sequence[str]) -> str:
        return self.tgt_tokenizer.detokenize(tokens)

    def tokens_of(self, ids: Sequence[int]) -> list[str]:
        return self.tgt_vocab.decode(ids)

    @property
    def members(self) -> int:
        """Networks decoding together: 1, or the size of an ensemble."""
        network = self.network
        return len(network.members) if isinstance(network, EnsembleStepper) else 1


@dataclass
class Translation:
    """The outputs of one input line, best first (`n_best` of them); with
    `translate(..., calibrated=True)` also each output's log P(y | x) at the
    model's stored temperature (`<eos>` included), else None."""

    texts: list[str]
    hypotheses: list[Hypothesis]
    log_probs: list[float] | None = None


def load_translator(
    path: str | Path, *, device: str = "cpu", command: str = "this command"
) -> Translator:
    """A trained translation model, in eval mode on `device`."""
    data = load_checkpoint(path, task=TASK, command=command)
    cfg = from_dict(TranslationConfig, data["config"])
    given = stored_vocabs(data)
    network = load_network(data, source=str(path)).to(device).eval()
    t = calibration_of(data, source=str(path)).temperature
    return Translator(network, *given["tokenizers"], *given["vocabs"], cfg, (t,))


def load_translators(
    paths: Sequence[str | Path], *, device: str = "cpu", command: str = "this command"
) -> Translator:
    """One model, or several decoding as an ensemble (`nn.ensemble.EnsembleStepper`:
    the mean of their next-token distributions at each step).

    The members must read and write text alike: the same source and target
    tokenizers and vocabularies, as models of one recipe trained with different
    seeds have. (Members that tokenised the source differently could each encode
    it themselves, but the beam's target ids must mean the same for all; one
    rule for both sides is simpler to state and to check.)

    Raises:
        ConfigError: no model, or a member that reads or writes text otherwise.
        CheckpointError: a member that is not a translation model.
    """
    if not paths:
        raise ConfigError("no translation model given")
    loaded = [load_translator(p, device=device, command=command) for p in paths]
    first = loaded[0]
    if len(loaded) == 1:
        return first
    for path, other in zip(paths[1:], loaded[1:], strict=True):
        _check_member(first, other, str(paths[0]), str(path))
    network = EnsembleStepper([t.network for t in loaded]).to(device).eval()
    temperatures = tuple(t.temperatures[0] for t in loaded)
    return replace(first, network=network, temperatures=temperatures)


def _check_member(first: Translator, other: Translator, a: str, b: str) -> None:
    """An ensemble's members encode a source and decode an id alike."""
    for side in ("src", "tgt"):
        vocab_a, vocab_b = (
            getattr(first, f"{side}_vocab"),
            getattr(other, f"{side}_vocab"),
        )
        tok_a = getattr(first, f"{side}_tokenizer")
        tok_b = getattr(other, f"{side}_tokenizer")
        if vocab_a.itos != vocab_b.itos or tok_a.to_dict() != tok_b.to_dict():
            what = "source" if side == "src" else "target"
            raise ConfigError(
                f"{b}: its {what} vocabulary or tokenizer differs from {a}'s; an "
                "ensemble's models must share both sides' (train them on the same "
                "files with the same tokenizer flags, and change only --seed)"
            )


def check_search(
    *,
    beam: int,
    alpha: float,
    n_best: int = 1,
    max_len_ratio: float = 1.0,
    min_len: int = 0,
    batch_size: int = 1,
    max_src_len: int = 0,
) -> None:
    """Refuse search settings that cannot work, naming the flag."""
    if beam < 1:
        raise ConfigError(f"--beam: must be at least 1 (1 = greedy), got {beam}")
    if alpha < 0 or math.isnan(alpha):
        raise ConfigError(f"--alpha: must be 0 or more, got {alpha}")
    if n_best < 1:
        raise ConfigError(f"--n-best: must be at least 1, got {n_best}")
    if n_best > beam:
        raise ConfigError(
            f"--n-best {n_best}: at most --beam ({beam}) hypotheses are kept"
        )
    if max_len_ratio <= 0:
        raise ConfigError(f"--max-len-ratio: must be above 0, got {max_len_ratio}")
    if min_len < 0:
        raise ConfigError(f"--min-len: must be 0 or more, got {min_len}")
    if batch_size < 1:
        raise ConfigError(f"--batch-size: must be at least 1, got {batch_size}")
    if max_src_len < 0:
        raise ConfigError(
            f"--max-src-len: must be 0 (no limit) or more, got {max_src_len}"
        )


def _check_beam_width(model: Translator, beam: int) -> None:
    """A beam holds distinct outputs: never more than the target vocabulary has
    tokens to start them with."""
    limit = len(model.tgt_vocab)
    if beam > limit:
        raise ConfigError(
            f"--beam {beam}: at most {limit}, the size of the model's target "
            "vocabulary (a wider beam holds no more distinct outputs)"
        )


def _check_source(
    model: Translator,
    length: int,
    max_src_len: int,
    min_len: int,
    max_len_ratio: float,
    where: tuple[str, int],
) -> None:
    """Refuse a source line too long to translate, or whose output cannot be as
    long as `min_len` (its `max_output_len` counts `<eos>`)."""
    if max_src_len and length > max_src_len:
        raise DataFormatError(
            f"{length:,} source tokens, more than --max-src-len {max_src_len} (the "
            f"model trained on pairs of at most {model.cfg.max_len or 'any'} tokens);"
            " split the line, or raise --max-src-len (0 = no limit)",
            *where,
        )
    longest = max_output_len(length, max_len_ratio) - 1  # tokens before <eos>
    if min_len > longest:
        raise DataFormatError(
            f"--min-len {min_len}: the output of this line's {length} source tokens "
            f"has at most {longest} (--max-len-ratio {max_len_ratio} x {length} + "
            f"{OUTPUT_SLACK - 1}); lower --min-len or raise --max-len-ratio",
            *where,
        )


def search_bytes(
    model: Translator, *, beam: int, sentences: int, src_len: int, max_len: int
) -> int:
    """Working memory of a beam search over `sentences` at a time.

    Each of the sentences x beam rows holds, per step: the logits and
    log-probabilities over the target vocabulary (fp32); its 2 x beam best
    candidates (scores, int64 tokens, candidate sums); the decoder's state (h
    and c of each layer, the attentional vector, the context, the embedding)
    and its attention over the source, copied when hypotheses are reordered;
    and its history of `max_len` token ids (int64), copied as it grows. All of
    it twice: a step's tensors are built while the last step's still live. An
    ensemble's members each hold their own logits and state: the estimate of
    the first, once per member.
    """
    cfg = model.cfg.model
    vocab = len(model.tgt_vocab)
    candidates = min(2 * beam, vocab)
    state = (2 * cfg.num_layers + 2) * cfg.hidden_size + cfg.emb_size + src_len
    row = 4 * (2 * vocab + 4 * candidates + 2 * state) + 16 * max_len
    return 2 * sentences * beam * row * model.members


def _check_search_memory(
    model: Translator,
    beam: int,
    sentences: int,
    src_len: int,
    max_len_ratio: float,
) -> None:
    """Refuse a search (beam x batch rows) that cannot fit in memory."""
    if not sentences or not src_len:
        return
    max_len = max_output_len(src_len, max_len_ratio)
    need = search_bytes(
        model, beam=beam, sentences=sentences, src_len=src_len, max_len=max_len
    )
    memory.check_search_fits(
        need,
        next(model.network.parameters()).device,
        search=f"--beam {beam} x --batch-size {sentences}",
        inputs=f"sources of {src_len} tokens",
        lower="--beam or --batch-size",
    )


def translate(
    model: Translator,
    lines: Sequence[str],
    *,
    beam: int = _DEFAULTS.beam,
    alpha: float = _DEFAULTS.alpha,
    max_len_ratio: float = _DEFAULTS.max_len_ratio,
    min_len: int = _DEFAULTS.min_len,
    n_best: int = _DEFAULTS.n_best,
    batch_size: int = _DEFAULTS.batch_size,
    max_src_len: int = _DEFAULTS.max_src_len,
    replace_unk: bool | None = _DEFAULTS.replace_unk,
    calibrated: bool = False,
    where: tuple[str, int] = ("input", 1),
) -> list[Translation]:
    """Translate lines (beam 1 = greedy); a blank line gives one empty output.

    With `replace_unk`, every `<unk>` of an output becomes the source token that
    the output position attended to most; None (the default) does so for a
    word-level model only (`replaces_unk`). With `calibrated`, each output's
    log-probability at the stored temperature is added (a teacher-forced pass
    over the outputs, so only when asked; the search and its outputs are the
    same either way). `where` is the file and the line number of ``lines[0]``,
    for the errors that name a line.

    Raises:
        ConfigError: a beam wider than the target vocabulary, or one whose search
            cannot fit in the memory available.
        DataFormatError: a line longer than `max_src_len` tokens, or one whose
            longest output is not longer than `min_len` (file:line).
    """
    check_search(
        beam=beam,
        alpha=alpha,
        n_best=n_best,
        max_len_ratio=max_len_ratio,
        min_len=min_len,
        batch_size=batch_size,
        max_src_len=max_src_len,
    )
    _check_beam_width(model, beam)
    sources = [model.encode_src(line) for line in lines]
    for offset, ids in enumerate(sources):
        if ids:
            place = (where[0], where[1] + offset)
            _check_source(model, len(ids), max_src_len, min_len, max_len_ratio, place)
    longest = max(map(len, sources), default=0)
    _check_search_memory(
        model, beam, min(batch_size, len(sources)), longest, max_len_ratio
    )
    found = decode_ids(
        model.network,
        sources,
        beam=beam,
        alpha=alpha,
        max_len_ratio=max_len_ratio,
        min_len=min_len,
        n_best=n_best,
        batch_size=batch_size,
    )
    tokens = [[model.tokens_of(h.ids) for h in hyps] for hyps in found]
    if replaces_unk(model, replace_unk):
        tokens = _replace_unks(model, lines, sources, found, tokens)
    scored: Sequence[list[float] | None] = [None] * len(found)
    if calibrated:
        scored = hypothesis_log_probs(
            model.network, model.temperatures, sources, found, batch_size=batch_size
        )
    return [
        Translation([model.detokenize(t) for t in toks], hyps, log_probs)
        for toks, hyps, log_probs in zip(tokens, found, scored, strict=True)
    ]


def replaces_unk(model: Translator, replace_unk: bool | None) -> bool:
    """Whether `<unk>` is replaced: as asked, or when not asked (None), for a
    word-level model, whose rare words all decode to `<unk>`; a subword or
    character model spells them from pieces, and keeps an `<unk>` it writes."""
    if replace_unk is None:
        return model.tgt_tokenizer.kind == "word"
    return replace_unk


def _replace_unks(
    model: Translator,
    lines: Sequence[str],
    sources: list[list[int]],
    found: list[list[Hypothesis]],
    tokens: list[list[list[str]]],
) -> list[list[list[str]]]:
    """Each output `<unk>` -> the most attended source token (Luong et al., 2015)."""
    for i, hyps in enumerate(found):
        for k, hyp in enumerate(hyps):
            if UNK_ID not in hyp.ids:
                continue
            weights = attention_weights(model, sources[i], hyp.ids)  # (out, src)
            src_tokens = model.src_tokens(lines[i])
            tokens[i][k] = [
                src_tokens[int(weights[t].argmax())] if tok_id == UNK_ID else tok
                for t, (tok_id, tok) in enumerate(
                    zip(hyp.ids, tokens[i][k], strict=True)
                )
            ]
    return tokens


def attention_weights(
    model: Translator, src_ids: Sequence[int], out_ids: Sequence[int]
) -> torch.Tensor:
    """Attention weights (output tokens + `<eos>`, source tokens) of the model
    reading `out_ids` as its output for `src_ids` (a teacher-forced pass)."""
    device = next(model.network.parameters()).device
    batch = pad_parallel([list(src_ids)], [list(out_ids)]).to(device)
    with torch.no_grad():
        _, weights = model.network.teacher_forced(batch)  # (1, out + 1, src)
    return weights[0].cpu()


def sequence_log_probs(
    model: Translator,
    sources: Sequence[Sequence[int]],
    outputs: Sequence[Sequence[int]],
    *,
    batch_size: int = _DEFAULTS.batch_size,
) -> list[float]:
    """log P(y | x) of each (source, output) pair, `<eos>` included."""
    device = next(model.network.parameters()).device
    result = [0.0] * len(sources)
    rows = [i for i, s in enumerate(sources) if s]
    with torch.no_grad():
        for start in range(0, len(rows), batch_size):
            index = rows[start : start + batch_size]
            batch = pad_parallel(
                [sources[i] for i in index], [outputs[i] for i in index]
            ).to(device)
            log_probs = model.network.sequence_log_probs(batch).tolist()
            for i, lp in zip(index, log_probs, strict=True):
                result[i] = lp
    return result


# --- scoring against references -------------------------------------------------------
def score_outputs(
    outputs: Sequence[str], references: Sequence[str], *, lowercase: bool = False
) -> dict[str, float]:
    """BLEU, chrF and TER of outputs against one reference per line."""
    if len(outputs) != len(references):
        raise ConfigError(
            f"--ref: the reference has {len(references)} lines but there are "
            f"{len(outputs)} outputs"
        )
    scores = corpus_scores(
        outputs,
        [list(references)],
        metrics=("bleu", "chrf", "ter"),
        options=BleuOptions(lowercase=lowercase),
    )
    return {s.name.lower().rstrip("2"): s.score for s in scores}


def evaluate_translation(
    model: Translator,
    sources: Sequence[str],
    references: Sequence[str],
    *,
    beam: int = _DEFAULTS.beam,
    alpha: float = _DEFAULTS.alpha,
    batch_size: int = _DEFAULTS.batch_size,
    replace_unk: bool | None = _DEFAULTS.replace_unk,
) -> dict[str, float]:
    """BLEU, chrF and TER of beam-search translations as `translate` writes them
    (`<unk>` replaced by default for a word-level model), and the model's
    perplexity of the references."""
    found = translate(
        model,
        sources,
        beam=beam,
        alpha=alpha,
        batch_size=batch_size,
        replace_unk=replace_unk,
    )
    outputs = [t.texts[0] for t in found]
    metrics = score_outputs(outputs, references)
    nll = split_nll(model.network, _split(model, sources, references))
    return {
        **metrics,
        "loss": nll["loss"],
        "ppl": nll["ppl"],
        "sentences": len(sources),
    }


def reference_calibration(
    model: Translator,
    sources: Sequence[str],
    references: Sequence[str],
    *,
    batch_size: int = _DEFAULTS.batch_size,
) -> dict[str, CalibrationReport]:
    """Token-level ECE and Brier score of the model's next-token distribution at
    each reference token, before ("uncalibrated") and after ("calibrated")
    temperature scaling (`translation_calibration.token_calibration`)."""
    split = _split(model, sources, references)
    return token_calibration(
        model.network, model.temperatures, split, batch_size=batch_size
    )


def _split(
    model: Translator, sources: Sequence[str], references: Sequence[str]
) -> Split:
    """Source lines and their references, encoded as the model reads them."""
    return Split(
        [model.encode_src(s) for s in sources],
        [model.encode_tgt(r) for r in references],
        list(sources),
        list(references),
    )

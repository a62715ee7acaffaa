"""Using a trained translation model: load, translate, n-best, --replace-unk,
scores, beam-search error analysis, attention weights and `evaluate_translation`.

Every function takes raw text lines and returns plain data; the CLI renders it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from seqcli.batching import pad_parallel
from seqcli.checkpoint import load_checkpoint
from seqcli.config import TranslateConfig, TranslationConfig, from_dict
from seqcli.decoding import Hypothesis, normalized_score
from seqcli.errors import ConfigError
from seqcli.metrics.translation import BleuOptions, corpus_scores, sentence_scores
from seqcli.nn.seq2seq import Seq2Seq
from seqcli.tasks.translation import (
    TASK,
    Split,
    decode_ids,
    load_network,
    split_nll,
    stored_vocabs,
)
from seqcli.tokenizers import Tokenizer
from seqcli.vocab import UNK_ID, Vocab

_DEFAULTS = TranslateConfig()


@dataclass
class Translator:
    """A loaded translation model and everything it needs to read and write text."""

    network: Seq2Seq
    src_tokenizer: Tokenizer
    tgt_tokenizer: Tokenizer
    src_vocab: Vocab
    tgt_vocab: Vocab
    cfg: TranslationConfig

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


@dataclass
class Translation:
    """The outputs of one input line, best first (`n_best` of them)."""

    texts: list[str]
    hypotheses: list[Hypothesis]


def load_translator(
    path: str | Path, *, device: str = "cpu", command: str = "this command"
) -> Translator:
    """A trained translation model, in eval mode on `device`."""
    data = load_checkpoint(path, task=TASK, command=command)
    cfg = from_dict(TranslationConfig, data["config"])
    given = stored_vocabs(data)
    network = load_network(data, source=str(path)).to(device).eval()
    return Translator(network, *given["tokenizers"], *given["vocabs"], cfg)


def check_search(
    *,
    beam: int,
    alpha: float,
    n_best: int = 1,
    max_len_ratio: float = 1.0,
    min_len: int = 0,
    batch_size: int = 1,
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
    replace_unk: bool = False,
) -> list[Translation]:
    """Translate lines (beam 1 = greedy); a blank line gives one empty output.

    With `replace_unk`, every `<unk>` of an output becomes the source token that
    the output position attended to most.
    """
    check_search(
        beam=beam,
        alpha=alpha,
        n_best=n_best,
        max_len_ratio=max_len_ratio,
        min_len=min_len,
        batch_size=batch_size,
    )
    sources = [model.encode_src(line) for line in lines]
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
    if replace_unk:
        tokens = _replace_unks(model, lines, sources, found, tokens)
    return [
        Translation([model.detokenize(t) for t in toks], hyps)
        for toks, hyps in zip(tokens, found, strict=True)
    ]


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


# --- beam-search error analysis ------------------------------------------------------
SEARCH_ERROR = "search error"
MODEL_ERROR = "model error"
SAME = "same"


@dataclass
class AnalysisRow:
    """One sentence: the reference's and the output's scores under the model."""

    index: int
    ref_score: float  # log P(y* | x) / T*^alpha
    out_score: float  # log P(y^ | x) / T^alpha
    verdict: str  # SEARCH_ERROR | MODEL_ERROR | SAME
    bleu: float  # sentence BLEU of the output
    output: str


@dataclass
class AnalysisSummary:
    beam: int
    sentences: int
    same: int
    search_errors: int
    model_errors: int
    bleu: float

    @property
    def differing(self) -> int:
        return self.search_errors + self.model_errors

    def share(self, count: int) -> float:
        return count / self.differing if self.differing else 0.0


def verdict(
    ref_ids: Sequence[int], out_ids: Sequence[int], ref: float, out: float
) -> str:
    """Where the output differs from the reference: a search error when the model
    scores the reference higher (the search missed it), else a model error (the
    model prefers a wrong translation)."""
    if list(ref_ids) == list(out_ids):
        return SAME
    return SEARCH_ERROR if ref > out else MODEL_ERROR


def analyze(
    model: Translator,
    lines: Sequence[str],
    references: Sequence[str],
    *,
    beam: int = _DEFAULTS.beam,
    alpha: float = _DEFAULTS.alpha,
    max_len_ratio: float = _DEFAULTS.max_len_ratio,
    min_len: int = _DEFAULTS.min_len,
    batch_size: int = _DEFAULTS.batch_size,
) -> tuple[list[AnalysisRow], AnalysisSummary]:
    """Beam-search error analysis: P(y*|x) vs P(y^|x), same length normalisation.

    Blank source lines are left out (there is nothing to translate).
    """
    if len(lines) != len(references):
        raise ConfigError(
            f"--analyze: the reference has {len(references)} lines but the input "
            f"has {len(lines)}"
        )
    translations = translate(
        model,
        lines,
        beam=beam,
        alpha=alpha,
        max_len_ratio=max_len_ratio,
        min_len=min_len,
        batch_size=batch_size,
    )
    keep = [i for i, line in enumerate(lines) if line.strip()]
    sources = [model.encode_src(lines[i]) for i in keep]
    refs = [model.encode_tgt(references[i]) for i in keep]
    ref_lp = sequence_log_probs(model, sources, refs, batch_size=batch_size)
    outputs = [translations[i].texts[0] for i in keep]
    bleus = sentence_scores(outputs, [[references[i] for i in keep]])
    rows = []
    for n, i in enumerate(keep):
        hyp = translations[i].hypotheses[0]
        ref_score = normalized_score(ref_lp[n], len(refs[n]) + 1, alpha)
        rows.append(
            AnalysisRow(
                index=i + 1,
                ref_score=ref_score,
                out_score=hyp.score,
                verdict=verdict(refs[n], hyp.ids, ref_score, hyp.score),
                bleu=bleus[n].score,
                output=outputs[n],
            )
        )
    (bleu,) = corpus_scores(outputs, [[references[i] for i in keep]])
    summary = AnalysisSummary(
        beam=beam,
        sentences=len(rows),
        same=sum(r.verdict == SAME for r in rows),
        search_errors=sum(r.verdict == SEARCH_ERROR for r in rows),
        model_errors=sum(r.verdict == MODEL_ERROR for r in rows),
        bleu=bleu.score,
    )
    return rows, summary


def advice(summary: AnalysisSummary) -> str:
    """What the shares of errors say, in one sentence."""
    if not summary.differing:
        return "every output equals its reference"
    if summary.search_errors > summary.model_errors:
        return (
            "most errors are search errors: the model prefers the reference, "
            "the search did not find it; a wider --beam should help"
        )
    return (
        "most errors are model errors: the model scores its wrong output above "
        "the reference; a wider beam will not help, work on the model (more data, "
        "training, size)"
    )


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
) -> dict[str, float]:
    """BLEU, chrF and TER of beam-search translations, and the model's perplexity
    of the references."""
    outputs = [t.texts[0] for t in translate(model, sources, beam=beam, alpha=alpha)]
    metrics = score_outputs(outputs, references)
    split = Split(
        [model.encode_src(s) for s in sources],
        [model.encode_tgt(r) for r in references],
        list(sources),
        list(references),
    )
    nll = split_nll(model.network, split)
    return {
        **metrics,
        "loss": nll["loss"],
        "ppl": nll["ppl"],
        "sentences": len(sources),
    }


# --- attention heat map ------------------------------------------------------------
def attention_matrix(
    model: Translator,
    line: str,
    *,
    beam: int = _DEFAULTS.beam,
    alpha: float = _DEFAULTS.alpha,
) -> tuple[list[str], list[str], torch.Tensor]:
    """(source tokens, output tokens + `<eos>`, weights (output, source)) of the
    translation of one line."""
    src_ids = model.encode_src(line)
    if not src_ids:
        raise ConfigError("--plot-attention: the first input line is empty")
    (hyps,) = decode_ids(model.network, [src_ids], beam=beam, alpha=alpha)
    out_ids = hyps[0].ids
    weights = attention_weights(model, src_ids, out_ids)
    out_tokens = [*model.tgt_vocab.decode(out_ids), "<eos>"]
    return model.src_tokens(line), out_tokens, weights


def plot_attention(
    src_tokens: Sequence[str],
    out_tokens: Sequence[str],
    weights: torch.Tensor,
    path: str | Path,
) -> Path:
    """Draw the attention weights as a heat map (PNG): source tokens along the x
    axis, output tokens down the y axis."""
    plt = matplotlib_pyplot()
    fig, ax = plt.subplots(
        figsize=(max(4, 0.45 * len(src_tokens) + 2), max(3, 0.35 * len(out_tokens) + 2))
    )
    ax.imshow(weights.numpy(), cmap="Greys", vmin=0.0, vmax=1.0, aspect="auto")
    ax.set_xticks(range(len(src_tokens)), list(src_tokens), rotation=60, ha="right")
    ax.set_yticks(range(len(out_tokens)), list(out_tokens))
    ax.set_xlabel("source")
    ax.set_ylabel("output")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path)


def matplotlib_pyplot():  # noqa: ANN201 - matplotlib.pyplot is optional
    """matplotlib.pyplot without a display, or a one-line error saying what to
    install."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ConfigError(
            "--plot-attention needs matplotlib: pip install 'seqcli[plot]'"
        ) from None
    return plt

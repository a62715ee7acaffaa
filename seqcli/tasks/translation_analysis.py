"""Looking into a translation model: beam-search error analysis (`analyze`) and
the attention heat map of one sentence (`attention_matrix`, `plot_attention`).

matplotlib, for the heat map, is an optional extra (``pip install 'seqcli[plot]'``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from seqcli.config import TranslateConfig
from seqcli.decoding import normalized_score
from seqcli.errors import ConfigError
from seqcli.metrics.translation import corpus_scores, sentence_scores
from seqcli.outputs import OutputFile, output_file
from seqcli.tasks import translation_inference as inference
from seqcli.tasks.translation import decode_ids
from seqcli.tasks.translation_inference import Translator
from seqcli.vocab import EOS

_DEFAULTS = TranslateConfig()


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
    source: str = "input",
) -> tuple[list[AnalysisRow], AnalysisSummary]:
    """Beam-search error analysis: P(y*|x) vs P(y^|x), same length normalisation.

    Blank source lines are left out (there is nothing to translate). `source`
    names the input file in errors about one of its lines.
    """
    if len(lines) != len(references):
        raise ConfigError(
            f"--analyze: the reference has {len(references)} lines but the input "
            f"has {len(lines)}"
        )
    translations = inference.translate(
        model,
        lines,
        beam=beam,
        alpha=alpha,
        max_len_ratio=max_len_ratio,
        min_len=min_len,
        batch_size=batch_size,
        where=(source, 1),
    )
    keep = [i for i, line in enumerate(lines) if line.strip()]
    sources = [model.encode_src(lines[i]) for i in keep]
    refs = [model.encode_tgt(references[i]) for i in keep]
    ref_lp = inference.sequence_log_probs(model, sources, refs, batch_size=batch_size)
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
    weights = inference.attention_weights(model, src_ids, out_ids)
    out_tokens = [*model.tgt_vocab.decode(out_ids), EOS]
    return model.src_tokens(line), out_tokens, weights


def plot_attention(
    src_tokens: Sequence[str],
    out_tokens: Sequence[str],
    weights: torch.Tensor,
    path: str | Path | OutputFile,
) -> Path:
    """Draw the attention weights as a heat map (PNG): source tokens along the x
    axis, output tokens down the y axis. `path` may be an `OutputFile` claimed
    before decoding."""
    out = output_file(path, flag="--plot-attention")
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
    try:
        return out.write_figure(fig, dpi=120)
    finally:
        plt.close(fig)


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

"""Sequence-level knowledge distillation for translation (Kim and Rush, 2016).

Before a student trains, the teacher ensemble (``--teacher``, one or more
translation checkpoints, decoding together as `translate -m A -m B` does)
translates the training source with beam search; the student then learns the
teachers' outputs instead of, or with ``--distill-with-references`` besides, the
references. The teachers' translations are kept beside the output checkpoint
(``x.pt`` -> ``x.teacher.jsonl``, JSON Lines with ``src`` and ``tgt``, written
through `seqcli.outputs`), so that a resumed run reads them instead of
translating again. `fit` never hears of any of it: the student's data change,
not the loop. `setup` and `train_distilled` are the translation task's (in
`translation`) with the teachers put before them; this module sits above both
`translation` and `translation_inference`.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from seqcli.config import TranslationConfig
from seqcli.devices import resolve_device, setup_distributed
from seqcli.errors import ConfigError
from seqcli.outputs import OutputFile, inputs_of
from seqcli.readers import SentencePair, read_pairs
from seqcli.reporting import Reporter, SilentReporter
from seqcli.runs import TaskRun, TrainOutcome, train_task
from seqcli.tasks import translation
from seqcli.tasks.translation_data import read_training_pairs
from seqcli.tasks.translation_inference import (
    Translator,
    load_translators,
    translate,
)

TEACHER_SUFFIX = ".teacher.jsonl"
# Teachers' outputs have at least one token (an empty target is no training
# pair), and at most what `translate` allows by default.
_MIN_LEN = 1


def setup(
    cfg: TranslationConfig,
    device: torch.device,
    *,
    resume: dict[str, Any] | None = None,
    reporter: Reporter | None = None,
) -> TaskRun:
    """`translation.setup` after checking the teachers, if any (what --dry-run
    runs): they load, and decode together."""
    if cfg.teachers:
        load_teachers(cfg, str(device))
    return translation.setup(cfg, device, resume=resume, reporter=reporter)


def train_distilled(
    cfg: TranslationConfig,
    *,
    resume: dict[str, Any] | None = None,
    reporter: Reporter | None = None,
) -> TrainOutcome:
    """Train a translation model; with `cfg.teachers`, on the teachers'
    translations of the training source (read from the cache when resuming).
    Without teachers it is `translation.train_translation`."""
    if not cfg.teachers:
        return translation.train_translation(cfg, resume=resume, reporter=reporter)
    # Under torchrun every rank translates the same sentences alike (beam search
    # draws nothing at random); rank 0 alone writes the cache.
    rank, _ = setup_distributed()
    pairs = distilled_pairs(
        cfg,
        read_training_pairs(cfg),
        device=str(resolve_device(cfg.train.device)),
        reuse=resume is not None,
        write_cache=rank == 0,
        reporter=reporter,
    )
    return train_task(
        functools.partial(translation.setup, train_pairs=pairs),
        cfg,
        resume=resume,
        reporter=reporter,
    )


def teacher_cache_path(out: str | Path) -> Path:
    """Where a run writing `out` keeps its teachers' translations (x.pt ->
    x.teacher.jsonl)."""
    out = Path(out)
    return out.with_name(out.name.removesuffix(".pt") + TEACHER_SUFFIX)


def load_teachers(cfg: TranslationConfig, device: str = "cpu") -> Translator:
    """The teacher ensemble of `cfg.teachers`, checked as `translate -m` checks
    its models (translation checkpoints that read and write text alike)."""
    if cfg.distill_beam < 1:
        raise ConfigError(f"--distill-beam: must be at least 1, got {cfg.distill_beam}")
    return load_translators(cfg.teachers, device=device, command="--teacher")


def distilled_pairs(
    cfg: TranslationConfig,
    pairs: Sequence[SentencePair],
    *,
    device: str = "cpu",
    reuse: bool = False,
    write_cache: bool = True,
    reporter: Reporter | None = None,
) -> list[SentencePair]:
    """The student's training pairs: each source with its teachers' translation,
    then, with `cfg.distill_with_references`, the original pairs.

    With `reuse` (a resumed run), translations cached beside `cfg.out` for the
    same sources are read instead of decoded again; otherwise the teachers
    translate and, when `cfg.out` is set and `write_cache`, the cache is
    (re)written.
    """
    reporter = reporter or SilentReporter()
    cache = teacher_cache_path(cfg.out) if cfg.out else None
    sources = [p.src for p in pairs]
    outputs = _cached(cache, sources) if reuse and cache is not None else None
    if outputs is not None:
        reporter.on_message(f"teachers' translations read from {cache}")
    else:
        claimed = None
        if cache is not None and write_cache:  # claimed before the decoding
            claimed = OutputFile(cache, inputs=inputs_of(cfg), flag="the teacher cache")
        outputs = teacher_translations(cfg, sources, device=device, reporter=reporter)
        if claimed is not None:
            claimed.write_text(
                "".join(
                    json.dumps({"src": s, "tgt": t}, ensure_ascii=False) + "\n"
                    for s, t in zip(sources, outputs, strict=True)
                )
            )
    taught = [
        SentencePair(p.lineno, p.src, out)
        for p, out in zip(pairs, outputs, strict=True)
    ]
    return taught + list(pairs) if cfg.distill_with_references else taught


def teacher_translations(
    cfg: TranslationConfig,
    sources: Sequence[str],
    *,
    device: str = "cpu",
    reporter: Reporter | None = None,
) -> list[str]:
    """The teacher ensemble's best translation of each source line."""
    teachers = load_teachers(cfg, device)
    if reporter is not None:
        reporter.on_message(
            f"{len(cfg.teachers)} teacher(s) translate {len(sources):,} training "
            f"sentences (beam {cfg.distill_beam})"
        )
    found = translate(
        teachers,
        sources,
        beam=min(cfg.distill_beam, len(teachers.tgt_vocab)),
        min_len=_MIN_LEN,
        max_src_len=0,  # the training pairs were read whole; translate them all
        where=(cfg.pairs_path or cfg.src_path, 1),
    )
    return [t.texts[0] for t in found]


def _cached(cache: Path, sources: Sequence[str]) -> list[str] | None:
    """The cached translations of `sources`, or None when the cache is missing or
    was made for other sources."""
    if not cache.is_file():
        return None
    stored = read_pairs(cache, fmt="jsonl")
    if [p.src for p in stored] != list(sources):
        return None
    return [p.tgt for p in stored]

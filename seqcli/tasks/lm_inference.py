"""Using a trained language model: `load_lm`, `sample`, `score`, `evaluate_lm`."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from seqcli.batching import pad_pairs
from seqcli.checkpoint import load_checkpoint
from seqcli.config import LMConfig, from_dict
from seqcli.decoding import sample as sample_ids
from seqcli.errors import ConfigError, DataFormatError
from seqcli.nn.lm import LanguageModel
from seqcli.readers import read_text
from seqcli.tasks.lm import (
    LN2,
    TASK,
    encode_stream,
    load_network,
    stream_metrics,
    tokenize_lines,
)
from seqcli.tokenizers import ReversedTokenizer, Tokenizer, checkpoint_tokenizer
from seqcli.vocab import BOS_ID, EOS_ID, PAD_ID, UNK_ID, Vocab


@dataclass
class LoadedLM:
    network: LanguageModel
    vocab: Vocab
    tokenizer: Tokenizer
    cfg: LMConfig


def load_lm(
    path: str | Path, *, device: str = "cpu", command: str = "this command"
) -> LoadedLM:
    data = load_checkpoint(path, task=TASK, command=command)
    # Checked before load_network, so that a bad stored config names the file.
    cfg = from_dict(LMConfig, data["config"], source=f"{path}: config")
    network = load_network(data, source=str(path)).to(device).eval()
    return LoadedLM(
        network,
        Vocab.from_list(data["vocab"]["tokens"]),
        checkpoint_tokenizer(data),
        cfg,
    )


def sample(
    lm: LoadedLM,
    *,
    num: int = 1,
    prompt: str = "",
    max_length: int = 100,
    temperature: float = 1.0,
    top_k: int = 0,
    top_p: float = 1.0,
    allow_unk: bool = True,
    stop_at_eos: bool = True,
    seed: int | None = None,
    on_text: Callable[[str], None] | None = None,
) -> list[str]:
    """Draw `num` continuations of `prompt` as one batch.

    The model reads `<eos>` (a line start) and then the prompt, so the prompt
    conditions what follows; each returned text starts with the prompt. A backward
    LM (`tokenizer.reverse`) reads the prompt as the end of a text and writes what
    comes before it, so its texts end with the prompt.
    `on_text` receives the text of the first sample piece by piece, for streaming.
    """
    if temperature < 0:
        raise ConfigError("--temperature must be 0 (greedy) or more")
    if not 0.0 < top_p <= 1.0:
        raise ConfigError("--top-p must be in (0, 1]")
    device = next(lm.network.parameters()).device
    prefix_tokens = lm.tokenizer.tokenize(prompt) if prompt else []
    prefix = [EOS_ID] + lm.vocab.encode(prefix_tokens)
    ids = torch.tensor([prefix] * num, dtype=torch.long, device=device)  # (num, len)
    generator = None
    if seed is not None:
        generator = torch.Generator(device=device).manual_seed(seed)
    # At char level without stopping, <eos> is a line break inside the text.
    # A sample that runs on past <eos> shows each <eos> as a line break.
    newline_eos = not stop_at_eos
    # A backward LM writes each sample from its end towards its start, so its text
    # cannot be streamed: the first sample goes to `on_text` once it is complete.
    stream = on_text is not None and not lm.tokenizer.reverse
    streamer = _Streamer(lm, prefix_tokens, on_text, newline_eos) if stream else None
    with torch.no_grad():
        state = lm.network.start(ids[:, :-1])
        rows = sample_ids(
            lm.network,
            state,
            ids[:, -1],
            max_len=max_length,
            temperature=temperature,
            top_k=top_k,
            top_p=top_p,
            # <bos> is never a target in the training stream (lines start after
            # <eos>), so an undertrained model must not emit it either.
            banned_ids=(PAD_ID, BOS_ID) if allow_unk else (PAD_ID, BOS_ID, UNK_ID),
            stop_at_eos=stop_at_eos,
            generator=generator,
            on_step=streamer.step if streamer else None,
        )
    texts = [_detok(lm, prefix_tokens + _tokens(lm, row, newline_eos)) for row in rows]
    if on_text is not None and not stream:
        on_text(texts[0])
    return texts


def _tokens(lm: LoadedLM, ids: Sequence[int], newline_eos: bool) -> list[str]:
    """Generated ids -> tokens; `<eos>` is a newline if `newline_eos`, else the end."""
    if newline_eos:
        return ["\n" if i == EOS_ID else lm.vocab.itos[i] for i in ids]
    return lm.vocab.decode(ids)


def _detok(lm: LoadedLM, tokens: list[str]) -> str:
    """Tokens -> text; a "\n" token (a line end) splits word and subword text."""
    tokenizer = lm.tokenizer
    if isinstance(tokenizer, ReversedTokenizer):  # a backward LM: restore the order
        tokens, tokenizer = tokens[::-1], tokenizer.forward
    if tokenizer.kind == "char":
        return tokenizer.detokenize(tokens)
    lines: list[list[str]] = [[]]
    for token in tokens:
        if token == "\n":
            lines.append([])
        else:
            lines[-1].append(token)
    return "\n".join(tokenizer.detokenize(line) for line in lines)


class _Streamer:
    """Feeds the first sample's new text to a callback as tokens arrive.

    Subword pieces are detokenised as a whole each time and only the new suffix is
    sent, since a piece's surface form depends on its neighbours.
    """

    def __init__(
        self,
        lm: LoadedLM,
        prefix: list[str],
        on_text: Callable[[str], None],
        newline_eos: bool,
    ):
        self.lm, self.tokens, self.on_text = lm, list(prefix), on_text
        self.newline_eos = newline_eos
        self.sent = _detok(lm, self.tokens)
        on_text(self.sent)

    def step(self, ids: torch.Tensor) -> None:
        token = int(ids[0])
        if token < 0 or (token == EOS_ID and not self.newline_eos):
            return
        self.tokens.extend(_tokens(self.lm, [token], self.newline_eos))
        text = _detok(self.lm, self.tokens)
        if text.startswith(self.sent):
            self.on_text(text[len(self.sent) :])
            self.sent = text


@dataclass
class SentenceScore:
    text: str
    tokens: int  # predicted tokens, the closing <eos> included
    logprob: float  # natural log
    unk: int  # tokens that were <unk>

    @property
    def log10prob(self) -> float:
        return self.logprob / math.log(10)

    @property
    def ppl(self) -> float:
        return math.exp(-self.logprob / self.tokens)


@dataclass
class FileScore:
    sentences: list[SentenceScore]
    chars: int  # characters scored, one newline per line included

    @property
    def tokens(self) -> int:
        return sum(s.tokens for s in self.sentences)

    @property
    def logprob(self) -> float:
        return sum(s.logprob for s in self.sentences)

    @property
    def ppl(self) -> float:
        return math.exp(-self.logprob / max(self.tokens, 1))

    @property
    def bpc(self) -> float:
        """Bits per character: comparable across word, subword and char models."""
        return -self.logprob / LN2 / max(self.chars, 1)


def score(lm: LoadedLM, texts: Sequence[str], *, batch_size: int = 64) -> FileScore:
    """log P(sentence) = sum of log P(token | previous), `<eos>` closing each sentence.

    Each sentence is read as a line of the training stream is: after `<eos>`.
    """
    device = next(lm.network.parameters()).device
    results: list[SentenceScore] = []
    for start in range(0, len(texts), batch_size):
        chunk = texts[start : start + batch_size]
        ids = [lm.vocab.encode(lm.tokenizer.tokenize(t)) for t in chunk]
        batch = pad_pairs([[EOS_ID] + x for x in ids], [x + [EOS_ID] for x in ids])
        with torch.no_grad():
            token_scores = lm.network.sequence_log_probs(
                batch.to(device)
            )  # (batch, time)
        for text, seq, row in zip(
            chunk, ids, token_scores.sum(dim=1).tolist(), strict=True
        ):
            results.append(SentenceScore(text, len(seq) + 1, row, seq.count(UNK_ID)))
    return FileScore(results, sum(len(t) + 1 for t in texts))


def token_log_probs(lm: LoadedLM, text: str) -> list[tuple[str, float]]:
    """Each token of `text` (and the closing `<eos>`) with its log-probability."""
    tokens = lm.tokenizer.tokenize(text)
    ids = lm.vocab.encode(tokens)
    batch = pad_pairs([[EOS_ID] + ids], [ids + [EOS_ID]])
    device = next(lm.network.parameters()).device
    with torch.no_grad():
        scores = lm.network.sequence_log_probs(batch.to(device))[0].tolist()
    return list(zip([*tokens, "<eos>"], scores, strict=True))


def evaluate_lm(lm: LoadedLM, path: str | Path) -> dict[str, float]:
    """Perplexity of a corpus file read as one stream, as during training."""
    lines = read_text(path)
    stream = encode_stream(lm.vocab, tokenize_lines(lm.tokenizer, lines))
    if stream.numel() < 3:
        raise DataFormatError("too little text to evaluate", path)
    metrics = stream_metrics(
        lm.network, stream, bptt=lm.cfg.bptt, char_level=lm.tokenizer.kind == "char"
    )
    metrics["tokens"] = float(stream.numel())
    return metrics

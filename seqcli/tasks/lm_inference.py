"""Using a trained language model: `load_lm`, `sample`, `score`, `evaluate_lm`."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from seqcli.batching import pad_pairs
from seqcli.checkpoint import load_checkpoint
from seqcli.config import LMConfig, SampleConfig, checked_from_dict
from seqcli.decoding import sample as sample_ids
from seqcli.errors import ConfigError, DataFormatError
from seqcli.nn.lm import LanguageModel
from seqcli.readers import display_name, looks_labelled, read_text
from seqcli.tasks.lm import LN2, TASK, load_network, stream_metrics
from seqcli.tasks.lm_data import encode_stream, tokenize_lines
from seqcli.tokenizers import ReversedTokenizer, Tokenizer, checkpoint_tokenizer
from seqcli.vocab import BOS_ID, EOS, EOS_ID, PAD_ID, UNK_ID, Vocab

_SAMPLE = SampleConfig()  # the defaults of `sample`


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
    cfg = checked_from_dict(LMConfig, data["config"], source=f"{path}: config")
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
    num: int = _SAMPLE.num,
    prompt: str = "",
    max_length: int = _SAMPLE.max_length,
    temperature: float = _SAMPLE.temperature,
    top_k: int = _SAMPLE.top_k,
    top_p: float = _SAMPLE.top_p,
    allow_unk: bool = True,
    stop_at_eos: bool = True,
    min_length: int = _SAMPLE.min_length,
    seed: int | None = None,
    on_text: Callable[[str], None] | None = None,
    stop_at: str = "",
) -> list[str]:
    """Draw `num` continuations of `prompt` as one batch.

    The model reads `<eos>` (a line start) and then the prompt, so the prompt
    conditions what follows; each returned text starts with the prompt. A backward
    LM (`tokenizer.reverse`) reads the prompt as the end of a text and writes what
    comes before it, so its texts end with the prompt.
    `on_text` receives the text of the first sample piece by piece, for streaming.
    `stop_at`, a separator (a blank line "\n\n" between ABC tunes), ends each
    sample where it first appears after the prompt, the separator included.
    `<eos>` is not drawn before a sample, the prompt's tokens included, is
    `min_length` tokens long: an LM trained on text with blank lines (WikiText)
    would otherwise often end a sample without a prompt at once, empty.
    """
    # Written so that nan fails too (every comparison with nan is false).
    if not 0 <= temperature < math.inf:
        raise ConfigError(
            f"--temperature must be 0 (greedy) or a finite number above "
            f"(got {temperature})"
        )
    if not 0.0 < top_p <= 1.0:
        raise ConfigError(f"--top-p must be in (0, 1] (got {top_p})")
    if stop_at and lm.tokenizer.reverse:
        raise ConfigError("--stop-at needs a forward LM (this one reads right to left)")
    device = next(lm.network.parameters()).device
    prefix_tokens = prompt_tokens(lm, prompt)
    prefix = [EOS_ID] + [
        EOS_ID if token == "\n" else lm.vocab.stoi.get(token, UNK_ID)
        for token in prefix_tokens
    ]
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
    prompt_text = _detok(lm, prefix_tokens)
    watch = _SeparatorWatch(lm, stop_at, prompt_text, num) if stop_at else None
    with torch.inference_mode():
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
            min_len=max(0, min_length - len(prefix_tokens)),
            generator=generator,
            on_step=streamer.step if streamer else None,
            stop=watch.seen if watch else None,
        )
    if streamer is not None:
        streamer.flush()
    texts = [_detok(lm, prefix_tokens + _tokens(lm, row, newline_eos)) for row in rows]
    if stop_at:
        texts = [cut_at(text, stop_at, len(prompt_text)) for text in texts]
    if on_text is not None and not stream:
        on_text(texts[0])
    return texts


def prompt_tokens(lm: LoadedLM, prompt: str) -> list[str]:
    """A prompt's tokens, a line break being a "\\n" token: the model read
    `<eos>` at each line end in training, so it reads one there now."""
    lines = prompt.split("\n") if prompt else []
    if lm.tokenizer.reverse:
        lines.reverse()
    tokens: list[str] = []
    for i, line in enumerate(lines):
        tokens.extend(["\n"] if i else [])
        tokens.extend(lm.tokenizer.tokenize(line))
    return tokens


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


class _SeparatorWatch:
    """Tells `decoding.sample` when a row's text has produced the separator.

    Only the text's last characters are kept per row (the prompt's end to start
    with, so that a separator may begin inside the prompt). A token's text is
    its vocabulary entry (a space before a word, a line break for `<eos>`), close
    enough to the detokenised text to see the separator; `cut_at` then cuts the
    real text.
    """

    def __init__(self, lm: LoadedLM, separator: str, prompt: str, rows: int):
        self.separator, self.keep = separator, len(separator) - 1
        self.words = lm.tokenizer.kind != "char"
        self.itos = lm.vocab.itos
        start = prompt[len(prompt) - self.keep :] if self.keep else ""
        self.tails = [start] * rows

    def seen(self, row: int, token: int) -> bool:
        if token == EOS_ID:
            piece = "\n"
        else:
            piece = self.itos[token].replace("\u2581", " ")  # subword word marker
            piece = " " + piece if self.words else piece
        tail = self.tails[row] + piece
        self.tails[row] = tail[len(tail) - self.keep :] if self.keep else ""
        return self.separator in tail


def cut_at(text: str, separator: str, start: int) -> str:
    """`text` up to and including the first `separator` that ends after `start`
    (the prompt's length); the whole text when there is none."""
    found = text.find(separator, max(0, start - len(separator) + 1))
    return text if found < 0 else text[: found + len(separator)]


class _Streamer:
    """Feeds the first sample's new text to a callback as tokens arrive.

    The text is detokenised as a whole (a subword piece's or a quote's surface form
    depends on what came before), and only its new end is sent. Done at every
    token, that made a sample cost the square of its length: for 1,000 words,
    seconds of detokenising against well under a second of sampling. So an
    update waits `STREAM_EVERY` seconds, often enough to read as a stream, or nine
    times what the last one took, so that streaming never takes more than a tenth
    of the time; `flush` sends the rest at the end.
    """

    STREAM_EVERY = 0.05  # seconds
    WAIT_FACTOR = 9  # an update waits this many times what the last one took

    def __init__(
        self,
        lm: LoadedLM,
        prefix: list[str],
        on_text: Callable[[str], None],
        newline_eos: bool,
    ):
        self.lm, self.tokens, self.on_text = lm, list(prefix), on_text
        self.newline_eos = newline_eos
        self.sent = ""
        self.flush()

    def step(self, ids: torch.Tensor) -> None:
        token = int(ids[0])
        if token < 0 or (token == EOS_ID and not self.newline_eos):
            return
        self.tokens.extend(_tokens(self.lm, [token], self.newline_eos))
        if time.monotonic() >= self.next_at:
            self.flush()

    def flush(self) -> None:
        """Send the text not sent yet (once it extends what was sent)."""
        start = time.monotonic()
        text = _detok(self.lm, self.tokens)
        if not self.sent or (len(text) > len(self.sent) and text.startswith(self.sent)):
            self.on_text(text[len(self.sent) :])
            self.sent = text
        end = time.monotonic()
        self.next_at = end + max(self.STREAM_EVERY, self.WAIT_FACTOR * (end - start))


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


# Tokens read per network call when scoring a long line: the line's memory then
# stays that of one window (a 20 MB line read at once took 4.6 GB), and the
# hidden state carried between windows keeps the result that of one reading.
SCORE_WINDOW = 512


def score(lm: LoadedLM, texts: Sequence[str], *, batch_size: int = 64) -> FileScore:
    """log P(sentence) = sum of log P(token | previous), `<eos>` closing each sentence.

    Each sentence is read as a line of the training stream is: after `<eos>`.
    Lines up to `SCORE_WINDOW` tokens are scored in batches, longer ones alone, one
    window at a time.
    """
    results: list[SentenceScore] = []
    for start in range(0, len(texts), batch_size):
        chunk = texts[start : start + batch_size]
        ids = [lm.vocab.encode(lm.tokenizer.tokenize(t)) for t in chunk]
        short = [i for i, x in enumerate(ids) if len(x) < SCORE_WINDOW]
        sums = dict(
            zip(short, _batch_log_probs(lm, [ids[i] for i in short]), strict=True)
        )
        for i, (text, seq) in enumerate(zip(chunk, ids, strict=True)):
            logprob = sums[i] if i in sums else float(_window_log_probs(lm, seq).sum())
            results.append(
                SentenceScore(text, len(seq) + 1, logprob, seq.count(UNK_ID))
            )
    return FileScore(results, sum(len(t) + 1 for t in texts))


def _batch_log_probs(lm: LoadedLM, ids: list[list[int]]) -> list[float]:
    """log P of each of several short id sequences (then `<eos>`), as one batch."""
    if not ids:
        return []
    device = next(lm.network.parameters()).device
    batch = pad_pairs([[EOS_ID] + x for x in ids], [x + [EOS_ID] for x in ids])
    with torch.no_grad():
        token_scores = lm.network.sequence_log_probs(batch.to(device))  # (batch, time)
    return token_scores.sum(dim=1).tolist()


def _window_log_probs(lm: LoadedLM, ids: list[int]) -> torch.Tensor:
    """log P of each token of one sequence (then `<eos>`), read `SCORE_WINDOW`
    tokens at a time with the state carried over: (tokens + 1,) float64."""
    device = next(lm.network.parameters()).device
    inputs = torch.tensor([EOS_ID, *ids], dtype=torch.long)
    targets = torch.tensor([*ids, EOS_ID], dtype=torch.long)
    scores = torch.empty(len(inputs), dtype=torch.float64)
    state = None
    with torch.no_grad():
        for at in range(0, len(inputs), SCORE_WINDOW):
            window = slice(at, at + SCORE_WINDOW)
            x = inputs[window].unsqueeze(0).to(device)
            hidden, state = lm.network.encoder(x, None, state)
            y = targets[window].unsqueeze(0).to(device)
            scores[window] = lm.network.target_log_probs(hidden, y)[0].double().cpu()
    return scores


def token_log_probs(lm: LoadedLM, text: str) -> list[tuple[str, float]]:
    """Each token of `text` (and the closing `<eos>`) with its log-probability."""
    tokens = lm.tokenizer.tokenize(text)
    scores = _window_log_probs(lm, lm.vocab.encode(tokens)).tolist()
    return list(zip([*tokens, EOS], scores, strict=True))


def evaluate_lm(lm: LoadedLM, path: str | Path) -> dict[str, float]:
    """Perplexity of a corpus file read as one stream, as during training."""
    lines = read_text(path)
    if looks_labelled([line.text for line in lines]):
        # A perplexity of "text<TAB>label" lines would be reported without a word.
        raise DataFormatError(
            "looks like labelled data (text<TAB>label lines), but this is a "
            "language model: pass a sentiment model with -m to score labelled data",
            display_name(path),
        )
    stream = encode_stream(lm.vocab, tokenize_lines(lm.tokenizer, lines))
    if stream.numel() < 3:
        raise DataFormatError("too little text to evaluate", path)
    metrics = stream_metrics(
        lm.network, stream, bptt=lm.cfg.bptt, char_level=lm.tokenizer.kind == "char"
    )
    metrics["tokens"] = float(stream.numel())
    return metrics

"""The language-model task through its Python API: training, decoding, scoring, resume.

Networks are tiny (emb 8-16, hidden 16-32, one layer) and corpora a few dozen lines,
so every training run here takes a fraction of a second.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from seqcli.batching import Batch, lm_rows, lm_window_count
from seqcli.checkpoint import load_checkpoint, save_checkpoint
from seqcli.config import (
    LMConfig,
    RecurrentConfig,
    TokenizerConfig,
    TrainConfig,
    load_config,
    to_dict,
)
from seqcli.decoding import greedy
from seqcli.decoding import sample as sample_ids
from seqcli.errors import CheckpointError, ConfigError, DataFormatError
from seqcli.nn.lm import LanguageModel, default_cutoffs
from seqcli.reporting import StepInfo
from seqcli.runs import find_resume, run_files
from seqcli.tasks import lm as task
from seqcli.tasks import lm_inference as use
from seqcli.tokenizers import CharTokenizer
from seqcli.vocab import BOS, BOS_ID, EOS_ID, SPECIALS, UNK, UNK_ID, Vocab

OVERFIT = ["the cat sat on the mat .", "a dog ran to the park .", "my owl sees a fox ."]

MakeConfig = Callable[..., LMConfig]


class Recorder:
    """A `Reporter` that records every step, and can stop the run at a given step."""

    def __init__(
        self, *, stop_at: int = 0, exc: type[BaseException] = KeyboardInterrupt
    ):
        self.steps: list[StepInfo] = []
        self.epochs: list[int] = []
        self.evals: list[dict[str, float]] = []
        self.messages: list[str] = []
        self.stop_at, self.exc = stop_at, exc

    def on_epoch_start(self, epoch: int, steps: int | None, done: int) -> None:
        self.epochs.append(epoch)

    def on_step(self, info: StepInfo) -> None:
        self.steps.append(info)
        if len(self.steps) == self.stop_at:
            raise self.exc()

    def on_eval(self, record: dict[str, float]) -> None:
        self.evals.append(record)

    def on_message(self, text: str) -> None:
        self.messages.append(text)


class Killed(Exception):
    """Stands for a process killed mid-run: fit() does not catch it."""


@pytest.fixture
def overfit_config(write_lines, lm_config: MakeConfig, tmp_path: Path) -> MakeConfig:
    """Three sentences repeated: a recurrent LM can learn them almost by heart."""
    corpus = write_lines(tmp_path / "overfit.txt", OVERFIT * 8)

    def make(**kwargs) -> LMConfig:
        cfg = lm_config(train_path=str(corpus), lr=3e-2, **kwargs)
        return replace(cfg, model=replace(cfg.model, emb_size=16, hidden_size=32))

    return make


@pytest.fixture(scope="module")
def trained(write_lines, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One small word-level LSTM LM trained for 5 epochs, shared by the module."""
    folder = tmp_path_factory.mktemp("trained")
    corpus = write_lines(folder / "overfit.txt", OVERFIT * 8)
    cfg = load_config(
        LMConfig,
        None,
        {
            "train_path": str(corpus),
            "out": str(folder / "lm.pt"),
            "bptt": 8,
            "model.emb_size": 16,
            "model.hidden_size": 32,
            "model.num_layers": 1,
            "model.dropout": 0.0,
            "train.epochs": 5,
            "train.batch_size": 4,
            "train.lr": 3e-2,
            "train.device": "cpu",
            "train.num_threads": 1,
        },
    )
    return task.train_lm(cfg).path


@pytest.fixture
def lm(trained: Path) -> use.LoadedLM:
    return use.load_lm(trained)


def mean(values: list[float]) -> float:
    return sum(values) / len(values)


# --- training -------------------------------------------------------------------------
@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_every_cell_overfits_a_tiny_corpus(overfit_config: MakeConfig, cell: str):
    rec = Recorder()
    outcome = task.train_lm(overfit_config(cell=cell, epochs=8), reporter=rec)
    first = rec.steps[0].loss
    last_epoch = [s.loss for s in rec.steps if s.epoch == 8]
    assert mean(last_epoch) < 0.5 * first
    assert outcome.stopped_by == "epochs"
    assert outcome.epochs == 8
    assert outcome.path.exists()
    valid = outcome.metrics["valid"]
    assert valid["ppl"] == pytest.approx(math.exp(valid["loss"]))
    assert load_checkpoint(outcome.path, task="lm")["config"]["model"]["cell"] == cell


def test_eval_every_evaluates_on_its_multiples_and_after_the_last_step(
    lm_config: MakeConfig,
):
    rec = Recorder()
    task.train_lm(lm_config(epochs=3, eval_every=4), reporter=rec)
    total = len(rec.steps)
    per_epoch = total // 3
    assert per_epoch % 4 != 0  # else the epoch ends would coincide anyway
    steps = [int(r["step"]) for r in rec.evals]
    # No extra evaluation at the end of epochs 1 and 2, one after the last step.
    assert steps == [*range(4, total, 4), total]


@pytest.mark.parametrize(
    ("schedule", "budget_evals", "expected"),
    [("budget", "end", 1), ("budget", "epoch", 3), ("plateau", "end", 3)],
)
def test_budget_evals_end_evaluates_once_under_the_budget_schedule_alone(
    lm_config: MakeConfig, schedule: str, budget_evals: str, expected: int
):
    # A budget far above what 3 tiny epochs take: the epochs end the run.
    cfg = lm_config(epochs=3, max_time=60, lr_schedule=schedule,
                    budget_evals=budget_evals, early_stop=0)  # fmt: skip
    rec = Recorder()
    outcome = task.train_lm(cfg, reporter=rec)
    assert outcome.stopped_by == "epochs"
    assert len(rec.evals) == expected
    assert int(rec.evals[-1]["step"]) == len(rec.steps)  # the last step's weights
    assert outcome.path.exists()


def test_lm_evaluates_at_the_end_alone_under_max_time_by_default() -> None:
    cfg = LMConfig().train
    assert (cfg.budget_evals, cfg.lr_schedule, cfg.eval_every) == ("end", "auto", 0)
    assert TrainConfig().budget_evals == "epoch"  # the other tasks keep theirs


@pytest.mark.parametrize("softmax", ["full", "adaptive"])
def test_full_and_adaptive_softmax_train(overfit_config: MakeConfig, softmax: str):
    rec = Recorder()
    cfg = overfit_config(epochs=8, softmax=softmax, adaptive_cutoffs=[8])
    outcome = task.train_lm(cfg, reporter=rec)
    assert mean([s.loss for s in rec.steps if s.epoch == 8]) < 0.5 * rec.steps[0].loss
    lm = use.load_lm(outcome.path)
    assert len(lm.vocab) > 8
    assert (lm.network.adaptive is not None) == (softmax == "adaptive")
    # Both output layers give a proper distribution over the whole vocabulary.
    log_probs, _ = lm.network.step(torch.tensor([EOS_ID, 5]), None)
    assert log_probs.shape == (2, len(lm.vocab))
    assert torch.allclose(log_probs.exp().sum(-1), torch.ones(2), atol=1e-5)


def test_default_cutoffs_halve_the_head_in_fp32_only() -> None:
    assert default_cutoffs(33_280) == [2000, 10000]
    assert default_cutoffs(33_280, "bf16") == [2000, 10000]
    assert default_cutoffs(33_280, "fp32") == [1000, 10000]
    assert default_cutoffs(1_500, "fp32") == [1000]
    assert default_cutoffs(900, "fp32") == []  # a full softmax instead


@pytest.mark.parametrize("stored", [[], [1000]])
def test_an_fp32_run_stores_its_head_and_loading_builds_that_network(
    lm_config: MakeConfig, write_lines, tmp_path: Path, stored: list[int]
):
    # 1,200 words, each twice: an adaptive softmax whose fp32 head is 1,000 words.
    words = [f"w{i}" for i in range(1200)]
    corpus = write_lines(
        tmp_path / "wide.txt",
        [" ".join(words[i : i + 12]) for i in range(0, 1200, 12)] * 2,
    )
    cfg = lm_config(train_path=str(corpus), softmax="adaptive", precision="fp32",
                    adaptive_cutoffs=stored)  # fmt: skip
    rec = Recorder()
    outcome = task.train_lm(cfg, reporter=rec)
    data = load_checkpoint(outcome.path, task="lm")
    assert data["config"]["adaptive_cutoffs"] == [1000]
    said = [m for m in rec.messages if "head of the 1,000 most frequent" in m]
    assert len(said) == (0 if stored else 1)  # said when chosen, not when given
    network = use.load_lm(outcome.path).network
    assert network.softmax_cutoffs[0] == 1000
    # An older checkpoint's empty list still builds the bf16 default's network.
    data["config"]["adaptive_cutoffs"] = []
    with pytest.raises(CheckpointError):
        task.load_network(data)


def test_adaptive_cutoffs_beyond_the_vocabulary_are_a_config_error(
    overfit_config: MakeConfig,
):
    cfg = overfit_config(softmax="adaptive", adaptive_cutoffs=[1000])
    with pytest.raises(ConfigError, match="adaptive_cutoffs"):
        task.train_lm(cfg)


def test_char_level_trains_and_reports_bits_per_char(lm_config: MakeConfig):
    outcome = task.train_lm(lm_config(level="char"))
    valid = outcome.metrics["valid"]
    assert valid["bpc"] == pytest.approx(valid["loss"] / math.log(2))
    lm = use.load_lm(outcome.path)
    assert lm.tokenizer.kind == "char"
    assert " " in lm.vocab


def test_subword_level_stores_its_sentencepiece_model(lm_config: MakeConfig):
    cfg = lm_config(level="subword")
    cfg = replace(cfg, tokenizer=replace(cfg.tokenizer, sp_vocab_size=40))
    lm = use.load_lm(task.train_lm(cfg).path)
    assert lm.tokenizer.kind == "subword"
    text = "the owl likes the fox ."
    assert lm.tokenizer.detokenize(lm.tokenizer.tokenize(text)) == text


def test_test_file_is_scored_into_the_checkpoint(
    write_lines, lm_config: MakeConfig, tmp_path
):
    test_file = write_lines(tmp_path / "test.txt", ["the cat sees the dog ."] * 3)
    outcome = task.train_lm(lm_config(test_path=str(test_file)))
    stored = load_checkpoint(outcome.path, task="lm")["metrics"]
    assert stored["test"] == outcome.metrics["test"]
    assert set(stored["test"]) >= {"loss", "ppl"}


def test_a_validation_tail_of_one_blank_line_is_refused_before_training(
    write_lines, lm_config: MakeConfig, tmp_path: Path, corpus_lines: tuple[str, ...]
):
    corpus = write_lines(tmp_path / "blank-end.txt", [*corpus_lines[:19], ""])
    cfg = lm_config(train_path=str(corpus), valid_fraction=0.05)
    rec = Recorder()
    with pytest.raises(DataFormatError, match="blank-end.txt"):
        task.train_lm(cfg, reporter=rec)
    assert rec.steps == []  # refused up front, not after an epoch of training


def test_a_corpus_too_small_for_the_batch_size_is_refused(
    write_lines, lm_config: MakeConfig, tmp_path: Path
):
    corpus = write_lines(tmp_path / "tiny.txt", ["a b", "c d", "e f"])
    cfg = lm_config(train_path=str(corpus), valid_path=str(corpus), batch_size=8)
    with pytest.raises(DataFormatError, match=r"tiny\.txt.*batch"):
        task.train_lm(cfg)


def test_training_is_reproducible(lm_config: MakeConfig, tmp_path: Path):
    first = task.train_lm(lm_config(out=str(tmp_path / "a.pt"))).metrics
    second = task.train_lm(lm_config(out=str(tmp_path / "b.pt"))).metrics
    assert first == second


# --- checkpoints ----------------------------------------------------------------------
@pytest.mark.parametrize("softmax", ["full", "adaptive"])
def test_checkpoint_round_trip_gives_identical_log_probs(
    lm: use.LoadedLM, tmp_path: Path, softmax: str
):
    # A fresh, randomly initialised network: what the file must reproduce exactly.
    torch.manual_seed(3)
    cfg = replace(lm.cfg, softmax=softmax, adaptive_cutoffs=[8])
    network = task.build_network(cfg, len(lm.vocab)).eval()
    before = use.LoadedLM(network, lm.vocab, lm.tokenizer, cfg)
    texts = ["the cat sat on the mat .", "a fox ran to the zebra ."]
    expected = use.score(before, texts)
    path = save_checkpoint(
        tmp_path / "m.pt",
        {
            "task": "lm",
            "config": to_dict(cfg),
            "vocab": {"tokens": lm.vocab.to_list()},
            "tokenizer": lm.tokenizer.to_dict(),
            "state_dict": network.state_dict(),
            "metrics": {},
        },
    )
    after = use.load_lm(path)
    assert [s.logprob for s in use.score(after, texts).sentences] == [
        s.logprob for s in expected.sentences
    ]
    prev = torch.tensor([EOS_ID, 4, 5])
    assert torch.equal(after.network.step(prev, None)[0], network.step(prev, None)[0])


def test_load_lm_refuses_other_tasks(lm: use.LoadedLM, trained: Path, tmp_path):
    data = load_checkpoint(trained)
    for key in ("format", "format_version", "seqcli_version", "created", "digest"):
        data.pop(key)
    path = save_checkpoint(tmp_path / "s.pt", {**data, "task": "sentiment"})
    with pytest.raises(CheckpointError, match="sentiment checkpoint"):
        use.load_lm(path, command="`seqcli sample`")


# --- decoding and scoring -------------------------------------------------------------
def test_top_k_one_sampling_equals_greedy(lm: use.LoadedLM):
    net = lm.network
    prefix = torch.tensor([[EOS_ID, lm.vocab.id_of("the")]] * 3)
    state = net.start(prefix[:, :-1])
    expected = greedy(net, state, prefix[:, -1], max_len=15)
    for seed in (0, 1):
        generator = torch.Generator().manual_seed(seed)
        got = sample_ids(
            net, state, prefix[:, -1], max_len=15, top_k=1, generator=generator
        )
        assert got == expected
    # Through the task API: temperature 0 is greedy; top-k 1 at any temperature too.
    greedy_texts = use.sample(lm, num=2, temperature=0.0, max_length=15)
    sampled = use.sample(lm, num=2, top_k=1, temperature=1.5, max_length=15, seed=7)
    assert sampled == greedy_texts


def test_sampling_with_a_seed_is_reproducible(lm: use.LoadedLM):
    first = use.sample(lm, num=3, max_length=12, seed=5, temperature=1.5)
    assert first == use.sample(lm, num=3, max_length=12, seed=5, temperature=1.5)
    assert len(first) == 3


@pytest.mark.parametrize("prompt", ["the cat", "a zebra", "my"])
def test_samples_start_with_the_prompt(lm: use.LoadedLM, prompt: str):
    for text in use.sample(lm, num=3, prompt=prompt, max_length=10, seed=1):
        assert text.startswith(prompt)


def test_streamed_text_matches_the_first_sample(lm: use.LoadedLM):
    pieces: list[str] = []
    texts = use.sample(
        lm, num=2, prompt="a dog", max_length=12, seed=2, on_text=pieces.append
    )
    assert "".join(pieces) == texts[0]


@pytest.mark.parametrize("every", [0.0, 3600.0])
def test_streaming_sends_the_text_in_pieces_at_most_so_often(
    lm: use.LoadedLM, monkeypatch, every: float
):
    monkeypatch.setattr(use._Streamer, "STREAM_EVERY", every)
    if every == 0:  # every token, however long an update takes on a loaded machine
        monkeypatch.setattr(use._Streamer, "WAIT_FACTOR", 0)
    pieces: list[str] = []
    kwargs = {"max_length": 12, "stop_at_eos": False, "seed": 2}
    texts = use.sample(lm, prompt="the cat", on_text=pieces.append, **kwargs)
    assert "".join(pieces) == texts[0]
    # The prompt at once; then the tokens' text as it comes, or all at the end.
    sent = [p for p in pieces if p]
    assert len(sent) > 5 if every == 0 else len(sent) == 2


def test_no_unk_never_emits_unk(lm: use.LoadedLM):
    with torch.no_grad():
        lm.network.decoder.bias[UNK_ID] += 100.0  # <unk> is now by far the likeliest
    with_unk = use.sample(lm, num=2, max_length=8, seed=0)
    assert all(text.split() == [UNK] * 8 for text in with_unk)
    for seed in range(3):
        for text in use.sample(lm, num=4, max_length=8, seed=seed, allow_unk=False):
            assert UNK not in text.split()


def untrained_char_lm(favourite: int) -> use.LoadedLM:
    """An untrained char LM over "a", "b", " " that strongly prefers one id."""
    torch.manual_seed(0)
    vocab = Vocab([*SPECIALS, "a", "b", " "])
    cfg = LMConfig(
        tokenizer=TokenizerConfig(level="char"),
        model=RecurrentConfig(emb_size=8, hidden_size=16, num_layers=1, dropout=0.0),
    )
    network = task.build_network(cfg, len(vocab)).eval()
    with torch.no_grad():
        network.decoder.bias[favourite] += 100.0
    return use.LoadedLM(network, vocab, CharTokenizer(), cfg)


def test_bos_is_never_sampled():
    lm = untrained_char_lm(BOS_ID)  # never a target in training, yet likeliest here
    texts = use.sample(
        lm, num=3, max_length=12, seed=0, stop_at_eos=False, allow_unk=False
    )
    for text in texts:
        assert BOS not in text
        assert len(text) == 12  # one character per step, none dropped


def test_char_level_eos_ends_a_sample_or_breaks_a_line():
    lm = untrained_char_lm(EOS_ID)
    pieces: list[str] = []
    stopped = use.sample(lm, num=2, prompt="ab", on_text=pieces.append)
    assert stopped == ["ab", "ab"]  # the end marker is not part of the text
    assert "".join(pieces) == "ab"
    pieces.clear()
    running = use.sample(
        lm, prompt="ab", max_length=3, stop_at_eos=False, on_text=pieces.append
    )
    assert running == ["ab\n\n\n"]
    assert "".join(pieces) == running[0]


def test_score_is_the_sum_of_token_log_probs(lm: use.LoadedLM):
    text = "the cat ran to a zebra ."  # "zebra" is unknown
    result = use.score(lm, [text])
    sentence = result.sentences[0]
    pairs = use.token_log_probs(lm, text)
    assert [tok for tok, _ in pairs] == [*text.split(), "<eos>"]
    assert sentence.tokens == len(pairs)
    assert sentence.unk == 1
    assert sentence.logprob == pytest.approx(sum(lp for _, lp in pairs), abs=1e-4)
    assert all(lp <= 0 for _, lp in pairs)
    assert sentence.log10prob == pytest.approx(sentence.logprob / math.log(10))
    assert sentence.ppl == pytest.approx(math.exp(-sentence.logprob / len(pairs)))


def test_score_equals_stepping_the_network_by_hand(lm: use.LoadedLM):
    text = "a dog sees the owl ."
    targets = [*lm.vocab.encode(text.split()), EOS_ID]
    state, prev, total = (
        lm.network.start(torch.empty(1, 0, dtype=torch.long)),
        EOS_ID,
        0.0,
    )
    with torch.no_grad():
        for target in targets:
            log_probs, state = lm.network.step(torch.tensor([prev]), state)
            total += float(log_probs[0, target])
            prev = target
    assert use.score(lm, [text]).sentences[0].logprob == pytest.approx(total, abs=1e-4)


def test_scoring_in_a_batch_equals_scoring_alone(lm: use.LoadedLM):
    texts = ["the cat sat on the mat .", "my owl", "", "a dog ran to the park ."]
    together = use.score(lm, texts)
    alone = [use.score(lm, [t]).sentences[0].logprob for t in texts]
    assert [s.logprob for s in together.sentences] == pytest.approx(alone, abs=1e-4)
    assert together.logprob == pytest.approx(sum(alone), abs=1e-3)
    assert together.chars == sum(len(t) + 1 for t in texts)
    # The model learnt its corpus: a training sentence beats a shuffled one.
    trained_text, shuffled = use.score(
        lm, [OVERFIT[0], "mat the . on sat cat the"]
    ).sentences
    assert trained_text.logprob > shuffled.logprob


def test_evaluate_lm_matches_its_own_perplexity(
    write_lines, lm: use.LoadedLM, tmp_path: Path
):
    metrics = use.evaluate_lm(lm, write_lines(tmp_path / "e.txt", OVERFIT * 2))
    assert metrics["ppl"] == pytest.approx(math.exp(metrics["loss"]))
    assert metrics["tokens"] == 2 * sum(len(s.split()) + 1 for s in OVERFIT)
    with pytest.raises(DataFormatError, match="too little"):
        use.evaluate_lm(lm, write_lines(tmp_path / "short.txt", ["a"]))


def test_sample_rejects_bad_settings(lm: use.LoadedLM):
    with pytest.raises(ConfigError, match="temperature"):
        use.sample(lm, temperature=-1.0)
    with pytest.raises(ConfigError, match="top-p"):
        use.sample(lm, top_p=0.0)


# --- resuming -------------------------------------------------------------------------
def read_log(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_resume_continues_where_the_run_stopped(lm_config: MakeConfig):
    cfg = lm_config(epochs=1)
    first = Recorder()
    task.train_lm(cfg, reporter=first)
    steps_per_epoch = len(first.steps)
    files = run_files(cfg.out)
    assert files.last.exists()
    assert len(read_log(files.log)) == 1

    path, snapshot = find_resume("lm", cfg.out)
    assert path == files.last
    done = snapshot["train_state"]["progress"]
    assert (done["epoch"], done["global_step"]) == (2, steps_per_epoch)
    cfg2 = load_config(LMConfig, None, {"train.epochs": 2}, base=snapshot["config"])
    second = Recorder()
    outcome = task.train_lm(cfg2, resume=snapshot, reporter=second)

    assert second.epochs == [2]  # epoch 1 is not trained again
    assert len(second.steps) == steps_per_epoch
    assert second.steps[0].epoch == 2
    progress = load_checkpoint(files.last)["train_state"]["progress"]
    assert progress["global_step"] == 2 * steps_per_epoch
    assert [h["epoch"] for h in progress["history"]] == [1, 2]
    records = read_log(files.log)
    assert [r["epoch"] for r in records] == [1, 2]
    assert records[1]["step"] > records[0]["step"]
    assert records[1]["tokens"] > records[0]["tokens"]
    assert outcome.epochs == 2


def test_interrupted_mid_epoch_resumes_the_remaining_steps(lm_config: MakeConfig):
    cfg = lm_config(epochs=1, save_every=0.0)  # a snapshot after every step
    k = 5
    interrupted = Recorder(stop_at=k)
    outcome = task.train_lm(cfg, reporter=interrupted)
    assert outcome.stopped_by == "interrupted"
    files = run_files(cfg.out)
    assert not files.out.exists()  # no evaluation yet, so no best model
    progress = load_checkpoint(files.last)["train_state"]["progress"]
    assert (progress["epoch"], progress["step_in_epoch"]) == (1, k)
    assert progress["global_step"] == k

    steps_per_epoch = _steps_per_epoch(cfg)
    _, snapshot = find_resume("lm", cfg.out)
    rest = Recorder()
    outcome = task.train_lm(cfg, resume=snapshot, reporter=rest)
    assert outcome.stopped_by == "epochs"
    assert len(rest.steps) == steps_per_epoch - k
    assert [s.step_in_epoch for s in rest.steps] == list(
        range(k + 1, steps_per_epoch + 1)
    )
    assert files.out.exists()
    final = load_checkpoint(files.last)["train_state"]["progress"]
    assert final["global_step"] == steps_per_epoch


def _steps_per_epoch(cfg: LMConfig) -> int:
    data = task.prepare_data(cfg)
    return lm_window_count(lm_rows(data.train, cfg.train.batch_size), cfg.bptt)


def test_a_killed_run_leaves_a_snapshot_that_resume_finds(
    lm_config: MakeConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.chdir(tmp_path)
    cfg = lm_config(epochs=1, save_every=0.0, out="models/killed.pt")
    with pytest.raises(Killed):
        task.train_lm(cfg, reporter=Recorder(stop_at=3, exc=Killed))
    # The step that was cut short was never saved; the one before it was.
    path, snapshot = find_resume("lm", None)  # the newest lm snapshot in models/
    assert path == Path("models/killed.last.pt")
    assert snapshot["train_state"]["progress"]["step_in_epoch"] == 2
    assert find_resume("lm", "models/killed.pt")[0] == path
    with pytest.raises(CheckpointError, match="nothing to resume"):
        find_resume("lm", "models/other.pt")
    with pytest.raises(CheckpointError, match="nothing to resume"):
        find_resume("sentiment", None)


def test_resuming_a_best_checkpoint_is_refused(lm_config: MakeConfig, tmp_path: Path):
    cfg = lm_config()
    task.train_lm(cfg)
    files = run_files(cfg.out)
    files.last.unlink()
    files.out.rename(files.last)  # a best checkpoint where a snapshot should be
    with pytest.raises(CheckpointError, match="no training state"):
        find_resume("lm", cfg.out)


def test_model_config_is_what_the_checkpoint_records(trained: Path):
    stored = load_checkpoint(trained)["config"]["model"]
    assert RecurrentConfig(**stored) == RecurrentConfig(
        cell="lstm",
        emb_size=16,
        hidden_size=32,
        num_layers=1,
        dropout=0.0,
        locked_dropout=True,  # the LM default
    )


def test_line_ends_in_word_samples_become_newlines():
    from types import SimpleNamespace

    from seqcli.tasks.lm_inference import _detok
    from seqcli.tokenizers import CharTokenizer, WordTokenizer

    word = SimpleNamespace(tokenizer=WordTokenizer())
    assert _detok(word, ["the", "fox", "\n", "ran"]) == "the fox\nran"
    char = SimpleNamespace(tokenizer=CharTokenizer())
    assert _detok(char, ["a", " ", "b", "\n", "c"]) == "a b\nc"


# --- backward language models -------------------------------------------------------
def test_a_backward_lm_writes_what_comes_before_the_prompt(overfit_config: MakeConfig):
    # Patience: with the default lr decay at the first bad evaluation, an unlucky
    # first epoch leaves this tiny run at the minimum lr before it has learnt.
    cfg = overfit_config(epochs=40, plateau_patience=3)
    cfg = replace(cfg, tokenizer=replace(cfg.tokenizer, reverse=True))
    lm = use.load_lm(task.train_lm(cfg).path)
    assert lm.tokenizer.reverse
    streamed: list[str] = []
    texts = use.sample(
        lm, num=2, prompt="the mat .", temperature=0.0, max_length=12,
        on_text=streamed.append,
    )  # fmt: skip
    # Read right to left, "the mat ." can only be the end of the first sentence.
    assert texts == ["the cat sat on the mat."] * 2
    assert streamed == [texts[0]]  # given whole, not streamed from its end
    # It scores the training sentences far above the same words in another order.
    right, wrong = use.score(lm, [OVERFIT[1], "park the to ran dog a ."]).sentences
    assert right.logprob > wrong.logprob + 5


# --- fine-tuning an LM on new text (--init-from) -------------------------------------
def test_init_from_keeps_the_lm_and_fine_tunes_it_on_new_text(
    trained: Path, lm_config: MakeConfig, write_lines, tmp_path: Path
):
    base = use.load_lm(trained)
    new_text = write_lines(
        tmp_path / "new.txt", ["my cat ran to the mat .", "a dog sat ."] * 12
    )
    # lr 0: the weights stay as loaded, whatever the flags said about sizes.
    cfg = lm_config(train_path=str(new_text), init_from=str(trained), lr=0.0)
    frozen = use.load_lm(task.train_lm(cfg).path)
    assert frozen.cfg.model == base.cfg.model  # not lm_config's emb 8 / hidden 16
    assert frozen.vocab == base.vocab and frozen.cfg.init_from == str(trained)
    for name, tensor in base.network.state_dict().items():
        torch.testing.assert_close(frozen.network.state_dict()[name], tensor)
    # Trained, it fits the new text better than the model it started from.
    cfg = lm_config(
        train_path=str(new_text), init_from=str(trained), lr=1e-2, epochs=3,
        out=str(tmp_path / "tuned.pt"),
    )  # fmt: skip
    tuned = use.load_lm(task.train_lm(cfg).path)
    before = use.evaluate_lm(base, new_text)["loss"]
    assert use.evaluate_lm(tuned, new_text)["loss"] < before - 0.5


def test_init_from_needs_a_language_model(
    trained: Path, lm_config: MakeConfig, tmp_path: Path
):
    with pytest.raises(CheckpointError, match="not found|No such|does not exist"):
        task.train_lm(lm_config(init_from=str(tmp_path / "missing.pt")))
    data = load_checkpoint(trained)
    for key in ("format", "format_version", "seqcli_version", "created", "digest"):
        data.pop(key)
    other = save_checkpoint(tmp_path / "s.pt", {**data, "task": "sentiment"})
    with pytest.raises(CheckpointError, match="sentiment checkpoint"):
        task.train_lm(lm_config(init_from=str(other)))


# --- the state carried from one training window to the next -------------------------
def test_mid_epoch_evaluations_leave_the_training_windows_unchanged(
    lm_config: MakeConfig, tmp_path: Path
):
    """An evaluation between two windows runs its own windows from zeros; the next
    training window still starts from the state the previous one ended with."""
    fixed_lr = {"epochs": 2, "plateau_patience": 1000}  # no decay on a bad eval
    plain, evaluated = Recorder(), Recorder()
    task.train_lm(lm_config(out=str(tmp_path / "a.pt"), **fixed_lr), reporter=plain)
    task.train_lm(
        lm_config(out=str(tmp_path / "b.pt"), eval_every=3, **fixed_lr),
        reporter=evaluated,
    )
    steps_per_epoch = len(plain.steps) // 2
    mid_epoch = [r for r in evaluated.evals if r["step"] % steps_per_epoch]
    assert len(mid_epoch) >= 3 and len(plain.evals) == 2
    losses = [s.loss for s in evaluated.steps]
    assert losses == pytest.approx([s.loss for s in plain.steps], rel=1e-6, abs=0)


def test_a_mid_epoch_snapshot_resumes_from_the_carried_state(
    lm_config: MakeConfig, tmp_path: Path
):
    """A snapshot keeps the state the last trained window ended with; the resumed
    run's next window starts from it, so it trains as if never stopped."""
    whole = Recorder()
    task.train_lm(lm_config(out=str(tmp_path / "whole.pt")), reporter=whole)
    cfg = lm_config(save_every=0.0)
    k = 5
    cut = Recorder(stop_at=k)
    task.train_lm(cfg, reporter=cut)
    _, snapshot = find_resume("lm", cfg.out)
    h, c = snapshot["train_state"]["carry"]  # an LSTM's (h, c) after window k
    assert h.shape == c.shape == (1, cfg.train.batch_size, cfg.model.hidden_size)
    assert h.dtype == torch.float32 and bool(h.abs().sum() > 0)
    rest = Recorder()
    task.train_lm(cfg, resume=snapshot, reporter=rest)
    assert rest.steps[0].step_in_epoch == k + 1
    losses = [s.loss for s in cut.steps + rest.steps]
    assert losses == pytest.approx([s.loss for s in whole.steps], rel=1e-6, abs=0)


@torch.no_grad()
def test_the_network_keeps_no_state_between_windows() -> None:
    """The same window gives the same loss whatever ran before it, unless the
    caller hands it the state a previous window returned."""
    torch.manual_seed(0)
    lm = LanguageModel(30, RecurrentConfig(emb_size=8, hidden_size=8, dropout=0.0))
    ids = torch.randint(0, 30, (2, 5))
    window = Batch(ids=ids, targets=ids, carry=True)
    first, state = lm(window)
    again, _ = lm(window)
    assert float(again) == float(first)
    continued, _ = lm(replace(window, state=state))
    assert float(continued) != float(first)


@pytest.mark.bf16("lstm")
def test_a_window_trained_in_bf16_carries_its_state_into_an_fp32_pass() -> None:
    torch.manual_seed(0)
    lm = LanguageModel(30, RecurrentConfig(emb_size=8, hidden_size=8), softmax="full")
    ids = torch.randint(0, 30, (2, 5))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss, state = lm(Batch(ids=ids, targets=ids))
        loss.backward()
    # The next window (an evaluation, or a run resumed in fp32) starts from it.
    loss, _ = lm(Batch(ids=ids, targets=ids, carry=True, state=state))
    assert loss.dtype == torch.float32 and torch.isfinite(loss)

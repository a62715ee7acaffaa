"""Every tunable value of every task, as dataclasses, and its default.

Defaults live here and only here: `RecurrentConfig` (the backbone) and
`TrainConfig` (the training loop) are shared; each task's config composes them,
with the task's own defaults where they differ. Must not import torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class RecurrentConfig:
    """The shared backbone: embedding + a stack of RNN/GRU/LSTM layers."""

    cell: str = "lstm"  # rnn (Elman, tanh) | gru | lstm
    emb_size: int = 200
    hidden_size: int = 200
    num_layers: int = 2
    dropout: float = 0.2
    bidirectional: bool = False
    # One dropout mask per sequence for the embeddings and the top layer's outputs,
    # the same at every time step (variational dropout, Gal & Ghahramani, 2016):
    # a (batch, 1, features) draw instead of one per token, which a CPU step pays
    # for, and the regularisation recurrent LMs are known to prefer.
    locked_dropout: bool = False


@dataclass
class TrainConfig:
    """The one training loop's settings, shared by every task."""

    epochs: int = 20
    batch_size: int = 20
    optimizer: str = "adam"  # adam | sgd
    lr: float = 2e-3
    weight_decay: float = 0.0
    clip: float = 0.25  # max gradient norm; 0 turns clipping off
    lr_decay: float = 0.25  # multiply the lr by this when the metric stops improving
    plateau_patience: int = 0  # evaluations without improvement before decaying
    min_lr: float = 1e-5
    early_stop: int = 3  # evaluations without improvement before stopping; 0 = never
    max_time: float | None = None  # minutes
    eval_every: int = 0  # steps between evaluations (and the last); 0 = each epoch
    # With eval_every 0 under the budget schedule: "epoch" evaluates at each
    # epoch's end, "end" only when the run ends. There the evaluations before the
    # last steer nothing (the lr follows the clock, no early stop), yet their
    # minutes come out of the budget; "end" trains for those minutes instead.
    budget_evals: str = "epoch"  # epoch | end
    save_every: float = 2.0  # minutes between resume snapshots (.last.pt)
    # seconds between progress lines (off a terminal) and training-loss records in
    # the metrics log; 0 = none
    log_interval: float = 30.0
    seed: int = 1
    device: str = "auto"  # auto | cpu | cuda | cuda:N | mps
    num_threads: int = 0  # torch CPU threads; 0 = measured (seqcli/threads.py)
    # fp32 | bf16 | auto: bf16 runs each training step's forward pass under
    # autocast, so its matrix products (those inside recurrent cells too) compute
    # in bfloat16 (fast on CPUs with AVX-512 BF16 or AMX, and on recent GPUs); a
    # cell's state stays fp32 or not by cell and device, and cuDNN's recurrent
    # layers run in fp16 (docs/PRECISION.md). Weights, gradients, optimizer state
    # and evaluations stay fp32. auto is bf16 where the hardware lists bfloat16 and
    # a probe step of the run's cells runs in it, else fp32 (seqcli/precision.py).
    precision: str = "fp32"
    # plateau: decay on evaluations without gain (lr_decay, plateau_patience);
    # linear: from lr down to min_lr over all epochs' steps (word2vec's SGD schedule);
    # budget: warm up, hold lr, then decay linearly to min_lr over the last
    # `cooldown` share of max_time (a run cut by its time budget ends at a small lr
    # instead of wherever plateau decay had got to);
    # auto: budget when max_time is set, else plateau
    lr_schedule: str = "plateau"
    warmup: float = 0.02  # budget schedule: share of max_time spent warming up
    # Any schedule: the lr rises linearly over the first `warmup_steps` optimizer
    # steps (0 = off). Adam's first updates move every weight by about lr whatever
    # its gradient, and at full lr they can saturate an LSTM's gates so that it
    # learns nothing for hundreds of steps (under bf16, for good: docs/HISTORY.md).
    warmup_steps: int = 0
    cooldown: float = 0.3  # budget schedule: share of max_time spent decaying


# A language model's softmax "auto" turns adaptive above this many vocabulary
# entries: below it a full softmax costs little and predicts slightly better.
ADAPTIVE_SOFTMAX_ABOVE = 10_000


@dataclass
class TokenizerConfig:
    """How text becomes tokens and tokens become ids."""

    level: str = "word"  # word | char | subword
    lowercase: bool | None = None  # None: if the training text has no capitals
    word_split: str = "ptb"  # ptb (punctuation and clitics split off) | whitespace
    reverse: bool = False  # read each line right to left (a backward LM)
    min_freq: int = 1
    max_size: int = 0  # 0 = no limit
    sp_model_type: str = "bpe"  # bpe | unigram (subword level)
    sp_vocab_size: int = 4000  # the one default: train-lm and `tokenize train`
    sp_character_coverage: float = 1.0


@dataclass
class DistillConfig:
    """Learning from trained teachers as well as from gold labels (knowledge
    distillation, Hinton et al., 2015): train-ner and train-sentiment.

    The student's loss is (1 - weight) x gold loss + weight x temperature^2 x
    KL(teachers' averaged distribution || student's), both at `temperature`.
    The weight and temperature defaults are provisional until the bench measures
    them (issue #28).
    """

    teachers: list[str] = field(default_factory=list)  # trained checkpoints
    weight: float = 0.5  # 0 = gold labels only, 1 = teachers only
    temperature: float = 2.0  # > 1 softens both distributions
    unlabeled_path: str | None = None  # raw text the teachers label (silver data)


def _lm_model() -> RecurrentConfig:
    # Light dropout: a run of a few epochs (what a CPU budget buys) underfits more
    # than it overfits, so less dropout learns more per token seen. Locked: on a
    # CPU without bf16 the per-token masks' random draws were a few percent of a
    # step, and a language model's budget is counted in tokens trained.
    return RecurrentConfig(dropout=0.1, locked_dropout=True)


def _lm_train() -> TrainConfig:
    # Batch 40: a step has costs that do not grow with its rows (the dense Adam
    # update of a large vocabulary's embedding), so larger batches train more
    # tokens per second. "auto" holds the lr and cools it down over the last 30% of
    # --max-time when one is given. 200 warm-up steps: Adam's first full-lr updates
    # can hold the LSTM on the unigram plateau, for good under bf16. Precision
    # auto: bf16 where the hardware computes it natively, so that a budget in
    # minutes buys more tokens. lr 4.5e-3: under a budget of minutes the model
    # sees few epochs, and a larger step learns more of each, up to a point (a
    # larger one learned less per token again). Evaluations at the end
    # alone under --max-time: the training loss is reported as it goes, and the
    # minutes of each validation pass train instead. The runs behind these choices
    # are in docs/HISTORY.md; what the defaults reach, in docs/RESULTS.md.
    return TrainConfig(
        batch_size=40,
        lr=4.5e-3,
        lr_schedule="auto",
        warmup_steps=200,
        precision="auto",
        budget_evals="end",
    )


@dataclass
class LMConfig:
    """A language model: `seqcli train-lm`."""

    train_path: str = ""
    valid_path: str | None = None
    test_path: str | None = None
    valid_fraction: float = 0.05  # carved from the end of train when no valid file
    out: str | None = None
    bptt: int = 35
    softmax: str = "auto"  # auto | full | adaptive
    adaptive_cutoffs: list[int] = field(
        default_factory=list
    )  # [] = chosen from vocab size
    tie_weights: bool = True
    init_from: str | None = None  # a seqcli LM to fine-tune on this corpus
    tokenizer: TokenizerConfig = field(default_factory=TokenizerConfig)
    model: RecurrentConfig = field(default_factory=_lm_model)
    train: TrainConfig = field(default_factory=_lm_train)


@dataclass
class SampleConfig:
    """Drawing text from a language model: `seqcli sample`, `lm_inference.sample`."""

    num: int = 1
    max_length: int = 100  # tokens generated at most
    temperature: float = 1.0  # 0 = greedy
    top_k: int = 0  # 0 = all tokens
    top_p: float = 1.0
    min_length: int = 1  # shortest sample in tokens, the prompt's included


@dataclass
class ClassifyConfig:
    """Labelling texts with a trained classifier: `seqcli classify`."""

    # Inference holds no gradients: batches much larger than training's are cheap.
    batch_size: int = 256


def _sentiment_model() -> RecurrentConfig:
    # Reading a whole sentence before deciding: both directions help.
    return RecurrentConfig(
        emb_size=100, hidden_size=128, num_layers=1, dropout=0.5, bidirectional=True
    )


def _sentiment_train() -> TrainConfig:
    return TrainConfig(epochs=10, batch_size=32, lr=1e-3, clip=5.0, early_stop=3)


@dataclass
class SentimentConfig:
    """A sentence/document classifier: `seqcli train-sentiment`."""

    train_path: str = ""
    valid_path: str | None = None
    test_path: str | None = None
    valid_fraction: float = 0.1  # held out of train (per label) when no valid file
    out: str | None = None
    data_format: str = "auto"  # auto (by extension) | tsv | csv | jsonl | fasta
    fasta_labels: str | None = None  # id<TAB>label lines, for FASTA without labels
    text_column: str = "auto"  # a name, a 1-based position, or auto
    label_column: str = "auto"
    header: str = "auto"  # auto | yes | no
    clean: bool = False  # web text: strip HTML, split punctuation and clitics (PTB)
    max_tokens: int = 0  # keep the first N tokens of each text; 0 = all
    pooling: str = "max"  # last | max | mean | attention | concat
    text_encoder: str = "rnn"  # rnn | average (mean of the embeddings, no RNN)
    position_size: int = 0  # a learnt position embedding beside each token; 0 = none
    class_weights: str = "none"  # none | auto (inverse class frequency)
    select_metric: str = "accuracy"  # accuracy | macro_f1
    init_from: str | None = None  # a seqcli language-model checkpoint
    extend_vocab: bool = False  # init_from: add training words the LM never saw
    embeddings: str | None = None  # word vectors, word2vec/GloVe text format
    freeze_embeddings: bool = False
    bucket: bool = True  # batch texts of similar length together
    distill: DistillConfig = field(default_factory=DistillConfig)
    # Temperature scaling on the validation set after training; None: on when a
    # validation file is given (valid_path), off on a held-out share of train.
    calibrate: bool | None = None
    tokenizer: TokenizerConfig = field(default_factory=TokenizerConfig)
    model: RecurrentConfig = field(default_factory=_sentiment_model)
    train: TrainConfig = field(default_factory=_sentiment_train)


def _embeddings_train() -> TrainConfig:
    # word2vec's recipe: plain SGD (sparse updates) decayed linearly, a few epochs,
    # no clipping, no early stopping. lr is per pair, as word2vec's (nn/skipgram.py).
    return TrainConfig(
        epochs=5,
        batch_size=4096,
        optimizer="sgd",
        lr=0.025,
        clip=0.0,
        early_stop=0,
        lr_schedule="linear",
    )


@dataclass
class EmbeddingsConfig:
    """Word vectors by skip-gram with negative sampling: `seqcli train-embeddings`."""

    train_path: str = ""
    out: str | None = None
    emb_size: int = 100
    window: int = 5  # context words each side at most (shrunk at random per word)
    negatives: int = 5  # negative samples per pair, from unigram counts ^ 3/4
    subsample: float = 1e-4  # frequent-word subsampling threshold t; 0 = off
    tokenizer: TokenizerConfig = field(
        default_factory=lambda: TokenizerConfig(min_freq=5)
    )
    train: TrainConfig = field(default_factory=_embeddings_train)


def _translation_tokenizer() -> TokenizerConfig:
    # Subword pieces from one SentencePiece model for both sides (joint_vocab): on
    # raw text they spell every name and rare word that a word-level model can only
    # write as <unk>, and with the same budget they scored higher than word level
    # (translation-raw-* in docs/RESULTS.md). --level word keeps min_freq: words
    # seen once are mostly names and typos, whose rows cost more than an <unk>.
    return TokenizerConfig(level="subword", min_freq=2)


def _translation_model() -> RecurrentConfig:
    # One GRU layer each way of 256 units: on a CPU, the best quality per second
    # of training on a Multi30k-sized corpus (the runs: docs/HISTORY.md).
    return RecurrentConfig(
        cell="gru", emb_size=256, hidden_size=256, num_layers=1, dropout=0.2
    )


def _translation_train() -> TrainConfig:
    return TrainConfig(
        epochs=30, lr=2e-3, clip=1.0, lr_decay=0.5, plateau_patience=0, early_stop=4
    )


@dataclass
class TranslationConfig:
    """An attentional encoder-decoder: `seqcli train-translate`."""

    src_path: str = ""  # parallel files, one sentence per line ...
    tgt_path: str = ""
    pairs_path: str | None = None  # ... or one two-column TSV/CSV/JSONL file
    valid_src_path: str = ""
    valid_tgt_path: str = ""
    test_src_path: str | None = None
    test_tgt_path: str | None = None
    data_format: str = "auto"  # of a pairs file: auto | tsv | csv | jsonl
    out: str | None = None
    max_len: int = 80  # drop training pairs with a side longer (tokens); 0 = none
    # Target tokens per training batch. A CPU computes a token about as fast in
    # small batches as in large ones, and small ones give more updates.
    batch_tokens: int = 600
    # bahdanau | dot | general. Bahdanau's additive attention reads the source
    # before each step, so the decoder knows where it is: it learns alignments
    # in far fewer updates than Luong's without input feeding, for ~5% more time.
    attention: str = "bahdanau"
    input_feeding: bool = False  # Luong's; slower on a CPU (a loop over time)
    tie_embeddings: bool = True  # output layer shares the target embeddings
    label_smoothing: float = 0.1
    select: str = "bleu"  # bleu | loss: the validation metric that picks the best
    joint_vocab: bool = True  # subword: one SentencePiece model for both sides
    show_examples: int = 3  # validation translations shown at each evaluation
    # Sequence-level distillation (Kim and Rush, 2016): translation checkpoints
    # whose ensemble re-translates the training source with a beam of
    # `distill_beam`; the student learns those outputs (and, with
    # `distill_with_references`, the original pairs too).
    teachers: list[str] = field(default_factory=list)
    distill_beam: int = 5
    distill_with_references: bool = False
    # Token-level temperature scaling on the validation references after training
    # (the validation set is always given), read by `translate --scores`.
    calibrate: bool = True
    tokenizer: TokenizerConfig = field(default_factory=_translation_tokenizer)
    model: RecurrentConfig = field(default_factory=_translation_model)
    train: TrainConfig = field(default_factory=_translation_train)


@dataclass
class TranslateConfig:
    """Decoding with a trained translation model: `seqcli translate`."""

    beam: int = 5  # 1 = greedy search
    alpha: float = 1.0  # length normalisation: score = log P / T^alpha
    max_len_ratio: float = 2.0  # output tokens at most: ratio x source tokens + 10
    min_len: int = 1  # output tokens before <eos> is allowed
    n_best: int = 1
    # Each output <unk> -> the source token its position attends to most (Luong et
    # al., 2015). None: on for a word-level model, whose rare words are all <unk>;
    # off for subword and character models, which spell rare words from pieces.
    replace_unk: bool | None = None
    batch_size: int = 64  # most sentences decoded together (batches share them evenly)
    # A longer source line is refused (0 = no limit): a model trained on pairs of
    # at most TranslationConfig.max_len (80) tokens has never read such a line, and
    # its search runs for minutes (ratio x length steps over a growing history).
    max_src_len: int = 1000


def _ner_model() -> RecurrentConfig:
    # One bidirectional layer over 100-d words (Lample et al., 2016): a second layer
    # costs twice the CPU time for little gain on CoNLL-2003.
    return RecurrentConfig(
        emb_size=100, hidden_size=200, num_layers=1, dropout=0.5, bidirectional=True
    )


def _ner_tokenizer() -> TokenizerConfig:
    # Words are looked up lowercased; characters and the casing feature keep case.
    return TokenizerConfig(lowercase=True)


def _ner_train() -> TrainConfig:
    # Batches of 32 sentences: fewer steps, each with costs that do not grow with
    # its rows, train more tokens per CPU-second than 16 (docs/HISTORY.md); the lr
    # halves after two validations without a gain.
    return TrainConfig(
        epochs=50,
        batch_size=32,
        lr=2e-3,
        clip=5.0,
        lr_decay=0.5,
        plateau_patience=1,
        early_stop=5,
    )


@dataclass
class NerConfig:
    """A named-entity tagger: `seqcli train-ner`."""

    train_path: str = ""
    valid_path: str = ""
    test_path: str | None = None
    out: str | None = None
    token_column: int = 1  # 1-based; negative counts from the end
    tag_column: int = -1  # 1-based; -1 = the last column
    scheme: str = "auto"  # the files' tag scheme: auto | iob1 | iob2 | bioes
    train_scheme: str = "bioes"  # the scheme the network predicts
    char_features: str = "cnn"  # cnn | lstm | none
    char_emb_size: int = 30
    char_hidden_size: int = 50  # CNN filters, or LSTM units per direction
    casing: bool = True  # the small casing feature of each word
    decoder: str = "crf"  # crf | softmax
    normalize_digits: bool = True  # words are looked up with every digit read as 0
    word_dropout: float = 0.5  # p of reading a training singleton as <unk>
    init_from: str | None = None  # a seqcli word language model
    init_from_backward: str | None = None  # a backward one (train-lm --reverse)
    embeddings: str | None = None  # word vectors, word2vec/GloVe text format
    freeze_embeddings: bool = False
    distill: DistillConfig = field(default_factory=DistillConfig)
    calibrate: bool = True  # temperature scaling on the validation set after training
    tokenizer: TokenizerConfig = field(default_factory=_ner_tokenizer)
    model: RecurrentConfig = field(default_factory=_ner_model)
    train: TrainConfig = field(default_factory=_ner_train)


@dataclass
class TagConfig:
    """Tagging text with a trained NER model: `seqcli tag`."""

    batch_size: int = 64  # sentences per batch (64 tagged faster than 128 or 256)
    n_best: int = 1

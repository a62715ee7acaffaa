"""Score NER predictions with seqeval: the independent check of seqcli's scorer.

    bench/envs/seqeval/bin/python bench/peers/seqeval_score.py PREDICTIONS.json

Runs in the bench-only virtual environment that `make bench-env` builds (seqeval
is never a dependency of seqcli), on the predictions a bench run wrote:
``{"gold": [[tag, ...], ...], "predicted": [[tag, ...], ...]}``, one list per
sentence. seqeval's default mode follows conlleval's chunking rules, as seqcli's
scorer does, so the two must agree. Prints one JSON object: precision, recall and
F1 in percent, and seqeval's version. Imports nothing from seqcli.
"""

import json
import sys

import seqeval
from seqeval.metrics import f1_score, precision_score, recall_score


def main() -> None:
    with open(sys.argv[1], encoding="utf-8") as fh:
        data = json.load(fh)
    gold, predicted = data["gold"], data["predicted"]
    print(
        json.dumps(
            {
                "precision": 100 * precision_score(gold, predicted),
                "recall": 100 * recall_score(gold, predicted),
                "f1": 100 * f1_score(gold, predicted),
                "seqeval": getattr(seqeval, "__version__", "1.2.2"),
            }
        )
    )


if __name__ == "__main__":
    main()

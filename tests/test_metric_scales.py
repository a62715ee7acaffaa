"""The one convention for showing scores (seqcli.metrics.scales)."""

from __future__ import annotations

import math

from seqcli.metrics.scales import format_metric, is_percent


def test_shares_are_percent_with_two_decimals() -> None:
    for name in ("accuracy", "macro_f1", "f1", "test.bleu", "valid.chrf", "ter"):
        assert is_percent(name)
        assert format_metric(name, 89.3449) == "89.34"
    assert format_metric("accuracy_all", 50.0) == "50.00"


def test_other_values_keep_their_own_scale() -> None:
    assert not is_percent("ppl")
    assert format_metric("ppl", 141.6189) == "141.6"
    assert format_metric("loss", 0.0123456) == "0.01235"
    assert format_metric("examples", 16) == "16"
    assert format_metric("tokens", 23382) == "23,382"
    assert format_metric("accuracy", math.nan) == "n/a"
    assert format_metric("created", "2026-12-07") == "2026-12-07"

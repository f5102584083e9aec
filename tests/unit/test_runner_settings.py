"""Runner settings: warm isolation's memory-growth limit has a default that fits every memory_mb."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from appyard.properties import RunnerSettings


@pytest.mark.parametrize(("memory_mb", "growth"), [(32, 8), (64, 16), (256, 64), (512, 64), (65536, 64)])
def test_the_default_growth_limit_is_a_quarter_of_the_memory_at_most_64(memory_mb: int, growth: int) -> None:
    settings = RunnerSettings(isolation="warm", memory_mb=memory_mb)
    assert settings.warm_max_growth_mb is None
    assert settings.warm_growth_limit_mb == growth


def test_a_growth_limit_that_is_set_is_used() -> None:
    assert RunnerSettings(isolation="warm", memory_mb=512, warm_max_growth_mb=100).warm_growth_limit_mb == 100


def test_a_growth_limit_not_below_the_memory_limit_is_refused_for_warm() -> None:
    with pytest.raises(ValidationError, match=r"warm_max_growth_mb \(64\) must be below memory_mb \(64\)"):
        RunnerSettings(isolation="warm", memory_mb=64, warm_max_growth_mb=64)
    assert RunnerSettings(isolation="fresh", memory_mb=64, warm_max_growth_mb=64).isolation == "fresh"

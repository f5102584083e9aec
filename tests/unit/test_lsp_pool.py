"""The cap on editor sessions (pylsp processes): in all and per person, released when a session ends."""

from __future__ import annotations

import contextlib

import pytest

from appyard_api.adapters.lsp import LanguageServerPool
from appyard_api.errors import LanguageServersBusy


def test_sessions_are_capped_per_person_and_in_all() -> None:
    pool = LanguageServerPool(max_processes=3, max_per_user=2)
    with contextlib.ExitStack() as sessions:
        sessions.enter_context(pool.lease("ada"))
        sessions.enter_context(pool.lease("ada"))
        with pytest.raises(LanguageServersBusy, match="you have 2 sessions open"):
            sessions.enter_context(pool.lease("ada"))
        sessions.enter_context(pool.lease("bob"))
        with pytest.raises(LanguageServersBusy, match="3 sessions open on this server"):
            sessions.enter_context(pool.lease("cy"))
        assert pool.running == 3
    assert pool.running == 0
    with pool.lease("cy"):
        assert pool.running == 1


def test_a_session_that_fails_gives_its_slot_back() -> None:
    pool = LanguageServerPool(max_processes=1, max_per_user=1)
    with pytest.raises(OSError, match="would not start"), pool.lease("ada"):
        raise OSError("pylsp would not start")
    with pool.lease("ada"):
        assert pool.running == 1

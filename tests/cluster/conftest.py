"""Fixtures of the cluster tier: a real single-node Kubernetes cluster (tests/cluster/node.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .node import Cluster


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """One node and its control plane for the whole run; after stopping it, nothing of it may remain on the host."""
    node = Cluster(tmp_path_factory.mktemp("cluster"))
    try:
        node.start()
        yield node
    finally:
        node.stop()
        leftovers = node.leftovers()
        assert not leftovers, f"the stopped cluster left these behind: {leftovers}"

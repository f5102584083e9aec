"""Fixtures of the cluster tier: a real single-node Kubernetes cluster (tests/cluster/node.py), the images built here
(tests/cluster/images.py), the registry on the node's address, the policy controller and the ingress controller."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from .configs import REGISTRY
from .images import Image, all_images
from .ingress import IngressController
from .netpol import PolicyController
from .node import Cluster
from .registry import Registry
from .release import INGRESS_CLASS, Wheelhouse


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """One node and its control plane for the whole run; after stopping it, nothing of it may remain on the host."""
    if os.geteuid() != 0:
        pytest.skip("the cluster tier needs root (a kubelet, containerd, network interfaces): `sudo make test-cluster`")
    node = Cluster(tmp_path_factory.mktemp("cluster"))
    try:
        node.start()
        yield node
    finally:
        node.stop()
        leftovers = node.leftovers()
        assert not leftovers, f"the stopped cluster left these behind: {leftovers}"


@pytest.fixture(scope="session")
def images() -> dict[str, Image]:
    """Every image the tier runs, built here (cached by content: a rerun with no change costs only the hashing)."""
    return all_images()


@pytest.fixture(scope="session")
def registry(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """The image registry on the node's address (plain HTTP): build Jobs push there, containerd pulls from it."""
    server = Registry(tmp_path_factory.mktemp("registry"), REGISTRY)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def policy_controller(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PolicyController]:
    """kube-router's firewall: the cluster enforces NetworkPolicies (the CNI bridge alone does not)."""
    controller = PolicyController(tmp_path_factory.mktemp("kube-router"), cluster.kubeconfig)
    controller.start()
    try:
        yield controller
    finally:
        controller.stop()
        assert not controller.leftovers(), f"the stopped kube-router left these behind: {controller.leftovers()}"


@pytest.fixture(scope="session")
def ingress(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[IngressController]:
    """Traefik on the node's address, serving the cluster's Ingresses of the test's class; nothing of it may remain."""
    controller = IngressController(tmp_path_factory.mktemp("traefik"), cluster.kubeconfig, ingress_class=INGRESS_CLASS)
    controller.start()
    try:
        yield controller
    finally:
        controller.stop()
        assert not controller.leftovers(), f"the stopped Traefik left these behind: {controller.leftovers()}"


@pytest.fixture(scope="session")
def ingress_url(ingress: IngressController) -> str:
    return ingress.url


@pytest.fixture(scope="module")
def wheelhouse(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Wheelhouse]:
    house = Wheelhouse(tmp_path_factory.mktemp("wheelhouse"))
    try:
        yield house
    finally:
        house.stop()

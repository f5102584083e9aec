"""The chart tier's one control plane (etcd, kube-apiserver, kube-controller-manager) and helm/kubectl set up for it."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import pytest
from lightkube import Client, KubeConfig
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Namespace

from appyard.tooling import brokerkeys
from tests.integration.controlplane import ControlPlane

from .support import NATS_SECRET, VALUE_SETS, Obj, Tools


@pytest.fixture(scope="session")
def control_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    plane = ControlPlane(tmp_path_factory.mktemp("controlplane"))
    plane.start()
    try:
        yield plane
    finally:
        plane.stop()


@pytest.fixture(scope="session")
def kube(control_plane: ControlPlane) -> Client:
    return Client(KubeConfig.from_file(control_plane.kubeconfig), field_manager="tests")


@pytest.fixture(scope="session")
def tools(control_plane: ControlPlane, tmp_path_factory: pytest.TempPathFactory) -> Tools:
    return Tools(control_plane.kubeconfig, tmp_path_factory.mktemp("helm"))


@pytest.fixture(scope="session")
def server_version(tools: Tools) -> str:
    """The API server's gitVersion as helm sees it."""
    return str(json.loads(tools.kubectl("get", "--raw", "/version"))["gitVersion"])


NamespaceMaker = Callable[..., str]


@pytest.fixture(scope="session")
def namespace(kube: Client, tools: Tools, tmp_path_factory: pytest.TempPathFactory) -> NamespaceMaker:
    """Makes a namespace holding the NATS keys' Secret (from `appyard broker-keys`, as docs/install.md says)."""

    def make(name: str, *, restricted: bool = False) -> str:
        labels = {"pod-security.kubernetes.io/enforce": "restricted"} if restricted else {}
        kube.create(Namespace(metadata=ObjectMeta(name=name, labels=labels)))
        keys = tmp_path_factory.mktemp(f"keys-{name}")
        brokerkeys.write(keys, [name], 1)
        tools.kubectl("-n", name, "create", "secret", "generic", NATS_SECRET, f"--from-file={keys}")
        return name

    return make


@pytest.fixture(scope="session")
def renderer(tmp_path_factory: pytest.TempPathFactory) -> Tools:
    """helm for `template` and `lint`, which need no cluster."""
    home = tmp_path_factory.mktemp("render")
    return Tools(home / "no-kubeconfig", home)


@pytest.fixture(scope="session")
def rendered(renderer: Tools) -> dict[str, list[Obj]]:
    return {name: renderer.template(values) for name, values in VALUE_SETS.items()}

"""A real Kubernetes control plane for tests: etcd, kube-apiserver and kube-controller-manager.

Built from Go modules by `make tools` into .tools/bin and started the way controller-runtime's envtest does:
generated certificates, an admin client certificate in system:masters, service-account signing keys. There
is no kubelet and no scheduler: Deployments and Jobs get Pods, but nothing runs them — tests that need a
Pod to run stand in for the kubelet and say so.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import os
import shutil
import ssl
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from .servers import free_port

REPO = Path(__file__).resolve().parent.parent.parent
TOOLS = Path(os.environ.get("APPYARD_TOOLS", REPO / ".tools" / "bin"))


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _pem_key(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _certificate(
    subject: x509.Name,
    key: ec.EllipticCurvePrivateKey,
    issuer: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None,
    *,
    ca: bool = False,
    server: bool = False,
    extra_names: list[x509.GeneralName] | None = None,
) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer[0].subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if server:
        names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1")), *(extra_names or [])]
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    if not ca:
        usages = [x509.oid.ExtendedKeyUsageOID.SERVER_AUTH if server else x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH]
        builder = builder.add_extension(x509.ExtendedKeyUsage(usages), critical=False)
    return builder.sign(issuer[1] if issuer else key, hashes.SHA256())


def _pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


def _name(common: str, organization: str | None = None) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common)]
    if organization:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    return x509.Name(attributes)


@dataclass
class ControlPlane:
    """etcd + kube-apiserver + kube-controller-manager on loopback; ``kubeconfig`` is an admin's."""

    folder: Path
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    port: int = 0
    # More kube-apiserver flags, e.g. admission plugins that hardened clusters turn on.
    apiserver_arguments: list[str] = field(default_factory=list)
    # The address kube-apiserver binds, advertises (the `kubernetes` Service's endpoint) and ``url`` names. A real
    # node (tests/cluster) needs one that pods can reach, which loopback is not.
    address: str = "127.0.0.1"
    # More IP addresses in the server certificate, e.g. the `kubernetes` Service's ClusterIP that pods use.
    server_ips: list[str] = field(default_factory=list)
    # kube-apiserver --service-cluster-ip-range.
    service_cidr: str = "10.96.0.0/24"
    # kube-apiserver --authorization-mode; a real node needs "Node,RBAC" (with the NodeRestriction admission plugin).
    authorization_mode: str = "RBAC"
    # Give kube-apiserver a client certificate (system:masters) for kubelets, so `kubectl logs`/`exec` reach them.
    kubelet_client: bool = False
    _ca: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None = field(default=None, init=False, repr=False)

    @property
    def kubeconfig(self) -> Path:
        return self.folder / "kubeconfig"

    @property
    def url(self) -> str:
        return f"https://{self.address}:{self.port}"

    def _certificates(self) -> None:
        ca_key = _key()
        ca = _certificate(_name("appyard-test-ca"), ca_key, None, ca=True)
        self._ca = (ca, ca_key)
        server_key = _key()
        extra: list[x509.GeneralName] = [
            x509.IPAddress(ipaddress.ip_address(ip))
            for ip in dict.fromkeys([self.address, *self.server_ips])
            if ip != "127.0.0.1"
        ]
        if self.server_ips:
            extra += [x509.DNSName(f"kubernetes.default.svc.{zone}".rstrip(".")) for zone in ("", "cluster.local")]
        server = _certificate(_name("kube-apiserver"), server_key, (ca, ca_key), server=True, extra_names=extra)
        admin_key = _key()
        admin = _certificate(_name("admin", "system:masters"), admin_key, (ca, ca_key))
        accounts = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        files = {
            "ca.crt": _pem(ca),
            "server.crt": _pem(server),
            "server.key": _pem_key(server_key),
            "admin.crt": _pem(admin),
            "admin.key": _pem_key(admin_key),
            "sa.key": _pem_key(accounts),
            "sa.pub": accounts.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            ),
        }
        for name, data in files.items():
            (self.folder / name).write_bytes(data)
        if self.kubelet_client:
            self.client_certificate("kubelet-client", "kube-apiserver-kubelet-client", "system:masters")

    def client_certificate(self, name: str, common: str, organization: str | None = None) -> tuple[Path, Path]:
        """Write ``<name>.crt`` and ``<name>.key``: a client certificate signed by this plane's CA (after start)."""
        if self._ca is None:
            raise RuntimeError("the control plane has no CA yet: call start() first")
        key = _key()
        certificate = _certificate(_name(common, organization), key, self._ca)
        paths = self.folder / f"{name}.crt", self.folder / f"{name}.key"
        paths[0].write_bytes(_pem(certificate))
        paths[1].write_bytes(_pem_key(key))
        return paths

    def write_kubeconfig(self, path: Path, certificate: Path, key: Path) -> Path:
        """A kubeconfig for this plane that authenticates with the given client certificate."""
        path.write_text(
            f"""apiVersion: v1
kind: Config
clusters:
- name: test
  cluster:
    server: {self.url}
    certificate-authority: {self.folder / "ca.crt"}
contexts:
- name: test
  context: {{cluster: test, user: admin, namespace: default}}
current-context: test
users:
- name: admin
  user:
    client-certificate: {certificate}
    client-key: {key}
"""
        )
        return path

    def _write_kubeconfig(self) -> None:
        self.write_kubeconfig(self.kubeconfig, self.folder / "admin.crt", self.folder / "admin.key")

    def _start(self, name: str, arguments: list[str]) -> None:
        binary = TOOLS / name
        if not binary.is_file():
            raise RuntimeError(f"{binary} is missing: run `make tools`")
        log = (self.folder / f"{name}.log").open("wb")
        self.processes.append(subprocess.Popen([str(binary), *arguments], stdout=log, stderr=log))

    def _ready(self, path: str, timeout: float) -> None:
        context = ssl.create_default_context(cafile=str(self.folder / "ca.crt"))
        context.load_cert_chain(self.folder / "admin.crt", self.folder / "admin.key")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for process in self.processes:
                if process.poll() is not None:
                    raise RuntimeError(f"{process.args!r} exited; see the logs in {self.folder}")
            with (
                contextlib.suppress(OSError),
                urllib.request.urlopen(f"{self.url}{path}", context=context, timeout=2) as response,
            ):
                if response.status == 200:
                    return
            time.sleep(0.2)
        raise TimeoutError(f"kube-apiserver not ready at {path} after {timeout} s; logs in {self.folder}")

    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self._certificates()
        etcd_port, peer_port = free_port(), free_port()
        self._start(
            "etcd",
            [
                f"--data-dir={self.folder / 'etcd'}",
                f"--listen-client-urls=http://127.0.0.1:{etcd_port}",
                f"--advertise-client-urls=http://127.0.0.1:{etcd_port}",
                f"--listen-peer-urls=http://127.0.0.1:{peer_port}",
                f"--initial-advertise-peer-urls=http://127.0.0.1:{peer_port}",
                f"--initial-cluster=default=http://127.0.0.1:{peer_port}",
                "--unsafe-no-fsync",
                "--log-level=warn",
            ],
        )
        self.port = free_port()
        folder = self.folder
        self._start(
            "kube-apiserver",
            [
                f"--etcd-servers=http://127.0.0.1:{etcd_port}",
                f"--bind-address={self.address}",
                *([f"--advertise-address={self.address}"] if self.address != "127.0.0.1" else []),
                f"--secure-port={self.port}",
                f"--cert-dir={folder / 'apiserver'}",
                f"--tls-cert-file={folder / 'server.crt'}",
                f"--tls-private-key-file={folder / 'server.key'}",
                f"--client-ca-file={folder / 'ca.crt'}",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                f"--service-account-key-file={folder / 'sa.pub'}",
                f"--service-account-signing-key-file={folder / 'sa.key'}",
                f"--service-cluster-ip-range={self.service_cidr}",
                f"--authorization-mode={self.authorization_mode}",
                *self._kubelet_client_arguments(),
                "--allow-privileged=false",
                "--v=0",
                *self.apiserver_arguments,
            ],
        )
        self._write_kubeconfig()
        self._ready("/readyz", 60)
        self._start(
            "kube-controller-manager",
            [
                f"--kubeconfig={self.kubeconfig}",
                f"--authentication-kubeconfig={self.kubeconfig}",
                f"--authorization-kubeconfig={self.kubeconfig}",
                f"--service-account-private-key-file={folder / 'sa.key'}",
                f"--root-ca-file={folder / 'ca.crt'}",
                "--leader-elect=false",
                "--bind-address=127.0.0.1",
                f"--secure-port={free_port()}",
                "--controllers=*",
                "--v=0",
            ],
        )

    def _kubelet_client_arguments(self) -> list[str]:
        if not self.kubelet_client:
            return []
        return [
            f"--kubelet-client-certificate={self.folder / 'kubelet-client.crt'}",
            f"--kubelet-client-key={self.folder / 'kubelet-client.key'}",
            "--kubelet-preferred-address-types=InternalIP",
        ]

    def stop(self) -> None:
        for process in reversed(self.processes):
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
        shutil.rmtree(self.folder / "etcd", ignore_errors=True)

    def kubectl_env(self) -> dict[str, str]:
        return {**os.environ, "KUBECONFIG": str(self.kubeconfig)}


def main() -> None:
    """``python -m tests.integration.controlplane``: a control plane with Appyard's CRDs, until Ctrl-C."""
    import signal
    import tempfile

    from lightkube import Client, KubeConfig

    from .cluster import install_crds

    plane = ControlPlane(Path(tempfile.mkdtemp(prefix="appyard-controlplane-")))
    plane.start()
    try:
        install_crds(Client(KubeConfig.from_file(plane.kubeconfig), field_manager="developer"))
        print(
            f"kube-apiserver at {plane.url}; logs in {plane.folder}\nexport KUBECONFIG={plane.kubeconfig}", flush=True
        )
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
        signal.sigwait({signal.SIGINT, signal.SIGTERM})
    finally:
        plane.stop()
        shutil.rmtree(plane.folder, ignore_errors=True)


if __name__ == "__main__":
    main()

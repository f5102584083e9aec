"""A real single-node Kubernetes cluster for the cluster tier: the test control plane plus a node that runs pods.

``Cluster.start`` brings up, in order: a dummy interface ``appyard0`` holding the node IP (a documentation-range
address: the node IP cannot be loopback, and no traffic may leave the machine), the control plane of
tests/integration/controlplane.py bound to that address, containerd (Debian's, with private root, state, sockets
and runc root), the CNI bridge ``appyardbr0`` (Debian's plugins, configured in a private folder, no masquerade,
pods get routes to the node and service ranges only), the kubelet (cgroupfs, private root dir), kube-scheduler,
kube-proxy (iptables mode) and CoreDNS (a host process on the node IP, nothing forwarded upstream). Every process
is started and stopped here by PID; ``stop`` then undoes what the pieces left on the host (tests/cluster/host.py),
and ``leftovers`` says what remains. Needs root.

``python -m tests.cluster.node`` runs one until Ctrl-C, for developers to poke at with kubectl.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import subprocess
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from ..integration.controlplane import TOOLS, ControlPlane
from ..integration.servers import free_port, stop_process
from .configs import (
    BRIDGE,
    INTERFACE,
    NODE_IP,
    NODE_NAME,
    POD_CIDR,
    REGISTRY,
    SERVICE_CIDR,
    cni_config,
    containerd_config,
    kube_proxy_config,
    kubelet_config,
)
from .configs import corefile as configs_corefile
from .host import Snapshot
from .static_image import pause_archive

# The contract other tests import from here.
__all__ = ["NODE_IP", "NODE_NAME", "POD_CIDR", "REGISTRY", "SERVICE_CIDR", "Cluster"]

NAMESPACE = "k8s.io"  # containerd's namespace of the CRI plugin
# The node IP, bridge and host paths are machine-wide: one cluster at a time, so a second one waits for this lock.
LOCK = Path(os.environ.get("APPYARD_CLUSTER_LOCK", "/run/lock/appyard-cluster.lock"))
LOCK_TIMEOUT = float(os.environ.get("APPYARD_CLUSTER_LOCK_TIMEOUT", "1800"))


def _wait(cluster: Cluster, ready: Callable[[], object], what: str, timeout: float) -> None:
    """Poll ``ready()`` until it returns something true (errors count as not yet); fail early when one of the
    cluster's processes has exited, and with every component's log tail when time is up."""
    deadline = time.monotonic() + timeout
    while True:
        cluster.check_processes()
        with contextlib.suppress(Exception):
            if ready():
                return
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} after {timeout} s; the logs:\n{cluster.logs()}")
        time.sleep(0.1)


class Cluster:
    """One node and its control plane in ``folder`` (logs, certificates, configuration, containerd's root)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder.resolve()
        self.plane = ControlPlane(
            self.folder / "plane",
            address=NODE_IP,
            server_ips=[str(_service_ip(1))],
            service_cidr=SERVICE_CIDR,
            authorization_mode="Node,RBAC",
            kubelet_client=True,
            apiserver_arguments=["--enable-admission-plugins=NodeRestriction"],
        )
        self.kubeconfig = self.plane.kubeconfig
        self.containerd_address = self.folder / "containerd" / "containerd.sock"
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.snapshot: Snapshot | None = None
        self._lock: int | None = None
        # Seconds each start phase took (printed by `python -m tests.cluster.node`, recorded in the notes).
        self.timings: dict[str, float] = {}

    # -- processes ------------------------------------------------------------------------------------------------

    def _start(self, name: str, command: list[str]) -> subprocess.Popen[bytes]:
        log = (self.folder / "logs" / f"{name}.log").open("ab")
        # A new session, so Ctrl-C in `python -m tests.cluster.node` reaches only the harness, which stops the rest.
        process = subprocess.Popen(command, stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True)
        self.processes[name] = process
        return process

    def check_processes(self) -> None:
        """Raise when one of the node's processes has exited (they all run until ``stop``)."""
        for name, process in self.processes.items():
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited with {process.returncode}; the logs:\n{self.logs()}")

    def _stop(self, name: str, timeout: float = 15) -> None:
        stop_process(self.processes.get(name), grace=timeout)

    def logs(self, lines: int = 30) -> str:
        """The last ``lines`` of every component's log, for failing tests' messages."""
        parts = []
        for log in sorted([*(self.folder / "logs").glob("*.log"), *self.plane.folder.glob("*.log")]):
            tail = log.read_text(errors="replace").splitlines()[-lines:]
            parts.append(f"==> {log.name} <==\n" + "\n".join(tail))
        return "\n".join(parts)

    # -- containerd -----------------------------------------------------------------------------------------------

    def ctr(self, *args: str) -> str:
        """Run ``ctr`` against this node's containerd in the CRI's namespace; raises with stderr on failure."""
        command = ["ctr", "--address", str(self.containerd_address), "--namespace", NAMESPACE, *args]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode:
            raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}): {done.stderr.strip()}")
        return done.stdout

    def import_image(self, archive: Path, name: str | None = None) -> None:
        """Import a docker or OCI archive; with ``name``, tag the (single) imported image so pods can use it."""
        output = self.ctr("images", "import", str(archive))
        if name is None:
            return
        imported = [line.split()[1] for line in output.splitlines() if line.startswith("unpacking ")]
        if len(imported) != 1:
            raise RuntimeError(f"{archive} holds {len(imported)} named images ({imported}); name one image archives")
        if imported[0] != name:
            self.ctr("images", "tag", "--force", imported[0], name)

    def _containerd_config(self) -> Path:
        private = self.folder / "containerd"
        snapshotter = "overlayfs" if _overlay_works(private) else "native"
        config = containerd_config(private, self.containerd_address, self.folder / "cni", snapshotter)
        path = private / "config.toml"
        path.write_text(config)
        return path

    def _cni_config(self) -> None:
        config = cni_config(self.folder / "cni-ipam")
        (self.folder / "cni").mkdir()
        (self.folder / "cni" / "10-appyard.conflist").write_text(json.dumps(config, indent=2))

    # -- node components ------------------------------------------------------------------------------------------

    def _kubelet(self) -> None:
        certificate, key = self.plane.client_certificate("node", f"system:node:{NODE_NAME}", "system:nodes")
        kubeconfig = self.plane.write_kubeconfig(self.folder / "kubelet.kubeconfig", certificate, key)
        (self.folder / "resolv.conf").write_text("")  # no host search domains or nameservers leak into pods
        config = kubelet_config(self.folder, self.plane.folder / "ca.crt", self.containerd_address)
        path = self.folder / "kubelet.json"
        path.write_text(json.dumps(config, indent=2))
        self._start(
            "kubelet",
            [
                str(_tool("kubelet")),
                f"--config={path}",
                f"--kubeconfig={kubeconfig}",
                f"--root-dir={self.folder / 'kubelet'}",
                f"--node-ip={NODE_IP}",
                f"--hostname-override={NODE_NAME}",
                "--v=1",
            ],
        )

    def _scheduler(self) -> None:
        self._start(
            "kube-scheduler",
            [
                str(_tool("kube-scheduler")),
                f"--kubeconfig={self.kubeconfig}",
                f"--authentication-kubeconfig={self.kubeconfig}",
                f"--authorization-kubeconfig={self.kubeconfig}",
                "--leader-elect=false",
                "--bind-address=127.0.0.1",
                f"--secure-port={free_port()}",
                "--v=0",
            ],
        )

    def _kube_proxy(self) -> None:
        # iptables mode: Debian's iptables is nft-backed, and `kube-proxy --cleanup` removes its rules on stop.
        # Without br_netfilter, pod → Service → pod on the same bridge needs every Service packet masqueraded.
        bridged = Path("/proc/sys/net/bridge/bridge-nf-call-iptables")
        masquerade_all = not bridged.exists() or bridged.read_text().strip() != "1"
        config = kube_proxy_config(self.kubeconfig, masquerade_all, free_port(), free_port())
        path = self.folder / "kube-proxy.json"
        path.write_text(json.dumps(config, indent=2))
        self._start("kube-proxy", [str(_tool("kube-proxy")), f"--config={path}", "--v=0"])

    def _coredns(self) -> int:
        ready = free_port()
        corefile = self.folder / "Corefile"
        # No `forward`: names outside the cluster get no answer, so no query leaves the machine.
        corefile.write_text(configs_corefile(self.kubeconfig, ready))
        self._start("coredns", [str(_tool("coredns")), "-conf", str(corefile)])
        return ready

    # -- lifecycle ------------------------------------------------------------------------------------------------

    def start(self) -> None:
        """Start everything; returns when the Node is Ready, CoreDNS serves and the `default` ServiceAccount exists."""
        if os.geteuid() != 0:
            raise RuntimeError("a node needs root (network interfaces, mounts, cgroups, iptables)")
        for tool in ("kubelet", "kube-scheduler", "kube-proxy", "coredns", "kubectl"):
            _tool(tool)
        for command in ("containerd", "ctr", "runc", "ip"):
            if shutil.which(command) is None:
                raise RuntimeError(f"{command} is missing: apt-get install -y containerd runc iproute2")
        self._take_lock()
        for name in (INTERFACE, BRIDGE):
            if Path("/sys/class/net", name).exists():
                raise RuntimeError(
                    f"network interface {name} exists: another cluster runs, or one was not stopped "
                    f"(stop it, or `ip link delete {name}` when none runs)"
                )
        began = time.monotonic()
        for sub in ("logs", "containerd"):
            (self.folder / sub).mkdir(parents=True, exist_ok=True)
        self.snapshot = Snapshot.take(self.folder, [INTERFACE, BRIDGE])
        _add_interface()
        _run("ip", "address", "add", f"{NODE_IP}/32", "dev", INTERFACE)
        _run("ip", "link", "set", INTERFACE, "up")
        # ClusterIPs without a rule go nowhere (the dummy interface drops them) instead of out by the default route.
        _run("ip", "route", "add", SERVICE_CIDR, "dev", INTERFACE, "src", NODE_IP)

        self.plane.start()
        self.timings["control plane"] = time.monotonic() - began

        self._cni_config()
        self._start("containerd", ["containerd", "--config", str(self._containerd_config())])
        _wait(self, lambda: self.ctr("version"), "containerd did not answer", 30)
        self.import_image(pause_archive())
        self.timings["containerd"] = time.monotonic() - began

        self._kubelet()
        self._scheduler()
        self._kube_proxy()
        ready_port = self._coredns()
        _wait(self, self._node_ready, f"node {NODE_NAME} not Ready", 60)
        self.timings["node Ready"] = time.monotonic() - began
        _wait(self, lambda: self.kubectl("get", "serviceaccount", "default", "-o", "name"), "no default SA", 60)
        _wait(self, lambda: _http_ok(f"http://127.0.0.1:{ready_port}/ready"), "CoreDNS not ready", 60)
        self.timings["started"] = time.monotonic() - began

    def _take_lock(self) -> None:
        """Wait (up to LOCK_TIMEOUT) until no other cluster runs on this machine; held until ``stop``."""
        LOCK.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + LOCK_TIMEOUT
        while True:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    holder = LOCK.read_text().strip()
                    os.close(descriptor)
                    raise TimeoutError(
                        f"another cluster ({holder}) held {LOCK} for {LOCK_TIMEOUT} s: wait for it to stop"
                    ) from None
                time.sleep(1)
        os.ftruncate(descriptor, 0)
        os.write(descriptor, f"pid {os.getpid()}, folder {self.folder}\n".encode())
        self._lock = descriptor

    def _node_ready(self) -> bool:
        status = self.kubectl(
            "get", "node", NODE_NAME, "-o", "jsonpath={.status.conditions[?(@.type=='Ready')].status}"
        )
        return status.strip() == "True"

    def kubectl(self, *args: str, input: str | None = None, timeout: float = 60) -> str:
        """Run kubectl with the admin kubeconfig; raises with stderr on failure or after ``timeout`` seconds."""
        command = [str(_tool("kubectl")), f"--kubeconfig={self.kubeconfig}", f"--request-timeout={timeout}s", *args]
        try:
            done = subprocess.run(command, capture_output=True, text=True, input=input, check=False, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"kubectl {' '.join(args)} did not finish in {timeout} s") from None
        if done.returncode:
            raise RuntimeError(f"kubectl {' '.join(args)} failed: {done.stderr.strip()}")
        return done.stdout

    def stop(self) -> None:
        """Stop everything by PID, then remove what the node left on the host. Idempotent; fine after a failed start."""
        began = time.monotonic()
        if "kubelet" in self.processes and self.processes["kubelet"].poll() is None:
            self._drain()
        for name in ("coredns", "kube-proxy", "kube-scheduler", "kubelet"):
            self._stop(name)
        self._kill_containers()
        self._stop("containerd")
        self._kill_shims()
        # One at a time, last started first: kube-apiserver stops in a moment while etcd still answers, but waits
        # out its whole grace period when both get SIGTERM together.
        for process in reversed(self.plane.processes):
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(15)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        self.plane.stop()
        errors: list[str] = []
        if self.snapshot is not None:
            errors = self.snapshot.undo(TOOLS / "kube-proxy")
        self.timings["stop"] = time.monotonic() - began
        if self._lock is not None:
            os.close(self._lock)  # releases the machine-wide lock
            self._lock = None
        if errors:
            raise RuntimeError("the node's cleanup failed in part:\n" + "\n".join(errors))

    def _drain(self) -> None:
        """Let the kubelet stop every pod, so the CRI tears down sandboxes (CNI DEL, network namespaces) itself."""
        with contextlib.suppress(RuntimeError):
            self.kubectl(
                "delete", "pods", "--all", "--all-namespaces", "--force", "--grace-period=0", "--wait=false", timeout=10
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                tasks = self.ctr("tasks", "list").splitlines()[1:]
            except RuntimeError:
                return
            if not any(" RUNNING" in task for task in tasks) and not list(Path("/run/netns").glob("cni-*")):
                return
            time.sleep(0.2)

    def _kill_containers(self) -> None:
        """What the kubelet did not stop: delete every container of our runc root (kills its processes)."""
        root = self.folder / "containerd" / "runc"
        for namespace in root.glob("*"):
            listed = subprocess.run(
                ["runc", "--root", str(namespace), "list", "-q"], capture_output=True, text=True, check=False
            )
            for container in listed.stdout.split():
                subprocess.run(
                    ["runc", "--root", str(namespace), "delete", "--force", container], capture_output=True, check=False
                )

    def _shims(self) -> list[int]:
        """PIDs of containerd-shim-runc-v2 processes serving our containerd."""
        found = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                with contextlib.suppress(OSError):
                    arguments = (entry / "cmdline").read_bytes().split(b"\0")
                    if arguments[0].endswith(b"containerd-shim-runc-v2") and str(self.containerd_address).encode() in (
                        arguments
                    ):
                        found.append(int(entry.name))
        return found

    def _kill_shims(self) -> None:
        for pid in self._shims():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def leftovers(self) -> list[str]:
        """What of this node remains outside private paths: processes, links, mounts, files, cgroups, rules."""
        found = [f"process {name} ({p.pid})" for name, p in self.processes.items() if p.poll() is None]
        found += [f"process containerd-shim-runc-v2 ({pid})" for pid in self._shims()]
        found += [f"process {p.args!r}" for p in self.plane.processes if p.poll() is None]
        if self.snapshot is not None:
            found += self.snapshot.changes()
        return found


def _service_ip(index: int) -> str:
    base, _ = SERVICE_CIDR.split("/")
    a, b, c, d = (int(part) for part in base.split("."))
    return f"{a}.{b}.{c}.{d + index}"


def _tool(name: str) -> Path:
    path = TOOLS / name
    if not path.is_file():
        raise RuntimeError(f"{path} is missing: run `make tools`")
    return path


def _run(*command: str) -> None:
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode:
        raise RuntimeError(f"{' '.join(command)} failed: {done.stderr.strip()}")


def _add_interface() -> None:
    """The node's interface: a dummy one, or an ifb one where the kernel has no dummy module (both drop what they
    are sent; only the local address matters)."""
    done = subprocess.run(
        ["ip", "link", "add", INTERFACE, "type", "dummy"], capture_output=True, text=True, check=False
    )
    if done.returncode:
        _run("ip", "link", "add", INTERFACE, "type", "ifb")


def _http_ok(url: str) -> bool:
    with urllib.request.urlopen(url, timeout=2) as response:
        return bool(response.status == 200)


def _overlay_works(folder: Path) -> bool:
    """Whether overlayfs mounts in ``folder``'s file system (containerd's overlayfs snapshotter needs it)."""
    probe = folder / "overlay-probe"
    for sub in ("lower", "upper", "work", "merged"):
        (probe / sub).mkdir(parents=True, exist_ok=True)
    options = f"lowerdir={probe / 'lower'},upperdir={probe / 'upper'},workdir={probe / 'work'}"
    done = subprocess.run(
        ["mount", "-t", "overlay", "overlay", "-o", options, str(probe / "merged")], capture_output=True, check=False
    )
    if done.returncode == 0:
        subprocess.run(["umount", str(probe / "merged")], check=False)
    shutil.rmtree(probe, ignore_errors=True)
    return done.returncode == 0


def main() -> None:
    """``python -m tests.cluster.node``: a cluster until Ctrl-C, for developers to poke at with kubectl."""
    import tempfile

    cluster = Cluster(Path(tempfile.mkdtemp(prefix="appyard-cluster-")))
    try:
        cluster.start()
        timings = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in cluster.timings.items())
        print(f"cluster up ({timings}); logs in {cluster.folder}", flush=True)
        print(f"export KUBECONFIG={cluster.kubeconfig}", flush=True)
        for number in (signal.SIGINT, signal.SIGTERM):
            signal.signal(number, signal.SIG_DFL)  # a shell's background job starts with SIGINT ignored
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
        signal.sigwait({signal.SIGINT, signal.SIGTERM})
    finally:
        cluster.stop()
        print(f"stopped in {cluster.timings['stop']:.1f} s; leftovers: {cluster.leftovers() or 'none'}", flush=True)
        shutil.rmtree(cluster.folder, ignore_errors=True)


if __name__ == "__main__":
    main()

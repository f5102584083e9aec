"""NetworkPolicy enforcement for the cluster tier: kube-router in firewall-only mode as a host process.

The CNI bridge plugin connects pods but enforces no NetworkPolicy, so a policy object alone proves nothing.
kube-router's network policy controller (built by `make tools` from tests/kuberouter) turns policies into
iptables chains (``KUBE-ROUTER-*``, ``KUBE-POD-FW-*``, ``KUBE-NWPLCY-*``) and ipsets (``KUBE-SRC-*``,
``KUBE-DST-*``). Pods on one bridge talk through the bridge, which iptables sees only with
``net.bridge.bridge-nf-call-iptables=1``: ``start`` sets it and ``stop`` puts the old value back.

kube-router leaves its rules in place when it exits (so pods stay protected across restarts). Its own
``--cleanup-config`` is no help in v2.1.0: ``CleanupConfigAndExit`` (pkg/cmd/kube-router.go) cleans with a zero
``NetworkPolicyController`` that has no iptables or ipset handlers, so its loops remove nothing, and it goes on to
tear down IPVS and routing state that is not ours. ``stop`` therefore removes the chains, the jumps to them and
the ipsets itself, and ``leftovers`` says what remains (empty after a clean stop).
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import time
from pathlib import Path

from ..integration.controlplane import TOOLS
from ..integration.servers import free_port, stop_process, tail, wait_for
from .configs import NODE_NAME, SERVICE_CIDR

# What kube-router's network policy controller creates (pkg/controllers/netpol, v2.1.0).
CHAIN_PREFIXES = ("KUBE-ROUTER-", "KUBE-POD-FW-", "KUBE-NWPLCY-")
IPSET_PREFIXES = ("KUBE-SRC-", "KUBE-DST-")
TOP_CHAINS = ("KUBE-ROUTER-INPUT", "KUBE-ROUTER-FORWARD", "KUBE-ROUTER-OUTPUT")
BRIDGE_SYSCTL = Path("/proc/sys/net/bridge/bridge-nf-call-iptables")


class PolicyController:
    """kube-router's firewall for the node ``appyard-node``; logs in ``folder``, API access by ``kubeconfig``."""

    def __init__(self, folder: Path, kubeconfig: Path) -> None:
        self.folder = folder.resolve()
        self.kubeconfig = kubeconfig
        self.process: subprocess.Popen[bytes] | None = None
        # The bridge sysctl before start, restored by stop (None: start did not change it).
        self._bridged: str | None = None

    @property
    def log(self) -> Path:
        return self.folder / "kube-router.log"

    def start(self) -> None:
        """Start kube-router; returns when its top-level chains are in place (it synced policies once)."""
        binary = TOOLS / "kube-router"
        if not binary.is_file():
            raise RuntimeError(f"{binary} is missing: run `make tools`")
        for tool in ("iptables", "iptables-save", "ipset"):
            if shutil.which(tool) is None:
                raise RuntimeError(f"{tool} is missing: apt-get install -y iptables ipset")
        if not BRIDGE_SYSCTL.exists():
            raise RuntimeError(f"{BRIDGE_SYSCTL} is missing: load br_netfilter (`modprobe br_netfilter`)")
        if found := self.leftovers():
            raise RuntimeError(f"kube-router's rules exist already (another one runs, or one was not stopped): {found}")
        self.folder.mkdir(parents=True, exist_ok=True)
        self._bridged = BRIDGE_SYSCTL.read_text().strip()
        BRIDGE_SYSCTL.write_text("1")
        command = [
            str(binary),
            f"--kubeconfig={self.kubeconfig}",
            "--run-firewall=true",
            "--run-router=false",
            "--run-service-proxy=false",
            f"--hostname-override={NODE_NAME}",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            # Its health server listens on every address; a free port keeps two test runs apart.
            f"--health-port={free_port()}",
            "--metrics-port=0",
            "--v=1",
        ]
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                command, stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True
            )
        wait_for(self._synced, 60, "kube-router (its chains)", self.process, explain=self.logs)

    def _synced(self) -> bool:
        saved = _save()
        return all(f"-j {chain}" in saved for chain in TOP_CHAINS)

    def logs(self, lines: int = 40) -> str:
        """The last ``lines`` of kube-router's log, for failure messages."""
        return tail(self.log, lines)

    def stop(self) -> None:
        """Stop kube-router by PID, remove its chains, rules and ipsets, restore the sysctl. Idempotent."""
        stop_process(self.process)
        errors = _drop_chains() + _drop_ipsets()
        if self._bridged is not None:
            BRIDGE_SYSCTL.write_text(self._bridged)
            self._bridged = None
        if errors:
            raise RuntimeError("kube-router's cleanup failed in part:\n" + "\n".join(errors))

    def leftovers(self) -> list[str]:
        """What of kube-router remains: its process, chains, ipsets, and a changed bridge sysctl."""
        found = []
        if self.process is not None and self.process.poll() is None:
            found.append(f"process kube-router ({self.process.pid})")
        found += [f"iptables chain {chain}" for chain in _chains()]
        found += [f"ipset {name}" for name in _ipsets()]
        if self._bridged is not None and BRIDGE_SYSCTL.read_text().strip() != self._bridged:
            found.append(f"sysctl net/bridge/bridge-nf-call-iptables (was {self._bridged})")
        return found


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, check=False)


def _save() -> str:
    return _run("iptables-save", "-t", "filter").stdout


def _chains() -> list[str]:
    return [
        line[1:].split()[0]
        for line in _save().splitlines()
        if line.startswith(":") and line[1:].startswith(CHAIN_PREFIXES)
    ]


def _ipsets() -> list[str]:
    names = _run("ipset", "list", "-n").stdout.split()
    return [name for name in names if name.startswith(IPSET_PREFIXES)]


def _drop_chains() -> list[str]:
    """Delete the rules that jump to kube-router's chains, then the chains (flushed first: they jump to each other)."""
    errors = []
    chains = set(_chains())
    for line in _save().splitlines():
        parts = shlex.split(line)
        if line.startswith("-A ") and parts[1] not in chains and any(chain in parts for chain in chains):
            done = _run("iptables", "-t", "filter", "-D", *parts[1:])
            if done.returncode:
                errors.append(f"iptables -D {shlex.join(parts[1:])}: {done.stderr.strip()}")
    for chain in chains:
        _run("iptables", "-t", "filter", "-F", chain)
    for chain in chains:
        done = _run("iptables", "-t", "filter", "-X", chain)
        if done.returncode:
            errors.append(f"iptables -X {chain}: {done.stderr.strip()}")
    return errors


def _drop_ipsets() -> list[str]:
    """Destroy kube-router's ipsets (after the chains: a set in use by a rule cannot be destroyed)."""
    errors = []
    for name in _ipsets():
        done = _run("ipset", "destroy", name)
        if done.returncode:
            errors.append(f"ipset destroy {name}: {done.stderr.strip()}")
    return errors


def main() -> None:
    """``python -m tests.cluster.netpol KUBECONFIG``: kube-router against a running cluster until Ctrl-C."""
    import signal
    import sys
    import tempfile

    controller = PolicyController(Path(tempfile.mkdtemp(prefix="appyard-netpol-")), Path(sys.argv[1]))
    try:
        began = time.monotonic()
        controller.start()
        print(f"kube-router synced in {time.monotonic() - began:.1f} s; log {controller.log}", flush=True)
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
        signal.sigwait({signal.SIGINT, signal.SIGTERM})
    finally:
        controller.stop()
        print(f"leftovers: {controller.leftovers() or 'none'}", flush=True)


if __name__ == "__main__":
    main()

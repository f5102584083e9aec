"""What a node changes on the host outside its private folder, recorded before it starts and undone after it stops.

kubelet, containerd, the CNI plugins and kube-proxy keep some state where their code says, whatever their
flags: ``/var/lib/kubelet/{pki,device-plugins}``, ``/var/log/containers``, ``/var/lib/cni/results``,
``/run/containerd``, network namespaces in ``/run/netns``, the CNI bridge, ``kubepods`` cgroups, iptables
chains and a few sysctls. ``Snapshot`` records what exists before, ``undo`` removes what is new and puts the
sysctls back, and ``changes`` lists what is still different (empty after a clean stop).
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

# Folders that node components write into whatever their flags say, each with the mark of what is ours in it
# (none = anything new). Others share two of them: buildah's netavark keeps network namespaces in /run/netns, and
# CNI users keep results in /var/lib/cni; ours are containerd's `cni-*` namespaces and the results of our network
# and of containerd's loopback network.
WATCHED: dict[Path, tuple[str, ...]] = {
    Path("/var/lib/kubelet"): (),
    Path("/var/log/pods"): (),
    Path("/var/log/containers"): (),
    Path("/run/containerd"): (),
    Path("/var/lib/containerd"): (),
    Path("/opt/containerd"): (),
    Path("/etc/kubernetes"): (),
    Path("/usr/libexec/kubernetes"): (),
    Path("/run/netns"): ("/cni-",),
    Path("/var/lib/cni"): ("/appyard-", "/cni-loopback-"),
}
# Sysctls that the bridge plugin (forwarding), the kubelet (kernel tunables) or kube-proxy may set.
SYSCTLS = [
    "net/ipv4/ip_forward",
    "net/ipv6/conf/all/forwarding",
    "net/ipv4/conf/all/route_localnet",
    "net/bridge/bridge-nf-call-iptables",
    "net/bridge/bridge-nf-call-ip6tables",
    "net/netfilter/nf_conntrack_max",
    "vm/overcommit_memory",
    "vm/panic_on_oom",
    "kernel/panic",
    "kernel/panic_on_oops",
    "kernel/keys/root_maxkeys",
    "kernel/keys/root_maxbytes",
]
CGROUPS = Path("/sys/fs/cgroup")
KUBE_CHAIN = re.compile(r"^:(KUBE-\S+)", re.MULTILINE)


def _marked(path: str) -> bool:
    """Whether ``path`` (under a watched folder) is ours by that folder's mark."""
    for root, marks in WATCHED.items():
        if path == str(root) or path.startswith(f"{root}/"):
            return not marks or any(mark in path[len(str(root)) :] for mark in marks)
    return False


def _paths(root: Path) -> set[str]:
    if not root.exists():
        return set()
    found = {str(root)}
    for folder, folders, files in os.walk(root):
        found.update(os.path.join(folder, name) for name in folders + files)
    return found


def mounts() -> list[str]:
    """Every mount point of this mount namespace, in mount order."""
    points = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4]
        points.append(point.encode().decode("unicode_escape"))
    return points


def _cgroups(name: str) -> set[str]:
    if not CGROUPS.is_dir():
        return set()
    return {str(hierarchy / name) for hierarchy in CGROUPS.iterdir() if (hierarchy / name).is_dir()}


def _kube_chains() -> set[str]:
    chains = set()
    for tool in ("iptables-save", "ip6tables-save"):
        if shutil.which(tool):
            saved = subprocess.run([tool], capture_output=True, text=True, check=False).stdout
            current = ""
            for line in saved.splitlines():
                if line.startswith("*"):
                    current = line[1:]
                elif chain := KUBE_CHAIN.match(line):
                    chains.add(f"{tool.split('-')[0]} {current} {chain.group(1)}")
    return chains


def _nft_tables() -> set[str]:
    """nftables tables as ``family name``: kube-proxy's own (nftables mode) and the iptables-nft ones."""
    if not shutil.which("nft"):
        return set()
    listed = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True, check=False).stdout
    return {line.removeprefix("table ").strip() for line in listed.splitlines() if line.startswith("table ")}


def _empty(table: str) -> bool:
    listed = _call("nft", "list", "table", *table.split()).stdout
    return "chain " not in listed


def _call(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, check=False)


def _link_exists(name: str) -> bool:
    return Path("/sys/class/net", name).exists()


def _read(sysctl: str) -> str | None:
    try:
        return Path("/proc/sys", sysctl).read_text().strip()
    except OSError:
        return None


@dataclass
class Snapshot:
    """The host before a node starts: what ``undo`` must restore and ``changes`` compares against."""

    folder: Path
    links: list[str]
    paths: set[str] = field(default_factory=set)
    mounts: set[str] = field(default_factory=set)
    sysctls: dict[str, str | None] = field(default_factory=dict)
    cgroups: set[str] = field(default_factory=set)
    chains: set[str] = field(default_factory=set)
    nft: set[str] = field(default_factory=set)

    @classmethod
    def take(cls, folder: Path, links: list[str]) -> Snapshot:
        return cls(
            folder=folder,
            links=links,
            paths=set().union(*(_paths(root) for root in WATCHED)),
            mounts=set(mounts()),
            sysctls={name: _read(name) for name in SYSCTLS},
            cgroups=_cgroups("kubepods"),
            chains=_kube_chains(),
            nft=_nft_tables(),
        )

    def _new_mounts(self) -> list[str]:
        folder = str(self.folder)
        return [
            point
            for point in mounts()
            if point not in self.mounts and (point == folder or point.startswith(f"{folder}/") or _marked(point))
        ]

    def _new(self) -> tuple[list[str], list[str]]:
        """New paths of ours (the top of each new tree) and new folders that only led to them (go when empty)."""
        new = set().union(*(_paths(root) for root in WATCHED)) - self.paths
        ours = {path for path in new if _marked(path)}
        tops = sorted(path for path in ours if os.path.dirname(path) not in ours)
        others = new - ours
        folders = [
            path
            for path in sorted(others)
            if any(top.startswith(f"{path}/") for top in tops)
            and not any(other.startswith(f"{path}/") and not os.path.isdir(other) for other in others)
        ]
        return tops, folders

    def _new_paths(self) -> list[str]:
        tops, folders = self._new()
        return tops + [folder for folder in folders if not os.listdir(folder)]

    def changes(self) -> list[str]:
        """What is still different from the snapshot (one line each); empty when the node left nothing behind."""
        found = [f"link {name}" for name in self.links if _link_exists(name)]
        found += [f"mount {point}" for point in self._new_mounts()]
        found += [f"path {path}" for path in self._new_paths()]
        found += [f"cgroup {path}" for path in sorted(_cgroups("kubepods") - self.cgroups)]
        found += [f"iptables chain {chain}" for chain in sorted(_kube_chains() - self.chains)]
        # A new table is ours (kube-proxy's, or one iptables-nft made for its chains); shared ones are left alone.
        found += [
            f"nft table {table}" for table in sorted(_nft_tables() - self.nft) if "kube" in table or _empty(table)
        ]
        for name, value in self.sysctls.items():
            now = _read(name)
            if now != value:
                found.append(f"sysctl {name} = {now} (was {value})")
        return found

    def undo(self, kube_proxy: Path | None) -> list[str]:
        """Remove what is new and restore the sysctls; returns the errors (cleanup goes on past each one)."""
        errors: list[str] = []

        def run(*command: str) -> None:
            done = subprocess.run(command, capture_output=True, text=True, check=False)
            if done.returncode:
                errors.append(f"{' '.join(command)}: {done.stderr.strip()}")

        # Deepest first: pod volumes inside the kubelet's bind mount of its own root dir, network namespaces.
        for point in sorted(self._new_mounts(), key=lambda point: (point.count("/"), point), reverse=True):
            run("umount", "-l", point)
        tops, folders = self._new()
        for path in sorted(tops, reverse=True):
            with contextlib.suppress(FileNotFoundError):
                if os.path.isdir(path) and not os.path.islink(path):
                    shutil.rmtree(path, onerror=lambda _f, p, e: errors.append(f"remove {p}: {e[1]}"))
                else:
                    os.unlink(path)
        for folder in sorted(folders, key=lambda path: path.count("/"), reverse=True):
            with contextlib.suppress(OSError):  # not empty: someone else's files are in it
                os.rmdir(folder)
        for cgroup in sorted(_cgroups("kubepods") - self.cgroups):
            for folder, _folders, _files in sorted(os.walk(cgroup), key=lambda entry: len(entry[0]), reverse=True):
                try:
                    os.rmdir(folder)
                except OSError as error:
                    errors.append(f"rmdir {folder}: {error}")
        if kube_proxy is not None and (_kube_chains() - self.chains or _nft_tables() - self.nft):
            # Removes kube-proxy's rules of every mode (iptables, ipvs, nftables).
            subprocess.run([str(kube_proxy), "--cleanup", "--v=0"], capture_output=True, check=False)
        self._drop_chains(errors)
        for table in sorted(_nft_tables() - self.nft):
            if "kube" in table or _empty(table):
                run("nft", "delete", "table", *table.split())
        for name in self.links:
            if _link_exists(name):
                run("ip", "link", "delete", name)
        for name, value in self.sysctls.items():
            if value is not None and _read(name) != value:
                try:
                    Path("/proc/sys", name).write_text(value)
                except OSError as error:
                    errors.append(f"sysctl {name}: {error}")
        return errors

    def _drop_chains(self, errors: list[str]) -> None:
        """Delete KUBE-* chains that are new (the kubelet's canaries survive `kube-proxy --cleanup`)."""
        for family in ("iptables", "ip6tables"):
            new = [chain.split() for chain in _kube_chains() - self.chains if chain.startswith(family + " ")]
            for table in sorted({chain[1] for chain in new}):
                chains = {chain[2] for chain in new if chain[1] == table}
                saved = _call(f"{family}-save", "-t", table).stdout
                # Rules that jump to a new chain go first, then the chains (flushed, then deleted).
                for line in saved.splitlines():
                    parts = shlex.split(line)
                    if line.startswith("-A ") and parts[1] not in chains and any(c in parts for c in chains):
                        subprocess.run([family, "-t", table, "-D", *parts[1:]], capture_output=True, check=False)
                for chain in chains:
                    subprocess.run([family, "-t", table, "-F", chain], capture_output=True, check=False)
                for chain in chains:
                    done = _call(family, "-t", table, "-X", chain)
                    if done.returncode:
                        errors.append(f"{family} -t {table} -X {chain}: {done.stderr.strip()}")

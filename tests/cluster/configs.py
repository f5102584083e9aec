"""What each piece of the cluster tier's node is configured with, and why (tests/cluster/node.py starts them).

The addresses are documentation ranges (RFC 5737): nothing here may send traffic beyond this machine, and these
ranges are routed nowhere. The files are written into the node's private folder; every path a component would
otherwise share with the host (containerd's root and sockets, runc's root, CNI configuration, the kubelet's root
and pod logs) points there.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .static_image import PAUSE_IMAGE

# NOT 192.0.2.0/24 or 203.0.113.0/24: this machine's own eth0 is 192.0.2.2/24 with its gateway at 192.0.2.1, and the
# package registries resolve to 203.0.113.80 (a proxy). Everything of the cluster lives in 198.51.100.0/24 (TEST-NET-2).
NODE_IP = "198.51.100.254"  # a /32 on the dummy interface
POD_CIDR = "198.51.100.0/25"
POD_GATEWAY = "198.51.100.1"
SERVICE_CIDR = "198.51.100.128/26"
REGISTRY = "198.51.100.254:5000"
NODE_NAME = "appyard-node"
INTERFACE = "appyard0"
BRIDGE = "appyardbr0"
CLUSTER_DOMAIN = "cluster.local"


def containerd_config(private: Path, address: Path, cni_folder: Path, snapshotter: str) -> str:
    """containerd 1.6's config.toml: private root, state, sockets and runc root; the CRI plugin with our CNI."""
    return f"""version = 2
root = "{private / "root"}"
state = "{private / "state"}"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.opt"]

[grpc]
  address = "{address}"
[ttrpc]
  address = "{address}.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{PAUSE_IMAGE}"
  # Root here lacks CAP_SYS_RESOURCE: without this every sandbox fails ("can't get final child's PID from pipe").
  restrict_oom_score_adj = true
  disable_apparmor = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "{snapshotter}"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "{private / "runc"}"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "{cni_folder}"
  [plugins."io.containerd.grpc.v1.cri".registry.mirrors."{REGISTRY}"]
    endpoint = ["http://{REGISTRY}"]
"""


def cni_config(ipam_folder: Path) -> dict[str, Any]:
    """The bridge network: ``appyardbr0``, host-local addresses from POD_CIDR, no masquerade, hairpin on."""
    # Pods get routes to the node and the services only (no default route): nothing they send leaves the host.
    routes = [{"dst": f"{NODE_IP}/32"}, {"dst": SERVICE_CIDR}]
    return {
        "cniVersion": "0.4.0",
        "name": "appyard",
        "plugins": [
            {
                "type": "bridge",
                "bridge": BRIDGE,
                "isGateway": True,
                "ipMasq": False,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": POD_CIDR, "gateway": POD_GATEWAY}]],
                    "routes": routes,
                    "dataDir": str(ipam_folder),
                },
            }
        ],
    }


def kubelet_config(folder: Path, client_ca: Path, runtime: Path) -> dict[str, Any]:
    """A KubeletConfiguration for cgroup v1 with cgroupfs (systemd is not PID 1 here) and a small disk."""
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "address": NODE_IP,
        "port": 10250,
        "readOnlyPort": 0,
        "healthzPort": 0,
        "cgroupDriver": "cgroupfs",
        "cgroupsPerQOS": True,
        "failCgroupV1": False,
        "failSwapOn": False,
        "enforceNodeAllocatable": [],
        "evictionHard": {
            "memory.available": "100Mi",
            "nodefs.available": "1%",
            "imagefs.available": "1%",
            "nodefs.inodesFree": "1%",
        },
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "clusterDNS": [NODE_IP],
        "clusterDomain": CLUSTER_DOMAIN,
        "resolvConf": str(folder / "resolv.conf"),
        "authentication": {
            "x509": {"clientCAFile": str(client_ca)},
            "webhook": {"enabled": True},
            "anonymous": {"enabled": False},
        },
        "authorization": {"mode": "Webhook"},
        "containerRuntimeEndpoint": f"unix://{runtime}",
        "podLogsDir": str(folder / "pod-logs"),
        "volumePluginDir": str(folder / "volume-plugins"),
        "serializeImagePulls": False,
        "rotateCertificates": False,
        "protectKernelDefaults": False,
        "syncFrequency": "10s",
        "fileCheckFrequency": "10s",
    }


def kube_proxy_config(kubeconfig: Path, masquerade_all: bool, healthz_port: int, metrics_port: int) -> dict[str, Any]:
    """iptables mode (Debian's iptables is nft-backed; ``kube-proxy --cleanup`` removes its rules on stop)."""
    return {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "clientConnection": {"kubeconfig": str(kubeconfig)},
        "hostnameOverride": NODE_NAME,
        "bindAddress": NODE_IP,
        "healthzBindAddress": f"127.0.0.1:{healthz_port}",
        "metricsBindAddress": f"127.0.0.1:{metrics_port}",
        "clusterCIDR": POD_CIDR,
        "mode": "iptables",
        "nodePortAddresses": [f"{NODE_IP}/32"],
        "iptables": {"masqueradeAll": masquerade_all, "localhostNodePorts": False},
        # 0 leaves the host's conntrack sysctls as they are.
        "conntrack": {"maxPerCore": 0, "min": 0, "tcpEstablishedTimeout": "0s", "tcpCloseWaitTimeout": "0s"},
    }


def corefile(kubeconfig: Path, ready_port: int) -> str:
    """CoreDNS on the node IP: the cluster's names from the kubernetes plugin, nothing else."""
    # No `forward`: names outside the cluster get no answer, so no query leaves the machine.
    return f""".:53 {{
    bind {NODE_IP}
    errors
    ready 127.0.0.1:{ready_port}
    kubernetes {CLUSTER_DOMAIN} in-addr.arpa ip6.arpa {{
        kubeconfig {kubeconfig} test
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
    }}
    cache 5
}}
"""

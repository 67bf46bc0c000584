"""The lab network: one hub namespace holding a bridge, one namespace per node.

Every node namespace gets `eth0` (ADDRESS/24), the other end of its veth
pair is `p-NODE` in the hub, enslaved to the hub's bridge `br0`. Nothing is
created in the host's namespace and no host address or route changes: the
veth pairs are made directly inside the namespaces. Namespace names carry
the run's tag (`nxl<tag>-hub`, `nxl<tag>-n1`), so runs never collide and
`down` removes exactly its own.
"""
import os

from . import LabError
from .proc import run

SUBNET = "10.77.0"      # /24 inside every run's own namespaces
UNUSED_HOST = SUBNET + ".250"  # an address on the lab subnet nobody answers


def address(index):
    return f"{SUBNET}.{10 + index}"


def etcd_address(index):
    """etcd member eI's address: after every node's (at most 12)."""
    return f"{SUBNET}.{40 + index}"


def exists(netns):
    return os.path.exists(f"/run/netns/{netns}")


def ip(*args, check=True):
    return run(["ip"] + list(args), timeout=20, check=check)


def create_hub(hub):
    ip("netns", "add", hub)
    ip("-n", hub, "link", "set", "lo", "up")
    ip("-n", hub, "link", "add", "br0", "type", "bridge")
    ip("-n", hub, "link", "set", "br0", "up")


def create_node(hub, netns, name, addr):
    ip("netns", "add", netns)
    ip("-n", netns, "link", "set", "lo", "up")
    ip("link", "add", "eth0", "netns", netns, "type", "veth", "peer", "name", f"p-{name}",
       "netns", hub)
    ip("-n", netns, "addr", "add", f"{addr}/24", "dev", "eth0")
    ip("-n", netns, "link", "set", "eth0", "up")
    ip("-n", hub, "link", "set", f"p-{name}", "master", "br0")
    ip("-n", hub, "link", "set", f"p-{name}", "up")


def destroy(netns):
    """Kills what still runs in `netns` and deletes it (its veths go with it)."""
    if not exists(netns):
        return
    pids = run(["ip", "netns", "pids", netns], timeout=10).out.split()
    for pid in pids:
        try:
            os.kill(int(pid), 9)
        except (ProcessLookupError, ValueError):
            pass
    r = ip("netns", "del", netns, check=False)
    if not r.ok and exists(netns):
        raise LabError(f"cannot delete network namespace {netns}: {r.text()}")


def set_link(hub, name, up):
    """Partition (down) or heal (up) node `name`: its port on the bridge."""
    ip("-n", hub, "link", "set", f"p-{name}", "up" if up else "down")

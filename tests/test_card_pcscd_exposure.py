"""The private pcscd's vpcd reader ports are reachable on loopback only (issue 12, finding 16).

vpcd binds its ports on every address, so sim/pcscd.py runs pcscd in a network namespace
whose only interface is loopback. This reads the kernel's own tables: pcscd's sockets
(/proc/<pid>/fd), the TCP table of its namespace (/proc/<pid>/net/tcp*) and that
namespace's interfaces (/proc/<pid>/net/dev), and the host's TCP table.
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path

pytest_plugins = ["tests.fixtures.card"]

TCP_LISTEN = "0A"


def socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    return inodes


def _address(hex_address: str) -> tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, int]:
    host, port = hex_address.split(":")
    raw = bytes.fromhex(host)
    if len(raw) == 4:
        return ipaddress.IPv4Address(raw[::-1]), int(port, 16)
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
    return ipaddress.IPv6Address(words), int(port, 16)


def listening(net_dir: Path, inodes: set[str] | None = None) -> list[tuple[object, int]]:
    """(address, port) of the LISTEN sockets in a TCP table (only ``inodes``, if given)."""
    found = []
    for table in ("tcp", "tcp6"):
        lines = (net_dir / table).read_text().splitlines()[1:]
        for line in lines:
            fields = line.split()
            if fields[3] == TCP_LISTEN and (inodes is None or fields[9] in inodes):
                found.append(_address(fields[1]))
    return found


def interfaces(net_dir: Path) -> list[str]:
    return [line.split(":")[0].strip() for line in (net_dir / "dev").read_text().splitlines()[2:]]


def test_no_socket_of_the_private_pcscd_listens_where_anyone_but_loopback_can_reach_it(
    pcscd,
) -> None:
    assert pcscd.running and pcscd.pid is not None
    own = Path(f"/proc/{pcscd.pid}/net")
    ours = socket_inodes(pcscd.pid)
    reader_ports = {pcscd.port, pcscd.port + 1}
    listeners = listening(own, ours)
    assert {port for _, port in listeners} == reader_ports  # the two vpcd slots
    reachable_from_outside = interfaces(own) != ["lo"]
    exposed = [
        (str(address), port)
        for address, port in listeners
        if not address.is_loopback and reachable_from_outside
    ]
    assert exposed == [], f"pcscd listens on {exposed}; its interfaces: {interfaces(own)}"
    # and from the host's side nothing of it listens at all
    host_ports = {port for _, port in listening(Path("/proc/self/net"), ours)}
    assert not host_ports & reader_ports

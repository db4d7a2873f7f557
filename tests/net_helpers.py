"""Ports for the tests' servers: a free one to bind, and which local addresses listen on one (for the tests that
check a server binds loopback only)."""
import socket


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def listening_addresses(port: int) -> set:
    """Local addresses with a socket listening on `port`, from /proc/net/tcp{,6} (state 0A = LISTEN), as the hex
    strings /proc spells them."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as handle:
            for line in handle.readlines()[1:]:
                local, state = line.split()[1], line.split()[3]
                address, hex_port = local.split(":")
                if state == "0A" and int(hex_port, 16) == port:
                    found.add(address)
    return found

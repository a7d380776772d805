"Offline guard: no test may open a socket to anything but loopback, and no hub is ever waited on."
import os, socket, ipaddress
import pytest

os.environ.setdefault('HF_HUB_OFFLINE', '1')
os.environ.setdefault('TRANSFORMERS_OFFLINE', '1')
os.environ.pop('OPENAI_API_KEY', None)

_connect = socket.socket.connect

def _is_loopback(addr):
    host = addr[0] if isinstance(addr, tuple) else addr
    if isinstance(host, bytes): host = host.decode()
    if host in ('localhost',): return True
    try: return ipaddress.ip_address(host).is_loopback
    except ValueError: return False

def _guarded(self, addr):
    if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(addr):
        raise RuntimeError(f"test tried to open a network connection to {addr!r}; tests must stay offline")
    return _connect(self, addr)

@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    monkeypatch.setattr(socket.socket, 'connect', _guarded)
    yield

"""localstripe (PyPI), a stateful fake Stripe server, run by the tests on 127.0.0.1 on a free port
and stopped after. Never the real Stripe.

localstripe writes its whole store to /tmp/localstripe.pickle after every change (and reads it back
at start unless --from-scratch): two runs at once would share that file. The tests start it through
a few lines that turn the file off, so each server is its own and leaves nothing behind.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

_RUN = """
import sys
import localstripe.resources as resources
resources.Store.dump_to_disk = lambda self: None
resources.Store.try_load_from_disk = lambda self: None
from localstripe.server import start
sys.argv = ["localstripe", *sys.argv[1:]]
start()
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running_localstripe() -> Iterator[str]:
    """A fresh localstripe; yields its base URL (http://127.0.0.1:<port>)."""
    port = free_port()
    process = subprocess.Popen([sys.executable, "-c", _RUN, "--port", str(port), "--from-scratch"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(f"{url}/js.stripe.com/v3/", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"localstripe did not start on port {port}")
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def register_webhook(base_url: str, url: str, secret: str) -> None:
    """Make localstripe deliver its events to ``url``, signed with ``secret`` (its /_config API)."""
    httpx.post(f"{base_url}/_config/webhooks/livedrop", data={"url": url, "secret": secret}).raise_for_status()

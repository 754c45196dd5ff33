"""Open-loop HTTP load generator, run in its own process: `python -m tests.benchmarks.loadgen < config.json`.

Request i is due at `start + i / rate` whether or not earlier ones have been
answered, and its latency is measured from that due time, so a slow server
cannot slow the load down and hide its own queueing (no coordinated omission).
Reads a JSON `LoadConfig` on stdin and writes a JSON `LoadResult` on stdout.

The client is a minimal HTTP/1.1 keep-alive client on asyncio streams: httpx
spends about a millisecond of CPU per request, which on a 2-core machine
shared with the server would make the generator, not the server, the limit.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections import Counter
from typing import TypedDict
from urllib.parse import urlsplit

Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class LoadConfig(TypedDict):
    """What to send: `bodies` are POSTed to `url` in turn, `rate` per second for `warmup` + `duration` seconds."""

    url: str
    token: str
    bodies: list[str]
    rate: float
    duration: float
    warmup: float
    timeout: float
    connections: int


class LoadResult(TypedDict):
    """Measured requests only (the warm-up is left out); times in milliseconds."""

    sent: int
    ok: int
    errors: dict[str, int]
    latencies_ms: list[float]
    from_send_ms: list[float]  # the same requests' latency from when the generator got to send them
    send_lag_ms: list[float]
    elapsed_s: float
    connections: int
    failed: list[int]  # indices (warm-up included) of the requests not answered 200: all others were acknowledged


class Client:
    """Keep-alive connections to one loopback server, at most `limit` open; `post` answers the status."""

    def __init__(self, host: str, port: int, limit: int) -> None:
        self.host, self.port = host, port
        self.idle: list[Connection] = []
        self.slots = asyncio.Semaphore(limit)
        self.opened = 0

    async def post(self, request: bytes) -> int:
        async with self.slots:
            while True:
                reused, connection = await self._connection()
                try:
                    status, keep_alive = await self._exchange(connection, request)
                except asyncio.IncompleteReadError as exc:
                    connection[1].close()
                    if reused and not exc.partial:  # the server closed it while idle (keep-alive timeout): retry
                        continue
                    raise
                except BaseException:  # a timeout (cancellation) or a broken connection: never reuse it
                    connection[1].close()
                    raise
                if keep_alive:
                    self.idle.append(connection)
                else:
                    connection[1].close()
                return status

    async def _connection(self) -> tuple[bool, Connection]:
        """(reused, connection): an idle keep-alive connection the server has not closed, else a new one."""
        while self.idle:
            connection = self.idle.pop()
            if not connection[0].at_eof():
                return True, connection
            connection[1].close()
        self.opened += 1
        return False, await asyncio.open_connection(self.host, self.port)

    @staticmethod
    async def _exchange(connection: Connection, request: bytes) -> tuple[int, bool]:
        reader, writer = connection
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length, keep_alive = 0, True
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"connection" and value.strip().lower() == b"close":
                keep_alive = False
        await reader.readexactly(length)
        return status, keep_alive

    def close(self) -> None:
        for _, writer in self.idle:
            writer.close()


def requests(config: LoadConfig) -> list[bytes]:
    """Every body as a complete HTTP/1.1 POST request."""
    url = urlsplit(config["url"])
    head = (
        f"POST {url.path} HTTP/1.1\r\nHost: {url.netloc}\r\nAuthorization: Bearer {config['token']}\r\n"
        "Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
    )
    return [head.format(length=len(body.encode())).encode() + body.encode() for body in config["bodies"]]


async def _one(client: Client, request: bytes, due: float, timeout: float) -> tuple[float, float, str]:
    """(latency from the due time, how late it was sent, "" or what went wrong)."""
    loop = asyncio.get_running_loop()
    lag = loop.time() - due
    try:
        status = await asyncio.wait_for(client.post(request), timeout)
        problem = "" if status == 200 else f"HTTP {status}"
    except TimeoutError:
        problem = f"timeout ({timeout} s)"
    except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
        problem = type(exc).__name__
    return loop.time() - due, lag, problem


async def run(config: LoadConfig) -> LoadResult:
    """Send every request at its due time; wait for all of them."""
    url = urlsplit(config["url"])
    if url.hostname not in ("127.0.0.1", "localhost") or url.port is None:
        raise ValueError(f"the load generator only targets loopback with a port, not {config['url']!r}")
    client = Client(url.hostname, url.port, config["connections"])
    loop = asyncio.get_running_loop()
    prepared = requests(config)
    warmup = round(config["rate"] * config["warmup"])
    total = warmup + round(config["rate"] * config["duration"])
    interval = 1.0 / config["rate"]
    start = loop.time() + 0.05
    tasks = []
    for i in range(total):
        due = start + i * interval
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(_one(client, prepared[i % len(prepared)], due, config["timeout"])))
    results = await asyncio.gather(*tasks)
    elapsed = loop.time() - (start + warmup * interval)
    client.close()
    measured = results[warmup:]
    return {
        "sent": len(measured),
        "ok": sum(1 for _, _, problem in measured if not problem),
        "errors": dict(Counter(problem for _, _, problem in measured if problem)),
        "latencies_ms": [latency * 1000 for latency, _, problem in measured if not problem],
        "from_send_ms": [(latency - lag) * 1000 for latency, lag, problem in measured if not problem],
        "send_lag_ms": [lag * 1000 for _, lag, _ in measured],
        "elapsed_s": elapsed,
        "connections": client.opened,
        "failed": [i for i, (_, _, problem) in enumerate(results) if problem],
    }


def main() -> None:
    config: LoadConfig = json.load(sys.stdin)
    json.dump(asyncio.run(run(config)), sys.stdout)


if __name__ == "__main__":
    main()

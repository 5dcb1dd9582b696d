"""The fault layer: an HTTP proxy in front of one partition that injects seeded faults.

Faults: added latency (fixed + jitter), HTTP 500, HTTP 503, throttling (400
with the protocol's throttling code), connection reset before the request is
processed, a stall of N seconds, and a lost response (the backend processes the
request, then the connection is reset before any reply byte). Besides faults, a
lagging tag index (`stale_index`): GetResources finds nothing.

The configuration is a small JSON file re-read whenever it changes, so a running
test-bed can be switched between calm and hostile without a restart. Every
request draws from `Random(f"{seed}:{operation}:{n}")`, where n counts earlier
requests of the same operation: a run is repeatable even when requests to
different operations interleave differently, and a retry gets a fresh draw.

The proxy also counts requests per operation (GET /__testbed/stats), which the
benchmark uses to report API calls.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import socket
import ssl
import struct
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import parse_qs

KINDS = ("reset", "stall", "http_500", "http_503", "throttle", "lost_response")

# Named mixes: `mix=NAME` sets these first; settings written after it override them.
# `harsh` is the mix a teardown after tests must survive in one run (issue #13): a slow,
# flaky China; `harsh-commercial` the same kinds at commercial's latency.
MIXES = {
    "harsh": {
        "latency_ms": 400, "jitter_ms": 300, "http_503": 0.1, "throttle": 0.1,
        "reset": 0.05, "lost_response": 0.1, "stall": 0.03, "stall_s": 4,
    },
    "harsh-commercial": {
        "latency_ms": 80, "jitter_ms": 40, "http_503": 0.1, "throttle": 0.1,
        "reset": 0.05, "lost_response": 0.1, "stall": 0.03, "stall_s": 4,
    },
}
MAX_HEAD = 64 * 1024
MAX_BODY = 32 * 1024 * 1024


@dataclass
class FaultConfig:
    seed: int = 0
    latency_ms: float = 0
    jitter_ms: float = 0
    reset: float = 0
    stall: float = 0
    stall_s: float = 3
    http_500: float = 0
    http_503: float = 0
    throttle: float = 0
    lost_response: float = 0
    # Only operations whose name contains one of these strings get faults
    # (latency applies to every request).
    match: list[str] = field(default_factory=list)
    # Stop injecting faults (not latency) after this many.
    max_faults: int | None = None
    # The tag index lags (as AWS's may for seconds after a create): GetResources answers as if
    # nothing were tagged yet. Not drawn: on or off.
    stale_index: bool = False
    # IAM's eventual consistency (consistency.py): after a write to a role or instance
    # profile, what names it is refused for a seeded delay of up to this many seconds.
    consistency_s: float = 0
    # Request-rate quotas (rolesanywhere.Quotas): over-rate requests answered as throttled.
    quotas: bool = False
    # The account principal KMS accepts and writes in default key policies (fidelity.py), as a
    # template of {partition} and {account}; empty is AWS's documented form, not enforced.
    account_principal: str = ""

    @classmethod
    def parse(cls, text: str) -> "FaultConfig":
        """JSON object, or `key=value` pairs separated by commas or spaces; empty or `off` is calm."""
        text = text.strip()
        if not text or text == "off":
            return cls()
        if text.startswith("{"):
            raw = json.loads(text)
        else:
            raw = {}
            for item in text.replace(",", " ").split():
                if "=" not in item:
                    raise ValueError(f"expected key=value, got {item!r}")
                k, v = item.split("=", 1)
                raw[k] = v.split("|") if k == "match" else v
        cfg = cls()
        if "mix" in raw:
            name = raw.pop("mix")
            if name not in MIXES:
                raise ValueError(f"unknown mix {name!r}; known: {', '.join(MIXES)}")
            raw = {**MIXES[name], **raw}
        for k, v in raw.items():
            if not hasattr(cfg, k):
                raise ValueError(f"unknown fault setting {k!r}; known: {', '.join(cfg.__dict__)}")
            if k == "match":
                v = [v] if isinstance(v, str) else list(v)
            elif k in ("seed",):
                v = int(v)
            elif k in ("stale_index", "quotas"):
                v = v is True or str(v).lower() in ("1", "true", "yes", "on")
            elif k == "account_principal":
                v = str(v)
            elif k == "max_faults":
                v = None if v in (None, "", "none") else int(v)
            else:
                v = float(v)
                if k in KINDS and not 0 <= v <= 1:
                    raise ValueError(f"{k} is a probability between 0 and 1, got {v}")
            setattr(cfg, k, v)
        if sum(getattr(cfg, k) for k in KINDS) > 1:
            raise ValueError("fault probabilities add up to more than 1")
        return cfg


class _ConfigFile:
    """Re-reads the fault file when its modification time changes."""

    def __init__(self, path: str | None):
        self.path = path
        self.stamp: tuple | None = None
        self.cfg = FaultConfig()
        # Set on every reload; the proxy then restarts its draws, so writing the
        # same settings again replays the same faults.
        self.changed = False

    def current(self) -> FaultConfig:
        if not self.path:
            return self.cfg
        try:
            st = os.stat(self.path)
            stamp = (st.st_mtime_ns, st.st_size)
        except FileNotFoundError:
            stamp = None
        if stamp != self.stamp:
            self.stamp = stamp
            self.changed = True
            if stamp is None:
                self.cfg = FaultConfig()
            else:
                with open(self.path) as f:
                    try:
                        self.cfg = FaultConfig.parse(f.read())
                    except ValueError as e:
                        print(f"fault file {self.path} ignored: {e}", flush=True)
                        self.cfg = FaultConfig()
        return self.cfg


def operation_of(method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[str, str]:
    """(operation name, protocol) of an AWS request: query, ec2, json or rest-json."""
    target = headers.get("x-amz-target")
    if target:
        return target.rsplit(".", 1)[-1], "json"
    ctype = headers.get("content-type", "")
    params = {}
    if "x-www-form-urlencoded" in ctype:
        params = parse_qs(body.decode(errors="replace"))
    if "?" in path:
        params.update(parse_qs(path.split("?", 1)[1]))
    if "Action" in params:
        action = params["Action"][0]
        auth = headers.get("authorization", "")
        return action, ("ec2" if "/ec2/aws4_request" in auth else "query")
    return f"{method} {path.split('?', 1)[0]}", "rest-json"


def _canned(kind: str, protocol: str) -> bytes:
    rid = str(uuid.uuid4())
    status, code, msg = {
        "http_500": (500, "InternalFailure", "We encountered an internal error. Please try again."),
        "http_503": (503, "ServiceUnavailable", "Service is unavailable. Please try again."),
        "throttle": (400, "ThrottlingException", "Rate exceeded"),
    }[kind]
    reason = {400: "Bad Request", 500: "Internal Server Error", 503: "Service Unavailable"}[status]
    if protocol == "query":
        if kind == "throttle":
            code = "Throttling"
        body = (
            f"<ErrorResponse><Error><Type>{'Sender' if status < 500 else 'Receiver'}</Type><Code>{code}</Code>"
            f"<Message>{msg}</Message></Error><RequestId>{rid}</RequestId></ErrorResponse>"
        ).encode()
        ctype, extra = "text/xml", ""
    elif protocol == "ec2":
        if kind == "throttle":
            code = "RequestLimitExceeded"
        body = (
            f"<Response><Errors><Error><Code>{code}</Code><Message>{msg}</Message></Error></Errors>"
            f"<RequestID>{rid}</RequestID></Response>"
        ).encode()
        ctype, extra = "text/xml", ""
    else:
        body = json.dumps({"__type": code, "message": msg}).encode()
        ctype, extra = "application/x-amz-json-1.1", f"x-amzn-ErrorType: {code}\r\n"
    head = (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n"
        f"x-amzn-RequestId: {rid}\r\n{extra}Connection: close\r\n\r\n"
    )
    return head.encode() + body


def _json_response(status: int, payload) -> bytes:
    body = json.dumps(payload).encode()
    return (
        f"HTTP/1.1 {status} OK\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        f"Connection: close\r\n\r\n"
    ).encode() + body


class FaultProxy:
    def __init__(self, backend_port: int, faults_file: str | None):
        self.backend_port = backend_port
        self.config = _ConfigFile(faults_file)
        self.lock = threading.Lock()
        self.seen: Counter[str] = Counter()
        self.calls: Counter[str] = Counter()
        self.injected: Counter[str] = Counter()
        self.error: OSError | None = None
        self.ports: list[int] = []

    def _draw(self, op: str) -> tuple[float, str | None]:
        with self.lock:
            cfg = self.config.current()
            if self.config.changed:
                self.config.changed = False
                self.seen.clear()
                self.injected.clear()
            n = self.seen[op]
            self.seen[op] += 1
            self.calls[op] += 1
            rng = random.Random(f"{cfg.seed}:{op}:{n}")
            delay = cfg.latency_ms + (rng.uniform(-cfg.jitter_ms, cfg.jitter_ms) if cfg.jitter_ms else 0)
            delay = max(0.0, delay) / 1000
            if cfg.match and not any(m in op for m in cfg.match):
                return delay, None
            if cfg.max_faults is not None and sum(self.injected.values()) >= cfg.max_faults:
                return delay, None
            u = rng.random()
            acc = 0.0
            for kind in KINDS:
                acc += getattr(cfg, kind)
                if u < acc:
                    self.injected[kind] += 1
                    return delay, kind
            return delay, None

    async def _read_request(self, reader: asyncio.StreamReader):
        head = await reader.readuntil(b"\r\n\r\n")
        if len(head) > MAX_HEAD:
            raise ValueError("request head too large")
        lines = head.decode("latin-1").split("\r\n")
        method, target, version = lines[0].split(" ", 2)
        headers: list[tuple[str, str]] = []
        for line in lines[1:]:
            if line:
                k, v = line.split(":", 1)
                headers.append((k.strip(), v.strip()))
        lower = {k.lower(): v for k, v in headers}
        if "chunked" in lower.get("transfer-encoding", "").lower():
            body = b""
            while True:
                size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
                if size == 0:
                    await reader.readuntil(b"\r\n")
                    break
                body += await reader.readexactly(size)
                await reader.readexactly(2)
                if len(body) > MAX_BODY:
                    raise ValueError("request body too large")
            headers = [(k, v) for k, v in headers if k.lower() not in ("transfer-encoding", "content-length")]
            headers.append(("Content-Length", str(len(body))))
        else:
            n = int(lower.get("content-length", "0") or 0)
            if n > MAX_BODY:
                raise ValueError("request body too large")
            body = await reader.readexactly(n)
        return method, target, headers, lower, body

    @staticmethod
    def _rst(writer: asyncio.StreamWriter) -> None:
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()

    async def _forward(self, method, target, headers, body) -> bytes:
        # When the request reaches "the service": after the injected latency, before the backend
        # (one request at a time, in threads) gets to it. Rate quotas are judged by this time,
        # as a service's front door judges them; a loaded machine's scheduling is not the
        # client's pace (server.py reads it).
        arrival = ("X-Testbed-Arrival", repr(time.monotonic()))
        r, w = await asyncio.open_connection("127.0.0.1", self.backend_port)
        try:
            fwd = [(k, v) for k, v in headers if k.lower() not in ("connection", "x-testbed-arrival")]
            fwd += [arrival, ("Connection", "close")]
            head = f"{method} {target} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in fwd) + "\r\n"
            w.write(head.encode("latin-1") + body)
            await w.drain()
            return await r.read()
        finally:
            w.close()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            method, target, headers, lower, body = await self._read_request(reader)
        except (asyncio.IncompleteReadError, ValueError, ConnectionError, asyncio.LimitOverrunError):
            writer.close()
            return
        try:
            if target.startswith("/__testbed/stats"):
                with self.lock:
                    if method == "DELETE":
                        self.calls.clear()
                        self.injected.clear()
                    payload = {"calls": dict(self.calls), "injected": dict(self.injected)}
                writer.write(_json_response(200, payload))
                await writer.drain()
                writer.close()
                return
            if target.startswith("/__testbed/"):
                op, delay, kind, protocol = "", 0.0, None, "rest-json"
            else:
                op, protocol = operation_of(method, target, lower, body)
                delay, kind = self._draw(op)
            if delay:
                await asyncio.sleep(delay)
            if kind == "reset":
                self._rst(writer)
                return
            if protocol == "json" and op == "GetResources" and self.config.current().stale_index:
                writer.write(_json_response(200, {"ResourceTagMappingList": []}))
                await writer.drain()
                writer.close()
                return
            if kind == "stall":
                await asyncio.sleep(self.config.current().stall_s)
                kind = None
            if kind in ("http_500", "http_503", "throttle"):
                writer.write(_canned(kind, protocol))
                await writer.drain()
                writer.close()
                return
            response = await self._forward(method, target, headers, body)
            if kind == "lost_response":
                self._rst(writer)
                return
            writer.write(response)
            await writer.drain()
            writer.close()
        except (ConnectionError, OSError):
            writer.transport.abort()

    def serve_forever(
        self, host: str, port: int, ready: threading.Event, tls_port: int | None = None, tls_dir: str | None = None
    ) -> None:
        """Serve plain HTTP on `port` (and HTTPS on `tls_port`) until the process ends;
        `self.error` is set (and `ready` too) if binding fails."""

        async def main():
            try:
                servers = [await asyncio.start_server(self.handle, host, port, limit=MAX_HEAD, reuse_address=True)]
                if tls_port is not None:
                    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
                    ctx.load_cert_chain(os.path.join(tls_dir, "server.pem"), os.path.join(tls_dir, "server.key"))
                    servers.append(
                        await asyncio.start_server(
                            self.handle, host, tls_port, limit=MAX_HEAD, reuse_address=True, ssl=ctx
                        )
                    )
            except OSError as e:
                self.error = e
                ready.set()
                return
            # Port 0 asks the kernel for a free port: report what was bound, so callers
            # never race another process for a port they picked in advance.
            self.ports = [s.sockets[0].getsockname()[1] for s in servers]
            ready.set()
            await asyncio.gather(*(s.serve_forever() for s in servers))

        asyncio.run(main())

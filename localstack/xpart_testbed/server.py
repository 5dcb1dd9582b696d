"""Run one emulated partition: moto + Roles Anywhere on a private port, the fault proxy in front.

    python -m xpart_testbed.server --name china --region cn-north-1 --account 444455556666 \
        --port 14567 --faults-file /path/faults-china.json --ready-file /path/china.ready

The account is fixed per process (moto reads MOTO_ACCOUNT_ID), which is why each
partition runs in its own process. The ready file is written once both
listeners accept connections; `up` waits for it and then for a health answer.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import signal
import sys
import threading
import time
from urllib.parse import parse_qs


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="xpart_testbed.server")
    ap.add_argument("--name", required=True, help="commercial or china: a label for logs and health")
    ap.add_argument("--region", required=True)
    ap.add_argument("--account", required=True)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True, help="public port (the fault proxy)")
    ap.add_argument("--tls-port", type=int, default=None, help="HTTPS port (same service, same faults)")
    ap.add_argument("--tls-dir", default=None, help="holds server.pem and server.key (see tls.py)")
    ap.add_argument("--faults-file", default=None)
    ap.add_argument("--ready-file", default=None)
    args = ap.parse_args(argv)

    if not args.host.startswith("127.") and args.host not in ("localhost", "::1"):
        print("the test-bed only listens on loopback", file=sys.stderr)
        return 2
    if not (len(args.account) == 12 and args.account.isdigit()):
        print("--account must be 12 digits", file=sys.stderr)
        return 2
    os.environ["MOTO_ACCOUNT_ID"] = args.account
    # Never reach for real credentials or instance metadata from inside the test-bed.
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testbed")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testbed")
    os.environ["AWS_EC2_METADATA_DISABLED"] = "true"

    from moto.utilities.utils import get_partition  # after MOTO_ACCOUNT_ID is set
    from moto.iam.models import iam_backends
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
    from moto.sts.models import sts_backends
    from werkzeug.serving import make_server
    from werkzeug.wrappers import Response

    from . import fidelity, signing
    from .consistency import Lag, params_of
    from .models import Checker
    from .faults import FaultProxy, _ConfigFile, operation_of
    from .rolesanywhere import Quotas, RolesAnywhere, Store, is_rolesanywhere

    partition = get_partition(args.region)
    store = Store(args.account, partition)
    config = _ConfigFile(args.faults_file)
    fidelity.apply(settings=config.current)
    quotas = Quotas(lambda: config.current().quotas)
    ra = RolesAnywhere(
        store,
        sts_lookup=lambda: sts_backends[args.account][partition],
        iam_lookup=lambda: iam_backends[args.account][partition],
    )
    moto_app = DomainDispatcherApplication(create_backend_app)
    # The pid tells this server from another test-bed's that took over its port after a stop.
    health = {"name": args.name, "partition": partition, "region": args.region, "account": args.account,
              "pid": os.getpid()}

    # AWS applies each request atomically: of two concurrent creates of one name, one succeeds
    # and the other fails with the service's "already exists" (IAM CreateRole:
    # EntityAlreadyExists; Secrets Manager CreateSecret: ResourceExistsException), and a
    # conditional write checks its condition and writes as one step (Secrets Manager
    # UpdateSecretVersionStage with RemoveFromVersionId "fails if the version ID does not
    # match"). moto checks, then writes, without a lock, and its dicts break under concurrent
    # writes (HTTP 500 "dictionary changed size during iteration"). So this partition applies
    # one request at a time. Latency, stalls and the other faults are the proxy's, in front:
    # requests still overlap there, as they do on the wire.
    serial = threading.RLock()
    checker = Checker()
    lag = Lag(lambda: (config.current().seed, config.current().consistency_s))

    def app(environ, start_response):
        path = environ.get("PATH_INFO")
        if path == "/__testbed/health":
            return Response(json.dumps(health), mimetype="application/json")(environ, start_response)
        if path == "/__testbed/quotas/rested":
            return Response(json.dumps({"rested": quotas.rested()}), mimetype="application/json")(environ, start_response)
        if path == "/__testbed/models":
            return Response(json.dumps(checker.stats()), mimetype="application/json")(environ, start_response)
        try:
            environ["xpart.arrival"] = float(environ.get("HTTP_X_TESTBED_ARRIVAL", ""))
        except ValueError:
            environ["xpart.arrival"] = time.monotonic()
        if path in ("/__testbed/consistency", "/__testbed/quotas"):
            # The counts, then (DELETE) forgotten: a reader never loses what it reset.
            counter = lag if path.endswith("consistency") else quotas
            counts = counter.stats()
            if environ.get("REQUEST_METHOD") == "DELETE":
                counter.reset()
            return Response(json.dumps(counts), mimetype="application/json")(environ, start_response)
        refused = signing.refusal(environ, partition)
        if refused:
            return signing.respond(start_response, refused)
        # Roles Anywhere's rate quotas, judged before the request waits for the one before it:
        # requests that queue for the lock are not served in the order they came, and a bucket
        # judged out of order throttles a request that came in time.
        if is_rolesanywhere(environ):
            if not quotas.take(path, environ["xpart.arrival"]):
                body = json.dumps({"message": "Rate exceeded", "__type": "ThrottlingException"})
                return Response(body, status=429, mimetype="application/json",
                                headers={"x-amzn-ErrorType": "ThrottlingException"})(environ, start_response)
        # The request as consistency.py needs it: operation, protocol, parameters.
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        headers = {k[5:].replace("_", "-").lower(): v for k, v in environ.items() if k.startswith("HTTP_")}
        headers["content-type"] = environ.get("CONTENT_TYPE", "")
        query = environ.get("QUERY_STRING", "")
        op, protocol = operation_of(environ.get("REQUEST_METHOD", ""), f"{path}?{query}" if query else path, headers, body)
        params = params_of(body, query, headers["content-type"])
        role_arn = None
        if op == "POST /sessions":
            role_arn = (parse_qs(query).get("roleArn") or [None])[0]
            try:
                role_arn = role_arn or json.loads(body or b"{}").get("roleArn")
            except ValueError:
                pass
        got: dict = {}
        chunks: list[bytes] = []

        def capture(status, headers, exc_info=None):
            got["status"], got["headers"] = status, headers
            return chunks.append

        invalid = checker.check(environ, body)
        if invalid:
            status, hdrs, out = invalid
            start_response(f"{status} Bad Request", hdrs)
            return [out]
        with serial:
            early = lag.before(op, protocol, params, body, role_arn)
            if early:
                status, hdrs, out = early
                reason = {400: "Bad Request", 403: "Forbidden"}.get(status, "Error")
                start_response(f"{status} {reason}", hdrs)
                return [out]
            chunks.extend(dispatch(environ, capture))
            out = b"".join(chunks)
            status = got.get("status", "")
            lag.after(op, protocol, params, status, out)
            hidden = lag.hide(op, protocol, params, status, out)
        if hidden:
            code, hdrs, out = hidden
            reason = {200: "OK", 400: "Bad Request", 404: "Not Found"}.get(code, "Error")
            start_response(f"{code} {reason}", hdrs + [("Content-Length", str(len(out)))])
            return [out]
        start_response(got["status"], got["headers"])
        return [out]

    def dispatch(environ, start_response):
        if is_rolesanywhere(environ):
            return ra(environ, start_response)
        if environ.get("HTTP_X_AMZ_TARGET", "").endswith(".GetResources"):
            return tagged_resources(environ, start_response)
        return moto_app(environ, start_response)

    def tagged_resources(environ, start_response):
        """GetResources as AWS answers it: moto's resources plus the Roles Anywhere ones (which
        live outside moto), filtered the same way. Appended to the last page."""
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        got: dict = {}

        def capture(status, headers, exc_info=None):
            got["status"], got["headers"] = status, headers

        out = b"".join(moto_app(environ, capture))
        if not got.get("status", "").startswith("200"):
            start_response(got["status"], got["headers"])
            return [out]
        req = json.loads(body or b"{}")
        page = json.loads(out or b"{}")
        # IAM's eventual consistency mode: the index lags what it lists (consistency.py).
        page["ResourceTagMappingList"] = [
            m for m in page.get("ResourceTagMappingList", []) if lag.indexed(m.get("ResourceARN", ""))
        ]
        if not page.get("PaginationToken"):
            filters = req.get("TagFilters") or []
            types = req.get("ResourceTypeFilters") or []
            with store.lock:
                tagged = [(arn, dict(tags)) for arn, tags in store.tags.items()
                          if arn in store.anchors or arn in store.profiles or arn in store.crls]
            for arn, tags in tagged:
                if types and not any(t.split(":")[0] == "rolesanywhere" for t in types):
                    continue
                if not tags or not all(
                    f["Key"] in tags and (not f.get("Values") or tags[f["Key"]] in f["Values"])
                    for f in filters
                ):
                    continue
                if not lag.indexed(arn):
                    continue
                page.setdefault("ResourceTagMappingList", []).append(
                    {"ResourceARN": arn, "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]})
        data = json.dumps(page).encode()
        headers = [(k, v) for k, v in got["headers"] if k.lower() != "content-length"]
        start_response(got["status"], headers + [("Content-Length", str(len(data)))])
        return [data]

    backend = make_server("127.0.0.1", 0, app, threaded=True)
    backend_port = backend.server_port
    threading.Thread(target=backend.serve_forever, daemon=True, name="backend").start()

    proxy = FaultProxy(backend_port, args.faults_file)
    ready = threading.Event()
    threading.Thread(
        target=proxy.serve_forever,
        args=(args.host, args.port, ready, args.tls_port, args.tls_dir),
        daemon=True, name="proxy"
    ).start()
    if not ready.wait(30) or proxy.error:
        print(f"{args.name}: cannot listen on {args.host}:{args.port}: {proxy.error}", file=sys.stderr)
        return 1
    port = proxy.ports[0]
    tls_port = proxy.ports[1] if len(proxy.ports) > 1 else None

    if args.ready_file:
        tmp = args.ready_file + ".tmp"
        with open(tmp, "w") as f:
            json.dump({**health, "port": port, "tls_port": tls_port, "backend_port": backend_port, "pid": os.getpid()}, f)
        os.replace(tmp, args.ready_file)
    print(f"{args.name}: {partition} {args.region} account {args.account} on {args.host}:{port}", flush=True)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())

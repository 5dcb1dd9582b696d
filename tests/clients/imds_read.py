"""Read a secret with boto3's default credential chain, and say where the credentials came from.

    python imds_read.py --endpoint URL --region R --secret-id ARN

The caller points the chain at one source (AWS_EC2_METADATA_SERVICE_ENDPOINT for the instance
metadata provider, or AWS_SHARED_CREDENTIALS_FILE and AWS_PROFILE for the credentials file).
With --probe URL it first checks the IMDSv2 rules of that endpoint with plain HTTP: a
credentials request without a token and a token request with X-Forwarded-For are refused.
Prints one JSON object: the secret, the access key id used, and botocore's provider name.
"""

import argparse
import json
import sys
import urllib.error
import urllib.request

import boto3


def status(req: urllib.request.Request) -> int:
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def probe(base: str) -> dict:
    base = base.rstrip("/")
    creds = f"{base}/latest/meta-data/iam/security-credentials/"
    token_url = f"{base}/latest/api/token"
    return {
        "no_token": status(urllib.request.Request(creds)),
        "forwarded": status(urllib.request.Request(
            token_url, method="PUT",
            headers={"X-aws-ec2-metadata-token-ttl-seconds": "60", "X-Forwarded-For": "10.0.0.1"})),
        "bad_ttl": status(urllib.request.Request(
            token_url, method="PUT", headers={"X-aws-ec2-metadata-token-ttl-seconds": "0"})),
        "bad_token": status(urllib.request.Request(
            creds, headers={"X-aws-ec2-metadata-token": "not-a-token"})),
    }


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--endpoint", required=True)
    ap.add_argument("--region", required=True)
    ap.add_argument("--secret-id", required=True)
    ap.add_argument("--probe")
    a = ap.parse_args()
    out = {}
    if a.probe:
        out["probe"] = probe(a.probe)
    session = boto3.session.Session(region_name=a.region)
    creds = session.get_credentials()
    if creds is None:
        print("no credentials found", file=sys.stderr)
        return 1
    sm = session.client("secretsmanager", endpoint_url=a.endpoint)
    out["secret"] = sm.get_secret_value(SecretId=a.secret_id)["SecretString"]
    out["access_key"] = creds.get_frozen_credentials().access_key
    out["method"] = creds.method
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())

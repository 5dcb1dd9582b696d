"""Fill one test-bed partition with what a real account holds besides a plan: unrelated roles
(each with an inline policy), instance profiles, KMS keys and secrets, none of them tagged as
any plan's. Every tenth role and profile lives under another plan's IAM path
(`/xpart/<prefix>-plan/`), the rest at `/`.

    python seed_account.py --endpoint URL --region R --roles 10000 --keys 1000 --secrets 1000

Prints how many of each it made and how long it took. Bounded: the counts are capped.
"""

import argparse
import concurrent.futures
import json
import sys
import time

import boto3

CAP = 20000
POLICY = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::unrelated/*"}]})
TRUST = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]})


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--endpoint", required=True)
    ap.add_argument("--region", required=True)
    ap.add_argument("--roles", type=int, default=0)
    ap.add_argument("--keys", type=int, default=0)
    ap.add_argument("--secrets", type=int, default=0)
    ap.add_argument("--profiles", type=int, default=0)
    ap.add_argument("--prefix", default="unrelated")
    a = ap.parse_args()
    if max(a.roles, a.keys, a.secrets, a.profiles) > CAP:
        print(f"at most {CAP} of each", file=sys.stderr)
        return 2
    s = boto3.session.Session(region_name=a.region)
    iam = s.client("iam", endpoint_url=a.endpoint)
    kms = s.client("kms", endpoint_url=a.endpoint)
    sm = s.client("secretsmanager", endpoint_url=a.endpoint)
    china = a.region.startswith("cn-")
    trust = TRUST.replace("amazonaws.com", "amazonaws.com.cn") if china else TRUST

    path = lambda i: f"/xpart/{a.prefix}-plan/" if i % 10 == 0 else "/"  # noqa: E731

    def role(i: int) -> None:
        name = f"{a.prefix}-role-{i:05d}"
        iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust, Path=path(i))
        iam.put_role_policy(RoleName=name, PolicyName="read", PolicyDocument=POLICY)

    def key(i: int) -> None:
        kms.create_key(Description=f"{a.prefix} key {i}")

    def profile(i: int) -> None:
        iam.create_instance_profile(InstanceProfileName=f"{a.prefix}-profile-{i:05d}", Path=path(i))

    def secret(i: int) -> None:
        sm.create_secret(Name=f"{a.prefix}/secret-{i:05d}", SecretString="x")

    t0 = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        jobs = [pool.submit(role, i) for i in range(a.roles)]
        jobs += [pool.submit(key, i) for i in range(a.keys)]
        jobs += [pool.submit(secret, i) for i in range(a.secrets)]
        jobs += [pool.submit(profile, i) for i in range(a.profiles)]
        for j in concurrent.futures.as_completed(jobs):
            j.result()
    print(json.dumps({"roles": a.roles, "keys": a.keys, "secrets": a.secrets, "profiles": a.profiles,
                      "seconds": round(time.monotonic() - t0, 1)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

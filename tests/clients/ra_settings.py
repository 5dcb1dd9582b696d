"""What Roles Anywhere holds for the trust anchors and profiles whose names contain NEEDLE,
read with boto3: each anchor's notification settings and each profile's attribute mapping,
as the service answers them (sorted, for comparison).
Prints one JSON object: {"anchors": {name: [{event, enabled, threshold, channel,
configuredBy}]}, "profiles": {name: {field: [specifier]}}}.
"""

import argparse
import json

import boto3

ap = argparse.ArgumentParser()
ap.add_argument("--endpoint", required=True)
ap.add_argument("--region", required=True)
ap.add_argument("--needle", required=True)
a = ap.parse_args()

s = boto3.session.Session(aws_access_key_id="settings", aws_secret_access_key="settings", region_name=a.region)
ra = s.client("rolesanywhere", endpoint_url=a.endpoint)
out = {"anchors": {}, "profiles": {}}
for page in ra.get_paginator("list_trust_anchors").paginate():
    for ta in page["trustAnchors"]:
        if a.needle in ta["name"]:
            got = ra.get_trust_anchor(trustAnchorId=ta["trustAnchorId"])["trustAnchor"]
            out["anchors"][ta["name"]] = sorted(got.get("notificationSettings", []), key=lambda n: n["event"])
for page in ra.get_paginator("list_profiles").paginate():
    for p in page["profiles"]:
        if a.needle in p["name"]:
            got = ra.get_profile(profileId=p["profileId"])["profile"]
            out["profiles"][p["name"]] = {
                m["certificateField"]: sorted(r["specifier"] for r in m["mappingRules"])
                for m in got.get("attributeMappings", [])
            }
print(json.dumps(out))

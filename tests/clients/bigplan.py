"""Print a valid plan of N resources: inputs for lint's time and memory bounds.

    python3 tests/clients/bigplan.py 30000 > fleet.yaml      # secrets, roles (each policy naming
                                                             # its secret), instance profiles
    python3 tests/clients/bigplan.py --vpcs 30000 > vpcs.yaml  # one-line VPCs: 3.7 MB for 30,000
    python3 tests/clients/bigplan.py --nested 40000 > deep.yaml  # one value 40,000 levels deep
"""

import sys

HEAD = """version: 1
name: fleet-${var.suffix}
vars:
  suffix: {default: dev}
partitions:
  commercial: {region: us-west-2, profile: xpart-commercial}
resources:
"""


def fleet(n: int) -> str:
    out = [HEAD]
    for i in range((n + 2) // 3):
        out.append(
            f"""  secret_{i}:
    type: secretsmanager.secret
    partition: commercial
    properties:
      name: fleet/secret-{i}-${{var.suffix}}
      value: {{generate: {{length: 32}}}}
  role_{i}:
    type: iam.role
    partition: commercial
    properties:
      name: fleet-role-{i}-${{var.suffix}}
      trust: {{service: ec2}}
      policies:
        read:
          statements:
            - actions: [secretsmanager:GetSecretValue]
              resources: ["${{secret_{i}.arn}}"]
  profile_{i}:
    type: iam.instance_profile
    partition: commercial
    properties:
      name: fleet-profile-{i}-${{var.suffix}}
      role: ${{role_{i}.name}}
"""
        )
    return "".join(out)


def vpcs(n: int) -> str:
    out = [HEAD.replace("commercial: {region: us-west-2, profile: xpart-commercial}",
                        "china: {region: cn-north-1, profile: xpart-china}")]
    for i in range(n):
        out.append(f"  vpc_{i}:\n    type: ec2.vpc\n    partition: china\n"
                   f"    properties: {{name: 'vpc-{i}-${{var.suffix}}', cidr: 10.{i % 256}.0.0/16}}\n")
    return "".join(out)


def nested(n: int) -> str:
    return HEAD + "  deep:\n    type: ec2.vpc\n    partition: commercial\n    properties: " + "{a: " * n + "x" + "}" * n + "\n"


if __name__ == "__main__":
    if sys.argv[1] == "--nested":
        sys.stdout.write(nested(int(sys.argv[2])))
    elif sys.argv[1] == "--vpcs":
        sys.stdout.write(vpcs(int(sys.argv[2])))
    else:
        sys.stdout.write(fleet(int(sys.argv[1])))

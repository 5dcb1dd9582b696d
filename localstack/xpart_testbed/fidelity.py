"""Where moto differs from AWS on behaviour xpart relies on, make it behave as AWS does.

- RunInstances and CreateRouteTable with a ClientToken already used return the original answer
  (EC2 idempotency), or IdempotentParameterMismatch when the parameters differ;
  DescribeInstances accepts the client-token filter.
- IAM RemoveRoleFromInstanceProfile of a role the profile does not hold answers NoSuchEntity
  (moto raised a Python error: HTTP 500); a retry after a lost answer meets exactly this.
- IAM GetAccountAuthorizationDetails answers a page of at most MaxItems entities (default
  100, at most 1000) with IsTruncated and a Marker, as its API reference says ("MaxItems: …
  If you do not include this parameter, the number of items defaults to 100"; valid range
  1–1000). moto answered every entity at once, which hid what paging through a large account
  costs.
- IAM ListInstanceProfiles takes PathPrefix ("only instance profiles whose path starts with
  the prefix"), pages as GetAccountAuthorizationDetails does, and leaves tags out ("this
  operation does not return the following attributes, even though they are an attribute of
  the returned object: … Tags", ListInstanceProfiles API reference). moto ignored the prefix
  and the paging and answered tags: xpart finds a plan's profiles by their path, and a
  listing that answered tags would hide a missing GetInstanceProfile.
- IAM trust policies and KMS key policies that name a principal of another
  partition are refused, as the real services refuse them.
- The account principal KMS accepts in a key policy, and writes into the default policy of a
  key created without one, can be set per partition (`account_principal`, a fault setting):
  "If you don't specify a key policy, AWS KMS applies the default key policy", whose statement
  gives "the AWS account … access to the KMS key" by its account principal (AWS KMS Developer
  Guide, "Default key policy"). A test sets a form other than the one xpart knows, and KMS then
  refuses xpart's: what xpart writes must be what it read from KMS.
- KMS Sign takes a message of at most 4096 bytes ("Message … Maximum length of 4096", Sign
  API reference) and a key at most 50 tags ("Tags per KMS key: 50", KMS quotas): moto took
  any. A CA held by KMS relies on both: certificates are signed whole, and the CA
  certificate's signature is kept in tags of 256 characters (that length is the service
  model's, checked in models.py).
- Secrets Manager's GetSecretValue without a version answers the version that holds
  AWSCURRENT ("If you don't specify either a VersionStage or VersionId, Secrets Manager returns
  the AWSCURRENT version", GetSecretValue API reference), also after UpdateSecretVersionStage
  moved the label (moto kept answering the version it last wrote).
"""

from __future__ import annotations

import hashlib
import json
import threading

from moto.core.exceptions import JsonRESTError

from . import policy

_applied = False
# The partition's current settings (faults.FaultConfig), for the behaviours a test sets.
_settings = lambda: None  # noqa: E731


def _account_form(backend) -> str | None:
    cfg = _settings()
    form = getattr(cfg, "account_principal", "") if cfg is not None else ""
    return form.format(partition=backend.partition, account=backend.account_id) if form else None


class _KmsMalformedPolicy(JsonRESTError):
    code = 400

    def __init__(self) -> None:
        super().__init__(
            "MalformedPolicyDocumentException",
            "Policy contains a statement with one or more invalid principals.",
        )


def _patch_iam() -> None:
    from moto.iam.exceptions import MalformedPolicyDocument
    from moto.iam.models import IAMBackend

    def guard(backend, document: str) -> None:
        bad = policy.foreign_principals(document, backend.partition)
        if bad:
            raise MalformedPolicyDocument(f"Invalid principal in policy: {bad[0]}")

    create_role = IAMBackend.create_role
    update_trust = IAMBackend.update_assume_role_policy

    def create_role_checked(self, role_name, assume_role_policy_document, *args, **kwargs):
        guard(self, assume_role_policy_document)
        return create_role(self, role_name, assume_role_policy_document, *args, **kwargs)

    def update_trust_checked(self, role_name, policy_document):
        guard(self, policy_document)
        return update_trust(self, role_name, policy_document)

    IAMBackend.create_role = create_role_checked
    IAMBackend.update_assume_role_policy = update_trust_checked

    from moto.iam.exceptions import NotFoundException

    def remove_from_profile(self, profile_name, role_name):
        profile = self.get_instance_profile(profile_name)
        role = self.get_role(role_name)
        if role not in profile.roles:
            raise NotFoundException(
                f"Role {role_name} in instance profile {profile_name} cannot be found."
            )
        profile.roles.remove(role)

    IAMBackend.remove_role_from_instance_profile = remove_from_profile

    from moto.core.responses import ActionResult
    from moto.iam.exceptions import ValidationError
    from moto.iam.responses import IamResponse

    lists = (("users", "UserDetailList"), ("groups", "GroupDetailList"),
             ("roles", "RoleDetailList"), ("managed_policies", "Policies"))

    def page_params(self) -> tuple[int, int]:
        """(first item, MaxItems) of a paged IAM listing, checked as IAM checks them."""
        try:
            max_items = int(self._get_param("MaxItems") or 100)
        except ValueError:
            max_items = 0
        if not 1 <= max_items <= 1000:
            raise ValidationError("1 validation error detected: Value at 'maxItems' failed to "
                                  "satisfy constraint: Member must have value less than or equal to 1000")
        marker = self._get_param("Marker")
        try:
            start = int(marker) if marker else 0
        except ValueError:
            raise ValidationError("Invalid Marker") from None
        return start, max_items

    def paged_details(self):
        start, max_items = page_params(self)
        details = self.backend.get_account_authorization_details(self._get_param("Filter", []))
        entities = [(key, item) for field, key in lists for item in list(details[field])]
        page = entities[start:start + max_items]
        result = {key: [item for k, item in page if k == key] for _, key in lists}
        truncated = start + max_items < len(entities)
        result["IsTruncated"] = truncated
        if truncated:
            result["Marker"] = str(start + max_items)
        return ActionResult(result)

    IamResponse.get_account_authorization_details = paged_details

    class Untagged:
        """An entity as IAM's listings show it: every attribute but its tags."""

        def __init__(self, inner):
            self._inner = inner

        def __getattr__(self, name):
            if name in ("tags", "Tags"):
                raise AttributeError(name)
            return getattr(self._inner, name)

    def paged_profiles(self):
        start, max_items = page_params(self)
        prefix = self._get_param("PathPrefix") or "/"
        profiles = sorted((p for p in self.backend.get_instance_profiles() if p.path.startswith(prefix)),
                          key=lambda p: p.id)
        page = profiles[start:start + max_items]
        truncated = start + max_items < len(profiles)
        result = {"InstanceProfiles": [Untagged(p) for p in page], "IsTruncated": truncated}
        if truncated:
            result["Marker"] = str(start + max_items)
        return ActionResult(result)

    IamResponse.list_instance_profiles = paged_profiles


def _patch_kms() -> None:
    from moto.kms.models import KmsBackend

    create_key = KmsBackend.create_key
    put_key_policy = KmsBackend.put_key_policy

    def guard(backend, document) -> None:
        if document and policy.foreign_principals(document, backend.partition):
            raise _KmsMalformedPolicy()
        form = _account_form(backend)
        if form and document:
            for arn in policy.principals(document, "AWS"):
                if policy.account_of_principal(arn) == backend.account_id and arn != form:
                    raise _KmsMalformedPolicy()

    def create_key_checked(self, policy_doc, *args, **kwargs):
        guard(self, policy_doc)
        form = _account_form(self)
        if not policy_doc and form:
            policy_doc = json.dumps({
                "Version": "2012-10-17",
                "Id": "key-default-1",
                "Statement": [{
                    "Sid": "Enable IAM User Permissions",
                    "Effect": "Allow",
                    "Principal": {"AWS": form},
                    "Action": "kms:*",
                    "Resource": "*",
                }],
            })
        return create_key(self, policy_doc, *args, **kwargs)

    def put_key_policy_checked(self, key_id, policy_doc):
        guard(self, policy_doc)
        return put_key_policy(self, key_id, policy_doc)

    KmsBackend.create_key = create_key_checked
    KmsBackend.put_key_policy = put_key_policy_checked

    tag_resource = KmsBackend.tag_resource
    sign = KmsBackend.sign

    def tags_checked(self, key_id_or_arn, tags):
        # moto passes the tags as {key: value}; a value's length is the model's to check
        # (models.py), the number of tags on a key is KMS's.
        key_id = self.get_key_id(key_id_or_arn)
        if key_id in self.keys:
            have = {t["TagKey"] for t in self.tagger.list_tags_for_resource(key_id)["Tags"]}
            if len(have | set(tags or {})) > 50:
                raise JsonRESTError("LimitExceededException", "A key can have at most 50 tags")
        return tag_resource(self, key_id_or_arn, tags)

    def sign_checked(self, key_id, message, signing_algorithm):
        if len(message) > 4096:
            raise JsonRESTError(
                "ValidationException",
                "1 validation error detected: Value at 'message' failed to satisfy constraint: "
                "Member must have length less than or equal to 4096",
            )
        return sign(self, key_id, message, signing_algorithm)

    KmsBackend.tag_resource = tags_checked
    KmsBackend.sign = sign_checked


def _patch_ec2() -> None:
    from moto.ec2.exceptions import EC2ClientError
    from moto.ec2.responses.instances import InstanceResponse

    from moto.ec2.responses.route_tables import RouteTables

    def idempotent(call):
        """`call` (a create that takes a ClientToken) as EC2 answers it: a repeat of a token
        with the same parameters gets the first answer, with others IdempotentParameterMismatch
        (EC2 API reference, "Ensuring idempotency")."""
        seen: dict[tuple[str, str, str], tuple[str, object]] = {}
        lock = threading.Lock()

        def once(self):
            token = self._get_param("ClientToken")
            if not token:
                return call(self)
            params = {k: v for k, v in self.querystring.items() if k not in ("ClientToken",)}
            fingerprint = hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()
            key = (self.current_account, self.region, token)
            # One lock over check-and-create: a retry racing the original must not create a
            # second one.
            with lock:
                if key in seen:
                    prior_fp, result = seen[key]
                    if prior_fp != fingerprint:
                        raise EC2ClientError(
                            "IdempotentParameterMismatch",
                            "Arguments on this idempotent request are inconsistent with arguments used in previous request(s).",
                        )
                    return result
                result = call(self)
                seen[key] = (fingerprint, result)
                return result

        return once

    InstanceResponse.run_instances = idempotent(InstanceResponse.run_instances)
    RouteTables.create_route_table = idempotent(RouteTables.create_route_table)

    # TerminateInstances on an instance already terminated succeeds in AWS (a retry after a
    # lost reply does exactly that); moto fails it looking for the detached network interface.
    from moto.ec2.models.instances import InstanceBackend

    terminate = InstanceBackend.terminate_instances

    def terminate_idempotent(self, instance_ids):
        done = [i for i in self.get_multi_instances_by_id(instance_ids) if i.state == "terminated"]
        rest = [i.id for i in self.get_multi_instances_by_id(instance_ids) if i.state != "terminated"]
        result = terminate(self, rest) if rest else []
        return result + [(i, i._state) for i in done]

    InstanceBackend.terminate_instances = terminate_idempotent

    # DescribeInstances' client-token filter: how a client finds what a lost reply created.
    from moto.ec2 import utils as ec2_utils

    ec2_utils.filter_dict_attribute_mapping.setdefault("client-token", "client_token")


def _patch_secretsmanager() -> None:
    from moto.secretsmanager.models import SecretsManagerBackend

    moved = SecretsManagerBackend.update_secret_version_stage

    def update_stage_follows_current(self, secret_id, version_stage, remove_from_version_id, move_to_version_id):
        out = moved(self, secret_id, version_stage, remove_from_version_id, move_to_version_id)
        if version_stage == "AWSCURRENT" and move_to_version_id:
            secret = self.secrets[secret_id]
            getattr(secret, "source", secret).default_version_id = move_to_version_id
        return out

    SecretsManagerBackend.update_secret_version_stage = update_stage_follows_current


def apply(settings=None) -> None:
    """Patch moto; `settings` answers the partition's current `faults.FaultConfig`."""
    global _applied, _settings
    if settings is not None:
        _settings = settings
    if _applied:
        return
    _patch_iam()
    _patch_kms()
    _patch_ec2()
    _patch_secretsmanager()
    _applied = True

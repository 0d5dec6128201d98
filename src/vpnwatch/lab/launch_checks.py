"""What RunInstances checks before it launches anything, where moto does not (DESIGN §10).

- User data is limited to 16 KB in raw form, before base64 (EC2 User Guide, "Run commands
  when you launch an EC2 instance with user data input"); more is `InvalidParameterValue`.
- The AMI must exist and be `available` (`InvalidAMIID.NotFound`, `InvalidAMIID.Unavailable`);
  the key pair must exist (`InvalidKeyPair.NotFound`). moto checks neither.
- After the launch: tags asked for the `network-interface` are put on the primary interface,
  and `DisableApiTermination` is honoured (moto ignores both at launch).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping

from vpnwatch.lab import moto_instances as mi
from vpnwatch.lab.faults import ApiCall, AwsRequest, InjectedError
from vpnwatch.lab.realism import USER_DATA_LIMIT

_INSTANCE_IN_BODY = re.compile(rb"<instanceId>\s*(i-[0-9a-f]+)\s*</instanceId>")
_TAG_SPEC = re.compile(r"^TagSpecification\.(\d+)\.ResourceType$")


def user_data_bytes(params: Mapping[str, str]) -> bytes | None:
    """The raw user data of a RunInstances request (None: none given or not base64)."""
    encoded = params.get("UserData")
    if not encoded:
        return None
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        return None


def tag_specifications(params: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """Resource type → tags of a request's TagSpecification.N entries."""
    found: dict[str, dict[str, str]] = {}
    for key, kind in params.items():
        match = _TAG_SPEC.match(key)
        if match is None:
            continue
        n, tags, i = match.group(1), found.setdefault(kind, {}), 1
        while f"TagSpecification.{n}.Tag.{i}.Key" in params:
            tags[params[f"TagSpecification.{n}.Tag.{i}.Key"]] = params.get(
                f"TagSpecification.{n}.Tag.{i}.Value", ""
            )
            i += 1
    return found


def check_launch(request: AwsRequest, region: str) -> InjectedError | None:
    params = request.params
    raw = user_data_bytes(params)
    if params.get("UserData") and raw is None:
        return InjectedError("InvalidParameterValue", 400, "Invalid BASE64 encoding of user data.")
    if raw is not None and len(raw) > USER_DATA_LIMIT:
        message = f"User data is limited to {USER_DATA_LIMIT} bytes"
        return InjectedError("InvalidParameterValue", 400, message)
    image_id = params.get("ImageId", "")
    image = mi.image(region, image_id)
    if image is None:
        message = f"The image id '[{image_id}]' does not exist"
        return InjectedError("InvalidAMIID.NotFound", 400, message)
    if str(getattr(image, "state", "available")) != "available":
        return InjectedError("InvalidAMIID.Unavailable", 400, f"Image {image_id} is not available")
    key_name = params.get("KeyName")
    if key_name and mi.key_pair_public(region, key_name) is None:
        message = f"The key pair '{key_name}' does not exist"
        return InjectedError("InvalidKeyPair.NotFound", 400, message)
    return None


def after_launch(call: ApiCall, region: str) -> list[str]:
    """Apply what moto ignores at launch; the new instance ids."""
    if call.status != 200:
        return []
    ids = [raw.decode() for raw in dict.fromkeys(_INSTANCE_IN_BODY.findall(call.body))]
    specs = tag_specifications(call.request.params)
    protect = call.request.params.get("DisableApiTermination", "").lower() == "true"
    for instance_id in ids:
        mi.tag_primary_eni(region, instance_id, specs.get("network-interface", {}))
        if protect:
            mi.set_termination_protection(region, instance_id, True)
    return ids

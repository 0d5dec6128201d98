"""Instances booting as stock VyOS AMIs (DESIGN §10 c, d, e), as EmulatedAws hooks.

- RunInstances on a router's IP or kept ENI: the router boots, after the pending window and
  its boot time, as the AMI's VyOS version (from the image's name), authorizing only the
  key pair's public key and the user data's `ssh_authorized_keys`, with the user data's
  `vyos_config_commands` and `write_files` applied (`vpnwatch.lab.cloud_init`).
- StopInstances/StartInstances: the router powers off and boots again from its disk.
- GetConsoleOutput: the instance's console (`vpnwatch.lab.console_book`); `Latest=true` is
  refused on instance types that do not run on Nitro (AWS publishes no error code for it:
  the lab answers `UnsupportedOperation`).
- DescribeInstanceStatus: an impaired instance fails its checks.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from moto.ec2.models.instance_types import INSTANCE_TYPES

from vpnwatch.lab import moto_instances as mi
from vpnwatch.lab.cloud_init import login_key_name, parse_user_data
from vpnwatch.lab.console_book import console_response
from vpnwatch.lab.faults import ApiCall, AwsRequest, InjectedError
from vpnwatch.lab.instance_states import InstanceStates
from vpnwatch.lab.launch_checks import after_launch, user_data_bytes
from vpnwatch.lab.realism import Realism
from vpnwatch.lab.vyos_sim.formats import VERSIONS, Version
from vpnwatch.lab.world_routers import Launch, WorldRouters

_VYOS_VERSION = re.compile(r"(?i)vyos[^0-9]{0,20}(\d+)\.(\d+)")


def vyos_version_of_image(name: str | None) -> Version | None:
    """The simulated VyOS version an AMI name says ("vyos-1.4.3-amd64" → "1.4")."""
    match = _VYOS_VERSION.search(name or "")
    if match is None:
        return None
    wanted = f"{match.group(1)}.{match.group(2)}"
    return next((v for v in VERSIONS if v == wanted), None)


def is_nitro(instance_type: str) -> bool:
    return str(INSTANCE_TYPES.get(instance_type, {}).get("Hypervisor", "nitro")) == "nitro"


class InstanceBoots:
    def __init__(
        self,
        states: InstanceStates,
        realism: Realism,
        routers: Callable[[], WorldRouters | None],
        default_region: str,
    ) -> None:
        self.states = states
        self.realism = realism
        self._routers = routers
        self._region = default_region

    def _router_region(self, request: AwsRequest) -> tuple[WorldRouters | None, str]:
        region = request.region or self._region
        return (self._routers() if region == self._region else None), region

    # ------------------------------------------------------------ RunInstances

    def after_run(self, call: ApiCall) -> None:
        routers, region = self._router_region(call.request)
        for instance_id in after_launch(call, region):
            nic = mi.primary_nic(region, instance_id)
            name = routers.landing(nic.subnet_id, nic.private_ip, nic.eni_id) if (
                routers is not None and nic is not None
            ) else None  # fmt: skip
            doom = routers.take_doom(name) if routers is not None and name else None
            if doom is not None:
                self.states.doom(instance_id, *doom)
            self.states.launched(region, instance_id)
            if routers is None or nic is None or name is None or doom is not None:
                continue
            routers.launched(name, instance_id, nic.eni_id, self._launch(call, region, name))

    def _launch(self, call: ApiCall, region: str, name: str) -> Launch:
        routers = self._routers()
        assert routers is not None
        params = call.request.params
        image = mi.image(region, params.get("ImageId", ""))
        version = vyos_version_of_image(getattr(image, "name", None)) or routers.plan_version(name)
        logins: list[tuple[str, str]] = []
        key_name = params.get("KeyName")
        key_line = mi.key_pair_public(region, key_name) if key_name else None
        if key_line:
            logins.append((login_key_name(f"{key_line} {key_name}", _generated()), key_line))
        if not self.realism.on("key-pair-login"):
            logins.append(("vpnwatch", routers.client_key))
        edits: tuple[tuple[str, tuple[str, ...], str | None], ...] = ()
        files: dict[str, tuple[bytes, int, bool]] = {}
        raw = user_data_bytes(params)
        if raw is not None and self.realism.on("user-data"):
            data = parse_user_data(raw)
            logins += [(login_key_name(k, _generated()), k) for k in data.ssh_authorized_keys]
            edits = data.vyos_config_commands
            for f in data.write_files:
                files[f.path] = (f.content, f.permissions, f.append)
        return Launch(
            version=version,
            login_keys=tuple(logins),
            edits=edits,
            files=files,
            boot_after=self.realism.effective_pending + routers.boot_delay,
            boot_scripts=self.realism.on("boot-scripts"),
        )

    # ------------------------------------------------------------ stop / start

    def after_stop(self, call: ApiCall) -> None:
        if call.status != 200:
            return
        routers, region = self._router_region(call.request)
        for instance_id in mi.instance_ids(call.request.params):
            self.states.stopping(region, instance_id)
            mi.keep_eip_on_instance(region, instance_id)
            if routers is not None:
                routers.stopped(instance_id)

    def after_start(self, call: ApiCall) -> None:
        if call.status != 200:
            return
        routers, region = self._router_region(call.request)
        for instance_id in mi.instance_ids(call.request.params):
            self.states.starting(region, instance_id)
            mi.keep_eip_on_instance(region, instance_id)
            if routers is not None:
                routers.started(instance_id, self.realism.effective_pending)

    # ------------------------------------------------------------ console and status

    def before_console(self, request: AwsRequest) -> InjectedError | None:
        latest = request.params.get("Latest", "").lower() == "true"
        if not latest or not self.realism.on("nitro-latest"):
            return None
        found = mi.instance(request.region or self._region, request.params.get("InstanceId", ""))
        if found is not None and not is_nitro(str(found.instance_type)):
            message = (
                f"The instance type {found.instance_type} does not support retrieving the "
                "latest console output (Nitro instance types only)."
            )
            return InjectedError("UnsupportedOperation", 400, message)
        return None

    def after_console(self, call: ApiCall) -> bytes | None:
        routers = self._routers()
        if call.status != 200 or routers is None:
            return None
        params = call.request.params
        instance_id = params.get("InstanceId", "")
        latest = params.get("Latest", "").lower() == "true" or not self.realism.on("console-delay")
        mine, text = routers.console(instance_id, latest=latest)
        if not mine:
            return None  # not a router: moto's canned text
        return console_response(instance_id, text, datetime.now(UTC))

    def status_checks(self, call: ApiCall) -> bytes | None:
        routers = self._routers()
        if routers is not None:
            self.states.impaired = {
                iid for iid in mi.instance_ids(call.request.params) if routers.impaired(iid)
            } | {iid for iid in routers.instances().values() if routers.impaired(iid)}
        hidden = self.states.hide_fresh(call)
        if hidden is not None:
            call = ApiCall(call.request, call.status, hidden, call.status_line, call.headers)
        return self.states.report_impaired(call) or hidden


def _generated() -> str:
    return f"cloud-init-{uuid.uuid4()}"

"""Instance replacement as AWS does it, on top of moto, as EmulatedAws hooks.

- TerminateInstances: the router's SSH server goes down at once; the instance is terminated
  at once (as moto does), but its private IP is only released `release_delay` seconds later
  (a kept ENI is only detached then). Until then, RunInstances on that IP or ENI fails with
  `InvalidIPAddress.InUse` (HTTP 400), not moto's 500.
- RunInstances on a router's private IP or kept ENI: a new simulated router for that name
  boots (fresh host key, blank config) on the same SSH port; GetConsoleOutput of the new
  instance shows its cloud-init host key block once printed.
- RebootInstances: the router reboots; a terminated instance is refused
  (`IncorrectInstanceState`; moto would revive it), as is StartInstances.
- ModifyNetworkInterfaceAttribute `Attachment.DeleteOnTermination` is honoured.
- RunInstances is idempotent by ClientToken (moto ignores it): a retry of a launch that
  worked gets the same reservation back, not an IP that is "in use" by its own instance.

Pending releases are settled lazily, before every EC2 request and when the world is asked,
against the world's monotonic clock.
"""

from __future__ import annotations

import base64
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from xml.sax.saxutils import escape

from vpnwatch.lab import moto_instances as mi
from vpnwatch.lab.aws_world import EmulatedAws
from vpnwatch.lab.faults import ApiCall, AwsRequest, CannedAnswer, InjectedError
from vpnwatch.lab.world_routers import WorldRouters

_INSTANCE_IN_BODY = re.compile(rb"<instanceId>\s*(i-[0-9a-f]+)\s*</instanceId>")
_EMPTY_ASSOCIATION = re.compile(rb"<(instanceId|networkInterfaceId)\s*/>")
_NS = "http://ec2.amazonaws.com/doc/2016-11-15/"


@dataclass(frozen=True)
class PendingRelease:
    """A terminated instance's address that AWS has not released yet."""

    due: float
    region: str
    instance_id: str
    subnet_id: str
    private_ip: str
    kept_eni: str | None  # an ENI kept on termination: detached when due; else the IP is freed


def _launch_params(request: AwsRequest) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((k, v) for k, v in request.params.items() if k != "ClientToken"))


def _omit_empty_association(call: ApiCall) -> bytes | None:
    """An unassociated address has no InstanceId in AWS; moto says InstanceId ""."""
    if call.status != 200:
        return None
    return _EMPTY_ASSOCIATION.sub(b"", call.body)


def console_response(instance_id: str, text: str | None, now: datetime) -> bytes:
    """A GetConsoleOutput answer; no <output> while nothing is printed yet (as AWS does)."""
    output = "" if text is None else f"<output>{base64.b64encode(text.encode()).decode()}</output>"
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<GetConsoleOutputResponse xmlns="{_NS}">'
        f"<requestId>vpnwatch-lab</requestId><instanceId>{escape(instance_id)}</instanceId>"
        f"<timestamp>{now.strftime('%Y-%m-%dT%H:%M:%S.000Z')}</timestamp>{output}"
        "</GetConsoleOutputResponse>"
    ).encode()


class InstanceLifecycle:
    def __init__(
        self,
        aws: EmulatedAws,
        routers: WorldRouters | None,
        *,
        release_delay: float,
        monotonic: Callable[[], float],
    ) -> None:
        self._aws = aws
        self.routers = routers
        self.release_delay = release_delay
        self._monotonic = monotonic
        self._lock = threading.RLock()
        self._pending: list[PendingRelease] = []
        self._terminated: set[str] = set()
        self._launches: dict[str, tuple[tuple[tuple[str, str], ...], bytes]] = {}  # by token

    def install(self) -> None:
        aws = self._aws
        aws.add_before_hook("*", self._settle_hook)
        aws.add_before_hook("RunInstances", self._before_run)
        aws.add_after_hook("RunInstances", self._after_run)
        aws.add_after_hook("TerminateInstances", self._after_terminate)
        aws.add_before_hook("RebootInstances", self._refuse_terminated("rebooted"))
        aws.add_before_hook("StartInstances", self._refuse_terminated("started"))
        aws.add_after_hook("RebootInstances", self._after_reboot)
        aws.add_before_hook("ModifyNetworkInterfaceAttribute", self._before_modify_eni)
        aws.add_after_hook("GetConsoleOutput", self._after_console)
        aws.add_after_hook("DescribeAddresses", _omit_empty_association)

    def clear(self) -> None:
        """Forget everything (the emulated AWS was reset)."""
        with self._lock:
            self._pending, self._launches = [], {}
            self._terminated.clear()

    def _region(self, request: AwsRequest) -> str:
        return request.region or self._aws.region

    # ------------------------------------------------------------ delayed releases

    def settle(self) -> None:
        """Release what is due: free IPs, detach kept ENIs."""
        now = self._monotonic()
        with self._lock:
            due = [p for p in self._pending if p.due <= now]
            self._pending = [p for p in self._pending if p.due > now]
            for item in due:
                if item.kept_eni is not None:
                    mi.detach_kept_eni(item.region, item.instance_id, item.kept_eni)
                else:
                    mi.free_address(item.region, item.subnet_id, item.private_ip)

    def pending(self) -> list[PendingRelease]:
        self.settle()
        with self._lock:
            return list(self._pending)

    def _settle_hook(self, _: AwsRequest) -> None:
        self.settle()

    def _held(self, subnet_id: str | None, address: str | None, eni_id: str | None) -> bool:
        with self._lock:
            return any(
                (p.subnet_id, p.private_ip) == (subnet_id, address)
                or (eni_id is not None and p.kept_eni == eni_id)
                for p in self._pending
            )

    # ------------------------------------------------------------ RunInstances

    def _before_run(self, request: AwsRequest) -> InjectedError | CannedAnswer | None:
        token = request.params.get("ClientToken")
        with self._lock:
            earlier = self._launches.get(token) if token else None
        if earlier is not None:
            if earlier[0] != _launch_params(request):
                message = f"The client token {token} was used with other parameters."
                return InjectedError("IdempotentParameterMismatch", 400, message)
            return CannedAnswer(earlier[1])
        region = self._region(request)
        subnet, address = mi.requested_address(request.params)
        if subnet and address:
            problem = mi.address_problem(region, subnet, address)
            if problem == "outside":
                message = f"Address {address} does not fall within the subnet's address range"
                return InjectedError("InvalidParameterValue", 400, message)
            if problem == "in-use" or self._held(subnet, address, None):
                return InjectedError("InvalidIPAddress.InUse", 400, f"Address {address} is in use.")
        for eni_id in mi.requested_eni_ids(request.params).values():
            if self._held(None, None, eni_id) or mi.eni_attached(region, eni_id):
                message = f"Interface {eni_id} is in use (its address is not released yet)."
                return InjectedError("InvalidIPAddress.InUse", 400, message)
        return None

    def _after_run(self, call: ApiCall) -> None:
        if call.status != 200:
            return
        region, routers = self._region(call.request), self.routers
        kept = mi.requested_eni_ids(call.request.params)
        token = call.request.params.get("ClientToken")
        if token:
            with self._lock:
                self._launches[token] = (_launch_params(call.request), call.body)
        for raw in dict.fromkeys(_INSTANCE_IN_BODY.findall(call.body)):
            instance_id = raw.decode()
            mi.delete_launched_nics_on_termination(region, instance_id, call.request.params)
            if kept:
                mi.adopt_kept_eni(region, instance_id)
            nic = mi.primary_nic(region, instance_id)
            if routers is None or nic is None or region != self._aws.region:
                continue
            name = routers.landing(nic.subnet_id, nic.private_ip, nic.eni_id)
            if name is not None:
                routers.launched(name, instance_id, nic.eni_id)

    # ------------------------------------------------------------ TerminateInstances

    def _after_terminate(self, call: ApiCall) -> None:
        if call.status != 200:
            return
        region, routers = self._region(call.request), self.routers
        due = self._monotonic() + self.release_delay
        for instance_id in mi.instance_ids(call.request.params):
            with self._lock:
                if instance_id in self._terminated:
                    continue
                if mi.instance_state(region, instance_id) != "terminated":
                    continue
                self._terminated.add(instance_id)
                nic = mi.primary_nic(region, instance_id)
                if nic is not None:
                    if nic.exists:  # a kept interface keeps its Elastic IP
                        mi.keep_eip_on_eni(region, nic.eni_id)
                    else:  # deleted with the instance: so is its EIP association
                        mi.drop_eip_association(region, instance_id)
                    kept = nic.eni_id if nic.exists else None
                    self._pending.append(
                        PendingRelease(
                            due, region, instance_id, nic.subnet_id, nic.private_ip, kept
                        )
                    )
            if routers is not None and region == self._aws.region:
                routers.terminated(instance_id)  # waits for the SSH server to go

    # ------------------------------------------------------------ reboot / start

    def _refuse_terminated(self, verb: str) -> Callable[[AwsRequest], InjectedError | None]:
        def refuse(request: AwsRequest) -> InjectedError | None:
            region = self._region(request)
            for instance_id in mi.instance_ids(request.params):
                if mi.instance_state(region, instance_id) in ("shutting-down", "terminated"):
                    message = (
                        f"The instance '{instance_id}' is not in a state from which it can be "
                        f"{verb}."
                    )
                    return InjectedError("IncorrectInstanceState", 400, message)
            return None

        return refuse

    def _after_reboot(self, call: ApiCall) -> None:
        routers = self.routers
        if call.status != 200 or routers is None or self._region(call.request) != self._aws.region:
            return
        for instance_id in mi.instance_ids(call.request.params):
            routers.rebooted(instance_id)

    # ------------------------------------------------------------ ENI attributes

    def _before_modify_eni(self, request: AwsRequest) -> InjectedError | None:
        params = request.params
        attachment = params.get("Attachment.AttachmentId")
        flag = params.get("Attachment.DeleteOnTermination")
        if attachment is None or flag is None:
            return None
        problem = mi.set_delete_on_termination(
            self._region(request), params.get("NetworkInterfaceId", ""), attachment,
            flag.lower() == "true",
        )  # fmt: skip
        if problem is not None:
            return InjectedError("InvalidAttachmentID.NotFound", 400, problem)
        return None

    # ------------------------------------------------------------ console output

    def _after_console(self, call: ApiCall) -> bytes | None:
        routers = self.routers
        if call.status != 200 or routers is None:
            return None
        instance_id = call.request.params.get("InstanceId", "")
        mine, text = routers.console(instance_id)
        if not mine:
            return None  # not a router: moto's canned text
        return console_response(instance_id, text, datetime.now(UTC))

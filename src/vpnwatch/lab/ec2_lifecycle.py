"""Instance replacement as AWS does it, on top of moto, as EmulatedAws hooks.

- TerminateInstances: the router's SSH server goes down at once; the instance is terminated
  at once (as moto does), but its private IP is only released `release_delay` seconds later
  (a kept ENI is only detached then). Until then, RunInstances on that IP or ENI fails with
  `InvalidIPAddress.InUse` (HTTP 400), not moto's 500.
- RunInstances is checked as EC2 checks it (`vpnwatch.lab.launch_checks`); the new instance
  is pending, then running (`vpnwatch.lab.instance_states`), and boots as a stock VyOS AMI
  with its user data (`vpnwatch.lab.ec2_boot`).
- RebootInstances: the router reboots; a terminated instance is refused
  (`IncorrectInstanceState`; moto would revive it), as is StartInstances.
- A launch that dies in pending releases its address like a terminated instance.
- ModifyNetworkInterfaceAttribute `Attachment.DeleteOnTermination` is honoured.
- RunInstances is idempotent by ClientToken (moto ignores it): a retry of a launch that
  worked gets the same reservation back, not an IP that is "in use" by its own instance.

Pending releases are settled lazily, before every EC2 request and when the world is asked,
against the world's monotonic clock.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass

from vpnwatch.lab import moto_instances as mi
from vpnwatch.lab.aws_world import EmulatedAws
from vpnwatch.lab.ec2_boot import InstanceBoots
from vpnwatch.lab.faults import ApiCall, AwsRequest, CannedAnswer, InjectedError
from vpnwatch.lab.instance_states import InstanceStates
from vpnwatch.lab.launch_checks import check_launch
from vpnwatch.lab.realism import Realism
from vpnwatch.lab.world_routers import WorldRouters

_INSTANCE_IN_BODY = re.compile(rb"<instanceId>\s*(i-[0-9a-f]+)\s*</instanceId>")
_EMPTY_ASSOCIATION = re.compile(rb"<(instanceId|networkInterfaceId)\s*/>")
_PENDING_SENSITIVE = (
    "AssociateAddress", "ModifyInstanceAttribute", "StopInstances", "StartInstances",
    "RebootInstances",
)  # fmt: skip


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


class InstanceLifecycle:
    def __init__(
        self,
        aws: EmulatedAws,
        routers: WorldRouters | None,
        *,
        release_delay: float,
        monotonic: Callable[[], float],
        realism: Realism | None = None,
    ) -> None:
        self._aws = aws
        self.routers = routers
        self.release_delay = release_delay
        self.realism = realism or Realism()
        self._monotonic = monotonic
        self.states = InstanceStates(
            self.realism, monotonic=monotonic, default_region=aws.region, on_died=self._died
        )
        self.boots = InstanceBoots(self.states, self.realism, lambda: self.routers, aws.region)
        self._lock = threading.RLock()
        self._pending: list[PendingRelease] = []
        self._terminated: set[str] = set()
        self._launches: dict[str, tuple[tuple[tuple[str, str], ...], bytes]] = {}  # by token

    def install(self) -> None:
        aws, states, boots = self._aws, self.states, self.boots
        aws.add_before_hook("*", self._settle_hook)
        aws.add_before_hook("*", states.before_any)
        aws.add_before_hook("RunInstances", self._before_run)
        aws.add_after_hook("RunInstances", self._after_run)
        aws.add_after_hook("RunInstances", boots.after_run)
        aws.add_after_hook("TerminateInstances", self._after_terminate)
        aws.add_before_hook("RebootInstances", self._refuse_terminated("rebooted"))
        aws.add_before_hook("StartInstances", self._refuse_terminated("started"))
        for action in _PENDING_SENSITIVE:
            aws.add_before_hook(action, states.before_pending_sensitive)
        aws.add_after_hook("RebootInstances", self._after_reboot)
        aws.add_after_hook("StopInstances", boots.after_stop)
        aws.add_after_hook("StartInstances", boots.after_start)
        aws.add_before_hook("ModifyNetworkInterfaceAttribute", self._before_modify_eni)
        aws.add_before_hook("GetConsoleOutput", boots.before_console)
        aws.add_after_hook("GetConsoleOutput", boots.after_console)
        aws.add_after_hook("DescribeInstances", states.hide_fresh)
        aws.add_after_hook("DescribeInstanceStatus", boots.status_checks)
        aws.add_after_hook("DescribeAddresses", _omit_empty_association)

    def arm(self) -> None:
        """From now on launches are pending and briefly not found (the world is built)."""
        self.states.armed = True

    def clear(self) -> None:
        """Forget everything (the emulated AWS was reset)."""
        with self._lock:
            self._pending, self._launches = [], {}
            self._terminated.clear()
        self.states.clear()
        self.states.armed = False

    def _region(self, request: AwsRequest) -> str:
        return request.region or self._aws.region

    # ------------------------------------------------------------ delayed releases

    def settle(self) -> None:
        """Release what is due (free IPs, detach kept ENIs); move instance states on."""
        self.states.settle()
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
        if self.realism.on("launch-checks"):
            refused = check_launch(request, self._region(request))
            if refused is not None:
                return refused
        if request.params.get("DryRun", "").lower() == "true":
            return None  # moto answers DryRunOperation
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
        region = self._region(call.request)
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

    # ------------------------------------------------------------ TerminateInstances

    def _after_terminate(self, call: ApiCall) -> None:
        if call.status != 200:
            return
        region = self._region(call.request)
        for instance_id in mi.instance_ids(call.request.params):
            self._gone(region, instance_id)

    def _died(self, region: str, instance_id: str) -> None:
        """A launch that died in pending: its address goes as a terminated one's does."""
        self._gone(region, instance_id)

    def _gone(self, region: str, instance_id: str) -> None:
        routers = self.routers
        due = self._monotonic() + self.release_delay
        with self._lock:
            if instance_id in self._terminated:
                return
            if mi.instance_state(region, instance_id) != "terminated":
                return
            self._terminated.add(instance_id)
            nic = mi.primary_nic(region, instance_id)
            if nic is not None:
                if nic.exists:  # a kept interface keeps its Elastic IP
                    mi.keep_eip_on_eni(region, nic.eni_id)
                else:  # deleted with the instance: so is its EIP association
                    mi.drop_eip_association(region, instance_id)
                kept = nic.eni_id if nic.exists else None
                self._pending.append(
                    PendingRelease(due, region, instance_id, nic.subnet_id, nic.private_ip, kept)
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

"""Instance states as EC2 has them, on top of moto (which is `running` at once), as hooks.

- A launched (or started) instance is `pending` for `pending_delay` seconds, then
  `running`. On a pending instance, AssociateAddress answers `InvalidInstanceID` "The
  pending instance 'i-…' is not in a valid state for this operation." (grunt-ec2 #15,
  terraform-provider-aws PR #3072); by interface: `IncorrectInstanceState` "The
  pending-instance-creation instance to which 'eni-…' is attached is not in a valid state
  for this operation" (terraform-aws-vmseries-modules #97). ModifyInstanceAttribute gets
  the same `InvalidInstanceID` answer (AWS publishes no text for it; modelled on the
  AssociateAddress one). StopInstances: `IncorrectInstanceState` "… cannot be stopped as it
  has never reached the 'running' state." (cloud-custodian PR #6014).
- For `not_found_window` seconds after RunInstances the new id is `InvalidInstanceID.NotFound`
  when named and missing from filtered DescribeInstances ("Eventual consistency in the
  Amazon EC2 API").
- StopInstances: `stopping` for `stop_delay` seconds, then `stopped`; StartInstances:
  `pending`, then `running`. The router powers off and on with its disk.
- A launch the lab dooms dies in `pending`: `terminated` with the given StateReason.
- An impaired instance (bad hardware) fails its status checks until it is stopped and
  started (new hardware); a reboot does not help.

States are settled lazily against the world's monotonic clock, before every EC2 request.
"""

from __future__ import annotations

import re
import threading
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass

from vpnwatch.lab import moto_instances as mi
from vpnwatch.lab.faults import ApiCall, AwsRequest, InjectedError
from vpnwatch.lab.realism import Realism

_INSTANCE_IN_BODY = re.compile(rb"<instanceId>\s*(i-[0-9a-f]+)\s*</instanceId>")
_CODES = {"pending": 0, "running": 16, "shutting-down": 32, "terminated": 48,
          "stopping": 64, "stopped": 80}  # fmt: skip
_NAMED_ID = re.compile(r"^(InstanceId(\.\d+)?|ResourceId\.\d+)$")


@dataclass
class _Transition:
    due: float
    region: str
    to: str  # "running" | "stopped" | "terminated"
    reason: tuple[str, str] | None = None  # StateReason (code, message) when it dies


def _set_state(region: str, instance_id: str, name: str) -> None:
    found = mi.instance(region, instance_id)
    if found is not None:
        found._state.name, found._state.code = name, _CODES[name]


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _all(node: ET.Element, *names: str) -> list[ET.Element]:
    return [e for e in node.iter() if _local(e.tag) in names]


def _parse(body: bytes) -> ET.Element:
    namespace = re.search(rb'xmlns="([^"]+)"', body)
    if namespace is not None:
        ET.register_namespace("", namespace.group(1).decode())
    return ET.fromstring(body)


def _xml(root: ET.Element) -> bytes:
    data: bytes = ET.tostring(root, xml_declaration=True, encoding="UTF-8")
    return data


def _error(code: str, message: str) -> InjectedError:
    return InjectedError(code, 400, message)


class InstanceStates:
    def __init__(
        self,
        realism: Realism,
        *,
        monotonic: Callable[[], float],
        default_region: str,
        on_running: Callable[[str, str], None] = lambda region, iid: None,
        on_died: Callable[[str, str], None] = lambda region, iid: None,
    ) -> None:
        self.realism = realism
        self._monotonic = monotonic
        self._region = default_region
        self.on_running = on_running
        self.on_died = on_died
        self._lock = threading.RLock()
        self._transitions: dict[str, _Transition] = {}
        self._fresh: dict[str, float] = {}  # instance id → end of its NotFound window
        self._doomed: dict[str, tuple[str, str]] = {}
        self.impaired: set[str] = set()
        self.armed = False  # the world's own first instances start `running`

    def clear(self) -> None:
        with self._lock:
            self._transitions.clear()
            self._fresh.clear()
            self._doomed.clear()
            self.impaired.clear()

    def region(self, request: AwsRequest) -> str:
        return request.region or self._region

    # ------------------------------------------------------------ settling

    def settle(self) -> None:
        now = self._monotonic()
        with self._lock:
            due = [(iid, t) for iid, t in self._transitions.items() if t.due <= now]
            for iid, _ in due:
                del self._transitions[iid]
            self._fresh = {iid: end for iid, end in self._fresh.items() if end > now}
        for iid, t in sorted(due, key=lambda item: item[1].due):
            if mi.instance_state(t.region, iid) in ("terminated", "shutting-down"):
                continue
            if t.to == "terminated":
                self._die(t.region, iid, t.reason or ("Server.InternalError", "internal error"))
            else:
                _set_state(t.region, iid, t.to)
                if t.to == "running":
                    self.on_running(t.region, iid)

    def _die(self, region: str, instance_id: str, reason: tuple[str, str]) -> None:
        found = mi.instance(region, instance_id)
        if found is None:
            return
        found.terminate()
        code, message = reason
        found.state_reason.code, found.state_reason.message = code, f"{code}: {message}"
        self.on_died(region, instance_id)

    def state(self, region: str, instance_id: str) -> str | None:
        return mi.instance_state(region, instance_id)

    # ------------------------------------------------------------ transitions

    def launched(self, region: str, instance_id: str) -> None:
        """RunInstances made this instance: pending (maybe doomed), not found for a moment."""
        if not self.armed:
            return
        now = self._monotonic()
        with self._lock:
            if self.realism.on("not-found"):
                self._fresh[instance_id] = now + self.realism.not_found_window
            doom = self._doomed.pop(instance_id, None)
            to = "terminated" if doom else "running"
            self._transitions[instance_id] = _Transition(
                now + self.realism.effective_pending, region, to, doom
            )
        _set_state(region, instance_id, "pending")

    def doom(self, instance_id: str, code: str, message: str) -> None:
        """This launch dies in pending (call before `launched`)."""
        with self._lock:
            self._doomed[instance_id] = (code, message)

    def stopping(self, region: str, instance_id: str) -> None:
        delay = self.realism.stop_delay if self.realism.on("stop-start") else 0.0
        with self._lock:
            self._transitions[instance_id] = _Transition(
                self._monotonic() + delay, region, "stopped"
            )
        _set_state(region, instance_id, "stopping" if delay else "stopped")

    def starting(self, region: str, instance_id: str) -> None:
        with self._lock:
            self.impaired.discard(instance_id)  # a start lands on other hardware
            self._transitions[instance_id] = _Transition(
                self._monotonic() + self.realism.effective_pending, region, "running"
            )
        _set_state(region, instance_id, "pending")

    # ------------------------------------------------------------ before hooks

    def _named_fresh(self, request: AwsRequest) -> str | None:
        with self._lock:
            fresh = set(self._fresh)
        for key, value in request.params.items():
            if _NAMED_ID.match(key) and value in fresh:
                return value
        return None

    def before_any(self, request: AwsRequest) -> InjectedError | None:
        self.settle()
        if request.action == "RunInstances":
            return None
        fresh = self._named_fresh(request)
        if fresh is not None:
            return _error("InvalidInstanceID.NotFound", f"The instance ID '{fresh}' does not exist")
        return None

    def before_pending_sensitive(self, request: AwsRequest) -> InjectedError | None:
        """AssociateAddress, ModifyInstanceAttribute, StopInstances, StartInstances."""
        if request.params.get("DryRun", "").lower() == "true":
            return None
        region, action = self.region(request), request.action
        ids = mi.instance_ids(request.params)
        if request.params.get("InstanceId"):
            ids.append(request.params["InstanceId"])
        for iid in ids:
            state = self.state(region, iid)
            if state == "pending" and action in ("AssociateAddress", "ModifyInstanceAttribute"):
                message = (
                    f"The pending instance '{iid}' is not in a valid state for this operation."
                )
                return _error("InvalidInstanceID", message)
            if state == "pending" and action == "StopInstances":
                message = f"Instance '{iid}' cannot be stopped as it has never reached the "
                message += "'running' state."
                return _error("IncorrectInstanceState", message)
            if action == "StartInstances" and state in ("stopping", "pending", "shutting-down"):
                message = f"The instance '{iid}' is not in a state from which it can be started."
                return _error("IncorrectInstanceState", message)
            if action == "RebootInstances" and state in ("stopping", "stopped", "pending"):
                message = f"The instance '{iid}' is not in a state from which it can be rebooted."
                return _error("IncorrectInstanceState", message)
        eni = request.params.get("NetworkInterfaceId")
        if action == "AssociateAddress" and eni:
            holder = mi.eni_instance(region, eni)
            if holder is not None and self.state(region, holder) == "pending":
                message = (
                    f"The pending-instance-creation instance to which '{eni}' is attached is "
                    "not in a valid state for this operation"
                )
                return _error("IncorrectInstanceState", message)
        return None

    # ------------------------------------------------------------ after hooks

    def hide_fresh(self, call: ApiCall) -> bytes | None:
        """A filtered DescribeInstances does not list a just-launched instance yet."""
        with self._lock:
            fresh = set(self._fresh)
        if call.status != 200 or not fresh:
            return None
        if not any(m.decode() in fresh for m in _INSTANCE_IN_BODY.findall(call.body)):
            return None
        root = _parse(call.body)
        for holder in _all(root, "reservationSet", "instanceStatusSet"):
            for item in list(holder):
                if {e.text for e in _all(item, "instanceId")} & fresh:
                    holder.remove(item)
        return _xml(root)

    def report_impaired(self, call: ApiCall) -> bytes | None:
        """DescribeInstanceStatus: an impaired instance fails both status checks."""
        with self._lock:
            impaired = set(self.impaired)
        if call.status != 200 or not impaired:
            return None
        root = _parse(call.body)
        changed = False
        for holder in _all(root, "instanceStatusSet"):
            for item in list(holder):
                if not {e.text for e in _all(item, "instanceId")} & impaired:
                    continue
                for check in _all(item, "systemStatus", "instanceStatus"):
                    for status in _all(check, "status"):
                        status.text = {"ok": "impaired", "passed": "failed"}.get(
                            status.text or "", status.text
                        )
                        changed = True
        return _xml(root) if changed else None

    def is_pending(self, region: str, instance_id: str) -> bool:
        return self.state(region, instance_id) == "pending"

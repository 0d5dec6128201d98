"""Pure helpers of the VyOS adapter: command lines, config scripts, error detection, views."""

from __future__ import annotations

import re
import shlex

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vpnwatch.adapters import vyos_script as script
from vpnwatch.adapters.vyos_errors import (
    CommandFailed,
    HostKeyMismatch,
    SshTimeout,
    UnsafeCommand,
)
from vpnwatch.errors import ParseError
from vpnwatch.model import BgpSummary, IkeSaList, IpsecSaList
from vpnwatch.vocabulary import SshErrorKind

PSK_COMMAND = (
    "set vpn ipsec site-to-site peer 203.0.113.7 authentication pre-shared-secret 'Zq8-psk-xyz'"
)

# Real VyOS answers (napalm-vyos PR #48, netmiko PR #777, VyOS CLI docs)
COMMIT_FAILED_L2TP = """\
[ interfaces l2tpv3 l2tpeth1 address 192.168.1/30 ]
Error: 192.168.1/30 is not a valid IP host



[ interfaces l2tpv3 l2tpeth1 address 192.168.1/30 ]
Invalid value

[[interfaces l2tpv3 l2tpeth1]] failed
Commit failed
[edit]
"""
COMMIT_FAILED_HOSTNAME = """\
[ system host-name saltvy_osaa2 ]
invalid host name saltvy_osaa2

[[system host-name]] failed
Commit failed
[edit]
"""
SET_FAILED = """\

  Configuration path: [interfaces ethernet eth0 foo] is not valid
  Set failed

[edit]
"""
SAVED = """\
[edit]
[edit]
Saving configuration to '/config/config.boot'...
Done
[edit]
"""


# ---------------------------------------------------------------- command lines


def test_op_command_goes_through_the_op_mode_wrapper() -> None:
    line = script.op_command_line("show ip bgp summary")
    assert line == "/opt/vyatta/bin/vyatta-op-cmd-wrapper show ip bgp summary"
    assert shlex.split(line)[1:] == ["show", "ip", "bgp", "summary"]


def test_op_command_arguments_are_shell_quoted() -> None:
    line = script.op_command_line("show interfaces description 'a b;c'")
    assert shlex.split(line) == [script.OP_WRAPPER, "show", "interfaces", "description", "a b;c"]


@pytest.mark.parametrize("bad", ["", "   ", "show ip\nbgp", "show\x00", "show 'open"])
def test_bad_op_commands_are_rejected(bad: str) -> None:
    with pytest.raises(UnsafeCommand):
        script.op_command_line(bad)


def test_bgp_json_line_is_vtysh_with_one_quoted_argument() -> None:
    assert shlex.split(script.BGP_SUMMARY_JSON_LINE) == ["vtysh", "-c", "show ip bgp summary json"]


# ---------------------------------------------------------------- config scripts


def test_config_script_layout() -> None:
    text = script.build_config_script(["delete system ntp", "merge /config/restore.boot"])
    assert text.splitlines() == [
        "source /opt/vyatta/etc/functions/script-template",
        "configure",
        "delete system ntp",
        "merge /config/restore.boot",
        "commit",
        "save",
        "exit",
    ]
    assert text.endswith("\n")


def test_config_script_without_save() -> None:
    lines = script.build_config_script(["set system host-name 'r1'"], save=False).splitlines()
    assert lines[-2:] == ["commit", "exit"]
    assert "save" not in lines


@pytest.mark.parametrize(
    ("command", "reason"),
    [
        ("set system host-name r1\nrm -rf /", "control character"),
        ("set system host-name r1\rx", "control character"),
        ("set system\thost-name r1", "control character"),
        ("set system host-name r1; reboot", "';' outside quotes"),
        ("set system host-name $(id)", "'$' outside quotes"),
        ('set system host-name "$(id)"', "inside double quotes"),
        ("set system host-name `id`", "'`' outside quotes"),
        ("set system host-name 'r1", "unbalanced quote"),
        ("set system host-name r1 # comment", "'#' outside quotes"),
        ("run reboot now", "verb is not one of"),
        ("exit discard", "verb is not one of"),
        ("", "empty"),
    ],
)
def test_unsafe_config_commands_are_rejected(command: str, reason: str) -> None:
    with pytest.raises(UnsafeCommand, match=re.escape(reason)):
        script.build_config_script(["set system ntp server 192.0.2.1", command])


def test_rejection_names_the_position_not_the_text() -> None:
    with pytest.raises(UnsafeCommand) as info:
        script.validate_config_commands([PSK_COMMAND, PSK_COMMAND + "\n"])
    assert "#2" in str(info.value)
    assert "Zq8-psk-xyz" not in str(info.value)


def test_a_single_string_is_not_a_command_list() -> None:
    with pytest.raises(UnsafeCommand, match="sequence"):
        script.validate_config_commands("set system host-name r1")


def test_quoted_values_may_hold_shell_characters() -> None:
    script.validate_config_commands(
        [
            "set system login banner pre-login 'no; entry $here & `there`'",
            'set interfaces ethernet eth0 description "uplink (primary)"',
            PSK_COMMAND,
        ]
    )


@given(
    st.text(alphabet=st.characters(codec="utf-8"), min_size=1).filter(
        lambda s: any(not ch.isprintable() for ch in s)
    )
)
def test_any_control_character_is_rejected(junk: str) -> None:
    with pytest.raises(UnsafeCommand):
        script.validate_config_commands([f"set system host-name '{junk}'"])


# ---------------------------------------------------------------- reading the answer


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        (
            COMMIT_FAILED_L2TP,
            "a commit script of a node failed; Commit failed (output lines 9, 10)",
        ),
        (COMMIT_FAILED_HOSTNAME, "a commit script of a node failed; Commit failed"),
        (SET_FAILED, "configuration path is not valid; Set failed (output lines 2, 3)"),
        (
            "Cannot open configuration file /config/nope: No such file\n",
            "cannot open configuration file (output line 1)",
        ),
        ("vbash: line 3: sett: command not found\n", "command not found (output line 1)"),
    ],
)
def test_failures_are_found_in_the_output_even_with_exit_status_0(
    output: str, expected: str
) -> None:
    failure = script.config_failure(output, 0)
    assert failure is not None
    assert expected in failure
    # kinds and positions only: the router's words echo config values
    for echoed in ("l2tpeth1", "192.168.1/30", "saltvy_osaa2", "eth0 foo", "/config/nope", "sett"):
        assert echoed not in failure


def test_a_nonzero_exit_status_alone_is_a_failure() -> None:
    failure = script.config_failure("some\nlast words\n", 1)
    assert failure == "configuration script ended with exit status 1 after 2 lines of output"
    assert script.config_failure("", None) == "configuration script ended with no exit status"


@pytest.mark.parametrize("output", [SAVED, "", "No configuration changes to commit\n[edit]\n"])
def test_noise_only_output_is_success(output: str) -> None:
    assert script.config_failure(output, 0) is None


def test_clean_output_drops_edit_noise() -> None:
    assert script.clean_config_output(SAVED) == ""
    assert script.clean_config_output("[edit]\nhello\n\n[edit]\n") == "hello"


def test_op_failures() -> None:
    invalid = "Invalid command: the router refused it (output line 2)"
    assert script.op_failure("\n  Invalid command: [show foo]\n\n", 1) == invalid
    assert script.op_failure("  Invalid command: show [foo]\n", 0) == invalid.replace("2)", "1)")
    assert script.op_failure("secret Zq8-psk-xyz\n", 2) == "exit status 2 (1 line of output)"
    assert script.op_failure("", None) == "no exit status"
    assert script.op_failure("fine\n", 0) is None


def test_failure_messages_are_bounded() -> None:
    failure = script.config_failure("x" * 5000 + "\nCommit failed\n", 0)
    assert failure is not None
    assert len(failure) <= 400


# ---------------------------------------------------------------- secrets


def test_an_echoed_secret_never_reaches_a_view() -> None:
    echo = "Configuration path: [vpn ipsec authentication pre-shared-secret Zq8-psk-xyz] invalid"
    view = script.observation_view("r1", ParseError(echo), IKE, IPSEC)
    assert view.error is not None and "Zq8-psk-xyz" not in view.error
    view = script.error_view("r1", CommandFailed("r1", echo))
    assert view.error is not None and "Zq8-psk-xyz" not in view.error
    assert "pre-shared-secret <redacted>" in view.error


# ---------------------------------------------------------------- backoff


def test_reconnect_delay_doubles_up_to_the_cap() -> None:
    delays = [script.reconnect_delay(n, 1.0, 30.0) for n in range(8)]
    assert delays == [0.0, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
    assert script.reconnect_delay(10_000, 0.5, 7.0) == 7.0


# ---------------------------------------------------------------- views

BGP = BgpSummary("10.0.0.1", 65000, ())
IKE = IkeSaList(())
IPSEC = IpsecSaList(())


def test_all_answers_give_a_clean_view() -> None:
    view = script.observation_view("r1", BGP, IKE, IPSEC)
    assert (view.reachable, view.error, view.error_kind) == (True, None, None)
    assert (view.bgp, view.ike, view.ipsec) == (BGP, IKE, IPSEC)


def test_a_parse_error_keeps_the_other_parts_and_reads_as_parse() -> None:
    view = script.observation_view("r1", BGP, ParseError("show vpn ike sa: bad"), IPSEC)
    assert view.reachable
    assert view.error_kind is SshErrorKind.PARSE
    assert view.error == "show vpn ike sa: bad"
    assert view.bgp == BGP and view.ike is None and view.ipsec == IPSEC


def test_transport_errors_outrank_command_and_parse_errors() -> None:
    view = script.observation_view(
        "r1", ParseError("x"), CommandFailed("r1", "nope"), SshTimeout("r1", "slow")
    )
    assert (view.reachable, view.error_kind, view.error) == (False, SshErrorKind.TIMEOUT, "slow")
    view = script.observation_view("r1", ParseError("x"), CommandFailed("r1", "nope"), IPSEC)
    assert (view.reachable, view.error_kind) == (True, SshErrorKind.COMMAND)


def test_a_bug_reads_as_unknown_not_as_a_dead_router() -> None:
    view = script.observation_view("r1", KeyError("oops"), IKE, IPSEC)
    assert view.reachable
    assert view.error_kind is SshErrorKind.PARSE
    assert view.error is not None and "internal error" in view.error
    assert script.error_view("r1", RuntimeError("x")).error_kind is SshErrorKind.PARSE
    host_key = script.error_view("r1", HostKeyMismatch("r1", "bad key"))
    assert (host_key.reachable, host_key.error_kind) == (False, SshErrorKind.HOST_KEY)


def test_host_key_detail_names_both_fingerprints() -> None:
    detail = script.host_key_detail(
        "192.0.2.1:22", "known_hosts /k", "ssh-ed25519 SHA256:new", ["ssh-ed25519 SHA256:old"]
    )
    assert "SHA256:new" in detail and "SHA256:old" in detail and "192.0.2.1:22" in detail
    unknown = script.host_key_detail("192.0.2.1:22", "known_hosts /k", None, [])
    assert "unknown" in unknown and "no entry in known_hosts /k" in unknown


def test_ipsec_not_running_is_an_answer_not_a_failure() -> None:
    from vpnwatch.adapters.vyos_script import op_failure

    sa = {"not_running_is_an_answer": True}
    assert op_failure("IPsec is not runing\n", 1, **sa) is None  # VyOS 1.3's own spelling
    assert op_failure("IPsec not initialized\n", 1, **sa) is None  # VyOS 1.4
    assert op_failure("something broke\n", 1, **sa) is not None
    # for any other command (a reset, above all) it is still a failure
    assert op_failure("bgpd is not running\n", 1) is not None

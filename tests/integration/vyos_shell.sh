#!/bin/bash
# VyOS-like op-mode shell of the integration lab: sshd's ForceCommand in router r1.
#
# Runs as the SSH user (group frrvty) inside r1's network namespace and answers the commands
# vpnwatch sends, from the real daemons:
#   [/opt/vyatta/bin/vyatta-op-cmd-wrapper] show ip bgp summary [json]  -> vtysh
#   [/opt/vyatta/bin/vyatta-op-cmd-wrapper] show ip bgp ... | show ip route ...  -> vtysh
#   [/opt/vyatta/bin/vyatta-op-cmd-wrapper] show vpn ike sa | show vpn ipsec sa
#        -> swanctl --list-sas, printed as VyOS >= 1.3 tables by vyos_vpn_fmt.py
#   vtysh -c 'show ...'                                                  -> vtysh (show only)
# Anything else: VyOS's "Invalid command" answer and exit status 1.
# Paths come from shell.env next to this script (written by the test fixture).
set -u
here=$(dirname "$(readlink -f "$0")")
# shellcheck source=/dev/null
. "$here/shell.env" || { echo "vyos_shell: cannot read $here/shell.env" >&2; exit 1; }
# ssh sessions of a normal user have no sbin in PATH (swanctl lives in /usr/sbin)
export PATH=/usr/sbin:/usr/bin:/sbin:/bin STRONGSWAN_CONF

# --config_dir: the default /etc/frr/vtysh.conf is not readable by this user
vt() { vtysh --config_dir "$VTYSH_CONF_DIR" --vty_socket "$VTY_DIR" -c "$1"; }
sas() { swanctl --list-sas --pretty --uri "$VICI_URI" 2>/dev/null; }

run_one() {
    local c=$1
    c=${c#/opt/vyatta/bin/vyatta-op-cmd-wrapper }
    c=$(printf '%s' "$c" | tr -s ' ')
    c=${c# }
    c=${c% }
    case "$c" in
        "show ip bgp summary" | "show bgp summary") vt "show ip bgp summary" ;;
        "show ip bgp summary json" | "show bgp summary json") vt "show ip bgp summary json" ;;
        "show ip bgp "* | "show ip route"*) vt "$c" ;;
        "show vpn ike sa") sas | /usr/bin/python3 "$here/vyos_vpn_fmt.py" ike ;;
        "show vpn ipsec sa") sas | /usr/bin/python3 "$here/vyos_vpn_fmt.py" ipsec ;;
        "vtysh -c '"*"'")
            local q=${c#vtysh -c \'}
            q=${q%\'}
            case "$q" in
                show\ *) vt "$q" ;;
                *) echo "% this lab only passes show commands to vtysh"; return 1 ;;
            esac ;;
        *)
            printf '\n  Invalid command: [%s]\n\n' "$c"
            return 1 ;;
    esac
}

if [ -z "${SSH_ORIGINAL_COMMAND:-}" ]; then
    echo "vyos_shell: interactive sessions are not supported in the lab" >&2
    exit 1
fi
run_one "$SSH_ORIGINAL_COMMAND"

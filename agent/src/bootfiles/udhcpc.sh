#!/bin/sh
# udhcpc's hook in the agent initramfs: put the leased address and default route on the interface.
case "$1" in
    deconfig)
        ip addr flush dev "$interface"
        ip link set "$interface" up
        ;;
    bound|renew)
        # The network's MTU (DHCP option 26, asked for with -O mtu): on a jumbo-frame network the
        # server's manifests are cut for it, and a NIC left at 1500 drops every session datagram.
        # Drivers such as e1000 reset the NIC for a new MTU, and the link drops for a moment: wait
        # (at most 10 s) for its carrier, so the agent neither reports it down nor sends into it.
        if [ -n "$mtu" ] && [ "$mtu" != "$(cat "/sys/class/net/$interface/mtu")" ]; then
            ip link set dev "$interface" mtu "$mtu"
            tries=0
            while [ "$(cat "/sys/class/net/$interface/carrier" 2>/dev/null)" != 1 ] && [ "$tries" -lt 100 ]; do
                sleep 0.1
                tries=$((tries + 1))
            done
        fi
        ifconfig "$interface" "$ip" netmask "${subnet:-255.255.255.0}" up
        if [ -n "$router" ]; then
            ip route replace default via "${router%% *}" dev "$interface"
        fi
        ;;
esac
exit 0

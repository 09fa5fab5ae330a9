#!/bin/sh
# busybox udhcpc hook: apply the lease (udhcpc sets $interface $ip $mask $router $dns).
case "$1" in
    deconfig)
        ip addr flush dev "$interface"
        ip link set "$interface" up
        ;;
    bound|renew)
        ip addr flush dev "$interface"
        ip addr add "$ip/${mask:-24}" dev "$interface"
        if [ -n "$router" ]; then
            ip route del default 2>/dev/null
            for gw in $router; do ip route add default via "$gw" dev "$interface"; break; done
        fi
        : > /etc/resolv.conf
        for server in $dns; do echo "nameserver $server" >> /etc/resolv.conf; done
        echo "zos-init: $interface: DHCP $ip/${mask:-24} via $router" > /dev/console
        ;;
esac
exit 0

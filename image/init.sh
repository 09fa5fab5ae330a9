#!/bin/busybox sh
# /init of the zos node image (busybox sh). Placeholders (at-signs around a name) are filled in by `zos image build`.
#
# As PID 1 (no argument): mount the API filesystems, load the spec's modules, set the hostname,
# bring up the network, read the kernel arguments into /run/zos/agent.env, then exec busybox
# init, which stays PID 1: it reaps orphaned processes and respawns `/init agent` whenever the
# node agent exits, so an agent crash restarts the agent instead of panicking the kernel.
# `/init agent`: run the node agent in the foreground with the arguments read at boot.

export PATH=/usr/sbin:/usr/bin:/sbin:/bin
export PYTHONHOME=/usr PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 HOME=/root

say() { echo "zos-init: $*" > /dev/console; }

run_agent() {
    . /run/zos/agent.env
    if [ -z "$ZOS_NATS" ]; then
        say "no zos.nats= on the kernel command line; the node agent needs a bus (waiting)"
        exec sleep 3600
    fi
    if [ -f /run/zos/agent.started ]; then
        say "node agent exited; restarting in @RESTART_DELAY@ s"
        sleep @RESTART_DELAY@
    fi
    touch /run/zos/agent.started
    set -- @AGENT@ --node-id "$ZOS_NODE" --nats "$ZOS_NATS" --allow-power
    [ -n "$ZOS_REDIS_LISTEN" ] && set -- "$@" --redis-listen "$ZOS_REDIS_LISTEN"
    say "starting node agent $ZOS_NODE (uptime $(cut -d' ' -f1 /proc/uptime) s): $*"
    exec "$@"
}

if [ "$1" = "agent" ]; then
    run_agent
fi

mkdir -p /proc /sys /dev /run /tmp /var/lib/zos /root
mount -t proc -o nosuid,nodev,noexec proc /proc
mount -t sysfs -o nosuid,nodev,noexec sysfs /sys
# The Debian kernel has DEVTMPFS=y but not DEVTMPFS_MOUNT: mount it ourselves.
mount -t devtmpfs -o nosuid,mode=0755 devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts -o gid=5,mode=0620,ptmxmode=0666 devpts /dev/pts
mount -t tmpfs -o nosuid,nodev,mode=0755 tmpfs /run
mount -t tmpfs -o nosuid,nodev,mode=1777 tmpfs /tmp
mount -t tmpfs -o nosuid,nodev,mode=1777 tmpfs /dev/shm
mkdir -p /run/zos
[ -e /etc/mtab ] || ln -s /proc/mounts /etc/mtab

# Kernel arguments: words of /proc/cmdline; repeated keys: the last one wins.
ZOS_NATS=; ZOS_NODE=; ZOS_HUB=; ZOS_REDIS=; ZOS_IP=; ZOS_GW=; ZOS_DNS=; DEVELOPMENT=; DEBUG=
for word in $(cat /proc/cmdline); do
    case "$word" in
        zos.nats=*) ZOS_NATS="${word#zos.nats=}" ;;
        zos.node=*) ZOS_NODE="${word#zos.node=}" ;;
        zos.hub=*) ZOS_HUB="${word#zos.hub=}" ;;
        zos.redis=*) ZOS_REDIS="${word#zos.redis=}" ;;
        zos.ip=*) ZOS_IP="${word#zos.ip=}" ;;
        zos.gw=*) ZOS_GW="${word#zos.gw=}" ;;
        zos.dns=*) ZOS_DNS="${word#zos.dns=}" ;;
        development) DEVELOPMENT=1 ;;
        debug) DEBUG=1 ;;
    esac
done
[ -n "$DEBUG" ] && set -x

say "kernel $(uname -r), image @IMAGE@"
for module in @MODULES@; do
    modprobe "$module" || say "module $module did not load"
done

hostname "@HOSTNAME@"
echo "@HOSTNAME@" > /etc/hostname
ip link set lo up

# The first NIC (sorted by name) carries the node: static from zos.ip=/zos.gw=, else DHCP.
nic=
for path in /sys/class/net/*; do
    name="${path##*/}"
    [ "$name" = lo ] && continue
    nic="$name"
    break
done
if [ -z "$nic" ]; then
    say "no network interface found"
else
    ip link set "$nic" up
    if [ -n "$ZOS_IP" ]; then
        ip addr add "$ZOS_IP" dev "$nic"
        [ -n "$ZOS_GW" ] && ip route add default via "$ZOS_GW"
        [ -n "$ZOS_DNS" ] && echo "nameserver $ZOS_DNS" > /etc/resolv.conf
        say "$nic: static $ZOS_IP"
    else
        # Background after the lease (renewals), or after 10 tries without one.
        udhcpc -i "$nic" -s /usr/share/udhcpc/default.script -t 10 -T 2 -b -p /run/udhcpc."$nic".pid \
            || say "$nic: DHCP failed"
    fi
    [ -z "$ZOS_NODE" ] && ZOS_NODE="$(tr -d ':' < /sys/class/net/"$nic"/address)"
fi
[ -z "$ZOS_NODE" ] && ZOS_NODE="@HOSTNAME@"

# The Redis bridge listens where zos.redis= says; `development` opens it on every address
# (upstream: redis-proxy on :6379 only in development mode).
ZOS_REDIS_LISTEN="$ZOS_REDIS"
[ -z "$ZOS_REDIS_LISTEN" ] && [ -n "$DEVELOPMENT" ] && ZOS_REDIS_LISTEN="0.0.0.0:6379"

cat > /run/zos/agent.env <<ENV
ZOS_NATS='$ZOS_NATS'
ZOS_NODE='$ZOS_NODE'
ZOS_REDIS_LISTEN='$ZOS_REDIS_LISTEN'
export ZOS_HUB='$ZOS_HUB'
export ZOS_DATA=/var/lib/zos
export ZOS_LOG_LEVEL='$([ -n "$DEBUG" ] && echo DEBUG || echo INFO)'
ENV

cat > /etc/inittab <<TAB
::respawn:/init agent
::ctrlaltdel:/bin/poweroff -f
::shutdown:/bin/umount -a -r
TAB
[ -n "$DEBUG" ] && echo "::askfirst:-/bin/sh" >> /etc/inittab
say "handing PID 1 to busybox init (node $ZOS_NODE, bus $ZOS_NATS)"
exec /bin/busybox init

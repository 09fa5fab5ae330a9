"""A tiny test guest: the host's kernel + a busybox initramfs built here in well under a second.

The guest's /init loads the virtio modules, prints `GUEST READY`, then runs the script named
by `zos.test=<name>` on the kernel command line (see SCRIPTS). Every script is plain busybox
sh, so the guest boots with TCG in a few seconds and 64-128 MiB RAM.
"""

from __future__ import annotations

import glob
import gzip
import io
import os
import stat
from pathlib import Path

import pytest

from zos.image import CpioEntry, write_cpio

MODULES = ["virtio_ring", "virtio", "virtio_pci_legacy_dev", "virtio_pci_modern_dev", "virtio_pci",
           "virtio_blk", "failover", "net_failover", "virtio_net", "evdev", "button",
           "netfs", "fscache", "9pnet", "9pnet_virtio", "9p"]

INIT = r"""#!/bin/sh
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in MODULES; do insmod /lib/modules/$m.ko 2>/dev/null; done
# ACPI power button (kvm.shutdown): any event from an input device powers off
for e in /dev/input/event*; do (dd if=$e bs=24 count=1 2>/dev/null >/dev/null; echo "POWER BUTTON"; poweroff -f) & done
if grep -q 'root=root' /proc/cmdline; then
  mkdir -p /mnt; mount -t 9p -o trans=virtio,version=9p2000.L root /mnt && echo "CONFIG $(cat /mnt/etc/zos-config)"
fi
name=$(sed -n 's/.*zos\.test=\([a-z0-9_]*\).*/\1/p' /proc/cmdline)
echo "GUEST READY"
[ -x /scripts/$name ] && /scripts/$name
while true; do sleep 1; done
"""

SCRIPTS = {
    # write a marker to the first block of /dev/vda, then power off
    "marker": "#!/bin/sh\n"
              "while [ ! -b /dev/vda ]; do sleep 0.1; done\n"
              "echo -n ZOS-MARKER-0123456789 | dd of=/dev/vda bs=512 count=1 conv=sync,fsync 2>/dev/null\n"
              "sync\necho MARKER WRITTEN\npoweroff -f\n",
    # power off at once
    "poweroff": "#!/bin/sh\necho POWERING OFF\npoweroff -f\n",
    # 32 MiB sequential 1 MiB writes then reads on /dev/vda, timed by the guest's clock
    "ddbench": "#!/bin/sh\nwhile [ ! -b /dev/vda ]; do sleep 0.1; done\n"
               "read t0 rest < /proc/uptime\n"
               "dd if=/dev/zero of=/dev/vda bs=1M count=32 conv=fsync 2>/dev/null\n"
               "read t1 rest < /proc/uptime\necho 3 > /proc/sys/vm/drop_caches\n"
               "dd if=/dev/vda of=/dev/null bs=1M count=32 2>/dev/null\n"
               "read t2 rest < /proc/uptime\necho \"DD $t0 $t1 $t2\"\npoweroff -f\n",
    # count on the serial console, forever
    "count": "#!/bin/sh\ni=0\nwhile true; do i=$((i+1)); echo \"COUNT $i\"; sleep 0.2; done\n",
    # report block devices as they come and go
    "blocks": "#!/bin/sh\nlast=''\nwhile true; do now=$(ls /sys/block | tr '\\n' ' ');"
              " [ \"$now\" != \"$last\" ] && echo \"BLOCKS $now\"; last=$now; sleep 0.2; done\n",
    # report network devices as they come and go
    "nics": "#!/bin/sh\nwhile [ ! -e /sys/class/net/eth0 ]; do sleep 0.1; done\n"
            "ip addr add 172.19.0.2/16 dev eth0; ip link set eth0 up; echo NET UP\n"
            "last=''\nwhile true; do now=$(ls /sys/class/net | tr '\\n' ' ');"
            " [ \"$now\" != \"$last\" ] && echo \"NICS $now\"; last=$now; sleep 0.2; done\n",
}


def kernel() -> str:
    found = sorted(glob.glob("/boot/vmlinuz-*"))
    if not found:
        pytest.skip("no /boot/vmlinuz-*: Debian package linux-image-amd64 is not installed")
    return found[-1]


def _module_path(release: str, name: str) -> str:
    for line in open(f"/lib/modules/{release}/modules.dep"):
        path = line.split(":", 1)[0]
        if os.path.basename(path) == f"{name}.ko":
            return f"/lib/modules/{release}/{path}"
    raise FileNotFoundError(name)


def build_initramfs(out: Path) -> Path:
    """Write `initramfs.cpio.gz` into `out` and return its path."""
    if not os.path.isfile("/bin/busybox"):
        pytest.skip("no /bin/busybox: Debian package busybox-static is not installed")
    release = os.path.basename(kernel())[len("vmlinuz-"):]
    entries = [CpioEntry(d, stat.S_IFDIR | 0o755) for d in
               (".", "bin", "dev", "proc", "sys", "etc", "lib", "lib/modules", "scripts", "tmp")]
    entries.append(CpioEntry("bin/busybox", stat.S_IFREG | 0o755, Path("/bin/busybox").read_bytes()))
    for applet in ("sh", "mount", "insmod", "sleep", "echo", "sed", "dd", "sync", "poweroff", "ls", "tr",
                   "cat", "mkdir", "grep", "ip", "udhcpc", "seq"):
        entries.append(CpioEntry(f"bin/{applet}", stat.S_IFLNK | 0o777, b"busybox"))
    loaded = []
    for name in MODULES:
        try:
            path = _module_path(release, name)
        except FileNotFoundError:
            continue
        entries.append(CpioEntry(f"lib/modules/{name}.ko", stat.S_IFREG | 0o644, Path(path).read_bytes()))
        loaded.append(name)
    entries.append(CpioEntry("init", stat.S_IFREG | 0o755, INIT.replace("MODULES", " ".join(loaded)).encode()))
    for name, text in SCRIPTS.items():
        entries.append(CpioEntry(f"scripts/{name}", stat.S_IFREG | 0o755, text.encode()))
    raw = io.BytesIO()
    write_cpio(raw, entries)
    out.mkdir(parents=True, exist_ok=True)
    target = out / "initramfs.cpio.gz"
    target.write_bytes(gzip.compress(raw.getvalue(), 1, mtime=0))
    return target


CMDLINE = "console=ttyS0 quiet panic=-1 zos.test={}"

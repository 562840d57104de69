#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Measure vfiosim: attribute reads/s over FUSE, lspci -Dnnk and libudev
enumeration over FUSE and over the --export tree, unbind+probe cycles.

    unshare -m --propagation private /usr/bin/python3 tests/sim/measure.py BINARY [N...]

N: device counts to generate with gen-large.py (default: large.json, 4000).
Not a test: numbers depend on the machine and its load.
"""

import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import vfiosim  # noqa: E402

ATTRS = ('vendor', 'device', 'class', 'uevent')


def median_time(cmd, env=None, runs=3):
    times = []
    for _ in range(runs):
        t = time.monotonic()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, env=env)
        times.append(time.monotonic() - t)
    return statistics.median(times)


def read_rate(paths):
    t = time.monotonic()
    for p in paths:
        fd = os.open(p, os.O_RDONLY)
        os.read(fd, 4096)
        os.close(fd)
    return len(paths) / (time.monotonic() - t)


def measure(binary, topology, label):
    env = dict(os.environ, SYSTEMD_DEVICE_VERIFY_SYSFS='0')
    udev = ['udevadm', 'trigger', '--dry-run', '--subsystem-match=pci']
    with tempfile.TemporaryDirectory() as work:
        with vfiosim.Sim(topology, os.path.join(work, 'sim'), binary) as sim:
            devs = sorted(os.listdir('/sys/bus/pci/devices'))
            sample = devs[:500]
            real = [os.path.realpath('/sys/bus/pci/devices/' + d) for d in sample]
            canonical = read_rate(['%s/%s' % (d, a) for d in real for a in ATTRS])
            via_link = read_rate(['/sys/bus/pci/devices/%s/%s' % (d, a) for d in sample for a in ATTRS])
            lspci_fuse = median_time(['lspci', '-Dnnk'])
            udev_fuse = median_time(udev, env)
            nic = next(d for d in devs if sim.driver_of(d) in ('e1000e', 'i40e', 'igb', 'ixgbe'))
            drv = sim.driver_of(nic)
            t = time.monotonic()
            for _ in range(100):
                with open('/sys/bus/pci/drivers/%s/unbind' % drv, 'w') as f:
                    f.write(nic)
                with open('/sys/bus/pci/drivers_probe', 'w') as f:
                    f.write(nic)
            cycles = time.monotonic() - t
            assert sim.driver_of(nic) == drv
        export = tempfile.mkdtemp(prefix='vfiosim-export-', dir='/dev/shm')
        try:
            t = time.monotonic()
            vfiosim.export(topology, export, binary)
            export_time = time.monotonic() - t
            subprocess.run(['mount', '--bind', export, '/sys'], check=True)
            try:
                lspci_export = median_time(['lspci', '-Dnnk'])
                udev_export = median_time(udev, env)
            finally:
                subprocess.run(['umount', '/sys'], check=True)
        finally:
            subprocess.run(['rm', '-rf', export], check=True)
    print('%s: %d devices' % (label, len(devs)))
    print('  FUSE attribute reads/s (open+read+close): %.0f by canonical path, %.0f through '
          'bus/pci/devices links' % (canonical, via_link))
    print('  lspci -Dnnk:            FUSE %6.2f s   export %.3f s' % (lspci_fuse, lspci_export))
    print('  libudev enumeration:    FUSE %6.2f s   export %.3f s   (udevadm trigger --dry-run)'
          % (udev_fuse, udev_export))
    print('  100 unbind + drivers_probe cycles over FUSE: %.3f s' % cycles)
    print('  --export to tmpfs: %.2f s' % export_time)


def main():
    if len(sys.argv) < 2:
        sys.stderr.write(__doc__)
        return 2
    binary = os.path.abspath(sys.argv[1])
    counts = sys.argv[2:] or ['large', '4000']
    with open('/proc/loadavg') as f:
        print('load average: %s' % ' '.join(f.read().split()[:3]))
    for n in counts:
        if n == 'large':
            measure(binary, 'large', 'large.json')
            continue
        with tempfile.NamedTemporaryFile('w', suffix='.json') as topo:
            subprocess.run([sys.executable, os.path.join(vfiosim.TOPOLOGIES, 'gen-large.py'), n],
                           stdout=topo, check=True)
            measure(binary, topo.name, 'gen-large.py %s' % n)
    return 0


if __name__ == '__main__':
    sys.exit(main())

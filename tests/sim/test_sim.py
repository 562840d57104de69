#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Self-tests of vfiosim: kernel rules, audit log, faults, hot removal, and
that libudev and lspci accept the tree.

    unshare -m --propagation private /usr/bin/python3 test_sim.py CASE
    (VFIOSIM=path/to/vfiosim; `test_sim.py --list` prints the cases)

Every case mounts its own simulator over /sys and tears it down, also on
failure.
"""

import errno
import json
import glob
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vfiosim  # noqa: E402
from vfiosim import Sim  # noqa: E402

NIC = '0000:02:00.0'         # plugin-nic: e1000e behind root port 00:1c.0, group 5
USB = '0000:00:14.0'
SATA = '0000:00:17.0'
RP = '0000:00:1c.0'
NIC_DIR = '/sys/devices/pci0000:00/0000:00:1c.0/0000:02:00.0'
DEV = '/sys/bus/pci/devices/'
DRV = '/sys/bus/pci/drivers/'
PROBE = '/sys/bus/pci/drivers_probe'

CASES = {}


def case(topology='plugin-nic', **kw):
    def wrap(fn):
        CASES[fn.__name__] = (fn, topology, kw)
        return fn
    return wrap


class Fail(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Fail(msg)


def eq(got, want, what=''):
    if got != want:
        raise Fail('%s: got %r, want %r' % (what, got, want))


def read(path, mode='r'):
    with open(path, mode) as f:
        return f.read()


def write(path, data):
    """One write() like `echo > file`; returns 0 or the errno."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
    except OSError as e:
        return e.errno
    try:
        os.write(fd, data.encode() if isinstance(data, str) else data)
        return 0
    except OSError as e:
        return e.errno
    finally:
        os.close(fd)


def expect_write(path, data, err=0):
    got = write(path, data)
    eq(errno.errorcode.get(got, got) if got else 0, errno.errorcode.get(err, err) if err else 0,
       'write %r to %s' % (data, path))


# ---- the tree ----

@case()
def tree(sim):
    eq(read(DEV + NIC + '/vendor'), '0x8086\n', 'vendor')
    eq(read(DEV + NIC + '/device'), '0x10d3\n', 'device')
    eq(read(DEV + NIC + '/class'), '0x020000\n', 'class')
    eq(read(DEV + NIC + '/subsystem_vendor'), '0x8086\n', 'subsystem_vendor')
    eq(read(DEV + NIC + '/subsystem_device'), '0xa01f\n', 'subsystem_device')
    eq(read(DEV + NIC + '/revision'), '0x00\n', 'revision')
    eq(read(DEV + NIC + '/driver_override'), '(null)\n', 'driver_override')
    eq(read(DEV + NIC + '/modalias'),
       'pci:v00008086d000010D3sv00008086sd0000A01Fbc02sc00i00\n', 'modalias')
    eq(read(DEV + NIC + '/uevent'),
       'DRIVER=e1000e\nPCI_CLASS=20000\nPCI_ID=8086:10D3\nPCI_SUBSYS_ID=8086:A01F\n'
       'PCI_SLOT_NAME=0000:02:00.0\n'
       'MODALIAS=pci:v00008086d000010D3sv00008086sd0000A01Fbc02sc00i00\n', 'uevent')
    eq(read(DEV + USB + '/uevent').splitlines()[1], 'PCI_CLASS=C0330', 'USB class')
    # Nesting and links, resolved like the kernel's.
    eq(os.path.realpath(DEV + NIC), NIC_DIR, 'nesting')
    eq(os.readlink(DEV + NIC), '../../../devices/pci0000:00/0000:00:1c.0/0000:02:00.0', 'bus link')
    eq(os.path.realpath(NIC_DIR + '/subsystem'), '/sys/bus/pci', 'subsystem')
    eq(os.path.realpath(NIC_DIR + '/driver'), '/sys/bus/pci/drivers/e1000e', 'driver')
    eq(os.path.realpath(NIC_DIR + '/iommu_group'), '/sys/kernel/iommu_groups/5', 'iommu_group')
    eq(sorted(os.listdir('/sys/kernel/iommu_groups/5/devices')), [USB, SATA, RP, NIC], 'group 5')
    eq(os.path.realpath(DRV + 'e1000e/' + NIC), NIC_DIR, 'driver dir link')
    for d in ('vfio-pci', 'pci-stub', 'pcieport'):
        for f in ('bind', 'unbind', 'new_id', 'remove_id'):
            check(os.path.exists(DRV + d + '/' + f), '%s/%s missing' % (d, f))
    # boot_vga only on VGA devices.
    eq(read(DEV + '0000:00:02.0/boot_vga'), '1\n', 'boot_vga')
    check(not os.path.exists(DEV + NIC + '/boot_vga'), 'boot_vga on a NIC')
    # Modes and sizes like sysfs.
    modes = {'vendor': 0o444, 'uevent': 0o644, 'driver_override': 0o644, 'remove': 0o200}
    for name, mode in modes.items():
        st = os.stat(DEV + NIC + '/' + name)
        eq(st.st_mode & 0o777, mode, 'mode of ' + name)
        eq(st.st_size, 4096, 'size of ' + name)
    for name in ('bind', 'unbind', 'new_id', 'remove_id'):
        eq(os.stat(DRV + 'e1000e/' + name).st_mode & 0o777, 0o200, 'mode of ' + name)
    eq(os.stat(PROBE).st_mode & 0o777, 0o200, 'mode of drivers_probe')


@case()
def config(sim):
    c = read(DEV + NIC + '/config', 'rb')
    eq(len(c), 4096, 'PCIe config size')
    eq(c[0:4], bytes([0x86, 0x80, 0xd3, 0x10]), 'vendor/device')
    eq(c[0x09:0x0c], bytes([0x00, 0x00, 0x02]), 'class')
    eq(c[0x0e], 0x00, 'header type')
    eq(c[0x2c:0x30], bytes([0x86, 0x80, 0x1f, 0xa0]), 'subsystem')
    b = read(DEV + RP + '/config', 'rb')
    eq(b[0x0e], 0x01, 'bridge header type')
    eq((b[0x19], b[0x1a]), (2, 2), 'secondary/subordinate')
    lpc = read(DEV + '0000:00:1f.0/config', 'rb')
    eq(lpc[0x0e], 0x80, 'multifunction header type')
    # Conventional devices behind a PCIe-to-PCI bridge: 256 bytes.


@case('pcie-to-pci-bridge')
def conventional(sim):
    eq(len(read(DEV + '0000:04:01.0/config', 'rb')), 256, 'conventional config size')
    eq(os.stat(DEV + '0000:04:01.0/config').st_size, 256, 'config st_size')
    eq(os.path.realpath(DEV + '0000:04:02.0'),
       '/sys/devices/pci0000:00/0000:00:1c.4/0000:03:00.0/0000:04:02.0', 'nesting')
    eq(sorted(os.listdir('/sys/kernel/iommu_groups/9/devices')),
       ['0000:03:00.0', '0000:04:01.0', '0000:04:02.0'], 'group 9')


@case()
def permissions(sim):
    # kernfs: no write to a read-only attribute, no read of a write-only one, even for root.
    eq(write(DEV + NIC + '/vendor', '0x1234'), errno.EACCES, 'write to vendor')
    try:
        read(DRV + 'e1000e/bind')
        raise Fail('read of bind succeeded')
    except PermissionError:
        pass
    # An unprivileged reader can read attributes but not bind.
    script = ('import os,sys\n'
              'print(open(sys.argv[1]+"/vendor").read().strip())\n'
              'try:\n os.open(sys.argv[2], os.O_WRONLY)\nexcept PermissionError: print("EACCES")\n')
    out = subprocess.run(['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups',
                          sys.executable, '-c', script, DEV + NIC, DRV + 'e1000e/unbind'],
                         capture_output=True, text=True, check=True).stdout
    eq(out, '0x8086\nEACCES\n', 'uid 65534')
    eq(sim.audit(), [], 'audit after refused opens')


# ---- kernel rules ----

@case()
def override(sim):
    expect_write(DEV + NIC + '/driver_override', 'vfio-pci\n')
    eq(read(DEV + NIC + '/driver_override'), 'vfio-pci\n', 'set')
    eq(sim.override_of(NIC), 'vfio-pci', 'override_of')
    expect_write(DEV + NIC + '/driver_override', '\n')
    eq(read(DEV + NIC + '/driver_override'), '(null)\n', 'cleared by newline')
    eq(sim.override_of(NIC), None, 'override_of unset')
    expect_write(DEV + NIC + '/driver_override', 'pci-stub')
    eq(sim.override_of(NIC), 'pci-stub', 'set without newline')
    expect_write(DEV + NIC + '/driver_override', 'vfio-pci\nignored')
    eq(sim.override_of(NIC), 'vfio-pci', 'cut at the first newline')
    expect_write(DEV + NIC + '/driver_override', 'x' * 5000, errno.EINVAL)
    eq(sim.driver_of(NIC), 'e1000e', 'override alone does not rebind')


@case()
def unbind(sim):
    expect_write(DRV + 'ahci/unbind', NIC, errno.ENODEV)
    expect_write(DRV + 'e1000e/unbind', '0000:09:00.0', errno.ENODEV)
    expect_write(NIC_DIR + '/driver/unbind', NIC + '\n')
    # Synchronous: the link is gone when write() returned.
    check(not os.path.lexists(NIC_DIR + '/driver'), 'driver link still there')
    check(not os.path.lexists(DRV + 'e1000e/' + NIC), 'driver dir link still there')
    eq(sim.driver_of(NIC), None, 'driver_of')
    check(not read(NIC_DIR + '/uevent').startswith('DRIVER='), 'uevent still has DRIVER')
    eq(read(NIC_DIR + '/enable'), '0\n', 'enable after unbind')
    expect_write(DRV + 'e1000e/unbind', NIC, errno.ENODEV)


@case()
def bind(sim):
    expect_write(DRV + 'e1000e/bind', NIC, errno.EBUSY)
    expect_write(DRV + 'e1000e/unbind', NIC)
    # No override and not in vfio-pci's table: no match.
    expect_write(DRV + 'vfio-pci/bind', NIC, errno.ENODEV)
    expect_write(DRV + 'e1000e/bind', '0000:09:00.0', errno.ENODEV)
    # An override naming another driver keeps its own driver out.
    expect_write(DEV + NIC + '/driver_override', 'vfio-pci')
    expect_write(DRV + 'e1000e/bind', NIC, errno.ENODEV)
    expect_write(DRV + 'vfio-pci/bind', NIC + '\n')
    eq(sim.driver_of(NIC), 'vfio-pci', 'bound to override')
    expect_write(DRV + 'vfio-pci/bind', NIC, errno.EBUSY)
    # vfio-pci's probe refuses bridges.
    expect_write(DEV + RP + '/driver_override', 'vfio-pci')
    expect_write(DRV + 'pcieport/unbind', RP)
    expect_write(DRV + 'vfio-pci/bind', RP, errno.EINVAL)
    eq(sim.driver_of(RP), None, 'bridge left unbound')


@case()
def probe(sim):
    expect_write(PROBE, '0000:09:00.0', errno.ENODEV)
    expect_write(PROBE, NIC)                       # bound: nothing happens
    eq(sim.driver_of(NIC), 'e1000e', 'still e1000e')
    expect_write(DEV + NIC + '/driver_override', 'vfio-pci')
    expect_write(DRV + 'e1000e/unbind', NIC)
    expect_write(PROBE, NIC)
    eq(sim.driver_of(NIC), 'vfio-pci', 'probe honours the override')
    expect_write(DRV + 'vfio-pci/unbind', NIC)
    expect_write(DEV + NIC + '/driver_override', '\n')
    expect_write(PROBE, NIC)
    eq(sim.driver_of(NIC), 'e1000e', 'probe finds the ID table match')
    # Override naming a driver that does not exist: success, nothing binds.
    expect_write(DEV + NIC + '/driver_override', 'nosuchdriver')
    expect_write(DRV + 'e1000e/unbind', NIC)
    expect_write(PROBE, NIC)
    eq(sim.driver_of(NIC), None, 'unbound')
    # An endpoint nobody matches: success, stays unbound.
    eq(sim.driver_of('0000:00:1f.0'), None, 'LPC unbound')
    expect_write(PROBE, '0000:00:1f.0')
    eq(sim.driver_of('0000:00:1f.0'), None, 'LPC still unbound')


@case()
def new_id(sim):
    expect_write(DRV + 'e1000e/unbind', NIC)
    expect_write(DRV + 'vfio-pci/new_id', '8086', errno.EINVAL)
    expect_write(DRV + 'vfio-pci/new_id', '8086 10d3\n')
    eq(sim.driver_of(NIC), 'vfio-pci', 'new_id probes unbound matching devices')
    expect_write(DRV + 'vfio-pci/new_id', '8086 10d3', errno.EEXIST)
    expect_write(DRV + 'vfio-pci/remove_id', '8086 10d3')
    expect_write(DRV + 'vfio-pci/remove_id', '8086 10d3', errno.ENODEV)
    # Bound devices are left alone by new_id.
    expect_write(DRV + 'vfio-pci/new_id', '8086 a2af')
    eq(sim.driver_of(USB), 'xhci_hcd', 'bound USB untouched')


@case('states')
def states(sim):
    eq(sim.driver_of('0000:02:00.0'), 'e1000e', 'host')
    eq(sim.driver_of('0000:03:00.0'), 'vfio-pci', 'vfio')
    eq(sim.override_of('0000:03:00.0'), 'vfio-pci', 'vfio override')
    eq(sim.driver_of('0000:01:00.0'), 'pci-stub', 'stub')
    eq(sim.driver_of('0000:00:1c.0'), 'pcieport', 'bridge')
    eq(sim.driver_of('0000:00:1d.0'), None, 'unbound bridge')
    eq(sim.driver_of('0000:04:00.0'), None, 'none')
    # host_driver: back from vfio-pci to e1000e; from pci-stub to nouveau.
    expect_write(DEV + '0000:03:00.0/driver_override', '\n')
    expect_write(DRV + 'vfio-pci/unbind', '0000:03:00.0')
    expect_write(PROBE, '0000:03:00.0')
    eq(sim.driver_of('0000:03:00.0'), 'e1000e', 'host_driver of the vfio device')
    expect_write(DRV + 'pci-stub/unbind', '0000:01:00.0')
    expect_write(PROBE, '0000:01:00.0')
    eq(sim.driver_of('0000:01:00.0'), 'nouveau', 'host_driver of the stub device')


# ---- audit log ----

@case()
def audit(sim):
    expect_write(DEV + NIC + '/driver_override', 'vfio-pci\n')
    expect_write(DEV + NIC + '/driver/unbind', NIC)
    expect_write(DRV + 'e1000e/unbind', NIC, errno.ENODEV)
    expect_write(PROBE, NIC + '\n')
    expect_write(DEV + NIC + '/driver_override', 'a\tb\\c\n')
    eq(sim.audit(), [
        (NIC_DIR + '/driver_override', 'vfio-pci\n', 0),
        ('/sys/bus/pci/drivers/e1000e/unbind', NIC, 0),
        ('/sys/bus/pci/drivers/e1000e/unbind', NIC, 'ENODEV'),
        ('/sys/bus/pci/drivers_probe', NIC + '\n', 0),
        (NIC_DIR + '/driver_override', 'a\tb\\c\n', 0),
    ], 'audit')
    raw = read(sim.audit_log).splitlines()
    eq(raw[0], 'devices/pci0000:00/0000:00:1c.0/0000:02:00.0/driver_override\tvfio-pci\\n\t0',
       'raw line')
    sim.clear_audit()
    eq(sim.audit(), [], 'cleared')
    # Reads never show up.
    for name in ('vendor', 'uevent', 'config', 'driver_override'):
        read(DEV + NIC + '/' + name, 'rb')
    os.listdir('/sys/bus/pci/devices')
    eq(sim.audit(), [], 'reads are not audited')


# ---- faults ----

@case()
def fault_fail(sim):
    sim.fail('e1000e/unbind', 'EBUSY', count=2)
    expect_write(DRV + 'e1000e/unbind', NIC, errno.EBUSY)
    eq(sim.driver_of(NIC), 'e1000e', 'failed before taking effect')
    expect_write(DRV + 'e1000e/unbind', NIC, errno.EBUSY)
    expect_write(DRV + 'e1000e/unbind', NIC)       # count used up
    eq(sim.driver_of(NIC), None, 'third unbind went through')
    # Data match and "forever".
    sim.fail('drivers_probe', 'EIO', data=SATA)
    expect_write(PROBE, NIC)
    for _ in range(3):
        expect_write(PROBE, SATA + '\n', errno.EIO)
    # Suffixes match at a path component: "probe" is not "drivers_probe".
    sim.fail('probe', 'EPERM')
    expect_write(PROBE, NIC)
    sim.clear_faults()
    expect_write(PROBE, SATA)
    eq([a[2] for a in sim.audit()], ['EBUSY', 'EBUSY', 0, 0, 'EIO', 'EIO', 'EIO', 0, 0], 'audit')


@case()
def fault_delay(sim):
    sim.delay('e1000e/unbind', 400)
    result = {}

    def slow():
        t = time.monotonic()
        result['err'] = write(DRV + 'e1000e/unbind', NIC)
        result['took'] = time.monotonic() - t

    th = threading.Thread(target=slow)
    th.start()
    time.sleep(0.1)
    # Reads (and other writes) go on while the unbind sleeps.
    t = time.monotonic()
    eq(sim.driver_of(NIC), 'e1000e', 'not unbound yet while delayed')
    for _ in range(20):
        read(DEV + USB + '/uevent')
    expect_write(DEV + USB + '/driver_override', 'vfio-pci')
    check(time.monotonic() - t < 0.2, 'reads blocked by a delayed write')
    th.join()
    eq(result['err'], 0, 'delayed write result')
    check(result['took'] >= 0.4, 'delay too short: %.3f' % result['took'])
    eq(sim.driver_of(NIC), None, 'unbound after the delay')


class Writer(threading.Thread):
    """One write() in a thread of its own (it may block in the simulator)."""

    def __init__(self, path, data):
        super().__init__(daemon=True)
        self.path, self.data, self.err = path, data, None
        self.start()

    def run(self):
        self.err = write(self.path, self.data)


@case()
def fault_block(sim):
    eq(sim.blocked(), [], 'nothing blocked at start')
    check(not os.path.exists(os.path.join(sim.ctl, 'blocked')), 'blocked file without a blocked write')
    sata_override = '/sys/devices/pci0000:00/%s/driver_override' % SATA
    sim.block('e1000e/unbind')
    sim.block(SATA + '/driver_override', data='vfio-pci')
    unbind = Writer(DRV + 'e1000e/unbind', NIC)
    eq(sim.wait_blocked(), [('/sys/bus/pci/drivers/e1000e/unbind', NIC)], 'blocked unbind')
    # The model is not locked: reads and other writes go on meanwhile.
    eq(sim.driver_of(NIC), 'e1000e', 'still bound while blocked')
    for _ in range(20):
        read(DEV + NIC + '/uevent')
    expect_write(DEV + USB + '/driver_override', 'vfio-pci')
    expect_write(PROBE, NIC)
    expect_write(sata_override, 'pci-stub\n')       # data does not match: not blocked
    check(unbind.is_alive(), 'blocked write returned')
    eq([a[0] for a in sim.audit()],
       ['/sys/devices/pci0000:00/%s/driver_override' % USB, PROBE, sata_override],
       'a blocked write is not audited yet')
    override = Writer(sata_override, 'vfio-pci\n')
    deadline = time.monotonic() + 10
    while len(sim.blocked()) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    eq(sim.blocked(), [('/sys/bus/pci/drivers/e1000e/unbind', NIC), (sata_override, 'vfio-pci\n')],
       'blocked file lists both, in order')
    eq(sim.override_of(SATA), 'pci-stub', 'blocked override not applied yet')
    # Releasing one suffix lets only that write go; it then acts normally.
    sim.release('e1000e/unbind')
    unbind.join(10)
    check(not unbind.is_alive(), 'released unbind still blocked')
    eq(unbind.err, 0, 'released unbind result')
    eq(sim.driver_of(NIC), None, 'released unbind took effect')
    eq(sim.blocked(), [(sata_override, 'vfio-pci\n')], 'the other write stays blocked')
    check(override.is_alive(), 'override released too early')
    # The released rule is gone: the next unbind does not block.
    expect_write(PROBE, NIC)
    eq(sim.driver_of(NIC), 'e1000e', 'probe rebinds')
    expect_write(DRV + 'e1000e/unbind', NIC)
    sim.release()
    override.join(10)
    check(not override.is_alive(), 'release() left the override blocked')
    eq(override.err, 0, 'released override result')
    eq(sim.override_of(SATA), 'vfio-pci', 'released override took effect')
    eq(sim.blocked(), [], 'nothing blocked after release()')
    check(not os.path.exists(os.path.join(sim.ctl, 'blocked')), 'blocked file left')
    eq(sim.audit()[-4:], [
        ('/sys/bus/pci/drivers/e1000e/unbind', NIC, 0),
        (PROBE, NIC, 0),
        ('/sys/bus/pci/drivers/e1000e/unbind', NIC, 0),
        (sata_override, 'vfio-pci\n', 0),
    ], 'audit in the order the writes took effect')
    # After the release a fail rule still applies, and hot removal shows.
    sim.block('ahci/unbind')
    sim.fail('ahci/unbind', 'EBUSY', count=1)
    w = Writer(DRV + 'ahci/unbind', SATA)
    sim.wait_blocked()
    sim.release()
    w.join(10)
    eq(w.err, errno.EBUSY, 'fail rule applies after the release')
    sim.block('ahci/unbind')
    w = Writer(DRV + 'ahci/unbind', SATA)
    sim.wait_blocked()
    sim.remove(SATA)
    sim.release()
    w.join(10)
    eq(w.err, errno.ENODEV, 'device removed while the write was blocked')
    # clear drops the rules and lets held writes go.
    sim.block('i915/unbind')
    w = Writer(DRV + 'i915/unbind', '0000:00:02.0')
    sim.wait_blocked()
    sim.clear_faults()
    w.join(10)
    eq(w.err, 0, 'write held when the rules were cleared')
    eq(sim.blocked(), [], 'nothing blocked after clear')


def oserror(fn, *args):
    """The errno fn(*args) fails with, or 0."""
    try:
        fn(*args)
    except OSError as e:
        return e.errno
    return 0


@case()
def fault_fail_read(sim):
    # An attribute: open works, read() fails; count, then normal again.
    sim.fail_read(NIC + '/uevent', 'EIO', count=2)
    fd = os.open(DEV + NIC + '/uevent', os.O_RDONLY)
    eq(oserror(os.read, fd, 4096), errno.EIO, 'first read')
    os.close(fd)
    eq(oserror(read, DEV + NIC + '/uevent'), errno.EIO, 'second read')
    check(read(DEV + NIC + '/uevent').startswith('DRIVER=e1000e'), 'count used up')
    eq(oserror(read, DEV + SATA + '/uevent'), 0, 'another device')
    # A link: readlink() fails, and so does a path through it.
    sim.fail_read(NIC + '/driver', 'EIO', count=1)
    eq(oserror(os.readlink, DEV + NIC + '/driver'), errno.EIO, 'readlink driver')
    eq(sim.driver_of(NIC), 'e1000e', 'driver link after the count')
    sim.fail_read(NIC + '/iommu_group', 'ENOMEM')
    eq(oserror(sim.group_of, NIC), errno.ENOMEM, 'iommu_group link')
    eq(oserror(os.listdir, NIC_DIR + '/iommu_group/devices'), errno.ENOMEM, 'path through the link')
    eq(sim.group_of(USB), 5, 'another device\'s group link')
    sim.fail_read('bus/pci/devices/' + NIC, 'EIO')
    eq(oserror(read, DEV + NIC + '/vendor'), errno.EIO, 'through the bus link')
    eq(read(NIC_DIR + '/vendor'), '0x8086\n', 'canonical path still readable')
    # A directory: readdir() fails.
    sim.fail_read('iommu_groups/5/devices', 'EIO', count=1)
    eq(oserror(os.listdir, '/sys/kernel/iommu_groups/5/devices'), errno.EIO, 'readdir')
    eq(sorted(os.listdir('/sys/kernel/iommu_groups/5/devices')), [USB, SATA, RP, NIC], 'after the count')
    # Writes are not reads.
    sim.fail_read(NIC + '/driver_override', 'EIO')
    expect_write(NIC_DIR + '/driver_override', 'vfio-pci')
    eq(oserror(read, NIC_DIR + '/driver_override'), errno.EIO, 'override read')
    sim.clear_faults()
    eq(sim.override_of(NIC), 'vfio-pci', 'after clear')
    eq(sim.group_of(NIC), 5, 'group after clear')
    eq(sim.audit(), [(NIC_DIR + '/driver_override', 'vfio-pci', 0)], 'reads are not audited')


class Reader(threading.Thread):
    """One read in a thread of its own (it may block in the simulator)."""

    def __init__(self, fn, *args):
        super().__init__(daemon=True)
        self.fn, self.args, self.got, self.err = fn, args, None, None
        self.start()

    def run(self):
        try:
            self.got = self.fn(*self.args)
        except OSError as e:
            self.err = e.errno


@case()
def fault_block_read(sim):
    sim.block_read(NIC + '/vendor')
    sim.block_read(NIC + '/driver')
    sim.block_read('iommu_groups/5/devices')
    attr = Reader(read, NIC_DIR + '/vendor')
    eq(sim.wait_blocked(), [(NIC_DIR + '/vendor', '')], 'blocked read of an attribute')
    link = Reader(os.readlink, NIC_DIR + '/driver')
    listing = Reader(os.listdir, '/sys/kernel/iommu_groups/5/devices')
    deadline = time.monotonic() + 10
    while len(sim.blocked()) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    eq(sorted(p for p, _ in sim.blocked()),
       sorted([NIC_DIR + '/vendor', NIC_DIR + '/driver', '/sys/kernel/iommu_groups/5/devices']),
       'a link and a directory are held too')
    # nothing else waits: other files, other devices, and writes
    eq(read(NIC_DIR + '/device'), '0x10d3\n', 'another attribute of the device')
    eq(sim.driver_of(SATA), 'ahci', 'another device\'s driver link')
    expect_write(NIC_DIR + '/driver_override', 'vfio-pci')
    check(attr.is_alive() and link.is_alive() and listing.is_alive(), 'a blocked read returned')
    sim.release(NIC + '/vendor')
    attr.join(10)
    check(not attr.is_alive(), 'released read still blocked')
    eq((attr.got, attr.err), ('0x8086\n', None), 'released read')
    check(link.is_alive(), 'the other reads stay blocked')
    eq(read(NIC_DIR + '/vendor'), '0x8086\n', 'the released rule is gone')
    sim.release()
    link.join(10)
    listing.join(10)
    eq((link.got, link.err), ('../../../../bus/pci/drivers/e1000e', None), 'released readlink')
    eq(sorted(listing.got), [USB, SATA, RP, NIC], 'released readdir')
    eq(sim.blocked(), [], 'nothing blocked after release()')
    eq(sim.audit(), [(NIC_DIR + '/driver_override', 'vfio-pci', 0)], 'reads are not audited')


@case()
def fault_divert(sim):
    expect_write(DEV + NIC + '/driver_override', 'vfio-pci')
    expect_write(DRV + 'e1000e/unbind', NIC)
    sim.divert(NIC, 'pci-stub')
    sim.divert(SATA)                                # SATA is bound: waits for a real probe
    expect_write(PROBE, SATA)
    eq(sim.driver_of(SATA), 'ahci', 'probe of a bound device does nothing')
    expect_write(PROBE, USB)
    eq(sim.driver_of(USB), 'xhci_hcd', 'other addresses probe as usual')
    expect_write(PROBE, NIC + '\n')
    eq(sim.driver_of(NIC), 'pci-stub', 'diverted despite the vfio-pci override')
    expect_write(DRV + 'pci-stub/unbind', NIC)
    expect_write(PROBE, NIC)
    eq(sim.driver_of(NIC), 'vfio-pci', 'count 1 used up: the rules again')
    # none: success, nothing binds; the SATA rule still waits for its probe.
    expect_write(DRV + 'ahci/unbind', SATA)
    expect_write(PROBE, SATA)
    eq(sim.driver_of(SATA), None, 'diverted to nothing')
    expect_write(PROBE, SATA)
    eq(sim.driver_of(SATA), 'ahci', 'then the rules again')
    # count 2, and a host driver that does not match the device at all.
    expect_write(DRV + 'vfio-pci/unbind', NIC)
    sim.divert(NIC, 'ahci', count=2)
    for _ in range(2):
        expect_write(PROBE, NIC)
        eq(sim.driver_of(NIC), 'ahci', 'diverted to a driver that does not match')
        expect_write(DRV + 'ahci/unbind', NIC)
    expect_write(PROBE, NIC)
    eq(sim.driver_of(NIC), 'vfio-pci', 'count 2 used up')
    eq([a[2] for a in sim.audit() if a[0] == PROBE], [0] * 9, 'every probe succeeded')


@case()
def fault_block_stop(sim):
    """Stopping the simulator lets blocked writes go: no hung server, no hung writer."""
    sim.block('e1000e/unbind')
    w = Writer(DRV + 'e1000e/unbind', NIC)
    sim.wait_blocked()
    status = sim.stop()
    eq(status, 0, 'server exit status on SIGTERM with a blocked write (-9: it hung and was killed)')
    w.join(10)
    check(not w.is_alive(), 'writer still hung after the server stopped')


@case()
def remove(sim):
    fd = os.open(NIC_DIR + '/driver_override', os.O_RDWR)
    sim.remove(NIC)
    check(not sim.exists(NIC), 'bus link still there')
    check(not os.path.exists(NIC_DIR), 'device dir still there')
    check(not os.path.lexists(DRV + 'e1000e/' + NIC), 'driver link still there')
    check(NIC not in os.listdir('/sys/kernel/iommu_groups/5/devices'), 'group link still there')
    eq(os.path.exists('/sys/kernel/iommu_groups/5'), True, 'group 5 still has devices')
    try:
        os.write(fd, b'vfio-pci')
        raise Fail('write through a stale fd succeeded')
    except OSError as e:
        eq(e.errno, errno.ENODEV, 'stale fd write')
    try:
        os.pread(fd, 100, 0)
        raise Fail('read through a stale fd succeeded')
    except OSError as e:
        eq(e.errno, errno.ENODEV, 'stale fd read')
    os.close(fd)
    expect_write(PROBE, NIC, errno.ENODEV)
    expect_write(DRV + 'e1000e/bind', NIC, errno.ENODEV)
    # Removing a bridge takes what is behind it; an emptied group goes.
    sim.remove('0000:00:01.0')
    check(not os.path.exists('/sys/kernel/iommu_groups/1'), 'empty group 1 still there')
    # <dev>/remove
    expect_write(DEV + USB + '/remove', '1\n')
    check(not sim.exists(USB), 'USB still there after remove')
    eq(sim.audit()[-1], ('/sys/devices/pci0000:00/0000:00:14.0/remove', '1\n', 0), 'audit')


@case()
def remove_on_write(sim):
    sim.remove_on_write('e1000e/unbind', NIC)
    expect_write(DEV + NIC + '/driver_override', 'vfio-pci')
    check(sim.exists(NIC), 'removed too early')
    expect_write(DRV + 'e1000e/unbind', NIC, errno.ENODEV)
    check(not sim.exists(NIC), 'not removed')
    eq(sim.audit()[-1], ('/sys/bus/pci/drivers/e1000e/unbind', NIC, 'ENODEV'), 'audit')
    # Fires once.
    sim.remove_on_write('drivers_probe', SATA, data=USB)
    expect_write(PROBE, SATA)
    check(sim.exists(SATA), 'data did not match, yet removed')
    expect_write(PROBE, USB)
    check(not sim.exists(SATA), 'SATA not removed')


@case(vfio_unloaded=True)
def load(sim):
    check(not os.path.exists(DRV + 'vfio-pci'), 'vfio-pci present before load')
    check(not os.path.exists('/sys/module/vfio_pci'), 'module present before load')
    expect_write(DEV + NIC + '/driver_override', 'vfio-pci')
    expect_write(DRV + 'e1000e/unbind', NIC)
    expect_write(PROBE, NIC)
    eq(sim.driver_of(NIC), None, 'no vfio-pci yet')
    sim.load('vfio-pci')
    check(os.path.exists(DRV + 'vfio-pci/bind'), 'vfio-pci absent after load')
    check(os.path.exists('/sys/module/vfio_pci'), 'module absent after load')
    eq(sim.driver_of(NIC), 'vfio-pci', 'load binds the devices overridden to it')
    eq(sim.driver_of(USB), 'xhci_hcd', 'others untouched')


DECLARED = {
    'drivers': [{'name': 'nvme', 'ids': ['144d:a808']}, 'igb'],
    'modules': [{'name': 'ixgbe', 'loaded': False, 'ids': ['8086:1563']}],
    'devices': [
        {'address': '0000:00:00.0', 'vendor': '0x8086', 'device': '0x2020', 'class': '0x060000',
         'driver': None, 'iommu_group': 0},
        {'address': '0000:00:1c.0', 'vendor': '0x8086', 'device': '0xa190', 'class': '0x060400',
         'driver': 'pcieport', 'iommu_group': 1, 'header_type': 'bridge', 'secondary_bus': 1},
        {'address': '0000:01:00.0', 'vendor': '0x144d', 'device': '0xa808', 'class': '0x010802',
         'driver': None, 'iommu_group': 2},
        {'address': '0000:01:00.1', 'vendor': '0x8086', 'device': '0x1563', 'class': '0x020000',
         'driver': None, 'iommu_group': 3},
    ]}


@case(DECLARED)
def declared_drivers(sim):
    """Top-level drivers/modules: tables, absent until loaded, defaults of optional keys."""
    check(os.path.exists(DRV + 'igb/bind'), 'igb declared without devices')
    check(not os.path.exists(DRV + 'ixgbe'), 'ixgbe not loaded yet')
    eq(sim.driver_of('0000:01:00.0'), None, 'starts unbound')
    expect_write(PROBE, '0000:01:00.0')
    eq(sim.driver_of('0000:01:00.0'), 'nvme', 'declared ID table')
    sim.load('ixgbe')
    eq(sim.driver_of('0000:01:00.1'), 'ixgbe', 'loading binds its table')
    # Defaults: subsystem IDs, revision, the multifunction bit of shared slots.
    eq(read(DEV + '0000:01:00.0/subsystem_vendor'), '0x144d\n', 'default subsystem_vendor')
    eq(read(DEV + '0000:01:00.0/revision'), '0x00\n', 'default revision')
    eq(read(DEV + '0000:01:00.1/config', 'rb')[0x0e], 0x80, 'multifunction derived')


# ---- the VFIO device cdev ----

def cdev_dir(address):
    return os.path.join(os.path.realpath(DEV + address), 'vfio-dev')


def vfio_bind(address, old):
    expect_write(DEV + address + '/driver_override', 'vfio-pci')
    expect_write(DRV + old + '/unbind', address)
    expect_write(PROBE, address)


@case('states', top={'vfio_device_cdev': True})
def vfio_cdev(sim):
    vfio = '0000:03:00.0'                           # starts on vfio-pci
    nic = '0000:02:00.0'
    eq(os.listdir(cdev_dir(vfio)), ['vfio0'], 'a device that starts on vfio-pci')
    d = cdev_dir(vfio) + '/vfio0'
    eq(read(d + '/dev'), '511:0\n', 'dev')
    eq(read(d + '/uevent'), 'MAJOR=511\nMINOR=0\nDEVNAME=vfio/devices/vfio0\n', 'uevent')
    eq(os.path.realpath(d + '/subsystem'), '/sys/class/vfio-dev', 'subsystem')
    eq(os.path.realpath(d + '/device'), os.path.realpath(DEV + vfio), 'device link')
    eq(os.path.realpath('/sys/class/vfio-dev/vfio0'), d, 'class link')
    eq(os.path.realpath('/sys/dev/char/511:0'), d, 'dev/char link')
    check(not os.path.exists(cdev_dir(nic)), 'a device on e1000e has no cdev')
    vfio_bind(nic, 'e1000e')
    eq(sim.vfio_cdev_of(nic), 'vfio1', 'next index')
    eq(read(cdev_dir(nic) + '/vfio1/uevent'), 'MAJOR=511\nMINOR=1\nDEVNAME=vfio/devices/vfio1\n', 'uevent 1')
    # Leaving vfio-pci removes it (and the glue dir); the lowest free index is reused.
    expect_write(DRV + 'vfio-pci/unbind', vfio)
    check(not os.path.lexists(cdev_dir(vfio)), 'vfio-dev left after unbind')
    check(not os.path.lexists('/sys/class/vfio-dev/vfio0'), 'class link left after unbind')
    check(not os.path.lexists('/sys/dev/char/511:0'), 'dev/char link left after unbind')
    eq(sorted(os.listdir('/sys/class/vfio-dev')), ['vfio1'], 'class after unbind')
    expect_write(DEV + '0000:01:00.0/driver_override', 'vfio-pci')
    expect_write(DRV + 'pci-stub/unbind', '0000:01:00.0')
    expect_write(DRV + 'vfio-pci/bind', '0000:01:00.0')
    eq(os.listdir(cdev_dir('0000:01:00.0')), ['vfio0'], 'lowest free index reused')
    expect_write(DRV + 'vfio-pci/bind', vfio)
    eq(os.listdir(cdev_dir(vfio)), ['vfio2'], 'then the next')
    # Hot removal takes the cdev along.
    sim.remove(nic)
    eq(sorted(os.listdir('/sys/class/vfio-dev')), ['vfio0', 'vfio2'], 'class after removal')
    check(not os.path.lexists('/sys/dev/char/511:1'), 'dev/char link left after removal')


@case()
def vfio_cdev_off(sim):
    """Default (kernels before 6.6, Debian's builds): no cdev at all."""
    check(not os.path.exists('/sys/class/vfio-dev'), 'class/vfio-dev without the cdev')
    vfio_bind(NIC, 'e1000e')
    eq(sim.driver_of(NIC), 'vfio-pci', 'bound')
    check(not os.path.exists(NIC_DIR + '/vfio-dev'), 'vfio-dev without the cdev')
    eq(sim.vfio_cdev_of(NIC), None, 'vfio_cdev_of')


# ---- driver names the kernel allows ----

LONG = 'a_driver_name_of_seventy_characters_' + 'x' * 34    # 70
ODD = 'odd driver'
ODD_NAMES = {
    'devices': [
        {'address': '0000:00:00.0', 'vendor': '0x8086', 'device': '0x2020', 'class': '0x060000',
         'driver': None, 'iommu_group': 0},
        {'address': '0000:00:1c.0', 'vendor': '0x8086', 'device': '0xa190', 'class': '0x060400',
         'driver': 'pcieport', 'iommu_group': 3, 'header_type': 'bridge', 'secondary_bus': 1},
        {'address': '0000:01:00.0', 'vendor': '0x1af4', 'device': '0x1041', 'class': '0x020000',
         'driver': LONG, 'iommu_group': 3},
        {'address': '0000:01:00.1', 'vendor': '0x1af4', 'device': '0x1042', 'class': '0x010000',
         'driver': ODD, 'iommu_group': 3},
    ]}


@case(ODD_NAMES)
def odd_driver_names(sim):
    eq(len(LONG), 70, 'long name length')
    for addr, name in (('0000:01:00.0', LONG), ('0000:01:00.1', ODD)):
        check(name in os.listdir('/sys/bus/pci/drivers'), '%r not in drivers/' % name)
        eq(os.readlink(DEV + addr + '/driver'), '../../../../bus/pci/drivers/' + name, 'driver link')
        eq(sim.driver_of(addr), name, 'driver_of')
        eq(os.path.realpath(DRV + name + '/' + addr), os.path.realpath(DEV + addr), 'driver dir link')
        check('DRIVER=%s\n' % name in read(DEV + addr + '/uevent'), 'uevent DRIVER= of ' + name)
        expect_write(DRV + name + '/unbind', addr)
        eq(sim.driver_of(addr), None, 'unbound from ' + name)
        expect_write(DRV + name + '/bind', addr + '\n')
        eq(sim.driver_of(addr), name, 'bound to ' + name)
        expect_write(DEV + addr + '/driver_override', 'vfio-pci')
        expect_write(DEV + addr + '/driver/unbind', addr)
        expect_write(PROBE, addr)
        eq(sim.driver_of(addr), 'vfio-pci', 'on vfio-pci')
        expect_write(DEV + addr + '/driver_override', name)
        expect_write(DRV + 'vfio-pci/unbind', addr)
        expect_write(PROBE, addr)
        eq(sim.driver_of(addr), name, 'back through an override naming ' + name)
    # Rules name them too (the wrapper escapes the blank).
    sim.fail(ODD + '/unbind', 'EBUSY', count=1)
    expect_write(DRV + ODD + '/unbind', '0000:01:00.1', errno.EBUSY)
    eq(sim.audit()[-1], (DRV + ODD + '/unbind', '0000:01:00.1', 'EBUSY'), 'audit path with a blank')
    sim.divert('0000:01:00.0', ODD)
    expect_write(DRV + LONG + '/unbind', '0000:01:00.0')
    expect_write(PROBE, '0000:01:00.0')
    eq(sim.driver_of('0000:01:00.0'), ODD, 'divert to a name with a blank')
    env = dict(os.environ, SYSTEMD_DEVICE_VERIFY_SYSFS='0')
    out = subprocess.run(['udevadm', 'info', DEV + '0000:01:00.1'], env=env,
                         capture_output=True, text=True, check=True).stdout
    check('E: DRIVER=' + ODD in out.splitlines(), 'udevadm info:\n' + out)
    out = subprocess.run(['lspci', '-k', '-s', '01:00.1'], capture_output=True, text=True, check=True).stdout
    check('\tKernel driver in use: ' + ODD in out.splitlines(), 'lspci -k:\n' + out)


# ---- uevents ----

class Listener:
    """uevent-listen: a real libudev monitor on the "udev" group of this
    (private) network namespace; lines "ACTION SUBSYSTEM SYSNAME DRIVER"."""

    def __init__(self, *subsystems):
        binary = os.environ.get('UEVENT_LISTEN')
        if not binary:
            raise Fail('set UEVENT_LISTEN to the uevent-listen binary')
        env = dict(os.environ, SYSTEMD_DEVICE_VERIFY_SYSFS='0')
        self.proc = subprocess.Popen([binary, *subsystems], stdout=subprocess.PIPE, env=env, text=True)
        self.lines = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        eq(self.lines.get(timeout=10), 'ready', 'uevent-listen start')

    def _read(self):
        for line in self.proc.stdout:
            self.lines.put(line.rstrip('\n'))

    def take(self, n, timeout=5):
        """The next n events (Fail if they do not come)."""
        got = []
        deadline = time.monotonic() + timeout
        try:
            while len(got) < n:
                got.append(self.lines.get(timeout=max(0.01, deadline - time.monotonic())))
        except queue.Empty:
            raise Fail('%d of %d events after %ss: %r' % (len(got), n, timeout, got))
        return got

    def expect(self, want, what):
        eq(self.take(len(want)), want, what)
        self.quiet(what + ' (nothing more)')

    def quiet(self, what, wait=0.3):
        """Fail on any event within wait seconds."""
        extra = []
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            try:
                extra.append(self.lines.get(timeout=max(0.01, deadline - time.monotonic())))
            except queue.Empty:
                pass
        eq(extra, [], what)

    def stop(self):
        self.proc.kill()
        self.proc.wait()
        self.proc.stdout.close()


def listen(sim, *subsystems):
    """A listener, after giving libudev its /run/udev/control (in this
    private mount namespace: a tmpfs over /run/udev, or over /run if there
    is no /run/udev to cover)."""
    if not os.path.exists('/run/udev/control'):
        if os.path.isdir('/run/udev'):
            subprocess.run(['mount', '-t', 'tmpfs', 'tmpfs', '/run/udev'], check=True)
        else:
            subprocess.run(['mount', '-t', 'tmpfs', 'tmpfs', '/run'], check=True)
            os.mkdir('/run/udev')
        open('/run/udev/control', 'w').close()
    return Listener(*subsystems)


@case(uevents=True)
def uevent_bind_unbind(sim):
    ev = listen(sim)
    try:
        expect_write(DRV + 'e1000e/unbind', NIC)
        ev.expect(['unbind pci %s -' % NIC], 'unbind')
        expect_write(DEV + NIC + '/driver_override', 'vfio-pci')
        ev.quiet('override alone')
        expect_write(PROBE, NIC)
        ev.expect(['bind pci %s vfio-pci' % NIC], 'drivers_probe')
        expect_write(DRV + 'vfio-pci/unbind', NIC)
        expect_write(DEV + NIC + '/driver_override', '\n')
        expect_write(DRV + 'e1000e/bind', NIC)
        ev.expect(['unbind pci %s -' % NIC, 'bind pci %s e1000e' % NIC], 'unbind, bind')
        # new_id binds every unbound device it matches.
        expect_write(DRV + 'ahci/unbind', SATA)
        expect_write(DRV + 'pci-stub/new_id', '8086 a282')
        ev.expect(['unbind pci %s -' % SATA, 'bind pci %s pci-stub' % SATA], 'new_id')
        # A write the kernel refuses, a failed and a blocked write change nothing: no event.
        expect_write(DRV + 'e1000e/bind', NIC, errno.EBUSY)
        expect_write(PROBE, NIC)                       # bound: nothing happens
        sim.fail('e1000e/unbind', 'EBUSY', count=1)
        expect_write(DRV + 'e1000e/unbind', NIC, errno.EBUSY)
        ev.quiet('refused and failed writes')
        sim.block('e1000e/unbind')
        w = Writer(DRV + 'e1000e/unbind', NIC)
        sim.wait_blocked()
        ev.quiet('blocked write')
        sim.release()
        w.join(10)
        eq(w.err, 0, 'released unbind')
        ev.expect(['unbind pci %s -' % NIC], 'released unbind')
        # divert: the probe's result, whatever the rules say.
        sim.divert(NIC, 'pci-stub')
        expect_write(PROBE, NIC)
        ev.expect(['bind pci %s pci-stub' % NIC], 'diverted probe')
        # load: the new driver binds what it matches.
        expect_write(DRV + 'pci-stub/unbind', NIC)
        expect_write(DEV + NIC + '/driver_override', 'pci-stub')
        ev.take(1)
        sim.control('load pci-stub')                  # loaded already: nothing
        ev.quiet('load of a loaded driver')
    finally:
        ev.stop()


@case('in-use', uevents=True)
def uevent_remove(sim):
    nic, sata, rp = '0000:02:00.0', '0000:00:17.0', '0000:00:1c.0'
    ev = listen(sim)
    try:
        # Children first (the driver's remove() unregisters them), then the
        # device's unbind, then its removal.
        expect_write(DEV + nic + '/remove', '1')
        ev.expect(['remove net simeth0 -', 'unbind pci %s -' % nic, 'remove pci %s -' % nic], 'NIC')
        sim.remove(sata)
        ev.expect(['remove block sda1 -', 'remove block sda2 -', 'remove block sda -',
                   'unbind pci %s -' % sata, 'remove pci %s -' % sata], 'SATA with a disk')
        # A bridge: what is behind it stops, then the bridge; then removal, children first.
        sim.add(nic)
        ev.take(3)
        sim.remove(rp)
        ev.expect(['remove net simeth0 -', 'unbind pci %s -' % nic, 'unbind pci %s -' % rp,
                   'remove pci %s -' % nic, 'remove pci %s -' % rp], 'root port')
        # A filtered monitor gets only its subsystem (the header's subsystem hash).
        ev.stop()
        ev = listen(sim, 'net')
        sim.add(rp)
        ev.expect(['add net simeth0 -'], 'net filter')
    finally:
        ev.stop()


@case('in-use', uevents=True)
def uevent_add(sim):
    nic, rp = '0000:02:00.0', '0000:00:1c.0'
    nic_dir = '/sys/devices/pci0000:00/0000:00:1c.0/0000:02:00.0'
    ev = listen(sim)
    try:
        expect_write(DEV + nic + '/driver_override', 'vfio-pci')
        fd = os.open(nic_dir + '/driver_override', os.O_WRONLY)
        sim.remove(rp)                                 # group 6 is the root port and the NIC
        ev.take(5)
        check(not os.path.exists('/sys/kernel/iommu_groups/6'), 'group 6 left')
        sim.add(nic)                                   # nothing to plug it into
        ev.quiet('add below a removed bridge')
        check(not sim.exists(nic), 'added below a removed bridge')
        sim.add(rp)
        # Every device is added, then drivers probe: children, then "bind".
        ev.expect(['add pci %s -' % rp, 'add pci %s -' % nic, 'bind pci %s pcieport' % rp,
                   'add net simeth0 -', 'bind pci %s e1000e' % nic], 'root port re-plugged')
        # Back as it was: links, group, class links; a fresh device (no override).
        eq(sim.driver_of(nic), 'e1000e', 'driver')
        eq(sim.override_of(nic), None, 'override of a fresh device')
        eq(os.path.realpath(DEV + nic), nic_dir, 'bus link')
        eq(sim.group_of(nic), 6, 'group link')
        eq(sorted(os.listdir('/sys/kernel/iommu_groups/6/devices')), [rp, nic], 'group 6 again')
        eq(os.path.realpath(DRV + 'e1000e/' + nic), nic_dir, 'driver dir link')
        eq(os.path.realpath('/sys/class/net/simeth0'), nic_dir + '/net/simeth0', 'class/net link')
        eq(read(nic_dir + '/net/simeth0/uevent'), 'INTERFACE=simeth0\nIFINDEX=%s' % read(
            nic_dir + '/net/simeth0/ifindex'), 'net uevent')
        eq(oserror(os.write, fd, b'vfio-pci'), errno.ENODEV, 'descriptor of the removed device')
        os.close(fd)
        sim.add(nic)                                   # present: nothing
        ev.quiet('add of a present device')
        # A disk comes back at its old path; an override from the topology stays.
        sim.remove('0000:00:17.0')
        ev.take(5)
        sim.add('0000:00:17.0')
        ev.expect(['add pci 0000:00:17.0 -', 'add block sda -', 'add block sda1 -', 'add block sda2 -',
                   'bind pci 0000:00:17.0 ahci'], 'SATA re-plugged')
        eq(os.path.realpath('/sys/class/block/sda2'),
           '/sys/devices/pci0000:00/0000:00:17.0/ata1/host0/target0:0:0/0:0:0:0/block/sda/sda2', 'disk path')
        eq(os.path.realpath('/sys/dev/block/8:2'), os.path.realpath('/sys/class/block/sda2'), 'dev/block link')
        # change: on request, and written to uevent as udevadm trigger does.
        sim.uevent(nic, 'change')
        ev.expect(['change pci %s e1000e' % nic], 'uevent command')
        expect_write(DEV + nic + '/uevent', 'change\n')
        ev.expect(['change pci %s e1000e' % nic], 'uevent file')
        expect_write(DEV + nic + '/uevent', 'frob', errno.EINVAL)
        sim.uevent(nic, 'frob')
        ev.quiet('unknown actions')
    finally:
        ev.stop()


@case('states', top={'vfio_device_cdev': True}, uevents=True)
def uevent_vfio_cdev(sim):
    """The cdev is registered in vfio-pci's probe, before "bind"; unregistered before "unbind"."""
    nic = '0000:02:00.0'
    ev = listen(sim, 'pci', 'vfio-dev')
    try:
        vfio_bind(nic, 'e1000e')
        ev.expect(['unbind pci %s -' % nic, 'add vfio-dev vfio1 -', 'bind pci %s vfio-pci' % nic], 'to vfio-pci')
        expect_write(DRV + 'vfio-pci/unbind', nic)
        ev.expect(['remove vfio-dev vfio1 -', 'unbind pci %s -' % nic], 'off vfio-pci')
    finally:
        ev.stop()


SRIOV = {
    'devices': [
        {'address': '0000:00:00.0', 'vendor': '0x8086', 'device': '0x2020', 'class': '0x060000',
         'driver': None, 'iommu_group': 0},
        {'address': '0000:00:1c.0', 'vendor': '0x8086', 'device': '0xa190', 'class': '0x060400',
         'driver': 'pcieport', 'iommu_group': 1, 'header_type': 'bridge', 'secondary_bus': 1},
        {'address': '0000:01:00.0', 'vendor': '0x8086', 'device': '0x1563', 'class': '0x020000',
         'driver': 'ixgbe', 'iommu_group': 2, 'net': ['pf0']},
        {'address': '0000:01:10.0', 'vendor': '0x8086', 'device': '0x15a8', 'class': '0x020000',
         'driver': 'ixgbevf', 'iommu_group': 3, 'physfn': '0000:01:00.0', 'net': ['vf0']},
        {'address': '0000:01:10.2', 'vendor': '0x8086', 'device': '0x15a8', 'class': '0x020000',
         'driver': 'vfio-pci', 'host_driver': 'ixgbevf', 'iommu_group': 4, 'physfn': '0000:01:00.0'},
    ]}


@case(SRIOV, uevents=True)
def uevent_sriov(sim):
    pf, vf0, vf1 = '0000:01:00.0', '0000:01:10.0', '0000:01:10.2'
    ev = listen(sim)
    try:
        sim.remove(vf0)
        ev.expect(['remove net vf0 -', 'unbind pci %s -' % vf0, 'remove pci %s -' % vf0], 'one VF')
        eq(read(DEV + pf + '/sriov_numvfs'), '1\n', 'numvfs')
        check(not os.path.lexists(DEV + pf + '/virtfn0'), 'virtfn0 left')
        eq(os.path.realpath(DEV + pf + '/virtfn1'), os.path.realpath(DEV + vf1), 'virtfn1 kept its index')
        sim.add(vf0)
        ev.expect(['add pci %s -' % vf0, 'add net vf0 -', 'bind pci %s ixgbevf' % vf0], 'VF back')
        eq(os.path.realpath(DEV + pf + '/virtfn0'), os.path.realpath(DEV + vf0), 'virtfn0 again')
        # The PF's driver takes its VFs along (last first), then its own children.
        sim.remove(pf)
        ev.expect(['unbind pci %s -' % vf1, 'remove pci %s -' % vf1,
                   'remove net vf0 -', 'unbind pci %s -' % vf0, 'remove pci %s -' % vf0,
                   'remove net pf0 -', 'unbind pci %s -' % pf, 'remove pci %s -' % pf], 'PF')
        sim.add(pf)
        ev.expect(['add pci %s -' % pf, 'add pci %s -' % vf0, 'add pci %s -' % vf1,
                   'add net pf0 -', 'bind pci %s ixgbe' % pf,
                   'add net vf0 -', 'bind pci %s ixgbevf' % vf0,
                   'bind pci %s ixgbevf' % vf1], 'PF and VFs re-plugged')
        eq(read(DEV + pf + '/sriov_numvfs'), '2\n', 'numvfs after re-plug')
        eq(os.path.realpath(DEV + vf1 + '/physfn'), os.path.realpath(DEV + pf), 'physfn')
    finally:
        ev.stop()


# ---- other programs ----

@case()
def udev(sim):
    env = dict(os.environ, SYSTEMD_DEVICE_VERIFY_SYSFS='0')
    out = subprocess.run(['udevadm', 'info', DEV + NIC], env=env,
                         capture_output=True, text=True, check=True).stdout
    for line in ('P: /devices/pci0000:00/0000:00:1c.0/0000:02:00.0', 'E: SUBSYSTEM=pci',
                 'E: DRIVER=e1000e', 'E: PCI_ID=8086:10D3', 'E: PCI_SLOT_NAME=' + NIC):
        check(line in out.splitlines(), 'udevadm info lacks %r:\n%s' % (line, out))
    # Enumeration by subsystem sees every device.
    out = subprocess.run(['udevadm', 'trigger', '--dry-run', '--verbose',
                          '--subsystem-match=pci'], env=env,
                         capture_output=True, text=True, check=True).stdout
    eq(len(out.split()), len(os.listdir('/sys/bus/pci/devices')), 'udev enumeration')


@case()
def lspci(sim):
    out = subprocess.run(['lspci', '-Dnnk'], capture_output=True, text=True, check=True).stdout
    check('0000:02:00.0 Ethernet controller [0200]: Intel Corporation 82574L Gigabit Network '
          'Connection [8086:10d3]' in out, 'lspci line:\n' + out)
    check('\tKernel driver in use: e1000e' in out, 'lspci driver')
    eq(len([line for line in out.splitlines() if line[:1] != '\t']),
       len(os.listdir('/sys/bus/pci/devices')), 'lspci device count')
    tree = subprocess.run(['lspci', '-t'], capture_output=True, text=True, check=True).stdout
    check('1c.0-[02]----00.0' in tree, 'lspci -t nesting:\n' + tree)


@case('in-use', substitute={'ROOT_DEV': '254:7', 'NET_IF': 'veth-test'})
def children(sim):
    sda2 = '/sys/class/block/sda2'
    eq(os.path.realpath(sda2),
       '/sys/devices/pci0000:00/0000:00:17.0/ata1/host0/target0:0:0/0:0:0:0/block/sda/sda2',
       'block path')
    eq(read(sda2 + '/dev'), '254:7\n', 'substituted dev')
    eq(os.path.realpath('/sys/dev/block/254:7'), os.path.realpath(sda2), 'dev/block link')
    check('DEVTYPE=partition' in read(sda2 + '/uevent'), 'partition uevent')
    nvme = os.path.realpath('/sys/class/block/nvme0n1p3')
    eq(nvme, '/sys/devices/pci0000:00/0000:00:01.0/0000:01:00.0/nvme/nvme0/nvme0n1/nvme0n1p3',
       'nvme path')
    eq(os.listdir('/sys/class/block/nvme1n1p1/holders'), ['dm-0'], 'holders')
    eq(os.path.realpath('/sys/class/block/nvme1n1p1/holders/dm-0'),
       '/sys/devices/virtual/block/dm-0', 'holder link')
    eq(os.path.realpath('/sys/class/net/veth-test'),
       '/sys/devices/pci0000:00/0000:00:1c.0/0000:02:00.0/net/veth-test', 'net link')
    eq(os.path.realpath('/sys/class/block/sda/subsystem'), '/sys/class/block', 'block subsystem')
    sim.remove('0000:00:17.0')
    check(not os.path.lexists(sda2), 'class/block link left after removal')
    check(not os.path.lexists('/sys/dev/block/254:7'), 'dev/block link left after removal')


# ---- isolation and reset: ACS, FLR, PM, reset_method, slots ----

def u16(c, off):
    return c[off] | c[off + 1] << 8


def u32(c, off):
    return u16(c, off) | u16(c, off + 2) << 16


def std_caps(c):
    """The standard capability list: [(id, offset)], checked to end."""
    caps = []
    if not u16(c, 0x06) & 0x0010:
        return caps
    ptr = c[0x34]
    while ptr:
        check(0x40 <= ptr < 0x100 and len(caps) < 48, 'capability list runs wild at %#x' % ptr)
        caps.append((c[ptr], ptr))
        ptr = c[ptr + 1]
    return caps


def cap_offset(c, cap_id):
    offs = [off for i, off in std_caps(c) if i == cap_id]
    eq(len(offs), 1, 'capability %#x present once' % cap_id)
    return offs[0]


def config_of(address):
    return read(DEV + address + '/config', 'rb')


@case('rootport-endpoint')
def acs_capability(sim):
    """acs_cap at 0x100 (capability 0x104, control 0x106), flr, pm,
    reset_method and slots, as the kernel shows them."""
    for rp in ('0000:00:02.0', '0000:00:02.1'):
        c = config_of(rp)
        eq(len(c), 4096, rp + ' PCIe config size')
        eq(u32(c, 0x100), 0x0001000d, rp + ' ACS header: id 0x000d, version 1, nothing next')
        eq(u16(c, 0x104), 0x001f, rp + ' ACS capability')
        eq(u16(c, 0x106), 0x001d, rp + ' ACS control: the default, capability & SV|RR|CR|UF')
        eq((u16(c, cap_offset(c, 0x10) + 2) >> 4) & 0xf, 0x4, rp + ' root port')
    nic, nvme = config_of('0000:01:00.0'), config_of('0000:02:00.0')
    eq(u32(nic, 0x100), 0, 'no extended capability without acs_cap')
    check(u32(nic, cap_offset(nic, 0x10) + 4) & (1 << 28), 'e1000e: FLR in Device Capabilities')
    eq(u16(nic, cap_offset(nic, 0x01) + 4) & 0x0008, 0, 'e1000e: PM without No_Soft_Reset')
    check(u32(nvme, cap_offset(nvme, 0x10) + 4) & (1 << 28), 'NVMe: FLR')
    check(0x01 not in [i for i, _ in std_caps(nvme)], 'NVMe: no PM capability without pm')
    rp = config_of('0000:00:02.0')
    eq(u32(rp, cap_offset(rp, 0x10) + 4) & (1 << 28), 0, 'no FLR without flr')
    # reset_method: the topology's text, not writable here; no file without the key
    eq(read(DEV + '0000:02:00.0/reset_method'), 'flr bus\n', 'NVMe reset_method')
    eq(read(DEV + '0000:01:00.0/reset_method'), 'flr pm bus\n', 'e1000e reset_method')
    check(not os.path.exists(DEV + '0000:00:02.0/reset_method'), 'reset_method without the key')
    # slots: <domain>:<secondary bus>:00 of the port
    eq(sorted(os.listdir('/sys/bus/pci/slots')), ['1', '2'], 'slots')
    eq(read('/sys/bus/pci/slots/1/address'), '0000:01:00\n', 'slot 1')
    eq(read('/sys/bus/pci/slots/2/address'), '0000:02:00\n', 'slot 2')
    # the slot goes with its port and comes back with it
    sim.remove('0000:00:02.1')
    eq(os.listdir('/sys/bus/pci/slots'), ['1'], 'slot 2 removed with its port')
    sim.add('0000:00:02.1')
    eq(read('/sys/bus/pci/slots/2/address'), '0000:02:00\n', 'slot 2 back')


@case('pcie-to-pci-bridge')
def acs_intel_spt(sim):
    """acs_layout intel-spt: the control bits in a dword at capability + 8
    (the kernel's pci_quirk_intel_spt_pch_acs), 0x106 left 0."""
    c = config_of('0000:00:1c.4')
    eq(u32(c, 0x100), 0x0001000d, 'ACS header')
    eq(u16(c, 0x104), 0x005f, 'ACS capability')
    eq(u16(c, 0x106), 0, 'standard control register left 0')
    eq(u32(c, 0x108), 0x0000001d, 'the SPT control dword')
    eq(read('/sys/bus/pci/slots/4/address'), '0000:03:00\n', 'slot 4')
    nic = config_of('0000:04:01.0')
    eq(len(nic), 256, 'conventional config size')
    eq([i for i, _ in std_caps(nic)], [0x01], 'conventional NIC: PM only')
    eq(read(DEV + '0000:04:01.0/reset_method'), 'pm\n', 'reset_method')


ISOLATION_KEYS = {
    'devices': [
        {'address': '0000:00:1c.0', 'vendor': '0x8086', 'device': '0xa190', 'class': '0x060400',
         'driver': 'pcieport', 'iommu_group': 1, 'header_type': 'bridge', 'secondary_bus': 1,
         'acs_cap': '0x007f', 'acs_ctrl': '0x0015', 'slot': 'CPU SLOT6'},
        {'address': '0000:01:00.0', 'vendor': '0x8086', 'device': '0x1563', 'class': '0x020000',
         'driver': None, 'iommu_group': 2, 'pm': 'no-soft-reset'},
    ]}


@case(ISOLATION_KEYS)
def acs_keys(sim):
    """acs_ctrl as given, a slot name with a blank, PM with No_Soft_Reset."""
    c = config_of('0000:00:1c.0')
    eq((u16(c, 0x104), u16(c, 0x106)), (0x007f, 0x0015), 'acs_cap and acs_ctrl as given')
    eq(read('/sys/bus/pci/slots/CPU SLOT6/address'), '0000:01:00\n', 'slot with a blank')
    f = config_of('0000:01:00.0')
    eq(u16(f, cap_offset(f, 0x01) + 4) & 0x0008, 0x0008, 'PMCSR No_Soft_Reset')
    eq(u32(f, cap_offset(f, 0x10) + 4) & (1 << 28), 0, 'no FLR')
    check(not os.path.exists(DEV + '0000:01:00.0/reset_method'), 'no reset_method without the key')


@case('large')
def vmd_domain(sim):
    """child_domain: the VMD's domain nested below the VMD device, and its
    devices reachable through every link."""
    vmd = '0000:0a:05.5'
    vmd_dir = os.path.realpath(DEV + vmd)
    domains = [n for n in os.listdir(vmd_dir) if n.startswith('pci10000:')]
    eq(domains, ['pci10000:00'], 'the hosted domain below the VMD')
    check(not os.path.exists('/sys/devices/pci10000:00'), 'VMD domain at the top level')
    hosted = [a for a in os.listdir(DEV) if a.startswith('10000:')]
    check(hosted, 'no device in the VMD domain')
    for a in hosted:
        check(os.path.realpath(DEV + a).startswith(vmd_dir + '/pci10000:00/'), a + ' not below the VMD')
        check(os.path.exists(DEV + a + '/iommu_group'), a + ' has no iommu_group link')


@case('large')
def sriov(sim):
    vfs = [d for d in os.listdir('/sys/bus/pci/devices')
           if os.path.lexists(DEV + d + '/physfn')]
    check(len(vfs) > 100, 'VFs: %d' % len(vfs))
    vf = sorted(vfs)[0]
    pf = os.path.basename(os.readlink(DEV + vf + '/physfn'))
    links = [n for n in os.listdir(DEV + pf) if n.startswith('virtfn')]
    check(os.path.realpath(DEV + vf) in [os.path.realpath(DEV + pf + '/' + n) for n in links],
          'PF %s has no virtfn link to %s' % (pf, vf))
    eq(read(DEV + pf + '/sriov_totalvfs'), '%d\n' % len(links), 'sriov_totalvfs')
    # VMD domains sit below their VMD, as the kernel nests them
    check(glob.glob('/sys/devices/pci*/*/pci10000:00'), 'VMD domain missing')
    eq(len(os.listdir('/sys/bus/pci/devices')), 1008, 'device count')


@case(needs_export=True)
def export(sim):
    """--export writes the same tree the FUSE mount serves."""
    out = os.path.join(sim.workdir, 'export')
    vfiosim.export('plugin-nic', out, sim.binary)
    fuse = sim.mnt
    n = 0
    for root, dirs, files in os.walk(fuse):
        rel = os.path.relpath(root, fuse)
        eq(sorted(dirs + files), sorted(os.listdir(os.path.join(out, rel))), 'entries of ' + rel)
        for name in files + dirs:
            a, b = os.path.join(root, name), os.path.join(out, rel, name)
            if os.path.islink(a):
                eq(os.readlink(b), os.readlink(a), 'link ' + a)
            elif os.path.isfile(a):
                eq(os.stat(b).st_mode & 0o777, os.stat(a).st_mode & 0o777, 'mode ' + a)
                if os.stat(a).st_mode & 0o444:
                    eq(read(b, 'rb'), read(a, 'rb'), 'content ' + a)
                n += 1
    check(n > 200, 'only %d files compared' % n)


@case()
def every_topology(sim):
    """Every committed topology loads and its group links agree both ways."""
    topo = vfiosim.TOPOLOGIES
    for name in sorted(os.listdir(topo)):
        if not name.endswith('.json') or name == 'large.json':   # large: see sriov
            continue
        out = tempfile.mkdtemp(prefix='vfiosim-topo-',
                               dir='/dev/shm' if os.path.isdir('/dev/shm') else None)
        try:
            vfiosim.export(os.path.join(topo, name), out, sim.binary)
            devs = os.listdir(os.path.join(out, 'bus/pci/devices'))
            check(devs, name + ': no devices')
            for d in devs:
                g = os.path.join(out, 'bus/pci/devices', d, 'iommu_group')
                if os.path.lexists(g):
                    grp = os.path.basename(os.readlink(g))
                    check(os.path.lexists(os.path.join(out, 'kernel/iommu_groups', grp, 'devices', d)),
                          '%s: %s not listed in group %s' % (name, d, grp))
        finally:
            shutil.rmtree(out)


def run(name):
    fn, topology, kw = CASES[name]
    binary = os.environ.get('VFIOSIM')
    if not binary:
        sys.exit('set VFIOSIM to the vfiosim binary')
    with tempfile.TemporaryDirectory(prefix='vfiosim-test-') as work:
        topo = topology
        if isinstance(topology, dict) or kw.get('vfio_unloaded') or kw.get('top'):
            if isinstance(topology, dict):
                doc = topology
            else:
                with open(vfiosim.topology_path(topology)) as f:
                    doc = json.load(f)
            if kw.get('vfio_unloaded'):
                doc['vfio_pci_loaded'] = False
            doc.update(kw.get('top', {}))
            topo = os.path.join(work, 'topology.json')
            with open(topo, 'w') as f:
                json.dump(doc, f)
        with Sim(topo, os.path.join(work, 'sim'), binary, substitute=kw.get('substitute'),
                 uevents=kw.get('uevents', False)) as sim:
            fn(sim)


def main():
    if len(sys.argv) == 2 and sys.argv[1] == '--list':
        print('\n'.join(CASES))
        return 0
    if len(sys.argv) != 2 or sys.argv[1] not in CASES:
        sys.stderr.write('usage: test_sim.py CASE | --list\ncases: %s\n' % ' '.join(CASES))
        return 2
    try:
        run(sys.argv[1])
    except Fail as e:
        print('FAIL %s: %s' % (sys.argv[1], e))
        return 1
    print('ok %s' % sys.argv[1])
    return 0


if __name__ == '__main__':
    sys.exit(main())

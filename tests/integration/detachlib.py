# SPDX-License-Identifier: LGPL-2.1-or-later
"""What the detach/reattach tests share: the plug-in NIC machine's
addresses, the exact sysfs writes the kernel expects for each move (as the
simulator's audit log shows them), topology variants, a private /dev/vfio,
and a test case base class that starts the stack with our polkitd mock."""

import atexit
import contextlib
import json
import os
import subprocess
import tempfile
import unittest

from harness import POLKIT_TEMPLATE, TOPOLOGIES, Stack

HERE = os.path.dirname(os.path.abspath(__file__))
FAKE_MODPROBE = os.path.join(HERE, 'fake-modprobe')

# plugin-nic.json: group 5 = USB + SATA + root port + the NIC behind it
USB, SATA, ROOT_PORT, NIC = '0000:00:14.0', '0000:00:17.0', '0000:00:1c.0', '0000:02:00.0'
GROUP5 = [USB, SATA, ROOT_PORT, NIC]
# group 8: LPC and PMC (no driver), HD audio, SMBus
LPC, PMC, AUDIO, SMBUS = '0000:00:1f.0', '0000:00:1f.2', '0000:00:1f.3', '0000:00:1f.4'
GROUP8 = [LPC, PMC, AUDIO, SMBUS]
HOST_BRIDGE, IGPU, HECI = '0000:00:00.0', '0000:00:02.0', '0000:00:16.0'
ORIGINAL = {USB: 'xhci_hcd', SATA: 'ahci', ROOT_PORT: 'pcieport', NIC: 'e1000e',
            LPC: None, PMC: None, AUDIO: 'snd_hda_intel', SMBUS: 'i801_smbus',
            IGPU: 'i915', HECI: 'mei_me', HOST_BRIDGE: None}

GROUP, DRY_RUN, FORCE = 0x1, 0x2, 0x4

ACTION_DEVICE = 'org.freedesktop.vfio1.detach-device'
ACTION_GROUP = 'org.freedesktop.vfio1.detach-group'
ACTION_IN_USE = 'org.freedesktop.vfio1.detach-in-use'
ACTION_PERSISTENT = 'org.freedesktop.vfio1.detach-persistent'
ACTION_REATTACH = 'org.freedesktop.vfio1.reattach-device'
ACTION_REATTACH_GROUP = 'org.freedesktop.vfio1.reattach-group'
ALL_ACTIONS = [ACTION_DEVICE, ACTION_GROUP, ACTION_IN_USE, ACTION_PERSISTENT, ACTION_REATTACH, ACTION_REATTACH_GROUP]


def device_dir(address):
    """The device's canonical directory under /sys/devices (as the audit
    log names it); call it while the device exists."""
    return os.path.realpath(os.path.join('/sys/bus/pci/devices', address))


def override_write(address, value, result=0, path=None):
    return (os.path.join(path or device_dir(address), 'driver_override'), value, result)


def unbind_write(address, driver, result=0):
    return ('/sys/bus/pci/drivers/%s/unbind' % driver, address, result)


def probe_write(address, result=0):
    return ('/sys/bus/pci/drivers_probe', address, result)


def detach_writes(address, driver):
    """What detaching a device from @driver (None: unbound) writes:
    driver_override, unbind (if bound), drivers_probe."""
    writes = [override_write(address, 'vfio-pci')]
    if driver:
        writes.append(unbind_write(address, driver))
    writes.append(probe_write(address))
    return writes


_ORIGINAL = object()


def reattach_writes(address, override=None, driver=_ORIGINAL):
    """What giving a device on vfio-pci back to @driver writes (default:
    its ORIGINAL driver; None: it had none, so no drivers_probe; '': not
    known, the kernel picks).  The override names the driver while the
    kernel probes, so no other driver can take the device on the way; then
    it becomes the old one again (@override, None: cleared with "\\n")."""
    if driver is _ORIGINAL:
        driver = ORIGINAL[address]
    final = override if override else '\n'
    if not driver:
        writes = [override_write(address, final), unbind_write(address, 'vfio-pci')]
        return writes + ([probe_write(address)] if driver == '' else [])
    writes = [override_write(address, driver), unbind_write(address, 'vfio-pci'), probe_write(address)]
    return writes + ([override_write(address, final)] if final != driver else [])


def restore_in_place_writes(address, driver, unbound=False):
    """Rolling back a device that never left @driver (or, @unbound, left
    it but reached no other): steer, probe if needed, clear the override."""
    return ([override_write(address, driver)] + ([probe_write(address)] if unbound else []) +
            [override_write(address, '\n')])


def plan_entry(address, action, from_, to, reason=''):
    return {'address': address, 'action': action, 'from': from_, 'to': to, 'reason': reason}


def ids_line(address, topology='plugin-nic.json', change=None):
    """The "ids=" line of a state record of @address, as vfiod writes it
    from sysfs: vendor, device, subsystem vendor and device, class, from
    @topology (tests/topologies/ name or a path), with @change ({key:
    int}) applied: a record of another device at that address."""
    path = topology if os.path.isabs(topology) else os.path.join(TOPOLOGIES, topology)
    with open(path) as f:
        device = next(d for d in json.load(f)['devices'] if d['address'] == address)
    keys = ('vendor', 'device', 'subsystem_vendor', 'subsystem_device', 'class')
    ids = {k: int(str(device[k]), 0) for k in keys}
    ids.update(change or {})
    return 'ids=0x%04x 0x%04x 0x%04x 0x%04x 0x%06x\n' % tuple(ids[k] for k in keys)


def topology_variant(base, devices=None, **top):
    """A copy of tests/topologies/@base with per-device changes
    ({address: {key: value}}) and top-level keys; returns its path (a
    temporary file, removed when the test process exits)."""
    with open(os.path.join(TOPOLOGIES, base)) as f:
        topo = json.load(f)
    for d in topo['devices']:
        d.update((devices or {}).get(d['address'], {}))
    topo.update(top)
    fd, path = tempfile.mkstemp(prefix='vfiod-topology-', suffix='.json')
    with os.fdopen(fd, 'w') as f:
        json.dump(topo, f)
    os.chmod(path, 0o644)
    atexit.register(os.unlink, path)
    return path


@contextlib.contextmanager
def private_dev_vfio(workdir):
    """A writable /dev/vfio in this (private) mount namespace: an overlay
    over /dev (the machine's /dev is never written; it may have no
    /dev/vfio at all) with a tmpfs mounted on /dev/vfio."""
    base = os.path.join(workdir, 'devoverlay')
    os.makedirs(base, exist_ok=True)
    subprocess.check_call(['mount', '-t', 'tmpfs', 'vfiod-test-dev', base])
    mounted = [base]
    try:
        os.makedirs(os.path.join(base, 'upper'))
        os.makedirs(os.path.join(base, 'work'))
        subprocess.check_call(['mount', '-t', 'overlay', 'vfiod-test-dev', '-o',
                               'lowerdir=/dev,upperdir=%s/upper,workdir=%s/work' % (base, base), '/dev'])
        mounted.append('/dev')
        os.makedirs('/dev/vfio', exist_ok=True)
        subprocess.check_call(['mount', '-t', 'tmpfs', 'vfiod-test-vfio', '/dev/vfio'])
        mounted.append('/dev/vfio')
        yield '/dev/vfio'
    finally:
        for path in reversed(mounted):
            subprocess.call(['umount', '-l', path])


class StackTest(unittest.TestCase):
    """Starts a Stack on @topology with our polkitd mock."""
    topology = 'plugin-nic.json'

    def start(self, topology=None, substitute=None, daemon_env=None, swaps=None, before_daemon=None,
              uevents=False):
        topology = topology or self.topology
        self.stack = Stack(topology, substitute=substitute, swaps=swaps, polkit_template=POLKIT_TEMPLATE,
                           daemon_env=daemon_env, uevents=uevents)
        if before_daemon:
            before_daemon(self.stack)
        # stop() also cleans up after a start that failed half-way
        self.addCleanup(self.stack.stop)
        self.stack.start()
        self.sim = self.stack.sim
        return self.stack

    def setUp(self):
        self.start()

    # ---- helpers --------------------------------------------------------
    def snapshot(self, addresses):
        """{address: (driver, driver_override)} as the kernel shows them."""
        return {a: (self.sim.driver_of(a), self.sim.override_of(a)) for a in addresses}

    def detach(self, device, flags=0):
        return self.stack.call('DetachDevice', 'st', device, flags)[0]

    def reattach(self, device, flags=0):
        return self.stack.call('ReattachDevice', 'st', device, flags)[0]

    def detach_error(self, device, flags=0):
        return self.stack.call_error('DetachDevice', 'st', device, flags)

    def reattach_error(self, device, flags=0):
        return self.stack.call_error('ReattachDevice', 'st', device, flags)

    def assert_audit(self, expected):
        got = self.sim.audit()
        self.assertEqual(got, expected, 'sysfs writes:\n  %s' % '\n  '.join(map(repr, got)))

    def assert_nothing_written(self):
        self.assert_audit([])

    def assert_drivers(self, expected):
        """@expected: {address: driver or None}."""
        self.assertEqual({a: self.sim.driver_of(a) for a in expected}, expected)

    def assert_overrides(self, expected):
        """@expected: {address: override or None}; None must also read back
        exactly "(null)", as the kernel shows an unset override."""
        self.assertEqual({a: self.sim.override_of(a) for a in expected}, expected)
        for a, value in expected.items():
            if value is None:
                with open(os.path.join('/sys/bus/pci/devices', a, 'driver_override')) as f:
                    self.assertEqual(f.read(), '(null)\n', a)

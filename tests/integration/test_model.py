#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The live model: Device and Group objects under the ObjectManager at
/org/freedesktop/vfio1, watched the way a GNOME or KDE panel would watch
them (Gio.DBusObjectManagerClient), while devices change: vfiod's own
detach, another writer's unbind, hot removal and re-plugging, a mount and
unmount below a device, a link going up.  Each change of value is
signalled once, whatever number of events caused it."""

import json
import os
import select
import signal
import subprocess
import time
import unittest
import xml.etree.ElementTree as ET

from gi.repository import Gio, GLib

from harness import BUILDDIR, BUS_NAME, NOBODY, OBJECT_PATH, SRCDIR, Stack, by_address, main
from detachlib import GROUP, GROUP5, NIC, ORIGINAL, POLKIT_TEMPLATE, SATA, USB

DEVICE = 'org.freedesktop.vfio1.Device'
GROUP_IFACE = 'org.freedesktop.vfio1.Group'
PROPERTIES = 'org.freedesktop.DBus.Properties'
INUSE_SATA, INUSE_NIC = '0000:00:17.0', '0000:02:00.0'

# the device dictionary key each property mirrors
KEYS = {'Address': 'address', 'VendorId': 'vendor_id', 'DeviceId': 'device_id',
        'SubsystemVendorId': 'subsystem_vendor_id', 'SubsystemDeviceId': 'subsystem_device_id',
        'Class': 'class', 'Vendor': 'vendor', 'Name': 'name', 'Driver': 'driver', 'State': 'state',
        'Bridge': 'bridge', 'InUse': 'in_use'}


def device_path(address):
    return OBJECT_PATH + '/device/' + address.replace(':', '_').replace('.', '_')


def group_path(number):
    return '%s/group/%d' % (OBJECT_PATH, number)


class Watcher:
    """A GLib client: an ObjectManagerClient's view, plus every raw
    PropertiesChanged signal (to count them)."""

    def __init__(self, conn):
        self.conn = conn
        self.events = []    # ('added'|'removed', path) or ('changed', path, property, value)
        self.signals = []   # (path, interface, [property names]) per PropertiesChanged
        self.manager = Gio.DBusObjectManagerClient.new_sync(
            conn, Gio.DBusObjectManagerClientFlags.DO_NOT_AUTO_START, BUS_NAME, OBJECT_PATH,
            None, None, None)
        self.manager.connect('interface-proxy-properties-changed', self._changed)
        self.manager.connect('object-added', lambda m, o: self.events.append(('added', o.get_object_path())))
        self.manager.connect('object-removed', lambda m, o: self.events.append(('removed', o.get_object_path())))
        self.sub = conn.signal_subscribe(BUS_NAME, PROPERTIES, 'PropertiesChanged', None, None,
                                         Gio.DBusSignalFlags.NONE, self._raw, None)

    def close(self):
        self.conn.signal_unsubscribe(self.sub)

    def _changed(self, manager, obj, proxy, changed, invalidated):
        for name, value in changed.unpack().items():
            self.events.append(('changed', obj.get_object_path(), name, value))

    def _raw(self, conn, sender, path, iface, signal, params, data):
        self.signals.append((path, params[0], sorted(params[1].keys())))

    def pump(self, seconds):
        deadline = time.monotonic() + seconds
        ctx = GLib.MainContext.default()
        while time.monotonic() < deadline:
            while ctx.iteration(False):
                pass
            time.sleep(0.01)

    def wait(self, cond, what, timeout=10):
        deadline = time.monotonic() + timeout
        ctx = GLib.MainContext.default()
        while time.monotonic() < deadline:
            while ctx.iteration(False):
                pass
            if cond():
                return
            time.sleep(0.01)
        raise AssertionError('timed out waiting for %s; events: %r' % (what, self.events))

    def prop(self, path, iface, name):
        proxy = self.manager.get_interface(path, iface)
        if proxy is None:
            return None
        value = proxy.get_cached_property(name)
        return value.unpack() if value is not None else None

    def paths(self, kind):
        prefix = OBJECT_PATH + '/' + kind + '/'
        return sorted(o.get_object_path() for o in self.manager.get_objects()
                      if o.get_object_path().startswith(prefix))

    def changes(self, path, name):
        return [e[3] for e in self.events if e[0] == 'changed' and e[1] == path and e[2] == name]

    def signals_for(self, path):
        return [s for s in self.signals if s[0] == path]


class ModelTest(unittest.TestCase):
    topology = 'plugin-nic.json'
    uevents = True

    def start(self, **kw):
        kw.setdefault('uevents', self.uevents)
        self.stack = Stack(kw.pop('topology', self.topology), polkit_template=POLKIT_TEMPLATE, **kw)
        self.addCleanup(self.stack.stop)
        self.stack.start()
        self.sim = self.stack.sim
        self.watcher = Watcher(self.stack.conn)
        self.addCleanup(self.watcher.close)
        self.watcher.pump(0.2)
        return self.watcher

    def daemon_reads(self):
        with open(os.path.join(self.stack.tmp, 'vfiod.log'), errors='replace') as f:
            return f.read().count('uevent ')


class TestObjects(ModelTest):
    def setUp(self):
        self.start()

    def test_devices_match_list_devices(self):
        devices = by_address(self.stack.list_devices())
        w = self.watcher
        self.assertEqual(w.paths('device'), sorted(device_path(a) for a in devices))
        for address, d in devices.items():
            path = device_path(address)
            for prop, key in KEYS.items():
                self.assertEqual(w.prop(path, DEVICE, prop), d[key], (address, prop))
            self.assertEqual(w.prop(path, DEVICE, 'Group'),
                             group_path(d['group']) if 'group' in d else '/')

    def test_groups(self):
        devices = by_address(self.stack.list_devices())
        w = self.watcher
        numbers = sorted({d['group'] for d in devices.values() if 'group' in d})
        self.assertEqual(w.paths('group'), sorted(group_path(n) for n in numbers))
        members = w.prop(group_path(5), GROUP_IFACE, 'Devices')
        self.assertEqual(members, [device_path(a) for a in sorted(GROUP5)])
        self.assertEqual(w.prop(group_path(5), GROUP_IFACE, 'Number'), 5)
        # host drivers on USB, SATA and the NIC: not viable
        self.assertFalse(w.prop(group_path(5), GROUP_IFACE, 'Viable'))
        # the host bridge is unbound, alone in group 0: viable
        self.assertTrue(w.prop(group_path(0), GROUP_IFACE, 'Viable'))

    def test_unknown_objects(self):
        for path in (device_path('0000:99:00.0'), OBJECT_PATH + '/device/0000_00_14_0_',
                     OBJECT_PATH + '/device/0000_00_14_x', OBJECT_PATH + '/device/0000_00_1C_0',
                     group_path(99), OBJECT_PATH + '/group/05', OBJECT_PATH + '/group/x5'):
            with self.assertRaises(GLib.Error) as ctx:
                self.stack.conn.call_sync(BUS_NAME, path, PROPERTIES, 'GetAll',
                                          GLib.Variant('(s)', (DEVICE if '/device/' in path else GROUP_IFACE,)),
                                          None, 0, 5000, None)
            self.assertIn('org.freedesktop.DBus.Error.UnknownObject', ctx.exception.message, path)

    def test_nothing_writable(self):
        for path, iface, prop, value in ((device_path(NIC), DEVICE, 'Driver', GLib.Variant('s', 'vfio-pci')),
                                         (group_path(5), GROUP_IFACE, 'Viable', GLib.Variant('b', True))):
            with self.assertRaises(GLib.Error) as ctx:
                self.stack.conn.call_sync(BUS_NAME, path, PROPERTIES, 'Set',
                                          GLib.Variant('(ssv)', (iface, prop, value)), None, 0, 5000, None)
            self.assertIn('PropertyReadOnly', ctx.exception.message)
        self.assertEqual(self.sim.audit(), [])

    def test_unprivileged_reader(self):
        # a panel runs as the user: the policy lets it read the objects
        out = subprocess.run(['setpriv', '--reuid=%d' % NOBODY, '--regid=%d' % NOBODY, '--clear-groups',
                              'busctl', '--system', 'call', BUS_NAME, OBJECT_PATH,
                              'org.freedesktop.DBus.ObjectManager', 'GetManagedObjects'],
                             capture_output=True, text=True,
                             env=dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=self.stack.address))
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn('0000:02:00.0', out.stdout)

    def test_introspection_matches_xml(self):
        def members(root, name):
            out = {}
            for iface in root.iter('interface'):
                if iface.get('name') != name:
                    continue
                for m in iface:
                    if m.tag == 'property':
                        out[m.get('name')] = (m.get('type'), m.get('access'))
                    elif m.tag in ('method', 'signal'):
                        out[(m.tag, m.get('name'))] = True
            return out

        for path, iface in ((device_path(NIC), DEVICE), (group_path(5), GROUP_IFACE)):
            xml = self.stack.conn.call_sync(BUS_NAME, path, 'org.freedesktop.DBus.Introspectable', 'Introspect',
                                            None, None, 0, 5000, None).unpack()[0]
            live = members(ET.fromstring(xml), iface)
            doc = members(ET.parse(os.path.join(SRCDIR, 'interfaces', iface + '.xml')).getroot(), iface)
            self.assertTrue(doc)
            self.assertEqual(live, doc, iface)


class TestChanges(ModelTest):
    uevents = True
    def assert_moved(self, path, drivers, state):
        """The Driver values signalled for @path end with drivers[-1]
        and pass only through "" (a device is unbound from one driver
        before the next takes it; a reading may fall in between); each
        signal carries Driver and State, and no value twice in a row.
        OwnerUid (who detached it) may come with them or on its own: vfiod
        records it before the first write and forgets it after the last."""
        w = self.watcher
        seen = w.changes(path, 'Driver')
        self.assertEqual(seen[-1], drivers[-1], path)
        self.assertEqual([v for v in seen if v != ''], [v for v in drivers if v != ''], path)
        self.assertTrue(all(a != b for a, b in zip(seen, seen[1:])), seen)
        self.assertEqual(w.changes(path, 'State')[-1], state, path)
        for signal in w.signals_for(path):
            self.assertIn([p for p in signal[2] if p != 'OwnerUid'], (['Driver', 'State'], []), path)

    def test_detach_by_vfiod(self):
        w = self.start()
        self.stack.call('DetachDevice', 'st', NIC, GROUP)
        w.wait(lambda: w.changes(group_path(5), 'Viable') == [True], 'group 5 viable')
        w.pump(0.5)
        for address in (USB, SATA, NIC):
            self.assert_moved(device_path(address), ['vfio-pci'], 'vfio')
            self.assertEqual(w.prop(device_path(address), DEVICE, 'Driver'), 'vfio-pci')
            # root detached them: root's
            self.assertEqual(w.changes(device_path(address), 'OwnerUid'), [0])
        # the root port stays on pcieport: nothing to say about it
        self.assertEqual(w.signals_for(device_path('0000:00:1c.0')), [])
        # Viable changed once: one signal for the group
        self.assertEqual(w.signals_for(group_path(5)), [(group_path(5), GROUP_IFACE, ['Viable'])])

        self.stack.call('ReattachDevice', 'st', NIC, GROUP)
        w.wait(lambda: w.changes(group_path(5), 'Viable') == [True, False], 'group 5 not viable')
        w.wait(lambda: w.prop(device_path(NIC), DEVICE, 'Driver') == ORIGINAL[NIC], 'NIC back')
        w.pump(0.3)
        self.assert_moved(device_path(NIC), ['vfio-pci', ORIGINAL[NIC]], 'host')
        w.wait(lambda: w.changes(device_path(NIC), 'OwnerUid') == [0, 4294967295], 'NIC nobody\'s')

    def test_unbind_by_another_writer(self):
        w = self.start()
        with open('/sys/bus/pci/drivers/e1000e/unbind', 'w') as f:
            f.write(NIC)
        w.wait(lambda: w.changes(device_path(NIC), 'Driver') == [''], 'NIC unbound')
        w.pump(0.3)
        self.assertEqual(w.changes(device_path(NIC), 'State'), ['none'])
        self.assertEqual(w.signals_for(device_path(NIC)), [(device_path(NIC), DEVICE, ['Driver', 'State'])])
        # the others of group 5 still hold it on the host
        self.assertEqual(w.signals_for(group_path(5)), [])
        with open('/sys/bus/pci/drivers_probe', 'w') as f:
            f.write(NIC)
        w.wait(lambda: w.changes(device_path(NIC), 'Driver') == ['', 'e1000e'], 'NIC bound again')

    def test_hot_removal_and_add(self):
        w = self.start()
        path = device_path(NIC)
        self.sim.remove(NIC)
        w.wait(lambda: ('removed', path) in w.events, 'NIC removed')
        w.pump(0.3)
        self.assertIsNone(w.manager.get_object(path))
        self.assertEqual(w.changes(group_path(5), 'Devices'),
                         [[device_path(a) for a in sorted(GROUP5) if a != NIC]])
        self.sim.add(NIC)
        w.wait(lambda: ('added', path) in w.events, 'NIC added')
        w.wait(lambda: w.prop(path, DEVICE, 'Driver') == 'e1000e', 'NIC bound after add')
        w.pump(0.3)
        self.assertEqual(w.changes(group_path(5), 'Devices')[-1], [device_path(a) for a in sorted(GROUP5)])
        self.assertEqual(w.prop(path, DEVICE, 'Group'), group_path(5))

    def test_removing_a_whole_group(self):
        w = self.start()
        # the RTL NIC? plugin-nic's HECI sits alone in group 3
        heci = '0000:00:16.0'
        self.sim.remove(heci)
        w.wait(lambda: ('removed', group_path(3)) in w.events, 'group 3 removed')
        self.assertIn(('removed', device_path(heci)), w.events)
        self.sim.add(heci)
        w.wait(lambda: ('added', group_path(3)) in w.events, 'group 3 back')
        self.assertEqual(w.prop(group_path(3), GROUP_IFACE, 'Devices'), [device_path(heci)])

    def test_sriov_vfs_come_and_go(self):
        # large.json: an X710 PF at 01:00.0 with its VFs, each VF in its own group
        w = self.start(topology='large.json')
        pf = '0000:01:00.0'
        vfs = [p for p in w.paths('device') if p.startswith(OBJECT_PATH + '/device/0000_01_02_')]
        self.assertGreaterEqual(len(vfs), 5)
        vf_groups = [w.prop(p, DEVICE, 'Group') for p in vfs]
        self.sim.remove(pf)   # the PF takes its VFs along, as pci_stop_and_remove_bus_device() does
        w.wait(lambda: ('removed', device_path(pf)) in w.events, 'PF removed')
        w.pump(0.3)
        for path in vfs + vf_groups:
            self.assertIn(('removed', path), w.events, path)
            self.assertIsNone(w.manager.get_object(path), path)
        self.sim.add(pf)
        w.wait(lambda: all(('added', p) in w.events for p in vfs + vf_groups), 'VFs back')
        self.assertEqual(w.prop(vfs[0], DEVICE, 'Group'), vf_groups[0])

    def test_no_signal_storm(self):
        w = self.start()
        before = len(w.signals)
        # events that change nothing vfiod shows: no signal at all
        for _ in range(30):
            self.sim.uevent(NIC, 'change')
        w.pump(1.0)
        self.assertEqual(w.signals[before:], [])
        # many events for one change: one signal
        with open('/sys/bus/pci/drivers/e1000e/unbind', 'w') as f:
            f.write(NIC)
        for _ in range(30):
            self.sim.uevent(NIC, 'change')
        w.wait(lambda: w.changes(device_path(NIC), 'Driver') == [''], 'NIC unbound')
        w.pump(1.0)
        self.assertEqual(w.signals_for(device_path(NIC)), [(device_path(NIC), DEVICE, ['Driver', 'State'])])


class TestMonitorCli(ModelTest):
    """The real vfioctl monitor, as an unprivileged user, on the real daemon."""

    def monitor(self, *args):
        argv = ['setpriv', '--reuid=%d' % NOBODY, '--regid=%d' % NOBODY, '--clear-groups',
                os.path.join(BUILDDIR, 'client', 'vfioctl'), 'monitor'] + list(args)
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                env=dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=self.stack.address))
        self.addCleanup(lambda: proc.poll() is None and proc.kill())
        time.sleep(0.5)  # subscribed and loaded
        return proc

    def read_until(self, proc, cond, timeout=10):
        """Lines of @proc's stdout until cond(lines); raw reads, so two
        lines in one chunk are both seen."""
        lines, buf = [], b''
        fd = proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.1)
            if not ready:
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            buf += chunk
            while b'\n' in buf:
                line, buf = buf.split(b'\n', 1)
                lines.append(line.decode())
            if cond(lines):
                return lines
        raise AssertionError('monitor printed %r' % lines)

    def test_json_lines_for_a_detach(self):
        self.start()
        proc = self.monitor('--json')
        self.stack.call('DetachDevice', 'st', NIC, GROUP)

        def nic_drivers(lines):
            events = [json.loads(l) for l in lines]
            return [e['new'] for e in events if e.get('name') == NIC and e.get('property') == 'Driver']

        # A reading taken between the unbind and the bind shows the NIC
        # unbound, and an unbound member already leaves the group viable:
        # the NIC's move to vfio-pci may come in a later line than Viable.
        lines = self.read_until(proc, lambda ls: any('"Viable"' in l for l in ls) and
                                nic_drivers(ls)[-1:] == ['vfio-pci'])
        events = [json.loads(l) for l in lines]
        self.assertIn({'object': 'group', 'name': '5', 'property': 'Viable', 'old': False, 'new': True}, events)
        self.assertTrue(set(nic_drivers(lines)) <= {'', 'vfio-pci'}, nic_drivers(lines))
        proc.send_signal(signal.SIGINT)
        self.assertEqual(proc.wait(timeout=10), 0)

    def test_text_lines_for_a_removal(self):
        self.start()
        proc = self.monitor()
        self.sim.remove('0000:00:16.0')
        lines = self.read_until(proc, lambda ls: 'group 3 removed' in ls)
        self.assertIn('device 0000:00:16.0 removed', lines)
        proc.send_signal(signal.SIGTERM)
        self.assertEqual(proc.wait(timeout=10), 0)


class TestHostChanges(ModelTest):
    """In-use reasons follow the host: mounts and links."""
    topology = 'in-use.json'

    def test_mount_and_unmount_below_a_device(self):
        os.makedirs('/tmp/vfiod-mnt', exist_ok=True)
        w = self.start(substitute=dict(ROOT_PART='sdq2', ROOT_DISK='sdq', ROOT_DEV='8:252'))
        path = device_path(INUSE_SATA)
        self.assertEqual(w.prop(path, DEVICE, 'InUse'), '')
        subprocess.check_call(['mount', '-t', 'tmpfs', '/dev/sdq2', '/tmp/vfiod-mnt'])
        mounted = True
        try:
            w.wait(lambda: w.changes(path, 'InUse') == ['mounted: /tmp/vfiod-mnt (sdq2)'], 'InUse mounted')
            # the group's PropertiesChanged is a second signal, emitted after
            # the device's: it may not have reached us yet
            w.wait(lambda: w.prop(group_path(4), GROUP_IFACE, 'InUse') == 'mounted: /tmp/vfiod-mnt (sdq2)',
                   'group InUse mounted')
            subprocess.check_call(['umount', '/tmp/vfiod-mnt'])
            mounted = False
            w.wait(lambda: w.changes(path, 'InUse') == ['mounted: /tmp/vfiod-mnt (sdq2)', ''], 'InUse unmounted')
            w.pump(0.3)
            self.assertEqual(len(w.signals_for(path)), 2)
        finally:
            if mounted:
                subprocess.call(['umount', '/tmp/vfiod-mnt'])

    def test_link_going_up(self):
        subprocess.check_call(['ip', 'link', 'add', 'simeth0', 'type', 'veth', 'peer', 'name', 'simeth1'])
        self.addCleanup(subprocess.call, ['ip', 'link', 'del', 'simeth0'])
        w = self.start(substitute=dict(NET_IF='simeth0'))
        path = device_path(INUSE_NIC)
        self.assertEqual(w.prop(path, DEVICE, 'InUse'), '')
        subprocess.check_call(['ip', 'addr', 'add', '192.0.2.10/24', 'dev', 'simeth0'])
        subprocess.check_call(['ip', 'link', 'set', 'simeth0', 'up'])
        reason = 'network interface simeth0 is up with 192.0.2.10'
        w.wait(lambda: w.changes(path, 'InUse') == [reason], 'InUse up')
        w.pump(0.5)
        # an address, a link up, IPv6 link-local addresses: one signal
        self.assertEqual(w.signals_for(path), [(path, DEVICE, ['InUse'])])
        self.assertEqual(w.prop(group_path(6), GROUP_IFACE, 'InUse'), reason)

    def test_unrelated_links_are_quiet(self):
        w = self.start()
        before = len(w.signals)
        subprocess.check_call(['ip', 'link', 'add', 'other0', 'type', 'veth', 'peer', 'name', 'other1'])
        self.addCleanup(subprocess.call, ['ip', 'link', 'del', 'other0'])
        for i in range(10):
            subprocess.check_call(['ip', 'addr', 'add', '198.51.100.%d/32' % (i + 1), 'dev', 'other0'])
            subprocess.check_call(['ip', 'link', 'set', 'other0', 'up' if i % 2 else 'down'])
        w.pump(1.0)
        self.assertEqual(w.signals[before:], [])


if __name__ == '__main__':
    main()

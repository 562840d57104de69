#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""vfioctl monitor (and libvfiod's VfiodWatch under it) against a fake of
the service's live model (fake_model.py) on a private bus: one line per
changed property, objects added and removed, the service stopping and
coming back with a different model, SIGINT/SIGTERM ending it cleanly.

The fake stands in until vfiod publishes the model itself; it follows the
contract of common/vfiod-names.h ("Live model")."""

import json
import os
import queue
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import unittest

import gi
gi.require_version('Gio', '2.0')
from gi.repository import Gio, GLib  # noqa: E402

from harness import BUILDDIR, BUS_NAME, HERE, bus_config, main  # noqa: E402

FAKE = os.path.join(HERE, 'fake_model.py')
FAKE_PATH = '/org/freedesktop/vfio1test'
FAKE_INTERFACE = 'org.freedesktop.vfio1test.FakeModel'
DEVICE = 'org.freedesktop.vfio1.Device'
GROUP = 'org.freedesktop.vfio1.Group'
SERVICE_STOPPED = 'service org.freedesktop.vfio1 stopped'
SERVICE_STARTED = 'service org.freedesktop.vfio1 started'


def device_path(address):
    return '/org/freedesktop/vfio1/device/' + address.replace(':', '_').replace('.', '_')


def group_path(number):
    return '/org/freedesktop/vfio1/group/%d' % number


def device(address, group, driver, state='host', in_use='', vendor_id=0x8086, device_id=0x10d3):
    return {'path': device_path(address), 'interface': DEVICE, 'properties': {
        'Address': ['s', address],
        'Group': ['o', group_path(group) if group is not None else '/'],
        'VendorId': ['q', vendor_id], 'DeviceId': ['q', device_id],
        'SubsystemVendorId': ['q', 0x1028], 'SubsystemDeviceId': ['q', 0xa01f],
        'Class': ['u', 0x020000], 'Vendor': ['s', 'Intel Corporation'],
        'Name': ['s', '82574L Gigabit Network Connection'],
        'Driver': ['s', driver], 'State': ['s', state], 'Bridge': ['b', False],
        'InUse': ['s', in_use]}}


def group(number, addresses, viable, in_use=''):
    return {'path': group_path(number), 'interface': GROUP, 'properties': {
        'Number': ['u', number],
        'Devices': ['ao', [device_path(a) for a in sorted(addresses)]],
        'Viable': ['b', viable], 'InUse': ['s', in_use]}}


NIC = '0000:03:00.0'
USB = '0000:00:14.0'
GPU = '0000:01:00.0'


def model():
    return [group(7, [GPU], True), group(12, [USB, NIC], False),
            device(GPU, 7, 'vfio-pci', 'vfio'), device(USB, 12, 'xhci_hcd'),
            device(NIC, 12, 'e1000e', in_use='network interface enp3s0 is up')]


class Bus:
    """A private system-like bus with vfiod's policy, the fake model on it."""

    def __init__(self):
        self.tmp = tempfile.mkdtemp(prefix='vfiod-monitor-test-')
        self.procs = []
        self.fake = None
        socket = os.path.join(self.tmp, 'system_bus_socket')
        config = os.path.join(self.tmp, 'bus.conf')
        with open(config, 'w') as f:
            f.write(bus_config(socket))
        rfd, wfd = os.pipe()
        self.log = open(os.path.join(self.tmp, 'dbus-daemon.log'), 'w')
        self.daemon = subprocess.Popen(['dbus-daemon', '--nofork', '--nosyslog', '--print-address=%d' % wfd,
                                        '--config-file', config], pass_fds=[wfd],
                                       stdout=self.log, stderr=subprocess.STDOUT)
        os.close(wfd)
        with os.fdopen(rfd) as f:
            if not f.readline():
                raise AssertionError('dbus-daemon did not start')
        self.address = 'unix:path=' + socket
        self.env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=self.address, LC_ALL='C.UTF-8')
        self.conn = Gio.DBusConnection.new_for_address_sync(
            self.address,
            Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT | Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION,
            None, None)

    def close(self):
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        try:
            self.conn.close_sync(None)
        except GLib.Error:
            pass  # the bus may already be gone
        self.daemon.terminate()
        self.daemon.wait()
        self.log.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def has_owner(self):
        reply = self.conn.call_sync('org.freedesktop.DBus', '/org/freedesktop/DBus', 'org.freedesktop.DBus',
                                    'NameHasOwner', GLib.Variant('(s)', (BUS_NAME,)), None,
                                    Gio.DBusCallFlags.NONE, -1, None)
        return reply.unpack()[0]

    def wait(self, cond, what, timeout=10):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if cond():
                return
            time.sleep(0.02)
        raise AssertionError('timed out waiting for ' + what)

    def start_fake(self, objects):
        path = os.path.join(self.tmp, 'model.json')
        with open(path, 'w') as f:
            json.dump({'objects': objects}, f)
        self.fake = subprocess.Popen(['/usr/bin/python3', FAKE, path], env=self.env)
        self.procs.append(self.fake)
        self.wait(self.has_owner, 'the fake model on the bus')

    def stop_fake(self):
        self.fake.send_signal(signal.SIGTERM)
        self.fake.wait(timeout=10)
        self.wait(lambda: not self.has_owner(), 'the fake model to leave the bus')

    def fake_call(self, method, signature=None, *args):
        params = GLib.Variant('(%s)' % signature, args) if signature else None
        return self.conn.call_sync(BUS_NAME, FAKE_PATH, FAKE_INTERFACE, method, params, None,
                                   Gio.DBusCallFlags.NONE, 10000, None).unpack()

    def set_properties(self, path, **props):
        """props: name=(signature, value); one PropertiesChanged for all."""
        self.fake_call('SetProperties', 'oa{sv}', path,
                       {k: GLib.Variant(sig, v) for k, (sig, v) in props.items()})

    def add_object(self, obj):
        self.fake_call('AddObject', 'osa{sv}', obj['path'], obj['interface'],
                       {k: GLib.Variant(sig, v) for k, (sig, v) in obj['properties'].items()})

    def remove_object(self, path):
        self.fake_call('RemoveObject', 'o', path)

    def load_count(self):
        return self.fake_call('LoadCount')[0]


class Monitor:
    """A running `vfioctl monitor`, its stdout read line by line."""

    def __init__(self, bus, *args):
        self.proc = subprocess.Popen([os.path.join(BUILDDIR, 'client', 'vfioctl'), 'monitor'] + list(args),
                                     stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, env=bus.env)
        bus.procs.append(self.proc)
        self.lines = queue.Queue()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.put(line.rstrip('\n'))
        self.lines.put(None)

    def next(self, timeout=10):
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError('no line from vfioctl monitor within %ds' % timeout)
        if line is None:
            raise AssertionError('vfioctl monitor ended (%s): %s' % (self.proc.wait(), self.proc.stderr.read()))
        return line

    def take(self, n):
        return [self.next() for _ in range(n)]

    def stop(self, sig=signal.SIGINT):
        self.proc.send_signal(sig)
        status = self.proc.wait(timeout=10)
        self.reader.join(timeout=10)
        return status


class MonitorTest(unittest.TestCase):
    json = False

    def setUp(self):
        self.bus = Bus()
        self.addCleanup(self.bus.close)
        self.bus.start_fake(model())

    def monitor(self, *args):
        """Starts vfioctl monitor and waits until it has loaded the model:
        whatever the fake emits afterwards comes after its answer."""
        before = self.bus.load_count() if self.bus.has_owner() else 0
        m = Monitor(self.bus, *args)
        if self.bus.has_owner():
            self.bus.wait(lambda: self.bus.load_count() > before, 'vfioctl monitor to load the model')
        self.addCleanup(lambda: m.proc.poll() is None and m.stop(signal.SIGKILL))
        return m

    def assert_quiet(self, m):
        """Nothing more printed: a marker change must come next."""
        self.bus.set_properties(device_path(GPU), InUse=('s', 'marker'))
        self.assertEqual(m.next(), 'device %s InUse: - -> marker' % GPU)


class TestText(MonitorTest):
    def test_one_line_per_changed_property(self):
        m = self.monitor()
        self.bus.set_properties(device_path(NIC), Driver=('s', 'vfio-pci'), State=('s', 'vfio'),
                                InUse=('s', ''))
        self.assertEqual(m.take(3), [
            'device 0000:03:00.0 Driver: e1000e -> vfio-pci',
            'device 0000:03:00.0 State: host -> vfio',
            'device 0000:03:00.0 InUse: network interface enp3s0 is up -> -',
        ])
        self.bus.set_properties(group_path(12), Viable=('b', True))
        self.assertEqual(m.next(), 'group 12 Viable: false -> true')
        self.assertEqual(m.stop(), 0)

    def test_unchanged_values_print_nothing(self):
        m = self.monitor()
        self.bus.set_properties(device_path(NIC), Driver=('s', 'e1000e'), State=('s', 'host'))
        self.bus.set_properties(group_path(12), Viable=('b', False))
        self.assert_quiet(m)

    def test_value_forms(self):
        m = self.monitor()
        self.bus.set_properties(device_path(NIC), Group=('o', '/'), VendorId=('q', 0x10ec),
                                Class=('u', 0x0c0330))
        self.bus.set_properties(device_path(NIC), Group=('o', group_path(7)))
        self.bus.set_properties(group_path(12), Devices=('ao', [device_path(USB)]))
        self.bus.set_properties(device_path(NIC), InUse=('s', 'line one\nline two\t!'))
        self.assertEqual(m.take(6), [
            'device 0000:03:00.0 Group: 12 -> -',
            'device 0000:03:00.0 VendorId: 0x8086 -> 0x10ec',
            'device 0000:03:00.0 Class: 0x020000 -> 0x0c0330',
            'device 0000:03:00.0 Group: - -> 7',
            'group 12 Devices: 0000:00:14.0 0000:03:00.0 -> 0000:00:14.0',
            'device 0000:03:00.0 InUse: network interface enp3s0 is up -> line one line two !',
        ])

    def test_added_and_removed(self):
        m = self.monitor()
        self.bus.add_object(device('0000:05:00.0', None, ''))
        self.assertEqual(m.next(), 'device 0000:05:00.0 added')
        self.bus.set_properties(device_path('0000:05:00.0'), Driver=('s', 'igb'))
        self.assertEqual(m.next(), 'device 0000:05:00.0 Driver: - -> igb')
        self.bus.remove_object(group_path(7))
        self.assertEqual(m.next(), 'group 7 removed')
        # a removed object's signals are not reported; it can come back
        self.bus.add_object(group(7, [GPU], True))
        self.assertEqual(m.next(), 'group 7 added')
        self.bus.remove_object(device_path('0000:05:00.0'))
        self.assertEqual(m.next(), 'device 0000:05:00.0 removed')

    def test_service_restart_reports_differences(self):
        m = self.monitor()
        self.bus.stop_fake()
        self.assertEqual(m.next(), SERVICE_STOPPED)
        # back with the NIC on vfio-pci, group 12 viable, the GPU gone
        # (and its group), a new device in a new group
        objects = [group(12, [USB, NIC], True), group(20, ['0000:06:00.0'], True),
                   device(USB, 12, 'xhci_hcd'),
                   device(NIC, 12, 'vfio-pci', 'vfio', in_use='network interface enp3s0 is up'),
                   device('0000:06:00.0', 20, 'nvme')]
        self.bus.start_fake(objects)
        self.assertEqual(m.take(8), [
            SERVICE_STARTED,
            'group 7 removed',
            'device 0000:01:00.0 removed',
            'group 12 Viable: false -> true',
            'group 20 added',
            'device 0000:03:00.0 Driver: e1000e -> vfio-pci',
            'device 0000:03:00.0 State: host -> vfio',
            'device 0000:06:00.0 added',
        ])
        # and it follows the new instance
        self.bus.set_properties(device_path(NIC), Driver=('s', 'e1000e'))
        self.assertEqual(m.next(), 'device 0000:03:00.0 Driver: vfio-pci -> e1000e')
        self.assertEqual(m.stop(), 0)

    def test_service_absent_at_start(self):
        self.bus.stop_fake()
        # Watch the bus for the answer "no such service" to the monitor's
        # GetManagedObjects: the service's appearance comes after it.
        errors = []
        spy = Gio.DBusConnection.new_for_address_sync(
            self.bus.address,
            Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT | Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION,
            None, None)
        self.addCleanup(spy.close_sync, None)

        def spy_filter(conn, msg, incoming):
            errors.append(msg.get_error_name())
            return msg
        spy.add_filter(spy_filter)
        spy.call_sync('org.freedesktop.DBus', '/org/freedesktop/DBus', 'org.freedesktop.DBus.Monitoring',
                      'BecomeMonitor', GLib.Variant('(asu)', (["type='error'"], 0)), None,
                      Gio.DBusCallFlags.NONE, -1, None)
        m = self.monitor()
        self.bus.wait(lambda: 'org.freedesktop.DBus.Error.ServiceUnknown' in errors,
                      'vfioctl monitor to find no service')
        self.assertIsNone(m.proc.poll(), 'vfioctl monitor gave up without the service')
        self.bus.start_fake([group(7, [GPU], True), device(GPU, 7, 'vfio-pci', 'vfio')])
        self.assertEqual(m.take(3), [SERVICE_STARTED, 'group 7 added', 'device 0000:01:00.0 added'])

    def test_sigint_and_sigterm_end_cleanly(self):
        for sig in (signal.SIGINT, signal.SIGTERM):
            m = self.monitor()
            status = m.stop(sig)
            self.assertEqual(status, 0, m.proc.stderr.read())
            self.assertEqual(m.proc.stderr.read(), '')

    def test_no_bus(self):
        env = dict(self.bus.env, DBUS_SYSTEM_BUS_ADDRESS='unix:path=' + os.path.join(self.bus.tmp, 'nothing'))
        proc = subprocess.run([os.path.join(BUILDDIR, 'client', 'vfioctl'), 'monitor'],
                              capture_output=True, text=True, env=env, timeout=30)
        self.assertEqual(proc.returncode, 1)
        self.assertTrue(proc.stderr.startswith('vfioctl: '), proc.stderr)


class TestJson(MonitorTest):
    def changes(self, m, n):
        return [json.loads(line) for line in m.take(n)]

    def test_typed_values(self):
        m = self.monitor('--json')
        self.bus.set_properties(device_path(NIC), Driver=('s', 'vfio-pci'), Group=('o', '/'),
                                VendorId=('q', 0x10ec), Bridge=('b', True))
        self.bus.set_properties(group_path(12), Viable=('b', True), Devices=('ao', [device_path(USB)]),
                                Number=('u', 13))
        nic = {'object': 'device', 'name': NIC}
        g12 = {'object': 'group', 'name': '12'}
        self.assertEqual(self.changes(m, 7), [
            dict(nic, property='Driver', old='e1000e', new='vfio-pci'),
            dict(nic, property='Group', old=12, new=None),
            dict(nic, property='VendorId', old=0x8086, new=0x10ec),
            dict(nic, property='Bridge', old=False, new=True),
            dict(g12, property='Viable', old=False, new=True),
            dict(g12, property='Devices', old=[USB, NIC], new=[USB]),
            dict(g12, property='Number', old=12, new=13),
        ])
        self.assertEqual(m.stop(), 0)

    def test_events(self):
        m = self.monitor('--json')
        self.bus.add_object(device('0000:05:00.0', None, ''))
        self.bus.remove_object(group_path(7))
        self.assertEqual(self.changes(m, 2), [
            {'object': 'device', 'name': '0000:05:00.0', 'event': 'added'},
            {'object': 'group', 'name': '7', 'event': 'removed'},
        ])
        self.bus.stop_fake()
        self.bus.start_fake(model())
        self.assertEqual(self.changes(m, 4), [
            {'object': 'service', 'name': BUS_NAME, 'event': 'stopped'},
            {'object': 'service', 'name': BUS_NAME, 'event': 'started'},
            {'object': 'device', 'name': '0000:05:00.0', 'event': 'removed'},
            {'object': 'group', 'name': '7', 'event': 'added'},
        ])

    def test_one_object_per_line_through_a_pipe(self):
        m = self.monitor('--json')
        self.bus.set_properties(device_path(NIC), InUse=('s', 'a "quoted"\nreason'))
        line = m.next()
        self.assertEqual(json.loads(line)['new'], 'a "quoted"\nreason')
        self.assertNotIn('\n', line)


if __name__ == '__main__':
    main()

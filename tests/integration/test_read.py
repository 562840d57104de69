#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""GetGroup, ListDevices, Version and introspection against the real
daemon on a simulated machine; the CLI's table and JSON for the same
data.  No read-only call may write anything to /sys."""

import json
import os
import re
import subprocess
import unittest
import xml.etree.ElementTree as ET

from harness import (BUS_NAME, ERROR, MANAGER, NOBODY, OBJECT_PATH, SRCDIR, TOPOLOGIES, Stack,
                     by_address, main)
from gi.repository import Gio  # noqa: E402


def documented_device_keys():
    """The device dictionary's keys and their D-Bus types, as the Manager's
    XML documents them ("    key  type  text"): a key the service adds is
    documented there, and this test then expects it, with its type."""
    with open(os.path.join(SRCDIR, 'interfaces', 'org.freedesktop.vfio1.Manager.xml')) as f:
        text = f.read()
    block = text.split('Device dictionary (a{sv})', 1)[1].split('\n\n', 1)[0]
    keys = dict(re.findall(r'^    ([a-z_]+) +([a-z{}()]+) ', block, re.M))
    assert {'address', 'driver', 'reset_methods'} <= set(keys), keys
    return keys


DEVICE_KEYS = documented_device_keys()
# present only when they apply (the XML says when)
OPTIONAL_KEYS = {'group', 'granted_uids', 'owner_uid', 'persistent'}

MALFORMED = ['', ':', '..', '/', '../../../etc/passwd', '0000:03:00.0/', '0000:03:00.0 ',
             ' 03:00.0', '0000:03:00.8', '0000:03:20.0', '000:03:00.0', '000000000:03:00.0',
             '0000:003:00.0', '0000:03:00', '0000:03:00.', '03-00.0', '0x00:03:00.0',
             '0000:0g:00.0', '0000:0000:03:00.0', 'pci0000:00', '0' * 300, '0000:03:00.0\n',
             'é:00.0']


def load_topology(name):
    with open(os.path.join(TOPOLOGIES, name)) as f:
        return json.load(f)['devices']


def expected_state(dev):
    cls = int(dev['class'], 16)
    base, sub = cls >> 16, (cls >> 8) & 0xff
    if base == 0x06 and sub in (0x00, 0x04, 0x07, 0x09):
        return 'bridge'
    drv = dev.get('driver')
    return {None: 'none', 'vfio-pci': 'vfio', 'pci-stub': 'stub'}.get(drv, 'host')


def groups_of(devices):
    groups = {}
    for d in devices:
        if d.get('iommu_group') is not None:
            groups.setdefault(d['iommu_group'], []).append(d['address'].lower())
    return groups


class ReadTest(unittest.TestCase):
    topology = 'plugin-nic.json'

    def setUp(self):
        self.stack = Stack(self.topology)
        self.stack.start()
        self.addCleanup(self.stack.stop)
        self.addCleanup(self.assert_nothing_written)

    def assert_nothing_written(self):
        self.assertEqual(self.stack.sim.audit(), [], 'a read-only call wrote to /sys')

    def assert_matches_topology(self, got, want):
        # "granted_uids": only when somebody was granted access (test_use);
        # "persistent": only with a persistent assignment (test_persistent)
        self.assertEqual(set(got) - OPTIONAL_KEYS, set(DEVICE_KEYS) - OPTIONAL_KEYS)
        self.assertNotIn('granted_uids', got)
        self.assertNotIn('persistent', got)
        self.assertEqual(got['address'], want['address'].lower())
        if want.get('iommu_group') is None:
            self.assertNotIn('group', got)
        else:
            self.assertEqual(got['group'], want['iommu_group'])
        self.assertEqual(got['vendor_id'], int(want['vendor'], 16))
        self.assertEqual(got['device_id'], int(want['device'], 16))
        self.assertEqual(got['class'], int(want['class'], 16))
        if 'subsystem_vendor' in want:
            self.assertEqual(got['subsystem_vendor_id'], int(want['subsystem_vendor'], 16))
            self.assertEqual(got['subsystem_device_id'], int(want['subsystem_device'], 16))
        self.assertEqual(got['driver'], want.get('driver') or '')
        self.assertEqual(got['state'], expected_state(want))
        self.assertEqual(got['bridge'], expected_state(want) == 'bridge')


class TestContract(ReadTest):
    def test_introspection_matches_xml(self):
        def members(root):
            out = {}
            for iface in root.iter('interface'):
                if iface.get('name') != MANAGER:
                    continue
                for m in iface:
                    if m.tag == 'method':
                        out[('method', m.get('name'))] = [(a.get('name'), a.get('type'), a.get('direction', 'in'))
                                                          for a in m.iter('arg')]
                    elif m.tag == 'signal':
                        out[('signal', m.get('name'))] = [(a.get('name'), a.get('type')) for a in m.iter('arg')]
                    elif m.tag == 'property':
                        out[('property', m.get('name'))] = (m.get('type'), m.get('access'))
            return out

        live = members(ET.fromstring(self.stack.introspect()))
        doc = members(ET.parse(os.path.join(SRCDIR, 'interfaces', 'org.freedesktop.vfio1.Manager.xml')).getroot())
        self.assertTrue(doc)
        self.assertEqual(live, doc)

    def test_device_keys_have_the_documented_types(self):
        reply = self.stack.conn.call_sync(BUS_NAME, OBJECT_PATH, MANAGER, 'ListDevices', None, None,
                                          Gio.DBusCallFlags.NONE, 30000, None)
        devices = reply.get_child_value(0)
        self.assertGreater(devices.n_children(), 0)
        seen = set()
        for i in range(devices.n_children()):
            device = devices.get_child_value(i)
            for j in range(device.n_children()):
                key = device.get_child_value(j).get_child_value(0).get_string()
                value = device.get_child_value(j).get_child_value(1).get_variant()
                self.assertIn(key, DEVICE_KEYS, 'undocumented key')
                self.assertEqual(value.get_type_string(), DEVICE_KEYS[key], key)
                seen.add(key)
        self.assertEqual(set(DEVICE_KEYS) - OPTIONAL_KEYS - seen, set())

    def test_version(self):
        version = self.stack.call('Get', '(ss)'[1:-1], MANAGER, 'Version',
                                  interface='org.freedesktop.DBus.Properties')[0]
        with open(os.path.join(SRCDIR, 'meson.build')) as f:
            self.assertIn("version: '%s'" % version, f.read())

    def test_peer_ping_allowed_for_anybody(self):
        proc = subprocess.run(['setpriv', '--reuid=%d' % NOBODY, '--regid=%d' % NOBODY, '--clear-groups',
                               'busctl', '--system', 'call', 'org.freedesktop.vfio1', '/org/freedesktop/vfio1',
                               'org.freedesktop.DBus.Peer', 'Ping'],
                              capture_output=True, text=True,
                              env=dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=self.stack.address))
        self.assertEqual(proc.returncode, 0, proc.stderr)


class TestGetGroup(ReadTest):
    def test_plugin_nic_group(self):
        topo = load_topology(self.topology)
        groups = groups_of(topo)
        # the group of the source discussion: a NIC plus chipset devices
        nic = next(d for d in topo if d['class'].lower().startswith('0x02') and d.get('iommu_group') is not None
                   and len(groups[d['iommu_group']]) >= 3)
        group, devices = self.stack.get_group(nic['address'])
        self.assertEqual(group, nic['iommu_group'])
        self.assertEqual([d['address'] for d in devices], sorted(groups[group]))
        want = {d['address'].lower(): d for d in topo}
        for d in devices:
            self.assert_matches_topology(d, want[d['address']])

    def test_every_group_of_every_topology_member(self):
        topo = load_topology(self.topology)
        for g, members in groups_of(topo).items():
            for m in members:
                group, devices = self.stack.get_group(m)
                self.assertEqual(group, g)
                self.assertEqual([d['address'] for d in devices], sorted(members))

    def test_address_forms(self):
        topo = load_topology(self.topology)
        dev = next(d for d in topo if d.get('iommu_group') is not None and d['address'].startswith('0000:'))
        full = dev['address'].lower()
        for form in (full, full.upper(), full[5:], full[5:].upper()):
            group, devices = self.stack.get_group(form)
            self.assertEqual(group, dev['iommu_group'], form)
            self.assertIn(full, [d['address'] for d in devices])

    def test_malformed_addresses(self):
        self.assertGreaterEqual(len(MALFORMED), 15)
        for text in MALFORMED:
            name, message = self.stack.call_error('GetGroup', 's', text)
            self.assertEqual(name, ERROR + 'InvalidAddress', text)
            self.assertIn('is not a PCI address', message)
            self.assertIn('dddd:bb:dd.f', message)
            self.assertLess(len(message), 300, 'untrusted input echoed unbounded')

    def test_no_such_device(self):
        name, message = self.stack.call_error('GetGroup', 's', '0000:7f:1e.6')
        self.assertEqual(name, ERROR + 'NoSuchDevice')
        self.assertIn('0000:7f:1e.6', message)
        self.assertIn('ListDevices', message)

    def test_names_from_hwdb(self):
        devices = self.stack.list_devices()
        intel = [d for d in devices if d['vendor_id'] == 0x8086]
        self.assertTrue(intel)
        for d in intel:
            self.assertEqual(d['vendor'], 'Intel Corporation')
        self.assertTrue(any(d['name'] for d in devices))


class TestTwoDomains(ReadTest):
    topology = 'two-domains.json'

    def test_vmd_domain(self):
        topo = load_topology(self.topology)
        vmd = [d for d in topo if not d['address'].startswith('0000:') and d.get('iommu_group') is not None]
        self.assertTrue(vmd)
        for d in vmd:
            group, devices = self.stack.get_group(d['address'].upper())
            self.assertIn(d['address'].lower(), [x['address'] for x in devices])
        listed = [d['address'] for d in self.stack.list_devices()]
        self.assertEqual(listed, sorted(listed, key=lambda a: (int(a.split(':')[0], 16), a.split(':', 1)[1])))
        self.assertEqual(set(listed), {d['address'].lower() for d in topo})


class TestNoIommu(ReadTest):
    topology = 'no-iommu.json'

    def test_no_iommu_group(self):
        topo = load_topology(self.topology)
        dev = next(d for d in topo if d.get('iommu_group') is None)
        name, message = self.stack.call_error('GetGroup', 's', dev['address'])
        self.assertEqual(name, ERROR + 'NoIommuGroup')
        self.assertIn(dev['address'].lower(), message)
        self.assertIn('intel_iommu=on', message)
        self.assertIn('AMD', message)
        # every method that needs the group says the same
        for method in ('DetachDevice', 'ReattachDevice', 'OpenGroup', 'GrantAccess'):
            self.assertEqual(self.stack.call_error(method, 'st', dev['address'], 0), (name, message), method)

    def test_list_without_group_key(self):
        topo = {d['address'].lower(): d for d in load_topology(self.topology)}
        for d in self.stack.list_devices():
            self.assert_matches_topology(d, topo[d['address']])


class TestStates(ReadTest):
    topology = 'states.json'

    def test_every_state(self):
        topo = {d['address'].lower(): d for d in load_topology(self.topology)}
        devices = self.stack.list_devices()
        self.assertEqual({d['state'] for d in devices}, {'host', 'vfio', 'stub', 'bridge', 'none'})
        for d in devices:
            self.assert_matches_topology(d, topo[d['address']])


class TestListDevices(ReadTest):
    def test_all_sorted(self):
        topo = {d['address'].lower(): d for d in load_topology(self.topology)}
        devices = self.stack.list_devices()
        self.assertEqual([d['address'] for d in devices], sorted(topo))
        for d in devices:
            self.assert_matches_topology(d, topo[d['address']])

    def test_sysfs_gone_is_failed(self):
        # an empty /sys: the daemon must say so, not crash or return []
        subprocess.check_call(['mount', '-t', 'tmpfs', 'empty', '/sys'])
        try:
            name, message = self.stack.call_error('ListDevices')
            self.assertEqual(name, ERROR + 'Failed')
            self.assertIn('/sys/bus/pci/devices', message)
            name, _ = self.stack.call_error('GetGroup', 's', '00:00.0')
            self.assertEqual(name, ERROR + 'NoSuchDevice')
        finally:
            subprocess.check_call(['umount', '/sys'])


class TestLarge(ReadTest):
    topology = 'large.json'

    def test_large_list_and_vfs(self):
        topo = load_topology(self.topology)
        self.assertGreaterEqual(len(topo), 1000)
        devices = self.stack.list_devices()
        self.assertEqual(len(devices), len(topo))
        vf = next(d for d in topo if d.get('physfn'))
        group, members = self.stack.get_group(vf['address'])
        self.assertEqual(group, vf['iommu_group'])


class TestCli(ReadTest):
    def test_json_equals_dbus(self):
        self.assertEqual(self.stack.vfioctl_json('list'), {'devices': self.stack.list_devices()})
        topo = load_topology(self.topology)
        dev = next(d for d in topo if d.get('iommu_group') is not None)
        group, devices = self.stack.get_group(dev['address'])
        self.assertEqual(self.stack.vfioctl_json('group', dev['address']), {'group': group, 'devices': devices})

    def test_table_shows_the_same_data(self):
        devices = self.stack.list_devices()
        out = self.stack.vfioctl('list', check=0).stdout
        for d in devices:
            line = next((line for line in out.splitlines() if d['address'] in line), None)
            self.assertIsNotNone(line, d['address'])
            self.assertIn('[%04x:%04x]' % (d['vendor_id'], d['device_id']), line)
            self.assertIn(d['state'], line)
            if d['driver']:
                self.assertIn(d['driver'], line)

    def test_unprivileged_reads(self):
        as_root = self.stack.vfioctl_json('list')
        self.assertEqual(self.stack.vfioctl_json('list', uid=NOBODY), as_root)
        dev = as_root['devices'][0]['address']
        self.stack.vfioctl('group', dev, uid=NOBODY, check=0 if 'group' in as_root['devices'][0] else 1)

    def test_errors_and_exit_codes(self):
        proc = self.stack.vfioctl('group', 'not-an-address', check=1)
        self.assertIn('is not a PCI address', proc.stderr)
        self.assertNotIn('org.freedesktop', proc.stderr)
        self.stack.vfioctl('group', check=2)
        self.stack.vfioctl('no-such-verb', check=2)
        self.stack.vfioctl('--no-such-option', check=2)
        help_text = self.stack.vfioctl('--help', check=0).stdout
        for verb in ('list', 'group'):
            self.assertIn(verb, help_text)


if __name__ == '__main__':
    main()

#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Why grouped, on the simulated machines: every topology's groups are
what the kernel's rules give (Group.Cause is never "unknown" but where the
topology says the kernel's rules cannot give its grouping), ExplainGroup
says the cause, the device responsible, what would isolate a device and
whether its reset reaches other groups; Group objects agree with it;
anybody may ask; bad input gets the usual errors."""

import glob
import os
import unittest

from gi.repository import Gio

from harness import ERROR, NOBODY, TOPOLOGIES, Stack, main

GROUP_IFACE = 'org.freedesktop.vfio1.Group'
DEVICE_IFACE = 'org.freedesktop.vfio1.Device'
KEYS = {'group', 'cause', 'cause_device', 'explanation', 'advice', 'isolating_slots',
        'reset_methods', 'reset_warning'}

# (topology, group) -> why the rules cannot give the topology's grouping
NOT_THE_KERNELS = {
    ('plugin-nic.json', 5): 'the source discussion\'s group: single-function integrated '
                            'endpoints on the root bus (xhci, ahci) always isolate, so no kernel '
                            'puts them with a root port and its NIC',
}


class ExplainTest(unittest.TestCase):
    topology = 'gpu-audio.json'

    def setUp(self):
        self.stack = Stack(self.topology)
        self.addCleanup(self.stack.stop)
        self.stack.start()

    def explain(self, device):
        (e,) = self.stack.call('ExplainGroup', 's', device)
        self.assertEqual(set(e), KEYS)
        return e

    def groups(self):
        """Group objects: number -> properties."""
        (objects,) = self.stack.conn.call_sync(
            'org.freedesktop.vfio1', '/org/freedesktop/vfio1', 'org.freedesktop.DBus.ObjectManager',
            'GetManagedObjects', None, None, Gio.DBusCallFlags.NONE, 30000, None).unpack()
        return {ifaces[GROUP_IFACE]['Number']: ifaces[GROUP_IFACE]
                for ifaces in objects.values() if GROUP_IFACE in ifaces}


class TestTopologies(unittest.TestCase):
    def test_every_topology_reproduces_the_kernels_groups(self):
        checked = 0
        for path in sorted(glob.glob(os.path.join(TOPOLOGIES, '*.json'))):
            name = os.path.basename(path)
            stack = Stack(name)
            try:
                stack.start()
                (objects,) = stack.conn.call_sync(
                    'org.freedesktop.vfio1', '/org/freedesktop/vfio1',
                    'org.freedesktop.DBus.ObjectManager', 'GetManagedObjects', None, None,
                    Gio.DBusCallFlags.NONE, 60000, None).unpack()
            finally:
                stack.stop()
            for ifaces in objects.values():
                g = ifaces.get(GROUP_IFACE)
                if g is None:
                    continue
                checked += 1
                expected = 'unknown' if (name, g['Number']) in NOT_THE_KERNELS else None
                with self.subTest(topology=name, group=g['Number']):
                    if expected:
                        self.assertEqual(g['Cause'], 'unknown', NOT_THE_KERNELS[(name, g['Number'])])
                    else:
                        self.assertNotEqual(g['Cause'], 'unknown', g['Explanation'])
                    self.assertTrue(g['Explanation'])
                    if g['Cause'] in ('isolated', 'unknown'):
                        self.assertEqual(g['CauseDevice'], '')
                    else:
                        self.assertIn(g['CauseDevice'] + ' ', g['Explanation'] + ' ')
        self.assertGreaterEqual(checked, 1000)  # large.json alone has 950


class TestExplain(ExplainTest):
    def test_bridge_without_acs(self):
        e = self.explain('01:00.0')
        self.assertEqual((e['group'], e['cause'], e['cause_device']), (1, 'bridge-without-acs', '0000:00:01.0'))
        for a in ('0000:00:01.0', '0000:01:00.0', '0000:01:00.1'):
            self.assertIn(a, e['explanation'])
        self.assertIn('has no ACS', e['explanation'])
        # the group object says the same
        g = self.groups()[1]
        self.assertEqual((g['Cause'], g['CauseDevice'], g['Explanation']),
                         (e['cause'], e['cause_device'], e['explanation']))
        # a group of its own needs a port with ACS: this desktop has none
        self.assertEqual(e['isolating_slots'], [])
        self.assertIn('This platform cannot isolate 0000:01:00.0', e['advice'])

    def test_multifunction_and_isolated(self):
        e = self.explain('0000:00:1f.3')
        self.assertEqual((e['group'], e['cause'], e['cause_device']), (7, 'multifunction', '0000:00:1f.0'))
        self.assertIn('can only be assigned together', e['advice'])
        e = self.explain('0000:00:14.0')
        self.assertEqual((e['cause'], e['cause_device']), ('isolated', ''))
        self.assertIn('already has an IOMMU group of its own', e['advice'])

    def test_reset_methods_match_the_device_dictionary(self):
        devices = {d['address']: d for d in self.stack.list_devices()}
        for a, d in devices.items():
            if 'group' not in d:
                continue
            self.assertEqual(self.explain(a)['reset_methods'], d['reset_methods'], a)

    def test_anybody_may_ask(self):
        r = self.stack.call_as(NOBODY, 'ExplainGroup', 's', '01:00.0')
        self.assertNotIn('error', r, r)
        self.assertEqual(r['reply'][0]['cause'], 'bridge-without-acs')

    def test_bad_input(self):
        for bad in ('', '01:00', '0000:01:00.0/..', 'x' * 300):
            name, _ = self.stack.call_error('ExplainGroup', 's', bad)
            self.assertEqual(name, ERROR + 'InvalidAddress', bad)
        name, message = self.stack.call_error('ExplainGroup', 's', '0000:07:00.0')
        self.assertEqual(name, ERROR + 'NoSuchDevice')
        self.assertIn('0000:07:00.0', message)


class TestPciBridge(ExplainTest):
    topology = 'pcie-to-pci-bridge.json'

    def test_conventional_pci_and_a_slot_that_isolates(self):
        e = self.explain('0000:04:01.0')
        self.assertEqual((e['group'], e['cause'], e['cause_device']), (9, 'pci-bridge', '0000:03:00.0'))
        self.assertIn('PCIe-to-PCI bridge', e['explanation'])
        # the Union Point root port's ACS (control at +8) isolates: slot 4
        self.assertEqual(e['isolating_slots'],
                         [{'slot': '4', 'port': '0000:00:1c.4', 'occupant': ['0000:03:00.0']}])
        self.assertIn('slot 4 (port 0000:00:1c.4, now holding 0000:03:00.0)', e['advice'])
        self.assertEqual((e['reset_methods'], e['reset_warning']), (['pm'], ''))


class TestVmd(ExplainTest):
    topology = 'two-domains.json'

    def test_vmd_domain_is_an_alias(self):
        # the simulator nests the VMD's domain below it, as the kernel does
        self.assertEqual(os.path.realpath('/sys/bus/pci/devices/10000:01:00.0'),
                         '/sys/devices/pci0000:5d/0000:5d:05.5/pci10000:00/10000:00:00.0/10000:01:00.0')
        e = self.explain('10000:01:00.0')
        self.assertEqual((e['group'], e['cause'], e['cause_device']), (30, 'alias', '0000:5d:05.5'))
        self.assertIn('Intel VMD', e['explanation'])
        self.assertIn('turning VMD off', e['advice'])
        # functions with ACS between them: a group each
        for a in ('0000:5e:00.0', '0000:5e:00.1'):
            e = self.explain(a)
            self.assertEqual((e['cause'], e['reset_methods'], e['reset_warning']), ('isolated', ['flr'], ''))


class TestCli(ExplainTest):
    topology = 'pcie-to-pci-bridge.json'

    def test_explain_text_and_json(self):
        e = self.explain('04:01.0')
        self.assertEqual(self.stack.vfioctl_json('explain', '04:01.0'), e)
        out = self.stack.vfioctl('explain', '04:01.0', check=0).stdout
        lines = out.splitlines()
        self.assertEqual(lines[0].split(), ['Group:', '9'])
        self.assertEqual(lines[1].split(), ['Cause:', 'pci-bridge', '(0000:03:00.0)'])
        self.assertIn('%-14s%s' % ('Why:', e['explanation']), lines)
        self.assertIn('%-14s%s' % ('Advice:', e['advice']), lines)
        self.assertIn('%-14s%s' % ('  slot 4', '0000:00:1c.4: 0000:03:00.0'), lines)
        self.assertIn('%-14s%s' % ('Reset:', 'pm'), lines)
        self.assertNotIn('Warning:', out)
        # as anybody
        self.assertEqual(self.stack.vfioctl('explain', '04:01.0', uid=NOBODY, check=0).stdout, out)

    def test_group_says_why(self):
        out = self.stack.vfioctl('group', '04:01.0', check=0).stdout
        e = self.explain('04:01.0')
        self.assertEqual(out.splitlines()[0], 'Cause: pci-bridge (0000:03:00.0): ' + e['explanation'])
        # --json stays the group's devices
        self.assertEqual(set(self.stack.vfioctl_json('group', '04:01.0')), {'group', 'devices'})

    def test_errors(self):
        proc = self.stack.vfioctl('explain', '0000:07:00.0', check=1)
        self.assertIn('0000:07:00.0', proc.stderr)
        self.assertEqual(proc.stdout, '')
        self.stack.vfioctl('explain', check=2)


class TestNoIommu(ExplainTest):
    topology = 'no-iommu.json'

    def test_no_group(self):
        name, message = self.stack.call_error('ExplainGroup', 's', '0000:02:00.0')
        self.assertEqual(name, ERROR + 'NoIommuGroup')
        self.assertIn('0000:02:00.0', message)


if __name__ == '__main__':
    main()

#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Persistent assignments through the real vfioctl: detach --persistent
records, list and group mark the devices (and a mismatch), `persistent`
lists the records with their check (table and JSON), reattach forgets
them, --dry-run records nothing."""

import os

from harness import main
from detachlib import GROUP5, NIC, SATA, USB, StackTest
from test_persistent import IDS, record_text

ROOT_PORT = '0000:00:1c.0'
ENDPOINTS = [USB, SATA, NIC]


class TestPersistentCli(StackTest):
    def recorded(self):
        d = self.stack.persist_dir
        return sorted(n[:-5] for n in os.listdir(d) if n.endswith('.conf')) if os.path.isdir(d) else []

    def rows(self, *args):
        """The table's rows, each a list of cells, by address."""
        out = self.stack.vfioctl(*args, check=0).stdout
        rows = {}
        for line in out.splitlines():
            cells = line.split()
            for c in cells:
                if c.count(':') == 2 and '.' in c:
                    rows[c] = cells
                    break
        return rows

    def test_detach_persistent_then_reattach(self):
        out = self.stack.vfioctl('detach', '--group', '--persistent', NIC, check=0).stdout
        self.assertIn('vfio-pci', out)
        self.assertEqual(self.recorded(), ENDPOINTS)

        # list and group mark them; the bridge has no record
        for args in (('list',), ('group', NIC)):
            rows = self.rows(*args)
            for a in ENDPOINTS:
                self.assertIn('yes', rows[a], (args, rows[a]))
            self.assertNotIn('yes', rows[ROOT_PORT])
        devices = {d['address']: d for d in self.stack.vfioctl_json('group', NIC)['devices']}
        self.assertEqual({a: d.get('persistent') for a, d in devices.items()},
                         {USB: 'active', SATA: 'active', NIC: 'active', ROOT_PORT: None})

        # `persistent`: the records, checked
        rows = self.rows('persistent')
        self.assertEqual(sorted(rows), ENDPOINTS)
        self.assertIn('active', rows[NIC])
        self.assertIn('[8086:10d3]', rows[NIC])
        self.assertIn('vfio-pci', rows[NIC])
        self.assertIn(os.path.join(self.stack.persist_dir, NIC + '.conf'), rows[NIC])
        listed = {a['address']: a for a in self.stack.vfioctl_json('persistent')['assignments']}
        self.assertEqual(sorted(listed), ENDPOINTS)
        nic = listed[NIC]
        self.assertEqual((nic['persistent'], nic['driver'], nic['members'], nic['record']),
                         ('active', 'vfio-pci', sorted(GROUP5), os.path.join(self.stack.persist_dir, NIC + '.conf')))
        self.assertEqual((nic['vendor_id'], nic['device_id'], nic['subsystem_vendor_id'],
                          nic['subsystem_device_id'], nic['class']), IDS[NIC])

        # reattach forgets them
        self.stack.vfioctl('reattach', '--group', NIC, check=0)
        self.assertEqual(self.recorded(), [])
        self.assertEqual(self.stack.vfioctl('persistent', check=0).stdout, 'No persistent assignments.\n')
        self.assertEqual(self.stack.vfioctl_json('persistent'), {'assignments': []})

    def test_mismatch_is_shown(self):
        os.makedirs(self.stack.persist_dir)
        vendor, device, sv, sd, cls = IDS[NIC]
        path = os.path.join(self.stack.persist_dir, NIC + '.conf')
        with open(path, 'w') as f:
            f.write(record_text(NIC, (vendor, 0x10ea, sv, sd, cls), [NIC]))
        self.assertIn('mismatch', self.rows('list')[NIC])
        self.assertIn('mismatch', self.rows('group', NIC)[NIC])
        listed = self.stack.vfioctl_json('persistent')['assignments']
        self.assertEqual(len(listed), 1)
        self.assertTrue(listed[0]['persistent'].startswith('mismatch: '), listed[0])
        self.assertIn('8086:10ea', listed[0]['persistent'])
        self.assertEqual(listed[0]['driver'], 'e1000e')
        out = self.stack.vfioctl('persistent', check=0).stdout
        self.assertIn('mismatch:', out)
        # an unusable record: no ids, still listed with why
        with open(path, 'w') as f:
            f.write('garbage\n')
        listed = self.stack.vfioctl_json('persistent')['assignments']
        self.assertNotIn('vendor_id', listed[0])
        self.assertTrue(listed[0]['persistent'].startswith('mismatch: '), listed[0])

    def test_dry_run_records_nothing(self):
        out = self.stack.vfioctl('detach', '--group', '--persistent', '--dry-run', NIC, check=0).stdout
        self.assertIn('detach', out)
        self.assertEqual(self.recorded(), [])
        self.assertEqual(self.stack.vfioctl('persistent', check=0).stdout, 'No persistent assignments.\n')

    def test_persistent_is_a_detach_option_only(self):
        proc = self.stack.vfioctl('reattach', '--persistent', NIC, check=2)
        self.assertIn('--persistent', proc.stderr)
        self.assertIn('--persistent', self.stack.vfioctl('--help', check=0).stdout)


if __name__ == '__main__':
    main()

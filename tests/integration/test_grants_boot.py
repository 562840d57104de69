#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Grants across a restart are given again only where they still mean the
same thing (issue 18, point 2).  A grant record names a node by number
(/dev/vfio/N, /dev/vfio/devices/vfioX), and the kernel hands those numbers
out again at each boot, rebind and hotplug: so a record also says which
boot it was made in and which devices its group had, and the daemon's start
acts only on the nodes the group's members have now.  A record of another
boot, one naming a node that is no member's, and one whose group now holds
other devices never give anybody access.  On the plug-in NIC machine with
device cdevs; regular files in a private /dev/vfio stand in for the nodes."""

import os
import subprocess
import uuid

from harness import NOBODY, main
from detachlib import GROUP, HECI, NIC, StackTest, private_dev_vfio, topology_variant

USE = 'org.freedesktop.vfio1.use-device'
USE_OTHER = 'org.freedesktop.vfio1.use-device-other'


def acl_users(path):
    out = subprocess.run(['getfacl', '-cnp', path], capture_output=True, text=True, check=True).stdout
    return sorted(int(line.split(':')[1]) for line in out.splitlines()
                  if line.startswith('user:') and line.split(':')[1])


def boot_id():
    with open('/proc/sys/kernel/random/boot_id') as f:
        return f.read().strip()


def another_boot():
    while True:
        other = str(uuid.uuid4())
        if other != boot_id():
            return other


def attr(address, name):
    with open('/sys/bus/pci/devices/%s/%s' % (address, name)) as f:
        return int(f.read().strip(), 16)


def members_line(group, change=None):
    """The group's members now as a record spells them, with @change
    ({address: {id name: value}}) applied."""
    names = sorted(os.listdir('/sys/kernel/iommu_groups/%d/devices' % group))
    out = []
    for a in names:
        ids = {k: attr(a, k) for k in ('vendor', 'device', 'subsystem_vendor', 'subsystem_device')}
        ids.update((change or {}).get(a, {}))
        out.append('%s 0x%04x 0x%04x 0x%04x 0x%04x' % (a, ids['vendor'], ids['device'],
                                                       ids['subsystem_vendor'], ids['subsystem_device']))
    return ';'.join(out)


class GrantsBootTest(StackTest):
    def setUp(self):
        self.start(topology_variant('plugin-nic.json', vfio_device_cdev=True))
        self.dev = self.enterContext(private_dev_vfio(self.stack.tmp))
        os.makedirs(os.path.join(self.dev, 'devices'))
        # group 5 (NIC, SATA, USB on vfio-pci, root port on pcieport) and
        # HECI, alone in group 3: each device on vfio-pci has a cdev
        self.stack.call('DetachDevice', 'st', NIC, GROUP)
        self.stack.call('DetachDevice', 'st', HECI, 0)
        for group in (3, 5):
            self.node(str(group))
        self.cdevs = sorted(os.listdir('/sys/class/vfio-dev'))
        self.assertEqual(len(self.cdevs), 4, self.cdevs)
        for cdev in self.cdevs + ['vfio7']:
            self.node(os.path.join('devices', cdev))

    def node(self, name):
        path = os.path.join(self.dev, name)
        with open(path, 'w'):
            pass
        os.chmod(path, 0o600)
        return path

    def grants_file(self):
        path = os.path.join(self.stack.state_directory, 'grants.state')
        return open(path).read() if os.path.exists(path) else ''

    def write_record(self, entries):
        """Writes the record with the daemon stopped; @entries: (path,
        group, uid, boot id or None, members line or None)."""
        self.stack.stop_daemon()
        text = ''
        for i, (path, group, uid, boot, members) in enumerate(entries):
            text += '[grant %d]\npath=%s\ngroup=%d\nuid=%d\n' % (i + 1, path, group, uid)
            if boot is not None:
                text += 'boot_id=%s\n' % boot
            if members is not None:
                text += 'members=%s\n' % members
        with open(os.path.join(self.stack.state_directory, 'grants.state'), 'w') as f:
            f.write(text)

    def all_nodes(self):
        return ['/dev/vfio/3', '/dev/vfio/5', '/dev/vfio/devices/vfio7'] + \
            ['/dev/vfio/devices/' + c for c in self.cdevs]

    def assert_nobody_has(self, paths):
        for path in paths:
            self.assertEqual(acl_users(path), [], path)

    def group5_cdevs(self):
        return ['/dev/vfio/devices/' + c for c in self.cdevs if c != self.sim.vfio_cdev_of(HECI)]


class TestOtherBoot(GrantsBootTest):
    def test_other_boot_dropped(self):
        """A record of another boot: the number named another node then;
        forgotten, and no ACL entry is added anywhere."""
        members = members_line(5)
        self.write_record([('/dev/vfio/5', 5, NOBODY, another_boot(), members)] +
                          [(p, 5, NOBODY, another_boot(), members) for p in self.group5_cdevs()])
        self.stack.start_daemon()
        self.assert_nobody_has(self.all_nodes())
        self.assertNotIn('/dev/vfio', self.grants_file())

    def test_old_record_without_boot(self):
        """A record of an older vfiod (no boot id, no members) counts as of
        another boot."""
        self.write_record([('/dev/vfio/5', 5, NOBODY, None, None)])
        self.stack.start_daemon()
        self.assert_nobody_has(self.all_nodes())
        self.assertNotIn('/dev/vfio/5', self.grants_file())

    def test_other_boot_touches_nothing(self):
        """Another boot's record is forgotten without touching the node:
        an entry somebody else put there stays."""
        subprocess.check_call(['setfacl', '-m', 'u:%d:rw' % NOBODY, '/dev/vfio/5'])
        self.write_record([('/dev/vfio/5', 5, NOBODY, another_boot(), members_line(5))])
        self.stack.start_daemon()
        self.assertEqual(acl_users('/dev/vfio/5'), [NOBODY])
        self.assertNotIn('/dev/vfio/5', self.grants_file())

    def test_malformed_boot_id_ignored(self):
        self.write_record([('/dev/vfio/5', 5, NOBODY, boot_id().upper(), members_line(5)),
                           ('/dev/vfio/5', 5, NOBODY + 1, boot_id(), 'not members')])
        self.stack.start_daemon()
        self.assert_nobody_has(self.all_nodes())


class TestForeignNode(GrantsBootTest):
    def test_cdev_of_no_member(self):
        """The attack of the issue: a same-boot record of group 5 naming
        vfio7, which no member of group 5 has: no entry on vfio7, record
        forgotten; the group's own node, recorded alongside, is given back."""
        members = members_line(5)
        self.write_record([('/dev/vfio/5', 5, NOBODY, boot_id(), members),
                           ('/dev/vfio/devices/vfio7', 5, NOBODY, boot_id(), members)])
        self.stack.start_daemon()
        self.assertEqual(acl_users('/dev/vfio/devices/vfio7'), [])
        self.assertEqual(acl_users('/dev/vfio/5'), [NOBODY])
        record = self.grants_file()
        self.assertNotIn('vfio7', record)
        self.assertIn('/dev/vfio/5', record)

    def test_cdev_of_another_group(self):
        """A record of group 5 naming the cdev HECI (group 3) has now:
        another user's device is never given."""
        heci = '/dev/vfio/devices/' + self.sim.vfio_cdev_of(HECI)
        self.write_record([(heci, 5, NOBODY, boot_id(), members_line(5))])
        self.stack.start_daemon()
        self.assert_nobody_has(self.all_nodes())
        self.assertNotIn(heci, self.grants_file())

    def test_revoke_leaves_foreign_node(self):
        """A revoke under way (revoking) of a node that is no member's:
        forgotten, and that node's entries are left alone."""
        subprocess.check_call(['setfacl', '-m', 'u:%d:rw' % NOBODY, '/dev/vfio/devices/vfio7'])
        self.write_record([('/dev/vfio/devices/vfio7', 5, NOBODY, boot_id(), members_line(5))])
        with open(os.path.join(self.stack.state_directory, 'grants.state'), 'a') as f:
            f.write('revoking=true\n')
        self.stack.start_daemon()
        self.assertEqual(acl_users('/dev/vfio/devices/vfio7'), [NOBODY])
        self.assertNotIn('vfio7', self.grants_file())


class TestMembersDiffer(GrantsBootTest):
    def test_other_device_in_group(self):
        """Same boot, but the group's NIC is not the device granted (another
        device id at its address): not given back, record gone."""
        members = members_line(5, {NIC: {'device': attr(NIC, 'device') ^ 1}})
        self.write_record([('/dev/vfio/5', 5, NOBODY, boot_id(), members)] +
                          [(p, 5, NOBODY, boot_id(), members) for p in self.group5_cdevs()])
        self.stack.start_daemon()
        self.assert_nobody_has(self.all_nodes())
        self.assertNotIn('/dev/vfio', self.grants_file())

    def test_member_missing(self):
        """Same boot, a member more now than when granted: not given back."""
        members = ';'.join(members_line(5).split(';')[1:])
        self.write_record([('/dev/vfio/5', 5, NOBODY, boot_id(), members)])
        self.stack.start_daemon()
        self.assertEqual(acl_users('/dev/vfio/5'), [])
        self.assertNotIn('/dev/vfio/5', self.grants_file())


class TestSameBoot(GrantsBootTest):
    def test_restart_gives_back(self):
        """The normal case: granted, the entries lost while vfiod was down
        (a crash before they were added looks the same), restarted: every
        node of the group has its entry again, and the record says this
        boot and the group's members."""
        # root detached the group (setUp): another's, for uid NOBODY
        self.stack.polkit_mock('SetAllowed', 'as', [USE, USE_OTHER])
        out = self.stack.call_as(NOBODY, 'GrantAccess', 'st', NIC, 0)
        self.assertNotIn('error', out, out)
        nodes = sorted(n['path'] for n in out['reply'][0])
        self.assertEqual(nodes, sorted(['/dev/vfio/5'] + self.group5_cdevs()))
        record = self.grants_file()
        self.assertIn('boot_id=%s\n' % boot_id(), record)
        self.assertIn('members=%s\n' % members_line(5), record)
        self.stack.stop_daemon()
        for path in nodes:
            subprocess.check_call(['setfacl', '-x', 'u:%d' % NOBODY, path])
        self.stack.start_daemon()
        for path in nodes:
            self.assertEqual(acl_users(path), [NOBODY], path)
        self.assertEqual(acl_users('/dev/vfio/devices/vfio7'), [])
        self.assertEqual(acl_users('/dev/vfio/3'), [])
        # and taken back whole
        out = self.stack.call_as(NOBODY, 'RevokeAccess', 'st', NIC, 0)
        self.assertEqual(sorted(n['path'] for n in out['reply'][0]), nodes)
        self.assert_nobody_has(self.all_nodes())
        self.assertNotIn('/dev/vfio', self.grants_file())


if __name__ == '__main__':
    main()

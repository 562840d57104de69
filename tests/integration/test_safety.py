#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Refuse on doubt when reading the machine (issue 7, defects 3, 4, 8).

A group member vfiod cannot read fails the call instead of vanishing from
the group (which made a group look viable while that member stayed on its
host driver); driver names the kernel allows (70 characters, a blank) are
read, shown, written back and restored.  A source of in-use facts that
cannot be read (/proc/swaps, /proc/self/mountinfo) makes the devices whose
reasons need it doubtful: a detach refuses like "in use" and goes only with
FORCE and the detach-in-use action; a device with no block devices is not
affected.  Before a reattach, a process holding a member's VFIO device
cdev holds the group."""

import os
import subprocess

from harness import ERROR, NOBODY, by_address, main
from detachlib import (DRY_RUN, GROUP, GROUP5, NIC, ORIGINAL, ROOT_PORT, SATA, USB, FORCE, ACTION_DEVICE,
                       ACTION_IN_USE, StackTest, private_dev_vfio, topology_variant)

FAILED = ERROR + 'Failed'
IN_USE = ERROR + 'DeviceInUse'
LONG = 'a_driver_name_of_seventy_characters_' + 'x' * 34
ODD = 'odd driver'
assert len(LONG) == 70

# in-use.json: the SATA controller has block devices (one mounted as the
# test likes); the USB controller, alone in its group, has none
INUSE_SATA, INUSE_USB = '0000:00:17.0', '0000:00:14.0'


def odd_names_topology():
    return topology_variant('plugin-nic.json', {USB: {'driver': ODD}, SATA: {'driver': LONG}})


class TestOddDriverNames(StackTest):
    """Defect 3: members on drivers with long or blank-holding names."""

    def setUp(self):
        self.start(odd_names_topology())
        self.original = dict((a, ORIGINAL[a]) for a in GROUP5)
        self.original.update({USB: ODD, SATA: LONG})

    def test_members_are_shown(self):
        group, members = self.stack.get_group(NIC)
        self.assertEqual(group, 5)
        drivers = {d['address']: d['driver'] for d in members}
        self.assertEqual(drivers, self.original)
        listed = by_address(self.stack.list_devices())
        self.assertEqual(listed[USB]['driver'], ODD)
        self.assertEqual(listed[SATA]['driver'], LONG)
        self.assertEqual(listed[SATA]['state'], 'host')

    def test_alone_is_not_viable(self):
        # the old daemon left both out and detached the NIC alone
        name, message = self.detach_error(NIC)
        self.assertEqual(name, ERROR + 'GroupNotViable')
        self.assertIn('%s (' % USB, message)
        self.assertIn('on %s)' % ODD, message)
        self.assertIn('on %s)' % LONG, message)
        self.assert_nothing_written()
        self.assert_drivers(self.original)

    def test_group_round_trip(self):
        self.detach(NIC, GROUP)
        self.assert_drivers({USB: 'vfio-pci', SATA: 'vfio-pci', ROOT_PORT: 'pcieport', NIC: 'vfio-pci'})
        plan = self.reattach(NIC, GROUP)
        self.assertEqual({e['address']: e['to'] for e in plan if e['action'] == 'reattach'},
                         {USB: ODD, SATA: LONG, NIC: 'e1000e'})
        self.assert_drivers(self.original)
        self.assert_overrides({a: None for a in GROUP5})


class TestPlansReadTheMachine(StackTest):
    """GetGroup, ListDevices and ExplainGroup answer from the objects while
    no news is waiting; every plan and safety check reads the machine.  A
    daemon whose plans trusted its objects would plan past a change that
    nobody announced (here a member that can no longer be read)."""

    def test_a_change_without_news(self):
        _, members = self.stack.get_group(NIC)  # the objects are current
        self.sim.fail_read(SATA + '/uevent', 'EIO')
        self.sim.fail_read(SATA + '/driver', 'EIO')
        # the objects answer as they were read
        _, again = self.stack.get_group(NIC)
        self.assertEqual(again, members)
        # the plans read the member, and fail naming it
        for flags in (DRY_RUN, GROUP | DRY_RUN, GROUP):
            name, message = self.stack.call_error('DetachDevice', 'st', NIC, flags)
            self.assertEqual(name, FAILED, message)
            self.assertIn(SATA, message)
        self.assert_nothing_written()


class TestUnreadableMember(StackTest):
    """Defect 3: a member that cannot be read fails every call that needs
    it; only a member that went away is left out."""

    def assert_fails_naming(self, call, *args):
        name, message = self.stack.call_error(call, *args)
        self.assertEqual(name, FAILED, message)
        self.assertIn('Input/output error', message)
        self.assertIn(SATA, message)  # the member that could not be read
        return message

    def daemon_log(self):
        with open(os.path.join(self.stack.tmp, 'vfiod.log'), errors='replace') as f:
            return f.read()

    def test_every_call_fails(self):
        # both the uevent (first read) and the driver link (later reads)
        self.sim.fail_read(SATA + '/uevent', 'EIO')
        self.sim.fail_read(SATA + '/driver', 'EIO')
        # a daemon that never read it: what it keeps of devices it read
        # (ids, class; drivers from the drivers' directories) would let
        # ListDevices answer without reading these files
        self.stack.restart_daemon()
        self.assert_fails_naming('GetGroup', 's', NIC)
        self.assert_fails_naming('DetachDevice', 'st', NIC, 0)
        self.assert_fails_naming('DetachDevice', 'st', NIC, GROUP)
        self.assert_fails_naming('ReattachDevice', 'st', NIC, GROUP)
        self.assert_fails_naming('ListDevices')
        self.assertIn('Cannot read PCI device %s: Input/output error' % SATA, self.daemon_log())
        self.assert_nothing_written()
        # readable again: nothing moved, the same calls work
        self.sim.clear_faults()
        self.assert_drivers({a: ORIGINAL[a] for a in GROUP5})
        group, members = self.stack.get_group(NIC)
        self.assertEqual(sorted(d['address'] for d in members), sorted(GROUP5))

    def test_missing_attribute_of_a_present_device(self):
        # ENOENT while the device is still there is not "it went away"
        self.sim.fail_read(SATA + '/uevent', 'ENOENT')
        self.sim.fail_read(SATA + '/driver', 'ENOENT')
        # a daemon that never read it (as in test_every_call_fails): one
        # that did answers GetGroup from its objects, whose readings take
        # drivers from the drivers' directories; its plans read the link
        self.stack.restart_daemon()
        self.assert_fails_naming('GetGroup', 's', NIC)
        name, _ = self.detach_error(NIC)
        self.assertEqual(name, FAILED)
        self.assert_nothing_written()

    def test_drivers_directory_unreadable(self):
        # ListDevices reads bound drivers from the drivers' directories once
        # it knows the devices; if those cannot be read, each device's own
        # link says (the old daemon showed every device unbound)
        before = {d['address']: d['driver'] for d in self.stack.list_devices()}
        self.sim.fail_read('bus/pci/drivers', 'EIO')
        after = {d['address']: d['driver'] for d in self.stack.list_devices()}
        self.assertEqual(after, before)
        self.assertEqual(after[SATA], 'ahci')

    def test_removed_member_is_left_out(self):
        self.sim.remove(SATA)
        self.stack.host_changed()  # as the kernel's "remove" would be
        _, members = self.stack.get_group(NIC)
        self.assertEqual(sorted(d['address'] for d in members), sorted([USB, ROOT_PORT, NIC]))


class InUseDoubtTest(StackTest):
    topology = 'in-use.json'

    def setUp(self):
        pass

    def make_unreadable(self, path):
        """Bind-mounts a write-only sysfs attribute of the simulator over
        @path: opening it for reading fails with EACCES, as kernfs does
        (a directory cannot be bind-mounted over a file)."""
        subprocess.check_call(['mount', '--bind', '/sys/bus/pci/drivers_probe', path])
        self.addCleanup(subprocess.call, ['umount', '-l', path])

    def check_doubt_refuses_then_force(self, source):
        doubt = 'cannot tell whether it is in use: %s could not be read (Permission denied)' % source
        devices = by_address(self.stack.list_devices())
        self.assertIn(doubt, devices[INUSE_SATA]['in_use'])
        self.assertEqual(devices[INUSE_USB]['in_use'], '', 'no block devices: unaffected')

        name, message = self.detach_error(INUSE_SATA)
        self.assertEqual(name, IN_USE)
        self.assertIn('%s may be in use by the host' % INUSE_SATA, message)
        self.assertIn(doubt, message)
        self.assertIn('FORCE flag', message)
        self.assert_nothing_written()

        # FORCE needs the detach-in-use action, as for a device in use
        self.stack.polkit_mock('SetAllowed', 'as', [ACTION_DEVICE])
        reply = self.stack.call_as(NOBODY, 'DetachDevice', 'st', INUSE_SATA, FORCE)
        self.assertEqual(reply.get('error'), 'org.freedesktop.DBus.Error.AccessDenied', reply)
        self.assertEqual([c['action'] for c in self.stack.polkit_calls()], [ACTION_DEVICE, ACTION_IN_USE])
        self.assert_nothing_written()
        self.stack.polkit_mock('SetAllowed', 'as', [ACTION_DEVICE, ACTION_IN_USE])
        reply = self.stack.call_as(NOBODY, 'DetachDevice', 'st', INUSE_SATA, FORCE)
        self.assertIn('reply', reply)
        self.assertEqual(self.sim.driver_of(INUSE_SATA), 'vfio-pci')

        # a device with no block devices detaches as ever, without FORCE
        self.stack.polkit_mock('ClearCalls')
        self.detach(INUSE_USB)
        self.assertEqual(self.sim.driver_of(INUSE_USB), 'vfio-pci')

    def test_swaps_unreadable(self):
        self.start()
        self.make_unreadable('/proc/swaps')
        self.check_doubt_refuses_then_force('/proc/swaps')

    def test_mountinfo_unreadable(self):
        self.start()
        # /proc/self is per process: cover the daemon's own mountinfo (it
        # reads it on every call, not at start)
        self.make_unreadable('/proc/%d/mountinfo' % self.stack.daemon.pid)
        self.check_doubt_refuses_then_force('/proc/self/mountinfo')

    def test_children_unreadable(self):
        # which devices have block devices cannot be told: all are in doubt
        self.start()
        self.sim.fail_read('class/block', 'EIO')
        # which device a block device is below is kept until one comes or
        # goes: a daemon that never read it
        self.stack.restart_daemon()
        devices = by_address(self.stack.list_devices())
        doubt = 'cannot tell whether it is in use: /sys/class/block could not be read (Input/output error)'
        for address in (INUSE_SATA, INUSE_USB):
            self.assertIn(doubt, devices[address]['in_use'], address)
        name, message = self.detach_error(INUSE_USB)
        self.assertEqual(name, IN_USE)
        self.assertIn(doubt, message)
        self.assert_nothing_written()

    def test_readable_sources_no_doubt(self):
        self.start(swaps='')
        devices = by_address(self.stack.list_devices())
        self.assertNotIn('cannot tell', devices[INUSE_SATA]['in_use'])
        self.detach(INUSE_USB)


class TestCdevHolder(StackTest):
    """Defect 8: a process holding a member's VFIO device cdev (kernel >=
    6.6, iommufd) holds the group: a reattach refuses."""

    def setUp(self):
        self.start(topology_variant('plugin-nic.json', vfio_device_cdev=True))

    def test_reattach_refused_while_a_cdev_is_open(self):
        self.detach(NIC, GROUP)
        cdev = self.sim.vfio_cdev_of(SATA)
        self.assertIsNotNone(cdev, 'the simulator gives devices on vfio-pci a cdev')
        self.sim.clear_audit()
        dev_vfio = self.enterContext(private_dev_vfio(self.stack.tmp))
        os.makedirs(os.path.join(dev_vfio, 'devices'))
        path = os.path.join(dev_vfio, 'devices', cdev)
        with open(path, 'w'):
            pass
        with open('/proc/self/comm') as f:
            comm = f.read().strip()
        with open(path, 'rb'):
            for flags in (0, GROUP):
                name, message = self.reattach_error(NIC, flags)
                self.assertEqual(name, ERROR + 'GroupBusy')
                self.assertIn('pid %d (%s, uid %d) through /dev/vfio/devices/%s' % (os.getpid(), comm, os.getuid(), cdev),
                              message)
            self.assert_nothing_written()
        self.reattach(NIC, GROUP)
        self.assert_drivers({a: ORIGINAL[a] for a in GROUP5})


if __name__ == '__main__':
    main()

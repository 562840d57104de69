#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Persistent assignments, the daemon's side (DetachDevice PERSISTENT,
ReattachDevice, ListPersistentAssignments, the "persistent" key and
Device.Persistent) on the plug-in NIC machine: what is recorded, where,
with which authorization; that a failure to record, or a crash at any
durable step, leaves no record of a detach that did not happen; and how
records that no longer match the hardware are reported."""

import os
import stat

from gi.repository import Gio, GLib

from harness import ERROR, NOBODY, main
from detachlib import (ACTION_DEVICE, ACTION_GROUP, ACTION_PERSISTENT, ACTION_REATTACH, ACTION_REATTACH_GROUP, ALL_ACTIONS, DRY_RUN,
                       GROUP, GROUP5, HECI, NIC, ORIGINAL, SATA, USB, StackTest)
import test_crash
from test_crash import DETACHED, HOST, MOVED

PERSISTENT = 0x8
ACCESS_DENIED = 'org.freedesktop.DBus.Error.AccessDenied'
DEVICE_IFACE = 'org.freedesktop.vfio1.Device'
# plugin-nic.json's ids of the group 5 endpoints
IDS = {USB: (0x8086, 0xa2af, 0x1043, 0x8694, 0x0c0330),
       SATA: (0x8086, 0xa282, 0x1043, 0x8694, 0x010601),
       NIC: (0x8086, 0x10d3, 0x8086, 0xa01f, 0x020000),
       HECI: (0x8086, 0xa2ba, 0x1043, 0x8694, 0x078000)}


def record_text(address, ids, members, comment='# written by hand\n'):
    vendor, device, sv, sd, cls = ids
    return ('%saddress=%s\nvendor=0x%04x\ndevice=0x%04x\nsubsystem_vendor=0x%04x\nsubsystem_device=0x%04x\n'
            'class=0x%06x\ngroup=%s\n' % (comment, address, vendor, device, sv, sd, cls, ' '.join(members)))


class PersistTest(StackTest):
    def record_path(self, address):
        return os.path.join(self.stack.persist_dir, address + '.conf')

    def recorded(self):
        """The record files there are, by address."""
        d = self.stack.persist_dir
        if not os.path.isdir(d):
            return []
        return sorted(n[:-len('.conf')] for n in os.listdir(d) if n.endswith('.conf'))

    def write_record(self, address, text, mode=0o644):
        os.makedirs(self.stack.persist_dir, exist_ok=True)
        with open(self.record_path(address), 'w') as f:
            f.write(text)
        os.chmod(self.record_path(address), mode)

    def persistent_keys(self, device=NIC):
        _, members = self.stack.get_group(device)
        return {d['address']: d['persistent'] for d in members if 'persistent' in d}

    def assignments(self):
        return {a['address']: a for a in self.stack.call('ListPersistentAssignments')[0]}

    def daemon_log(self):
        with open(os.path.join(self.stack.tmp, 'vfiod.log'), errors='replace') as f:
            return f.read()


class TestRecord(PersistTest):
    def test_group_detach_records_each_endpoint_with_the_group(self):
        plan = self.detach(NIC, GROUP | PERSISTENT)
        self.assertEqual([e['address'] for e in plan if e['action'] == 'detach'], [USB, SATA, NIC])
        # the bridge stays on pcieport and is not recorded
        self.assertEqual(self.recorded(), [USB, SATA, NIC])
        # the directory vfiod made for them, readable whatever the daemon's umask
        st = os.stat(os.path.dirname(self.record_path(NIC)))
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o755)
        for address in (USB, SATA, NIC):
            path = self.record_path(address)
            st = os.stat(path)
            # configuration: root's, readable, never writable by others
            self.assertEqual((st.st_uid, stat.S_IMODE(st.st_mode)), (0, 0o644))
            with open(path) as f:
                text = f.read()
            self.assertTrue(text.startswith('# vfiod: PCI device %s' % address), text)
            self.assertIn('vfioctl reattach %s' % address, text)
            body = [line for line in text.splitlines() if not line.startswith('#')]
            self.assertEqual(body, record_text(address, IDS[address], sorted(GROUP5), '').splitlines())
        self.assertEqual(stat.S_IMODE(os.stat(self.stack.persist_dir).st_mode), 0o755)

        self.assertEqual(self.persistent_keys(), {USB: 'active', SATA: 'active', NIC: 'active'})
        listed = self.assignments()
        self.assertEqual(sorted(listed), [USB, SATA, NIC])
        nic = listed[NIC]
        self.assertEqual((nic['persistent'], nic['record'], nic['driver']),
                         ('active', self.record_path(NIC), 'vfio-pci'))
        self.assertEqual((nic['vendor_id'], nic['device_id'], nic['subsystem_vendor_id'],
                          nic['subsystem_device_id'], nic['class']), IDS[NIC])
        self.assertEqual(nic['members'], sorted(GROUP5))

    def test_without_the_flag_nothing_is_recorded(self):
        self.detach(NIC, GROUP)
        self.assertEqual(self.recorded(), [])
        self.assertEqual(self.persistent_keys(), {})
        self.assertEqual(self.assignments(), {})

    def test_dry_run_records_nothing(self):
        self.detach(NIC, GROUP | PERSISTENT | DRY_RUN)
        self.assertEqual(self.recorded(), [])
        self.assert_nothing_written()

    def test_group_reattach_removes_every_record(self):
        self.detach(NIC, GROUP | PERSISTENT)
        self.reattach(NIC, GROUP)
        self.assertEqual(self.recorded(), [])
        self.assert_drivers({a: ORIGINAL[a] for a in GROUP5})
        self.assertEqual(self.persistent_keys(), {})

    def test_device_reattach_removes_its_own_record_only(self):
        self.detach(NIC, GROUP | PERSISTENT)
        self.reattach(SATA)
        self.assertEqual(self.recorded(), [USB, NIC])
        self.assert_drivers({SATA: 'ahci', USB: 'vfio-pci', NIC: 'vfio-pci'})

    def test_already_detached_devices_are_recorded_without_moving(self):
        self.detach(NIC, GROUP)
        self.sim.clear_audit()
        plan = self.detach(NIC, PERSISTENT)
        self.assertEqual({e['action'] for e in plan}, {'keep'})
        self.assertEqual(self.recorded(), [NIC])  # without GROUP: the target only
        self.detach(NIC, GROUP | PERSISTENT)
        self.assertEqual(self.recorded(), [USB, SATA, NIC])
        self.assert_nothing_written()

    def test_heci_alone(self):
        self.detach(HECI, PERSISTENT)
        self.assertEqual(self.recorded(), [HECI])
        with open(self.record_path(HECI)) as f:
            self.assertIn('group=%s\n' % HECI, f.read())

    def test_unknown_flags_still_refused(self):
        name, message = self.detach_error(NIC, 0x10)
        self.assertEqual(name, 'org.freedesktop.DBus.Error.InvalidArgs')
        self.assertIn('PERSISTENT (0x8)', message)
        name, _ = self.reattach_error(NIC, PERSISTENT)
        self.assertEqual(name, 'org.freedesktop.DBus.Error.InvalidArgs')


class TestFailure(PersistTest):
    def test_records_that_cannot_be_written_roll_the_detach_back(self):
        # the records directory's place is taken by a file: nothing can be recorded
        with open(self.stack.persist_dir, 'w') as f:
            f.write('not a directory\n')
        name, message = self.detach_error(NIC, GROUP | PERSISTENT)
        self.assertEqual(name, ERROR + 'Failed')
        self.assertIn('recording its persistent assignment', message)
        self.assertIn('Rolled back', message)
        self.assert_drivers({a: ORIGINAL[a] for a in GROUP5})
        self.assert_overrides({a: None for a in GROUP5})
        os.unlink(self.stack.persist_dir)
        self.assertEqual(self.recorded(), [])

    def test_a_failed_move_records_nothing(self):
        self.sim.fail('e1000e/unbind', 'EBUSY', data=NIC)
        name, _ = self.detach_error(NIC, GROUP | PERSISTENT)
        self.assertEqual(name, ERROR + 'Failed')
        self.assertEqual(self.recorded(), [])
        self.assert_drivers({a: ORIGINAL[a] for a in GROUP5})

    def test_record_that_cannot_be_removed_stops_the_reattach(self):
        self.detach(NIC, GROUP | PERSISTENT)
        # a directory cannot be unlink()ed: the record stays, nothing moves
        os.unlink(self.record_path(SATA))
        os.mkdir(self.record_path(SATA))
        self.sim.clear_audit()
        name, message = self.reattach_error(SATA)
        self.assertEqual(name, ERROR + 'Failed')
        self.assertIn('nothing was moved', message)
        self.assertIn(SATA, message)
        self.assert_nothing_written()
        self.assert_drivers({SATA: 'vfio-pci'})
        os.rmdir(self.record_path(SATA))


class TestAuthorization(PersistTest):
    def test_detail_says_persistent(self):
        self.stack.polkit_mock('SetAllowed', 'as', ALL_ACTIONS)
        result = self.stack.call_as(NOBODY, 'DetachDevice', 'st', NIC, GROUP | PERSISTENT)
        self.assertNotIn('error', result, result.get('message'))
        calls = self.stack.polkit_calls()
        self.assertEqual([c['action'] for c in calls], [ACTION_GROUP, ACTION_PERSISTENT])
        for call in calls:
            self.assertEqual(call['details'], {'device': NIC, 'group': '5', 'devices': ' '.join([USB, SATA, NIC]),
                                               'persistent': 'yes'})
        self.assertEqual(self.recorded(), [USB, SATA, NIC])

    def test_persistent_needs_its_own_action(self):
        # issue 18, point 6: a rule that lets users detach a device for a VM
        # does not let them take it from the host at every boot
        for allowed, flags, device in (([ACTION_DEVICE], PERSISTENT, HECI),
                                       ([ACTION_GROUP, ACTION_DEVICE], GROUP | PERSISTENT, NIC)):
            self.stack.polkit_mock('ClearCalls')
            self.stack.polkit_mock('SetAllowed', 'as', allowed)
            result = self.stack.call_as(NOBODY, 'DetachDevice', 'st', device, flags)
            self.assertEqual(result.get('error'), ACCESS_DENIED, result)
            self.assertIn(ACTION_PERSISTENT, result['message'])
            self.assertEqual([c['action'] for c in self.stack.polkit_calls()][-1], ACTION_PERSISTENT)
            self.assert_nothing_written()
            self.assertEqual(self.recorded(), [])
        # the same rule still lets them detach for this boot only
        result = self.stack.call_as(NOBODY, 'DetachDevice', 'st', HECI, 0)
        self.assertNotIn('error', result, result.get('message'))
        self.assertEqual(self.recorded(), [])

    def test_recording_only_needs_authorization_too(self):
        self.detach(HECI)
        self.stack.polkit_mock('SetAllowed', 'as', [])
        result = self.stack.call_as(NOBODY, 'DetachDevice', 'st', HECI, PERSISTENT)
        self.assertEqual(result.get('error'), ACCESS_DENIED, result)
        self.assertEqual([c['action'] for c in self.stack.polkit_calls()], [ACTION_DEVICE])
        self.assertEqual(self.recorded(), [])
        # up to date: nothing to do, nobody asked
        self.detach(HECI, PERSISTENT)
        self.stack.polkit_mock('ClearCalls')
        result = self.stack.call_as(NOBODY, 'DetachDevice', 'st', HECI, PERSISTENT)
        self.assertNotIn('error', result)
        self.assertEqual(self.stack.polkit_calls(), [])

    def test_denied_reattach_keeps_the_records(self):
        self.detach(NIC, GROUP | PERSISTENT)
        self.stack.polkit_mock('SetAllowed', 'as', [ACTION_REATTACH])
        result = self.stack.call_as(NOBODY, 'ReattachDevice', 'st', NIC, GROUP)
        self.assertEqual(result.get('error'), ACCESS_DENIED, result)
        self.assertIn(ACTION_REATTACH_GROUP, result['message'])
        self.assertEqual(self.recorded(), [USB, SATA, NIC])

    def test_forgetting_a_record_of_a_host_device_needs_authorization(self):
        self.write_record(HECI, record_text(HECI, IDS[HECI], [HECI]))
        self.stack.polkit_mock('SetAllowed', 'as', [])
        result = self.stack.call_as(NOBODY, 'ReattachDevice', 'st', HECI, 0)
        self.assertEqual(result.get('error'), ACCESS_DENIED, result)
        self.assertEqual(self.recorded(), [HECI])


class TestCheck(PersistTest):
    def test_record_of_a_host_device_is_active_and_forgotten_by_reattach(self):
        # booted with vfiod.persistent=0: recorded, matching, on its host driver
        self.write_record(HECI, record_text(HECI, IDS[HECI], [HECI]))
        self.assertEqual(self.persistent_keys(HECI), {HECI: 'active'})
        self.assertEqual(self.assignments()[HECI]['driver'], 'mei_me')
        self.stack.restart_daemon()
        self.assertIn('Persistent assignment of %s holds, but the device is on mei_me' % HECI, self.daemon_log())
        self.sim.clear_audit()
        plan = self.reattach(HECI)
        self.assertEqual([(e['address'], e['action']) for e in plan], [(HECI, 'keep')])
        self.assertIn('only its persistent assignment is removed', plan[0]['reason'])
        self.assertEqual(self.recorded(), [])
        self.assert_nothing_written()
        # nothing left to forget: NotDetached again
        name, _ = self.reattach_error(HECI)
        self.assertEqual(name, ERROR + 'NotDetached')

    def test_other_ids_are_a_mismatch(self):
        vendor, device, sv, sd, cls = IDS[NIC]
        self.write_record(NIC, record_text(NIC, (0x10ec, 0x8168, sv, sd, cls), sorted(GROUP5)))
        want = ('mismatch: 10ec:8168 (subsystem 8086:a01f, class 0x020000) recorded, '
                '8086:10d3 (subsystem 8086:a01f, class 0x020000) found')
        self.assertEqual(self.persistent_keys(), {NIC: want})
        self.assertEqual(self.assignments()[NIC]['persistent'], want)
        self.stack.restart_daemon()
        log = self.daemon_log()
        self.assertIn('Persistent assignment of %s not carried out: 10ec:8168' % NIC, log)
        self.assertIn(self.record_path(NIC), log)

    def test_no_device_there(self):
        gone = '0000:05:00.0'
        self.write_record(gone, record_text(gone, IDS[NIC], [gone]))
        self.assertEqual(self.assignments()[gone]['persistent'], 'mismatch: no PCI device at %s' % gone)

    def test_unusable_records_are_reported_not_trusted(self):
        self.write_record(USB, 'garbage\n')
        self.write_record(SATA, record_text(SATA, IDS[SATA], sorted(GROUP5)), mode=0o666)
        self.write_record(NIC, record_text(NIC, IDS[NIC], sorted(GROUP5))[:-1])  # cut short
        os.symlink(self.record_path(SATA), self.record_path(HECI))
        listed = self.assignments()
        self.assertRegex(listed[USB]['persistent'], r'^mismatch: the record cannot be used: line 1: not key=value')
        self.assertEqual(listed[SATA]['persistent'], 'mismatch: the record cannot be used: writable by others '
                         'than root: the boot helper ignores it')
        self.assertIn('truncated', listed[NIC]['persistent'])
        self.assertIn('cannot open it', listed[HECI]['persistent'])
        for a in (USB, SATA, NIC, HECI):
            self.assertNotIn('vendor_id', listed[a])
        # and a hostile name is not a record at all
        self.write_record('../x', 'x\n')
        self.write_record('0000:00:16.0.conf.tmp', 'x\n')
        self.assertEqual(sorted(self.assignments()), sorted([USB, SATA, HECI, NIC]))


class TestObjects(PersistTest):
    def test_device_persistent_property(self):
        proxy = Gio.DBusProxy.new_sync(self.stack.conn, Gio.DBusProxyFlags.DO_NOT_LOAD_PROPERTIES, None,
                                       'org.freedesktop.vfio1', '/org/freedesktop/vfio1/device/0000_02_00_0',
                                       'org.freedesktop.DBus.Properties', None)

        def persistent():
            return proxy.call_sync('Get', GLib.Variant('(ss)', (DEVICE_IFACE, 'Persistent')),
                                   Gio.DBusCallFlags.NONE, 5000, None).unpack()[0]
        self.assertEqual(persistent(), '')
        self.detach(NIC, GROUP | PERSISTENT)
        self.wait_for(lambda: persistent() == 'active', 'Persistent becomes active')
        self.reattach(NIC, GROUP)
        self.wait_for(lambda: persistent() == '', 'Persistent becomes empty')

    def wait_for(self, cond, what, timeout=10):
        ctx = GLib.MainContext.default()
        deadline = GLib.get_monotonic_time() + timeout * 1000000
        while GLib.get_monotonic_time() < deadline:
            if cond():
                return
            ctx.iteration(False)
            GLib.usleep(20000)
        self.fail('timed out: ' + what)


class TestCrash(test_crash.CrashCampaign, PersistTest):
    def test_detach_group_persistent(self):
        records = {a: (ORIGINAL[a], None) for a in MOVED}

        def check(state):
            # a record exists exactly when the detach completed
            want = MOVED if state == DETACHED else []
            if sorted(self.recorded()) != sorted(want):
                return ['%s with the records of %s' % ('detached' if state == DETACHED else 'on the host',
                                                      self.recorded())]
            return []

        def back():
            self.reattach(NIC, GROUP)
        total, labels = self.crash_everywhere(lambda: self.detach(NIC, GROUP | PERSISTENT), HOST, DETACHED, {},
                                              records, back, check=check)
        # the three records are durable steps of the transaction
        self.assertEqual(len([n for n, what in labels.items() if '.conf' in what]), 3, labels)
        print('persistent detach: %d mutations, a crash after each left records only with a done detach' % total)
        for n in sorted(labels):
            print('  N=%d: %s' % (n, labels[n]))

    def test_reattach_group_persistent(self):
        self.detach(NIC, GROUP | PERSISTENT)
        records = {a: (ORIGINAL[a], None) for a in MOVED}

        def check(state):
            # the records go first: a group given back has none left (one
            # still detached may have lost some: calling again finishes)
            if state == HOST and self.recorded():
                return ['on the host with the records of %s' % self.recorded()]
            if state == DETACHED and sorted(self.recorded()) != sorted(MOVED):
                again()  # the next crash point starts from all three records
            return []

        def again():
            self.detach(NIC, GROUP | PERSISTENT)
        total, labels = self.crash_everywhere(lambda: self.reattach(NIC, GROUP), DETACHED, HOST, records, {},
                                              again, again, check=check)
        self.assertEqual(len([n for n, what in labels.items() if what.startswith('unlink')]), 3, labels)
        print('persistent reattach: %d mutations, a crash after each left no record of a device given back'
              % total)
        for n in sorted(labels):
            print('  N=%d: %s' % (n, labels[n]))


if __name__ == '__main__':
    main()

#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Using a detached group without root: OpenGroup and OpenDevice pass a
file descriptor, GrantAccess adds a POSIX ACL entry for the caller on the
group's nodes (recorded; taken back by RevokeAccess, a reattach, the
device going away, and at start-up when it no longer holds),
SetLockedMemoryLimit raises a process's RLIMIT_MEMLOCK through its pidfd.
polkit decides (use-device, lock-memory); anything refused changes
nothing.  A regular file in a private /dev/vfio stands in for the group's
character device."""

import errno
import json
import os
import signal
import stat
import subprocess
import time

from gi.repository import Gio, GLib

from harness import BUILDDIR, ERROR, NOBODY, Stack, main
from detachlib import (GROUP, NIC, SATA, USB, StackTest, private_dev_vfio, topology_variant)

USE = 'org.freedesktop.vfio1.use-device'
USE_OTHER = 'org.freedesktop.vfio1.use-device-other'
DETACH_GROUP = 'org.freedesktop.vfio1.detach-group'
NO_OWNER = 4294967295   # Device.OwnerUid when vfiod knows of nobody
LOCK = 'org.freedesktop.vfio1.lock-memory'
HECI = '0000:00:16.0'   # alone in group 3


def acl_users(path):
    out = subprocess.run(['getfacl', '-cnp', path], capture_output=True, text=True, check=True).stdout
    return sorted(int(line.split(':')[1]) for line in out.splitlines()
                  if line.startswith('user:') and line.split(':')[1])


def memlock(pid):
    with open('/proc/%d/limits' % pid) as f:
        for line in f:
            if line.startswith('Max locked memory'):
                soft, hard = line.split()[3:5]
                return tuple(-1 if v == 'unlimited' else int(v) for v in (soft, hard))


class UseTest(StackTest):
    def setUp(self):
        self.start()
        self.dev = self.enterContext(private_dev_vfio(self.stack.tmp))
        for group in (3, 5):
            with open(os.path.join(self.dev, str(group)), 'w'):
                pass
            os.chmod(os.path.join(self.dev, str(group)), 0o600)

    def detach_group(self, uid=NOBODY):
        """Group 5 detached by @uid (by default the user who then uses it:
        the group is theirs, so use-device is enough)."""
        if uid == 0:
            self.stack.call('DetachDevice', 'st', NIC, GROUP)
            return
        self.stack.polkit_mock('SetAllowed', 'as', [DETACH_GROUP])
        out = self.stack.call_as(uid, 'DetachDevice', 'st', NIC, GROUP)
        self.assertNotIn('error', out, out)
        self.stack.polkit_mock('SetAllowed', 'as', [])

    def grants_file(self):
        path = os.path.join(self.stack.state_directory, 'grants.state')
        return open(path).read() if os.path.exists(path) else ''

    def as_nobody(self, method, *args, signature='st', **kw):
        return self.stack.call_as(NOBODY, method, signature, *args, **kw)


class TestOpen(UseTest):
    def test_open_group_as_root(self):
        self.detach_group()
        group, fd = None, None
        out = self.stack.call_as(0, 'OpenGroup', 'st', NIC, 0)
        self.assertNotIn('error', out, out)
        self.assertEqual(out['reply'][0], 5)
        self.assertEqual(out['fds'][0]['target'], '/dev/vfio/5')
        self.assertEqual(out['fds'][0]['ino'], os.stat('/dev/vfio/5').st_ino)
        self.assertTrue(out['fds'][0]['writable'])

    def test_refused_before_detach(self):
        out = self.stack.call_as(0, 'OpenGroup', 'st', NIC, 0)
        self.assertEqual(out['error'], ERROR + 'NotDetached', out)
        self.assertIn(NIC, out['message'])
        self.assertIn('detach it first (DetachDevice of %s)' % NIC, out['message'])

    def test_refused_when_not_viable(self):
        # the NIC on vfio-pci by hand, its group mates still on the host
        with open('/sys/bus/pci/devices/%s/driver_override' % NIC, 'w') as f:
            f.write('vfio-pci')
        with open('/sys/bus/pci/drivers/e1000e/unbind', 'w') as f:
            f.write(NIC)
        with open('/sys/bus/pci/drivers_probe', 'w') as f:
            f.write(NIC)
        self.assertEqual(self.sim.driver_of(NIC), 'vfio-pci')
        for method in ('OpenGroup', 'GrantAccess'):
            out = self.stack.call_as(0, method, 'st', NIC, 0)
            self.assertEqual(out['error'], ERROR + 'GroupNotViable', out)
            self.assertIn(SATA + ' (on ahci)', out['message'])
        self.assertEqual(acl_users('/dev/vfio/5'), [])

    def test_open_device_without_cdev(self):
        self.detach_group()
        out = self.stack.call_as(0, 'OpenDevice', 'st', NIC, 0)
        self.assertEqual(out['error'], ERROR + 'NotSupported', out)
        self.assertIn('CONFIG_VFIO_DEVICE_CDEV', out['message'])

    def test_bad_input(self):
        for method, args, error in (('OpenGroup', ('0000:99:00.0', 0), 'NoSuchDevice'),
                                    ('OpenGroup', ('../x', 0), 'InvalidAddress'),
                                    ('GrantAccess', (NIC, 1), None)):
            out = self.stack.call_as(0, method, 'st', *args)
            self.assertIn('error', out)
            if error:
                self.assertEqual(out['error'], ERROR + error, out)
            else:
                self.assertEqual(out['error'], 'org.freedesktop.DBus.Error.InvalidArgs', out)
        self.assertEqual(self.grants_file().strip(), '')


class TestGroupBusy(UseTest):
    """The kernel lets one process have a group: a second opener is told
    who has it (the daemon's open of /dev/vfio/5 fails EBUSY, through
    openfail.so, as the kernel's would)."""

    def setUp(self):
        asan = os.environ.get('ASAN_OPTIONS') or 'detect_leaks=1'
        self.start(daemon_env={'LD_PRELOAD': os.path.join(BUILDDIR, 'tests', 'integration', 'openfail.so'),
                               'VFIOD_TEST_OPEN_FAIL': '/dev/vfio/5:%d' % errno.EBUSY,
                               # the sanitizer build: our preload comes before ASan's runtime
                               'ASAN_OPTIONS': asan + ':verify_asan_link_order=0'})
        self.dev = self.enterContext(private_dev_vfio(self.stack.tmp))
        with open(os.path.join(self.dev, '5'), 'w'):
            pass

    def test_open_group_busy(self):
        self.detach_group()
        # a VM holding the group: this test process, through the file
        holder = open('/dev/vfio/5', 'r+')
        self.addCleanup(holder.close)
        self.stack.polkit_mock('SetAllowed', 'as', [USE])
        out = self.as_nobody('OpenGroup', NIC, 0)
        self.assertEqual(out.get('error'), ERROR + 'GroupBusy', out)
        self.assertIn('open already', out['message'])
        self.assertIn('pid %d' % os.getpid(), out['message'])
        self.assertNotIn('fds', out)


    def test_refused_reattach_keeps_grants(self):
        # issue 18, point 4: the holder check comes before the grants are
        # taken back, so a refused reattach ("nothing was touched") leaves
        # the VM owner's ACL entries and records as they were
        self.detach_group()
        self.stack.polkit_mock('SetAllowed', 'as', [USE])
        out = self.as_nobody('GrantAccess', NIC, 0)
        self.assertNotIn('error', out, out)
        self.assertEqual(acl_users('/dev/vfio/5'), [NOBODY])
        recorded = self.grants_file()
        holder = open('/dev/vfio/5', 'r+')
        self.addCleanup(holder.close)
        for flags in (0, GROUP):
            out = self.stack.call_as(0, 'ReattachDevice', 'st', NIC, flags)
            self.assertEqual(out.get('error'), ERROR + 'GroupBusy', out)
            self.assertIn('nothing was touched', out['message'])
            self.assertEqual(acl_users('/dev/vfio/5'), [NOBODY])
            self.assertEqual(self.grants_file(), recorded)
            devices = {d['address']: d for d in self.stack.list_devices()}
            self.assertEqual(devices[NIC]['driver'], 'vfio-pci')
            self.assertEqual(devices[NIC]['granted_uids'], [NOBODY])


class TestCdevHolder(UseTest):
    """Issue 18, point 4: a process with a member's VFIO device cdev open,
    but not bound to an iommufd, makes the kernel's unbind of vfio-pci
    wait until it lets go, and the kernel's EBUSY on the group's open does
    not see it (that counts bound cdevs only).  So the reattach looks for
    it in /proc by device number, not path: the holder here runs in
    another mount namespace and has the node open under another name (a
    pty stands in for the cdev: its number is given to the node at
    /dev/vfio/devices/vfioN).  Refused up front, naming pid, comm and uid;
    nothing is written."""

    def setUp(self):
        # before the private /dev: the pty's own node stays the host's
        master, slave = os.openpty()
        self.addCleanup(os.close, master)
        self.rdev = os.fstat(slave).st_rdev
        self.start(topology_variant('plugin-nic.json', vfio_device_cdev=True))
        self.dev = self.enterContext(private_dev_vfio(self.stack.tmp))
        with open(os.path.join(self.dev, '5'), 'w'):
            pass
        self.detach_group()
        self.cdev = self.sim.vfio_cdev_of(SATA)
        os.makedirs(os.path.join(self.dev, 'devices'))
        os.mknod(os.path.join(self.dev, 'devices', self.cdev), 0o600 | stat.S_IFCHR, self.rdev)
        # the holder: another mount namespace, the node by another path
        self.holder = subprocess.Popen(
            ['unshare', '--mount', '--propagation', 'private', '/usr/bin/python3', '-c',
             'import os, sys; os.fstat(%d); print("ready", flush=True); sys.stdin.read()' % slave],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, pass_fds=(slave,))
        os.close(slave)
        self.addCleanup(self.holder.wait)
        self.addCleanup(self.holder.stdin.close)
        self.assertEqual(self.holder.stdout.readline(), 'ready\n')
        self.sim.clear_audit()

    def test_reattach_refused_while_a_cdev_is_open(self):
        for flags in (0, GROUP):
            name, message = self.reattach_error(NIC, flags)
            self.assertEqual(name, ERROR + 'GroupBusy', message)
            self.assertIn('nothing was touched', message)
            self.assertIn('pid %d (python3, uid 0) through /dev/vfio/devices/%s' % (self.holder.pid, self.cdev),
                          message)
            self.assert_nothing_written()
            self.assert_drivers({NIC: 'vfio-pci', SATA: 'vfio-pci', USB: 'vfio-pci'})

    def test_recovery_does_not_unbind_under_a_holder(self):
        # a detach of this boot killed after its last move: the rollback
        # at start would unbind vfio-pci under the open cdev, so it waits
        self.stack.stop_daemon()
        path = os.path.join(self.stack.state_directory, 'transactions.state')
        with open(path) as f:
            text = f.read()
        with open('/proc/sys/kernel/random/boot_id') as f:
            boot = f.read().strip()
        with open(path, 'w') as f:
            f.write(text + '\n[transaction 50]\nstatus=pending\noperation=detach\ngroup=5\nboot=%s\n'
                    'devices=%s;%s;%s;\ncount=3\n' % (boot, USB, SATA, NIC))
        self.stack.start_daemon()
        self.assert_nothing_written()
        self.assert_drivers({NIC: 'vfio-pci', SATA: 'vfio-pci', USB: 'vfio-pci'})
        with open(path) as f:
            self.assertIn('[transaction 50]', f.read())
        with open(os.path.join(self.stack.tmp, 'vfiod.log'), errors='replace') as f:
            self.assertIn('IOMMU group 5 is open by pid %d (python3, uid 0) through /dev/vfio/devices/%s'
                          % (self.holder.pid, self.cdev), f.read())

    def test_reattach_once_it_is_closed(self):
        # the control: once the holder lets go, the same reattach goes on
        self.holder.stdin.close()
        self.holder.wait()
        self.reattach(NIC, GROUP)
        self.assert_drivers({NIC: 'e1000e', SATA: 'ahci', USB: 'xhci_hcd'})


class TestHolderOutOfSight(UseTest):
    """When only the kernel knows (the group's open fails EBUSY, through
    openfail.so, and no process vfiod can see has a node open), the
    reattach is refused all the same, and says why vfiod cannot name the
    holder: it is not that vfiod lacks CAP_SYS_PTRACE (the unit grants it)."""

    def setUp(self):
        asan = os.environ.get('ASAN_OPTIONS') or 'detect_leaks=1'
        self.start(daemon_env={'LD_PRELOAD': os.path.join(BUILDDIR, 'tests', 'integration', 'openfail.so'),
                               'VFIOD_TEST_OPEN_FAIL': '/dev/vfio/5:%d' % errno.EBUSY,
                               'ASAN_OPTIONS': asan + ':verify_asan_link_order=0'})
        self.dev = self.enterContext(private_dev_vfio(self.stack.tmp))
        with open(os.path.join(self.dev, '5'), 'w'):
            pass

    def test_held_by_a_process_vfiod_cannot_see(self):
        self.detach_group()
        self.sim.clear_audit()
        name, message = self.reattach_error(NIC, GROUP)
        self.assertEqual(name, ERROR + 'GroupBusy', message)
        self.assertIn('a process vfiod cannot see (another PID namespace', message)
        self.assertNotIn('without CAP_SYS_PTRACE', message)
        self.assert_nothing_written()


class TestOpenDevice(UseTest):
    def setUp(self):
        self.start(topology_variant('plugin-nic.json', vfio_device_cdev=True))
        self.dev = self.enterContext(private_dev_vfio(self.stack.tmp))
        with open(os.path.join(self.dev, '5'), 'w'):
            pass

    def test_open_device_cdev(self):
        self.detach_group()
        cdev = self.sim.vfio_cdev_of(NIC)
        os.makedirs(os.path.join(self.dev, 'devices'), exist_ok=True)
        for member in (NIC, SATA, USB):
            with open(os.path.join(self.dev, 'devices', self.sim.vfio_cdev_of(member)), 'w'):
                pass
        self.stack.polkit_mock('SetAllowed', 'as', [USE])
        out = self.as_nobody('OpenDevice', NIC, 0)
        self.assertNotIn('error', out, out)
        self.assertEqual(out['fds'][0]['target'], '/dev/vfio/devices/' + cdev)
        # a grant covers the group node and every member's cdev
        out = self.as_nobody('GrantAccess', NIC, 0)
        self.assertNotIn('error', out, out)
        paths = sorted(n['path'] for n in out['reply'][0])
        self.assertEqual(paths, sorted(['/dev/vfio/5'] + ['/dev/vfio/devices/' + self.sim.vfio_cdev_of(m)
                                                          for m in (NIC, SATA, USB)]))
        for path in paths:
            self.assertEqual(acl_users(path), [NOBODY], path)


class TestGrant(UseTest):
    def test_grant_and_revoke(self):
        self.detach_group()
        self.stack.polkit_mock('SetAllowed', 'as', [USE])
        before = os.stat('/dev/vfio/5')
        out = self.as_nobody('GrantAccess', NIC, 0)
        self.assertNotIn('error', out, out)
        self.assertEqual(out['reply'][0], [{'path': '/dev/vfio/5', 'uid': NOBODY}])
        self.assertEqual(acl_users('/dev/vfio/5'), [NOBODY])
        after = os.stat('/dev/vfio/5')
        # owner and group never change; the group bits show the ACL mask
        self.assertEqual((after.st_uid, after.st_gid), (before.st_uid, before.st_gid))
        self.assertIn('/dev/vfio/5', self.grants_file())
        devices = {d['address']: d for d in self.stack.list_devices()}
        self.assertEqual(devices[NIC]['granted_uids'], [NOBODY])
        self.assertEqual(devices[SATA]['granted_uids'], [NOBODY])
        self.assertNotIn('granted_uids', devices['0000:00:16.0'])   # only when somebody was
        # the CLI shows it: a column, and the JSON key
        listed = {d['address']: d for d in self.stack.vfioctl_json('list')['devices']}
        self.assertEqual(listed[NIC]['granted_uids'], [NOBODY])
        table = self.stack.vfioctl('list').stdout
        self.assertIn(str(NOBODY), next(line for line in table.splitlines() if NIC in line))
        # the user can now open it by path
        proc = subprocess.run(['setpriv', '--reuid=%d' % NOBODY, '--regid=%d' % NOBODY, '--clear-groups',
                               'sh', '-c', 'exec 3<>/dev/vfio/5'], capture_output=True, text=True)
        self.assertEqual(proc.returncode, 0, proc.stderr)

        out = self.as_nobody('RevokeAccess', NIC, 0)
        self.assertEqual(out['reply'][0], [{'path': '/dev/vfio/5', 'uid': NOBODY}])
        self.assertEqual(acl_users('/dev/vfio/5'), [])
        self.assertNotIn('/dev/vfio/5', self.grants_file())
        # nothing left: nothing to authorize, nothing done
        self.stack.polkit_mock('SetAllowed', 'as', [])
        out = self.as_nobody('RevokeAccess', NIC, 0)
        self.assertEqual(out['reply'][0], [])

    def test_denied_changes_nothing(self):
        self.detach_group()
        for setup, error in ((lambda: self.stack.polkit_mock('SetAllowed', 'as', []),
                              'org.freedesktop.DBus.Error.AccessDenied'),
                             (lambda: self.stack.polkit_mock('SetChallenge', 'as', [USE]),
                              'org.freedesktop.DBus.Error.InteractiveAuthorizationRequired'),
                             (lambda: self.stack.polkit_mock('SetError', 'as', [USE]),
                              'org.freedesktop.DBus.Error.AccessDenied')):
            setup()
            for method in ('GrantAccess', 'OpenGroup'):
                out = self.as_nobody(method, NIC, 0)
                self.assertEqual(out.get('error'), error, (method, out))
                self.assertNotIn('fds', out)
        self.assertEqual(acl_users('/dev/vfio/5'), [])
        self.assertEqual(self.grants_file().strip(), '')

    def test_reattach_takes_grants_back(self):
        self.detach_group()
        self.stack.polkit_mock('SetAllowed', 'as', [USE])
        self.as_nobody('GrantAccess', NIC, 0)
        self.assertEqual(acl_users('/dev/vfio/5'), [NOBODY])
        self.stack.call('ReattachDevice', 'st', SATA, GROUP)
        self.assertEqual(acl_users('/dev/vfio/5'), [])
        self.assertNotIn('/dev/vfio/5', self.grants_file())

    def test_grant_survives_restart(self):
        self.detach_group()
        self.stack.polkit_mock('SetAllowed', 'as', [USE])
        self.as_nobody('GrantAccess', NIC, 0)
        self.stack.restart_daemon()
        self.assertEqual(acl_users('/dev/vfio/5'), [NOBODY])
        self.assertIn('/dev/vfio/5', self.grants_file())
        out = self.as_nobody('RevokeAccess', NIC, 0)
        self.assertEqual(out['reply'][0], [{'path': '/dev/vfio/5', 'uid': NOBODY}])

    def test_stale_record_at_start(self):
        # recorded, but the group went back to the host while vfiod was not running
        self.detach_group()
        self.stack.polkit_mock('SetAllowed', 'as', [USE])
        self.as_nobody('GrantAccess', NIC, 0)
        self.stack.stop_daemon()
        # the NIC back on its host driver by hand: the group is the host's again
        with open('/sys/bus/pci/drivers/vfio-pci/unbind', 'w') as f:
            f.write(NIC)
        with open('/sys/bus/pci/devices/%s/driver_override' % NIC, 'w') as f:
            f.write('\n')
        with open('/sys/bus/pci/drivers_probe', 'w') as f:
            f.write(NIC)
        self.assertEqual(self.sim.driver_of(NIC), 'e1000e')
        self.stack.start_daemon()
        self.assertEqual(acl_users('/dev/vfio/5'), [])
        self.assertNotIn('/dev/vfio/5', self.grants_file())

    def test_device_going_away(self):
        self.stack.call('DetachDevice', 'st', HECI, 0)
        # root detached it: another's, for uid NOBODY
        self.stack.polkit_mock('SetAllowed', 'as', [USE, USE_OTHER])
        out = self.as_nobody('GrantAccess', HECI, 0)
        self.assertEqual(out['reply'][0], [{'path': '/dev/vfio/3', 'uid': NOBODY}])
        self.sim.remove(HECI)   # no uevents here: the next reading sees it gone
        self.stack.call('DetachDevice', 'st', NIC, GROUP)   # news: the model reads again
        deadline = time.monotonic() + 10
        while acl_users('/dev/vfio/3') and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertEqual(acl_users('/dev/vfio/3'), [])
        self.assertNotIn('/dev/vfio/3', self.grants_file())

    def test_hostile_record_is_ignored(self):
        self.stack.stop_daemon()
        victim = os.path.join(self.stack.tmp, 'victim')
        with open(victim, 'w'):
            pass
        subprocess.check_call(['setfacl', '-m', 'u:%d:rw' % NOBODY, victim])
        with open(os.path.join(self.stack.state_directory, 'grants.state'), 'w') as f:
            f.write('[grant 1]\npath=%s\ngroup=5\nuid=%d\n[grant 2]\npath=/dev/vfio/../x\ngroup=5\nuid=1\n'
                    % (victim, NOBODY))
        self.stack.start_daemon()
        # never acted on: not a node vfiod grants
        self.assertEqual(acl_users(victim), [NOBODY])


class TestOwner(UseTest):
    """Whose group is whose (issue 18, point 6): DetachDevice records its
    caller as the owner of the devices it moved; the read API shows it;
    polkit gets it (owner_uid) on the use calls and on a reattach; and a
    user (not root) who uses a group they are not the owner of, or that
    nobody vfiod knows of detached, needs use-device-other on top of
    use-device."""

    OTHER = 2   # bin: a uid the bus knows, not NOBODY

    def state_file(self):
        with open(os.path.join(self.stack.state_directory, 'transactions.state')) as f:
            return f.read()

    def owner_property(self, address):
        """The Device object's OwnerUid."""
        path = '/org/freedesktop/vfio1/device/' + address.replace(':', '_').replace('.', '_')
        reply = self.stack.conn.call_sync('org.freedesktop.vfio1', path, 'org.freedesktop.DBus.Properties',
                                          'Get', GLib.Variant('(ss)', ('org.freedesktop.vfio1.Device', 'OwnerUid')),
                                          None, Gio.DBusCallFlags.NONE, 10000, None)
        return reply.unpack()[0]

    def wait_owner_property(self, address, want):
        deadline = time.monotonic() + 10
        while self.owner_property(address) != want and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertEqual(self.owner_property(address), want, address)

    def test_owner_recorded_and_shown(self):
        self.wait_owner_property(NIC, NO_OWNER)
        self.detach_group(NOBODY)
        self.assertIn('owner=%d\n' % NOBODY, self.state_file())
        devices = {d['address']: d for d in self.stack.list_devices()}
        for moved in (NIC, SATA, USB):
            self.assertEqual(devices[moved]['owner_uid'], NOBODY, moved)
        # what it did not move (the root port stays on pcieport) has none
        self.assertNotIn('owner_uid', devices['0000:00:1c.0'])
        self.assertNotIn('owner_uid', devices[HECI])
        group = {d['address']: d for d in self.stack.get_group(NIC)[1]}
        self.assertEqual(group[NIC]['owner_uid'], NOBODY)
        listed = {d['address']: d for d in self.stack.vfioctl_json('list')['devices']}
        self.assertEqual(listed[NIC]['owner_uid'], NOBODY)
        self.assertNotIn('owner_uid', listed[HECI])
        # the Device objects (what a panel watches) say it too
        self.wait_owner_property(NIC, NOBODY)
        self.wait_owner_property(HECI, NO_OWNER)
        # the table's OWNER column (nothing is granted: the uid is the owner's)
        table = self.stack.vfioctl('list').stdout
        self.assertIn(' %d ' % NOBODY, next(line for line in table.splitlines() if NIC in line))
        self.assertNotIn(' %d ' % NOBODY, next(line for line in table.splitlines() if HECI in line))
        # kept across a restart (same boot)
        self.stack.restart_daemon()
        devices = {d['address']: d for d in self.stack.list_devices()}
        self.assertEqual(devices[NIC]['owner_uid'], NOBODY)
        # and gone with the devices
        self.wait_owner_property(NIC, NOBODY)
        self.stack.call('ReattachDevice', 'st', NIC, GROUP)
        devices = {d['address']: d for d in self.stack.list_devices()}
        self.assertNotIn('owner_uid', devices[NIC])
        self.wait_owner_property(NIC, NO_OWNER)

    def test_owner_uses_with_use_device(self):
        self.detach_group(NOBODY)
        self.stack.polkit_mock('SetAllowed', 'as', [USE])
        self.stack.polkit_mock('ClearCalls')
        out = self.as_nobody('GrantAccess', NIC, 0)
        self.assertNotIn('error', out, out)
        calls = self.stack.polkit_calls()
        self.assertEqual([c['action'] for c in calls], [USE])
        self.assertEqual(calls[0]['details']['owner_uid'], str(NOBODY))
        self.assertEqual(acl_users('/dev/vfio/5'), [NOBODY])

    def test_other_users_group_needs_use_device_other(self):
        self.detach_group(self.OTHER)
        self.stack.polkit_mock('SetAllowed', 'as', [USE])
        self.stack.polkit_mock('ClearCalls')
        for method in ('GrantAccess', 'OpenGroup'):
            out = self.as_nobody(method, NIC, 0)
            self.assertEqual(out.get('error'), 'org.freedesktop.DBus.Error.AccessDenied', (method, out))
            self.assertNotIn('fds', out)
        calls = self.stack.polkit_calls()
        self.assertEqual([c['action'] for c in calls], [USE, USE_OTHER] * 2)
        for call in calls:
            self.assertEqual(call['details']['owner_uid'], str(self.OTHER))
            self.assertEqual(call['details']['uid'], str(NOBODY))
        self.assertEqual(acl_users('/dev/vfio/5'), [])
        self.assertEqual(self.grants_file().strip(), '')
        # the owner needs no more than use-device
        out = self.stack.call_as(self.OTHER, 'GrantAccess', 'st', NIC, 0)
        self.assertNotIn('error', out, out)
        self.assertEqual(acl_users('/dev/vfio/5'), [self.OTHER])
        # root needs neither; a rule that grants use-device-other lets the other user
        out = self.stack.call_as(0, 'OpenGroup', 'st', NIC, 0)
        self.assertNotIn('error', out, out)
        self.stack.polkit_mock('SetAllowed', 'as', [USE, USE_OTHER])
        out = self.as_nobody('GrantAccess', NIC, 0)
        self.assertNotIn('error', out, out)
        self.assertEqual(acl_users('/dev/vfio/5'), sorted([NOBODY, self.OTHER]))
        # the CLI says which action refused it
        self.stack.polkit_mock('SetAllowed', 'as', [USE])
        out = self.stack.vfioctl('--no-ask-password', 'grant', NIC, uid=NOBODY, check=1)
        self.assertIn('use-device-other', out.stderr)

    def test_root_detached_group_is_another_users(self):
        self.detach_group(0)
        self.assertEqual({d['address']: d for d in self.stack.list_devices()}[NIC]['owner_uid'], 0)
        self.stack.polkit_mock('SetAllowed', 'as', [USE])
        out = self.as_nobody('GrantAccess', NIC, 0)
        self.assertEqual(out.get('error'), 'org.freedesktop.DBus.Error.AccessDenied', out)
        self.assertEqual(self.stack.polkit_calls()[-1]['details']['owner_uid'], '0')
        self.assertEqual(acl_users('/dev/vfio/5'), [])

    def test_nobodys_group_fails_closed(self):
        # HECI (alone in group 3) bound to vfio-pci by hand: vfiod knows of no owner
        with open('/sys/bus/pci/devices/%s/driver_override' % HECI, 'w') as f:
            f.write('vfio-pci')
        with open('/sys/bus/pci/drivers/mei_me/unbind', 'w') as f:
            f.write(HECI)
        with open('/sys/bus/pci/drivers_probe', 'w') as f:
            f.write(HECI)
        self.assertEqual(self.sim.driver_of(HECI), 'vfio-pci')
        self.assertNotIn('owner_uid', {d['address']: d for d in self.stack.list_devices()}[HECI])
        self.stack.polkit_mock('SetAllowed', 'as', [USE])
        out = self.as_nobody('GrantAccess', HECI, 0)
        self.assertEqual(out.get('error'), 'org.freedesktop.DBus.Error.AccessDenied', out)
        call = self.stack.polkit_calls()[-1]
        self.assertEqual(call['action'], USE_OTHER)
        self.assertEqual(call['details']['owner_uid'], 'none')
        self.assertEqual(acl_users('/dev/vfio/3'), [])
        # root may
        out = self.stack.call_as(0, 'GrantAccess', 'st', HECI, 0)
        self.assertNotIn('error', out, out)

    def test_reattach_passes_owner(self):
        self.detach_group(NOBODY)
        self.stack.polkit_mock('SetAllowed', 'as', [])
        self.stack.polkit_mock('ClearCalls')
        out = self.as_nobody('ReattachDevice', NIC, 0)
        self.assertEqual(out.get('error'), 'org.freedesktop.DBus.Error.AccessDenied', out)
        call = self.stack.polkit_calls()[-1]
        self.assertEqual(call['action'], 'org.freedesktop.vfio1.reattach-device')
        self.assertEqual(call['details']['owner_uid'], str(NOBODY))
        self.assertEqual(self.sim.driver_of(NIC), 'vfio-pci')

    def write_owner(self, value, boot=None):
        """Stops the daemon, sets every device record's owner to @value
        (and boot, when given), starts it again."""
        self.stack.stop_daemon()
        path = os.path.join(self.stack.state_directory, 'transactions.state')
        lines = []
        with open(path) as f:
            for line in f:
                if line.startswith('owner='):
                    line = 'owner=%s\n' % value
                elif boot and line.startswith('boot='):
                    line = 'boot=%s\n' % boot
                lines.append(line)
        with open(path, 'w') as f:
            f.writelines(lines)
        self.stack.start_daemon()

    def test_hostile_owner_is_ignored(self):
        """The state file is untrusted: an owner that is not a uid is
        ignored (logged), the records kept (a reattach still gives the
        drivers back), and the devices count as nobody's."""
        self.detach_group(NOBODY)
        for value in ('-1', '4294967295', '99999999999999999999', 'root', '0x0', '65534;0', '',
                      '\\x00', '1' * 5000):
            self.write_owner(value)
            self.assertTrue(self.stack.daemon.poll() is None, value)
            devices = {d['address']: d for d in self.stack.list_devices()}
            self.assertNotIn('owner_uid', devices[NIC], value)
            self.assertEqual(devices[NIC]['driver'], 'vfio-pci')
            self.stack.polkit_mock('SetAllowed', 'as', [USE])
            out = self.as_nobody('GrantAccess', NIC, 0)
            self.assertEqual(out.get('error'), 'org.freedesktop.DBus.Error.AccessDenied', (value, out))
        with open(os.path.join(self.stack.tmp, 'vfiod.log')) as f:
            self.assertIn('Ignoring the owner of the state file', f.read())
        self.assertEqual(acl_users('/dev/vfio/5'), [])
        # the records still give the drivers back
        self.stack.call('ReattachDevice', 'st', NIC, GROUP)
        self.assertEqual(self.sim.driver_of(NIC), 'e1000e')
        self.assertEqual(self.sim.driver_of(SATA), 'ahci')

    def test_owner_of_another_boot_is_nobody(self):
        self.detach_group(NOBODY)
        self.write_owner(str(NOBODY), boot='7d3a1c5e-2b4f-4e6a-9c8d-1f0e2d3c4b5a')
        devices = {d['address']: d for d in self.stack.list_devices()}
        self.assertNotIn('owner_uid', devices[NIC])
        self.stack.polkit_mock('SetAllowed', 'as', [USE])
        out = self.as_nobody('GrantAccess', NIC, 0)
        self.assertEqual(out.get('error'), 'org.freedesktop.DBus.Error.AccessDenied', out)


class TestPolkitAbsent(StackTest):
    """No polkitd on the bus: every use call is denied and nothing changes."""

    def setUp(self):
        self.stack = Stack('plugin-nic.json', polkit=False)
        self.addCleanup(self.stack.stop)
        self.stack.start()
        self.sim = self.stack.sim
        self.dev = self.enterContext(private_dev_vfio(self.stack.tmp))
        with open(os.path.join(self.dev, '5'), 'w'):
            pass

    def test_denied(self):
        self.stack.call('DetachDevice', 'st', NIC, GROUP)   # root: no polkit needed
        for method in ('GrantAccess', 'OpenGroup'):
            out = self.stack.call_as(NOBODY, method, 'st', NIC, 0)
            self.assertEqual(out.get('error'), 'org.freedesktop.DBus.Error.AccessDenied', out)
            self.assertNotIn('fds', out)
        out = self.stack.call_as(NOBODY, 'SetLockedMemoryLimit', 'ht', '@pidfd', 1 << 20, pidfd_of='self')
        self.assertEqual(out.get('error'), 'org.freedesktop.DBus.Error.AccessDenied', out)
        self.assertEqual(acl_users('/dev/vfio/5'), [])
        self.assertFalse(os.path.exists(os.path.join(self.stack.state_directory, 'grants.state')))


class TestGrantCrash(UseTest):
    """A SIGKILL right after each durable step of a grant and of a revoke
    (a record saved, an ACL entry added or removed: crashpoint.so counts
    them): after the restart, the record and the ACL agree, and a revoke
    that was under way is finished, never undone."""

    CRASHPOINT = os.path.join(BUILDDIR, 'tests', 'integration', 'crashpoint.so')

    def restart(self, crash_at=None):
        env = self.stack.daemon_env
        for key in ('LD_PRELOAD', 'VFIOD_CRASH_AT', 'ASAN_OPTIONS'):
            env.pop(key, None)
        if crash_at:
            asan = os.environ.get('ASAN_OPTIONS') or 'detect_leaks=1'
            env.update(LD_PRELOAD=self.CRASHPOINT, VFIOD_CRASH_AT=str(crash_at),
                       ASAN_OPTIONS=asan + ':verify_asan_link_order=0')
        status = self.stack.stop_daemon(signal.SIGKILL if crash_at is None else signal.SIGTERM)
        self.stack.start_daemon()
        return status

    def granted(self):
        """(the ACL's users of /dev/vfio/5, uids the record names for it)"""
        record = [int(line.split('=')[1]) for line in self.grants_file().splitlines()
                  if line.startswith('uid=')]
        return acl_users('/dev/vfio/5'), record

    def test_grant_killed_at_every_step(self):
        self.detach_group()
        self.stack.polkit_mock('SetAllowed', 'as', [USE])
        for n in range(1, 4):
            self.restart(crash_at=n)
            out = self.as_nobody('GrantAccess', NIC, 0)
            killed = self.stack.daemon.poll() is not None or 'error' in out
            self.restart()
            acl, record = self.granted()
            # after the restart they agree: granted whole, or not at all
            self.assertEqual(acl, record, 'crash after step %d' % n)
            if not killed:
                self.assertEqual(acl, [NOBODY])
                break
            self.as_nobody('RevokeAccess', NIC, 0)
            self.assertEqual(self.granted(), ([], []))

    def test_revoke_killed_at_every_step(self):
        self.detach_group()
        self.stack.polkit_mock('SetAllowed', 'as', [USE])
        for n in range(1, 5):
            self.as_nobody('GrantAccess', NIC, 0)
            self.assertEqual(self.granted(), ([NOBODY], [NOBODY]))
            self.restart(crash_at=n)
            out = self.as_nobody('RevokeAccess', NIC, 0)
            killed = 'error' in out
            self.restart()
            acl, record = self.granted()
            self.assertEqual(acl, record, 'crash after step %d' % n)
            if n > 1 or not killed:
                # once marked, a revoke is finished by the restart, never undone
                self.assertEqual(acl, [], 'crash after step %d' % n)
            if not killed:
                break
            self.as_nobody('RevokeAccess', NIC, 0)


class TestLockMemory(UseTest):
    def spawn_as(self, uid):
        argv = ['sleep', '60']
        if uid:
            argv = ['setpriv', '--reuid=%d' % uid, '--regid=%d' % uid, '--clear-groups'] + argv
        proc = subprocess.Popen(argv)
        self.addCleanup(proc.wait)
        self.addCleanup(proc.kill)
        time.sleep(0.1)
        return proc

    def test_raise_own_process(self):
        # a caller's own process, here root's: soft 64 KiB, hard 512 MiB.
        # (Raising a hard limit, or another uid's limits, takes
        # CAP_SYS_RESOURCE, which vfiod's unit has and these test machines
        # do not; the QEMU test shows that part on a real kernel.)
        proc = self.spawn_as(0)
        hard = memlock(proc.pid)[1]
        want = 4 << 20 if hard == -1 else hard // 2
        self.assertGreater(want, 65536)
        subprocess.check_call(['prlimit', '--pid', str(proc.pid), '--memlock=65536:%s' % (
            'unlimited' if hard == -1 else hard)])
        out = self.stack.call_as(0, 'SetLockedMemoryLimit', 'ht', '@pidfd', want, pidfd_of=proc.pid)
        self.assertNotIn('error', out, out)
        self.assertEqual(memlock(proc.pid), (want, hard))
        # never lowered
        out = self.stack.call_as(0, 'SetLockedMemoryLimit', 'ht', '@pidfd', 65536, pidfd_of=proc.pid)
        self.assertNotIn('error', out, out)
        self.assertEqual(memlock(proc.pid), (want, hard))

    def test_polkit_details(self):
        proc = self.spawn_as(NOBODY)
        before = memlock(proc.pid)
        self.stack.polkit_mock('SetAllowed', 'as', [])
        out = self.as_nobody('SetLockedMemoryLimit', '@pidfd', 256 << 20, signature='ht', pidfd_of=proc.pid)
        self.assertEqual(out['error'], 'org.freedesktop.DBus.Error.AccessDenied', out)
        call = self.stack.polkit_calls()[-1]
        self.assertEqual(call['action'], LOCK)
        self.assertEqual(call['details']['pid'], str(proc.pid))
        self.assertEqual(call['details']['bytes'], str(256 << 20))
        self.assertEqual(call['details']['size'], '256.0 MiB')
        self.assertEqual(call['details']['uid'], str(NOBODY))
        self.assertEqual(memlock(proc.pid), before)

    def test_other_uid_refused(self):
        proc = self.spawn_as(0)
        before = memlock(proc.pid)
        self.stack.polkit_mock('SetAllowed', 'as', [LOCK])
        out = self.as_nobody('SetLockedMemoryLimit', '@pidfd', 256 << 20, signature='ht', pidfd_of=proc.pid)
        self.assertEqual(out['error'], 'org.freedesktop.DBus.Error.AccessDenied', out)
        self.assertIn('runs as uid 0', out['message'])
        self.assertEqual(memlock(proc.pid), before)

    def test_bad_input(self):
        proc = self.spawn_as(NOBODY)
        before = memlock(proc.pid)
        self.stack.polkit_mock('SetAllowed', 'as', [LOCK])
        for kw, nbytes, error, text in (
                ({'pidfd_of': proc.pid}, 0, 'InvalidArgs', '0 bytes'),
                ({'pidfd_of': proc.pid}, 1 << 62, 'InvalidArgs', "machine's memory"),
                ({'fd_path': '/etc/hostname'}, 1 << 20, 'InvalidArgs', 'not a pidfd')):
            arg = '@fd' if 'fd_path' in kw else '@pidfd'
            out = self.as_nobody('SetLockedMemoryLimit', arg, nbytes, signature='ht', **kw)
            self.assertEqual(out['error'], 'org.freedesktop.DBus.Error.' + error, out)
            self.assertIn(text, out['message'])
        self.assertEqual(memlock(proc.pid), before)

    def test_exited_process(self):
        self.stack.polkit_mock('SetAllowed', 'as', [LOCK])
        out = self.as_nobody('SetLockedMemoryLimit', '@pidfd', 1 << 20, signature='ht', pidfd_of='exited')
        self.assertEqual(out['error'], 'org.freedesktop.DBus.Error.InvalidArgs', out)
        self.assertIn('has exited', out['message'])

    def test_denied(self):
        proc = self.spawn_as(NOBODY)
        before = memlock(proc.pid)
        self.stack.polkit_mock('SetAllowed', 'as', [])
        out = self.as_nobody('SetLockedMemoryLimit', '@pidfd', 256 << 20, signature='ht', pidfd_of=proc.pid)
        self.assertEqual(out['error'], 'org.freedesktop.DBus.Error.AccessDenied', out)
        self.assertEqual(memlock(proc.pid), before)



class LockedMemoryCapTest(UseTest):
    """SetLockedMemoryLimit is capped (issue 18, point 6): one call may
    give one process at most MaxLockedMemory= of [Limits] in vfiod.conf,
    by default the machine's memory less a reserve of max(1 GiB, 10 %).
    A request above the cap is refused before polkit is asked, naming the
    request, the cap and the file; nothing changes.  A file that does not
    validate gives the default cap, never a larger one."""

    CONFIG = None
    spawn_as = TestLockMemory.spawn_as

    def setUp(self):
        def write_config(stack):
            if self.CONFIG is not None:
                with open(stack.config_file, 'w') as f:
                    f.write(self.CONFIG)
        self.start(before_daemon=write_config)

    def memory(self):
        return os.sysconf('SC_PHYS_PAGES') * os.sysconf('SC_PAGESIZE')

    def request(self, nbytes):
        proc = self.spawn_as(NOBODY)
        before = memlock(proc.pid)
        self.stack.polkit_mock('ClearCalls')
        out = self.as_nobody('SetLockedMemoryLimit', '@pidfd', nbytes, signature='ht', pidfd_of=proc.pid)
        return out, before, memlock(proc.pid)

    def assert_refused(self, nbytes, cap, why):
        self.stack.polkit_mock('SetAllowed', 'as', [LOCK])
        out, before, after = self.request(nbytes)
        self.assertEqual(out.get('error'), 'org.freedesktop.DBus.Error.LimitsExceeded', out)
        self.assertIn('%d bytes' % nbytes, out['message'])
        self.assertIn('%d bytes' % cap, out['message'])
        self.assertIn(why, out['message'])
        self.assertIn('MaxLockedMemory= in [Limits] of %s' % self.stack.config_file, out['message'])
        self.assertIn('Nothing was changed', out['message'])
        self.assertEqual(after, before)
        # refused before anybody was asked for a password
        self.assertEqual(self.stack.polkit_calls(), [])

    def assert_reaches_polkit(self, nbytes):
        self.stack.polkit_mock('SetAllowed', 'as', [])
        out, before, after = self.request(nbytes)
        self.assertEqual(out.get('error'), 'org.freedesktop.DBus.Error.AccessDenied', out)
        self.assertEqual([c['action'] for c in self.stack.polkit_calls()], [LOCK])


class TestLockedMemoryCap(LockedMemoryCapTest):
    def test_default_cap(self):
        memory = self.memory()
        reserve = min(max(1 << 30, memory // 10), memory // 2)
        cap = memory - reserve
        self.assert_refused(cap + 1, cap, "the default: the machine's memory less a reserve")
        self.assert_reaches_polkit(cap)


class TestLockedMemoryCapConfigured(LockedMemoryCapTest):
    CONFIG = '# a site that runs small guests\n[Limits]\nMaxLockedMemory=256M\n'

    def test_configured_cap(self):
        self.assert_refused((256 << 20) + 4096, 256 << 20, 'as configured')
        self.assert_reaches_polkit(256 << 20)
        with open(os.path.join(self.stack.tmp, 'vfiod.log')) as f:
            self.assertIn('SetLockedMemoryLimit gives one process at most %d bytes (%s)'
                          % (256 << 20, self.stack.config_file), f.read())


class TestLockedMemoryCapBadConfig(LockedMemoryCapTest):
    CONFIG = '[Limits]\nMaxLockedMemory=lots\n'

    def test_bad_config_gives_the_default(self):
        with open(os.path.join(self.stack.tmp, 'vfiod.log')) as f:
            self.assertIn('Ignoring MaxLockedMemory=lots in %s' % self.stack.config_file, f.read())
        memory = self.memory()
        cap = memory - min(max(1 << 30, memory // 10), memory // 2)
        self.assert_refused(cap + 1, cap, "the default")
        self.assert_reaches_polkit(1 << 20)


class TestCli(UseTest):
    """vfioctl grant, revoke and run, as a user whom polkit lets."""

    def test_grant_and_revoke(self):
        self.detach_group()
        self.stack.polkit_mock('SetAllowed', 'as', [USE])
        out = self.stack.vfioctl('grant', NIC, uid=NOBODY, check=0)
        self.assertEqual(out.stdout, 'granted uid %d access to /dev/vfio/5\n' % NOBODY)
        self.assertEqual(acl_users('/dev/vfio/5'), [NOBODY])
        out = self.stack.vfioctl('--json', 'revoke', NIC, uid=NOBODY, check=0)
        self.assertEqual(json.loads(out.stdout), {'nodes': [{'path': '/dev/vfio/5', 'uid': NOBODY}]})
        self.assertEqual(acl_users('/dev/vfio/5'), [])

    def test_grant_refused(self):
        out = self.stack.vfioctl('grant', NIC, uid=NOBODY, check=1)
        self.assertIn('not on vfio-pci', out.stderr)
        self.assertIn("Hint: 'vfioctl detach --group %s'" % NIC, out.stderr)

    def test_run_detaches_grants_and_execs(self):
        self.stack.polkit_mock('SetAllowed', 'as', [USE, 'org.freedesktop.vfio1.detach-group'])
        out = self.stack.vfioctl('run', '--group', NIC, '--', 'sh', '-c',
                                 'exec 3<>/dev/vfio/5 && echo opened $(id -u)', uid=NOBODY, check=0)
        self.assertEqual(out.stdout, 'opened %d\n' % NOBODY)
        self.assertEqual(self.sim.driver_of(NIC), 'vfio-pci')
        self.assertEqual(acl_users('/dev/vfio/5'), [NOBODY])

    def test_run_fd_env(self):
        self.detach_group()
        self.stack.polkit_mock('SetAllowed', 'as', [USE])
        out = self.stack.vfioctl('run', '--fd-env', NIC, SATA, '--', 'sh', '-c',
                                 'echo $VFIOD_GROUP_FD_5 $(readlink /proc/self/fd/$VFIOD_GROUP_FD_5)',
                                 uid=NOBODY, check=0)
        fd, target = out.stdout.split()
        self.assertEqual(target, '/dev/vfio/5')
        # no ACL entry: the fd is all it got
        self.assertEqual(acl_users('/dev/vfio/5'), [])

    def test_run_memlock(self):
        # root here lacks CAP_SYS_RESOURCE (see TestLockMemory): stay under the hard limit
        self.detach_group()
        hard = memlock(os.getpid())[1]
        want = (4 << 20) if hard == -1 else hard // 2
        # vfioctl starts with a small soft limit; the command gets the raised one
        out = subprocess.run(['prlimit', '--memlock=65536:%s' % ('unlimited' if hard == -1 else hard),
                              os.path.join(BUILDDIR, 'client', 'vfioctl'), 'run', '--memlock', str(want),
                              NIC, '--', 'sh', '-c', 'ulimit -S -l'],
                             capture_output=True, text=True, check=True,
                             env=dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=self.stack.address))
        self.assertEqual(int(out.stdout) * 1024, want)

    def test_run_usage(self):
        out = self.stack.vfioctl('run', NIC, 'true', check=2)
        self.assertIn('then -- and the command', out.stderr)
        out = self.stack.vfioctl('run', '--memlock', 'lots', NIC, '--', 'true', check=2)
        self.assertIn('not a size', out.stderr)
        # a command that is not there: the shell's 127
        self.detach_group()
        out = self.stack.vfioctl('run', NIC, '--', '/nonexistent/qemu', check=127)
        self.assertIn('cannot run /nonexistent/qemu', out.stderr)


if __name__ == '__main__':
    main()

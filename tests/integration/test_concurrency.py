#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""vfiod under concurrent callers: reads keep answering while an unbind
blocks, two operations on one group are serialized, different groups run
in parallel, a slow or hanging polkit blocks nobody else, and the daemon
still exits cleanly on SIGTERM.  Ordering is proven by the simulator's
audit log and by which call finished first, never by wall-clock time."""

import json
import os
import signal
import subprocess
import threading
import time

import gi
gi.require_version('Gio', '2.0')
from gi.repository import Gio, GLib  # noqa: E402

from harness import BUS_NAME, ERROR, HERE, MANAGER, NOBODY, OBJECT_PATH, main  # noqa: E402
from detachlib import (ACTION_DEVICE, ACTION_GROUP, AUDIO, GROUP, GROUP5, GROUP8, HECI, LPC, NIC,  # noqa: E402
                       ORIGINAL, PMC, SATA, SMBUS, USB, StackTest, detach_writes, override_write, reattach_writes,
                       unbind_write)


class Call(threading.Thread):
    """One method call on its own bus connection, in its own thread; when
    it returns, its name is appended to @finished (shared, in order)."""

    def __init__(self, address, finished, name, method, signature=None, *args):
        super().__init__(name=name, daemon=True)
        self.address, self.finished = address, finished
        self.method, self.signature, self.args = method, signature, args
        self.result = self.error = None
        self.lock = threading.Lock()

    def run(self):
        conn = Gio.DBusConnection.new_for_address_sync(
            self.address,
            Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT | Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION,
            None, None)
        try:
            params = GLib.Variant('(%s)' % self.signature, self.args) if self.signature else None
            self.result = conn.call_sync(BUS_NAME, OBJECT_PATH, MANAGER, self.method, params, None,
                                         Gio.DBusCallFlags.NONE, 60000, None).unpack()
        except GLib.Error as e:
            self.error = (Gio.DBusError.get_remote_error(e), e.message)
        finally:
            self.finished.append(self.name)  # list.append is atomic
            conn.close_sync(None)


def group5_detach_writes():
    return detach_writes(USB, 'xhci_hcd') + detach_writes(SATA, 'ahci') + detach_writes(NIC, 'e1000e')


class ConcurrencyTest(StackTest):
    def setUp(self):
        super().setUp()
        self.finished = []

    def call(self, name, method, signature=None, *args):
        thread = Call(self.stack.address, self.finished, name, method, signature, *args)
        thread.start()
        self.addCleanup(thread.join, 60)
        return thread

    def wait_audit(self, entry, timeout=10):
        deadline = time.monotonic() + timeout
        while entry not in self.sim.audit():
            if time.monotonic() > deadline:
                self.fail('never written: %r; audit: %r' % (entry, self.sim.audit()))
            time.sleep(0.005)

    def wait_until(self, cond, what, timeout=10):
        deadline = time.monotonic() + timeout
        while not cond():
            if time.monotonic() > deadline:
                self.fail('timed out waiting for ' + what)
            time.sleep(0.01)

    def daemon_log(self):
        with open(os.path.join(self.stack.tmp, 'vfiod.log'), errors='replace') as f:
            return f.read()

    def caller_as_nobody(self, method, *args):
        """A caller as uid 65534 in the background (caller.py); returns the Popen."""
        proc = subprocess.Popen(['setpriv', '--reuid=%d' % NOBODY, '--regid=%d' % NOBODY, '--clear-groups',
                                 '/usr/bin/python3', os.path.join(HERE, 'caller.py'),
                                 json.dumps({'method': method, 'signature': 'st', 'args': list(args)})],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=self.stack.address))
        self.addCleanup(lambda: proc.poll() is None and proc.kill())
        self.addCleanup(proc.wait)
        return proc

    @staticmethod
    def result_of(proc):
        out, err = proc.communicate(timeout=30)
        if proc.returncode != 0:
            raise AssertionError('caller.py failed: ' + err)
        return json.loads(out)


class TestReadsDuringUnbind(ConcurrencyTest):
    def test_twenty_get_group_callers_answered_during_a_3s_unbind(self):
        self.sim.delay('xhci_hcd/unbind', 3000, data=USB)
        detach = self.call('detach', 'DetachDevice', 'st', NIC, GROUP)
        self.wait_audit(override_write(USB, 'vfio-pci'))  # the worker is at the slow unbind

        readers = [self.call('get%d' % i, 'GetGroup', 's', (NIC, SATA, USB, GROUP5[2])[i % 4])
                   for i in range(20)]
        readers.append(self.call('list', 'ListDevices'))
        for r in readers:
            r.join(30)
        # every reader had its answer while the detach was still blocked
        self.assertTrue(detach.is_alive())
        self.assertNotIn(unbind_write(USB, 'xhci_hcd'), self.sim.audit())
        for r in readers:
            self.assertIsNone(r.error, r.name)
        for r in readers[:-1]:
            group, members = r.result
            self.assertEqual(group, 5)
            self.assertEqual([d['address'] for d in members], GROUP5)

        detach.join(30)
        self.assertIsNone(detach.error)
        self.assertEqual(self.finished[-1], 'detach')
        self.assert_audit(group5_detach_writes())
        self.assertEqual(self.stack.stop_daemon(), 0)


class TestSameGroup(ConcurrencyTest):
    def test_two_detaches_of_one_group_are_serialized(self):
        self.sim.delay('xhci_hcd/unbind', 1500, data=USB)
        first = self.call('first', 'DetachDevice', 'st', NIC, GROUP)
        self.wait_audit(override_write(USB, 'vfio-pci'))
        # the same group through another of its devices, while the first runs
        second = self.call('second', 'DetachDevice', 'st', SATA, GROUP)
        first.join(30)
        second.join(30)
        self.assertIsNone(first.error)
        self.assertIsNone(second.error)
        self.assertEqual(self.finished, ['first', 'second'])
        self.assertEqual([e['action'] for e in first.result[0]], ['detach', 'detach', 'keep', 'detach'])
        # the second waited for the first, planned again and found it done
        self.assertEqual([(e['action'], e['reason']) for e in second.result[0]],
                         [('keep', 'already on vfio-pci'), ('keep', 'already on vfio-pci'),
                          ('keep', 'bridge stays on pcieport'), ('keep', 'already on vfio-pci')])
        # one sequence of writes, not two interleaved ones
        self.assert_audit(group5_detach_writes())
        self.assertEqual(self.stack.stop_daemon(), 0)

    def test_reattach_waits_for_the_group_detach(self):
        # the USB controller is on vfio-pci while the SATA controller's
        # unbind blocks: a reattach of it is planned, then waits its turn
        self.sim.delay('ahci/unbind', 1500, data=SATA)
        detach = self.call('detach', 'DetachDevice', 'st', NIC, GROUP)
        self.wait_audit(override_write(SATA, 'vfio-pci'))
        reattach = self.call('reattach', 'ReattachDevice', 'st', USB, 0)
        detach.join(30)
        reattach.join(30)
        self.assertIsNone(detach.error)
        self.assertIsNone(reattach.error)
        self.assertEqual(self.finished, ['detach', 'reattach'])
        self.assertEqual([(e['address'], e['action']) for e in reattach.result[0] if e['action'] != 'keep'],
                         [(USB, 'reattach')])
        self.assert_audit(group5_detach_writes() + reattach_writes(USB))
        self.assert_drivers({USB: 'xhci_hcd', SATA: 'vfio-pci', NIC: 'vfio-pci'})


class TestDifferentGroups(ConcurrencyTest):
    def test_two_groups_run_in_parallel(self):
        self.sim.delay('xhci_hcd/unbind', 2000, data=USB)
        slow = self.call('group5', 'DetachDevice', 'st', NIC, GROUP)
        self.wait_audit(override_write(USB, 'vfio-pci'))
        fast = self.call('group8', 'DetachDevice', 'st', AUDIO, GROUP)
        fast.join(30)
        self.assertIsNone(fast.error)
        self.assertTrue(slow.is_alive(), 'group 8 waited for group 5')
        slow.join(30)
        self.assertIsNone(slow.error)
        self.assertEqual(self.finished, ['group8', 'group5'])
        # group 8's whole detach sits inside group 5's blocked unbind
        self.assert_audit([override_write(USB, 'vfio-pci')] +
                          detach_writes(LPC, None) + detach_writes(PMC, None) +
                          detach_writes(AUDIO, 'snd_hda_intel') + detach_writes(SMBUS, 'i801_smbus') +
                          group5_detach_writes()[1:])
        self.assert_drivers({a: 'vfio-pci' for a in GROUP8 + [USB, SATA, NIC]})
        self.assertEqual(self.stack.stop_daemon(), 0)


class TestShutdown(ConcurrencyTest):
    def test_sigterm_finishes_the_work_under_way_then_exits_cleanly(self):
        self.sim.delay('xhci_hcd/unbind', 1000, data=USB)
        detach = self.call('detach', 'DetachDevice', 'st', NIC, GROUP)
        self.wait_audit(override_write(USB, 'vfio-pci'))
        self.assertEqual(self.stack.stop_daemon(), 0)
        detach.join(30)
        # the caller got its answer; the group moved as a whole
        self.assertIsNone(detach.error)
        self.assertEqual([e['to'] for e in detach.result[0]], ['vfio-pci', 'vfio-pci', 'pcieport', 'vfio-pci'])
        self.assert_audit(group5_detach_writes())
        state = os.path.join(self.stack.state_directory, 'transactions.state')
        with open(state) as f:
            self.assertNotIn('pending', f.read())


    def test_sigterm_while_a_check_hangs(self):
        # an authorization still pending is not work under way: the check
        # is withdrawn, the caller told why, and the daemon exits cleanly
        self.stack.polkit_mock('SimulateHang', 'b', True)
        waiting = self.caller_as_nobody('DetachDevice', NIC, GROUP)
        self.wait_until(lambda: len(self.stack.polkit_calls()) == 1, 'the check to reach polkit')
        self.assertEqual(self.stack.stop_daemon(), 0)
        result = self.result_of(waiting)
        self.assertEqual(result.get('error'), ERROR + 'ShuttingDown', result)
        self.assertIn('vfiod is stopping, so nothing was done', result['message'])
        self.assert_nothing_written()

    def test_no_new_work_once_stopping_but_reads_are_answered(self):
        self.sim.delay('xhci_hcd/unbind', 2000, data=USB)
        detach = self.call('detach', 'DetachDevice', 'st', NIC, GROUP)
        self.wait_audit(override_write(USB, 'vfio-pci'))
        self.stack.daemon.send_signal(signal.SIGTERM)  # draining the detach
        self.wait_until(lambda: 'Waiting for the operations under way' in self.daemon_log(), 'the drain')
        name, message = self.stack.call_error('DetachDevice', 'st', HECI, 0)
        self.assertEqual(name, ERROR + 'ShuttingDown')
        self.assertIn('Cannot detach %s: vfiod is stopping' % HECI, message)
        name, _ = self.stack.call_error('ReattachDevice', 'st', NIC, GROUP)
        self.assertEqual(name, ERROR + 'NotDetached')  # refused by the plan as usual
        # reads and dry runs still answered
        self.assertEqual(self.stack.get_group(HECI)[0], 3)
        self.assertEqual([e['action'] for e in self.stack.call('DetachDevice', 'st', HECI, 0x2)[0]],
                         ['detach'])
        detach.join(30)
        self.assertIsNone(detach.error)
        # it exits by itself once the detach is done (a second SIGTERM
        # could land after its handler is gone)
        self.assertEqual(self.stack.daemon.wait(timeout=30), 0)
        self.stack.stop_daemon()
        # the HECI was never touched; the group detach finished whole
        self.assert_audit(group5_detach_writes())
        self.assert_drivers({HECI: ORIGINAL[HECI]})


class TestStuckUnbind(ConcurrencyTest):
    """A driver that never lets go in its remove (some GPU drivers) stops
    neither the daemon nor other groups; its caller is told after the
    write timeout (1 s here, 30 s by default), the group stays busy, and
    what was done is rolled back once the write returns."""

    def setUp(self):
        self.start(daemon_env={'VFIOD_WRITE_TIMEOUT_MS': '1000'})
        self.finished = []
        self.sim.block('xhci_hcd/unbind', data=USB)
        self.addCleanup(self.sim.release)

    def detach_stuck(self):
        detach = self.call('detach', 'DetachDevice', 'st', NIC, GROUP)
        self.sim.wait_blocked()
        detach.join(30)
        self.assertFalse(detach.is_alive(), 'the caller is still waiting')
        name, message = detach.error
        self.assertEqual(name, ERROR + 'TimedOut')
        self.assertIn('unbinding %s from xhci_hcd has not returned after 1 s' % USB, message)
        self.assertIn('IOMMU group 5', message)
        return message

    def test_caller_told_group_busy_others_served_then_rolled_back(self):
        self.detach_stuck()
        # the daemon answers, other groups move, this group is busy for all
        self.assertEqual(self.stack.get_group(SATA)[0], 5)
        self.assertTrue(self.stack.list_devices())
        self.detach(HECI)
        name, message = self.stack.call_error('DetachDevice', 'st', SATA, GROUP)
        self.assertEqual(name, ERROR + 'GroupBusy')
        self.assertIn('IOMMU group 5 is busy: unbinding %s from xhci_hcd has not returned' % USB, message)
        self.assertIn('Nothing was done', message)

        # the driver lets go: everything done for the abandoned call goes back
        self.sim.release()
        self.wait_until(lambda: 'IOMMU group 5 is no longer busy' in self.daemon_log(), 'the write to return')
        self.assert_drivers({a: ORIGINAL[a] for a in GROUP5})
        self.assert_overrides({a: None for a in GROUP5})
        with open(os.path.join(self.stack.state_directory, 'transactions.state')) as f:
            self.assertNotIn('pending', f.read())
        # and the group can be used again
        self.detach(NIC, GROUP)
        self.assert_drivers({USB: 'vfio-pci', SATA: 'vfio-pci', NIC: 'vfio-pci'})
        self.assertEqual(self.stack.stop_daemon(), 0)

    def test_a_call_queued_behind_the_stuck_one_is_answered_too(self):
        first = self.call('first', 'DetachDevice', 'st', NIC, GROUP)
        self.sim.wait_blocked()
        # planned before the first was declared stuck: waits for the lock
        second = self.call('second', 'DetachDevice', 'st', SATA, GROUP)
        second.join(30)
        first.join(30)
        self.assertEqual(first.error[0], ERROR + 'TimedOut')
        self.assertEqual(second.error[0], ERROR + 'GroupBusy', second.error)
        self.sim.release()
        self.wait_until(lambda: 'IOMMU group 5 is no longer busy' in self.daemon_log(), 'the write to return')
        self.assert_drivers({a: ORIGINAL[a] for a in GROUP5})

    def test_stopping_with_a_stuck_write_leaves_it_to_the_next_start(self):
        self.detach_stuck()
        daemon = self.stack.daemon
        daemon.send_signal(signal.SIGTERM)
        # it gives up on the stuck worker at once...
        self.wait_until(lambda: 'operation(s) stuck in the kernel' in self.daemon_log(), 'vfiod to give up')
        # ...but a thread in a write the kernel has not finished cannot die
        # before the kernel returns (a real stuck unbind holds it the same way)
        self.sim.release()
        self.assertEqual(daemon.wait(timeout=30), 0)
        self.stack.stop_daemon()
        self.stack.start_daemon()  # recovery puts the group back whole
        self.assert_drivers({a: ORIGINAL[a] for a in GROUP5})
        with open(os.path.join(self.stack.state_directory, 'transactions.state')) as f:
            self.assertNotIn('pending', f.read())


class TestMainThread(ConcurrencyTest):
    def test_calls_are_freed_on_the_main_thread(self):
        # Each call is freed where it was created: the daemon asserts so.
        # Freed by the worker that ran it (it unrefs the message, hence the
        # bus, whose reference count is not atomic), one in ~15 calls
        # aborted the daemon here.
        for _ in range(150):
            self.detach(HECI)
            self.reattach(HECI)
        self.assert_drivers({HECI: ORIGINAL[HECI]})
        self.assertEqual(self.stack.stop_daemon(), 0)


class TestReadsOffTheMainLoop(ConcurrencyTest):
    """Every method reads sysfs before it answers or asks polkit (the reads
    from the objects wait for the model's reading of sysfs when news is
    waiting), and a sysfs read can sleep in the kernel (a config space read
    resumes a suspended device).  Those reads run on reader threads: while one is
    held, the main loop answers everybody else, and the held call gets its
    right answer once the read returns.  A daemon reading on its main loop
    fails each case here: nothing else is answered while the read is held."""

    # What a call about the NIC's group lists.  (Not its iommu_group link:
    # valgrind holds every thread while one is in readlink(), so a held
    # readlink would stop the daemon under valgrind whatever it does.)
    NIC_GROUP_DIR = 'kernel/iommu_groups/5/devices'
    DEVICE_LIST = 'bus/pci/devices'  # what a reading of every device lists

    def hold(self, suffix, method, signature=None, *args):
        """@method held in a read of @suffix; returns its Call."""
        self.sim.block_read(suffix)
        call = self.call('%s-%d' % (method, len(self.finished)), method, signature, *args)
        blocked = self.sim.wait_blocked()
        self.assertTrue(any(p.endswith(suffix) for p, _ in blocked), blocked)
        return call

    def hold_view(self, suffix, method, signature=None, *args):
        """@method, which answers from the objects while they are current,
        held in its read of @suffix: news is waiting and the model's reading
        of every device is held, so the call waits for the objects, then
        (after the model's wait) reads the machine itself and is held there."""
        self.sim.block_read(self.DEVICE_LIST)
        self.sim.block_read(suffix)
        self.stack.host_changed()
        self.wait_until(lambda: self.held_reads(self.DEVICE_LIST) == 1, "the objects' reading held")
        call = self.call('%s-%d' % (method, len(self.finished)), method, signature, *args)
        # the call reads the machine itself, and is held there too (a second
        # readdir of the device list waits in the kernel behind the first:
        # FUSE sees one)
        self.wait_until(lambda: 'a caller reads the machine' in self.daemon_log(), 'the call to read itself')
        self.wait_until(lambda: self.held_reads(suffix) >= 1, 'the read of %s held' % suffix)
        return call

    def held_reads(self, suffix):
        return sum(1 for p, _ in self.sim.blocked() if p.endswith(suffix))

    def assert_answering_while_held(self, held):
        # no reads at all: a property
        version = self.stack.call('Get', 'ss', MANAGER, 'Version', interface='org.freedesktop.DBus.Properties',
                                  timeout_ms=5000)[0]
        self.assertTrue(version)
        # a read of another group: another reader takes it
        group, members = self.stack.call('GetGroup', 's', HECI, timeout_ms=5000)
        self.assertEqual((group, [d['address'] for d in members]), (3, [HECI]))
        self.assertTrue(held.is_alive(), 'the held call was answered before its read returned')
        self.assertNotIn(held.name, self.finished)

    def release(self, held):
        self.sim.release()
        held.join(30)
        self.assertFalse(held.is_alive())
        self.assertIsNone(held.error, held.error)
        return held.result

    def assert_refused_after_the_read(self, error, method, signature, device, flags):
        """@method on @device, held in its read while others are answered,
        then refused with @error naming the device."""
        held = self.hold(self.NIC_GROUP_DIR, method, signature, device, flags)
        self.assert_answering_while_held(held)
        self.sim.release()
        held.join(30)
        self.assertEqual(held.error[0], ERROR + error, held.error)
        self.assertIn(device, held.error[1])

    def test_get_group(self):
        held = self.hold_view(self.NIC_GROUP_DIR, 'GetGroup', 's', NIC)
        self.assert_answering_while_held(held)
        group, members = self.release(held)
        self.assertEqual((group, [d['address'] for d in members]), (5, GROUP5))

    def test_list_devices(self):
        held = self.hold_view(self.DEVICE_LIST, 'ListDevices')
        self.assert_answering_while_held(held)
        devices = self.release(held)[0]
        self.assertEqual(sorted(d['address'] for d in devices),
                         sorted(d['address'] for d in self.stack.list_devices()))

    def test_explain_group(self):
        held = self.hold_view(self.DEVICE_LIST, 'ExplainGroup', 's', NIC)
        self.assert_answering_while_held(held)
        self.assertEqual(self.release(held)[0]['group'], 5)

    def test_list_persistent_assignments(self):
        held = self.hold(self.DEVICE_LIST, 'ListPersistentAssignments')
        self.assert_answering_while_held(held)
        self.assertEqual(self.release(held), ([],))

    def test_detach_plans_on_a_reader(self):
        # the dry run's plan, and a real detach's first plan (before polkit)
        held = self.hold(self.NIC_GROUP_DIR, 'DetachDevice', 'st', NIC, GROUP | 0x2)
        self.assert_answering_while_held(held)
        self.assertEqual([e['address'] for e in self.release(held)[0]], GROUP5)
        self.assert_nothing_written()
        held = self.hold(self.NIC_GROUP_DIR, 'DetachDevice', 'st', NIC, GROUP)
        self.assert_answering_while_held(held)
        self.assertEqual(self.sim.audit(), [], 'written before its plan was read')
        self.release(held)
        self.assert_audit(group5_detach_writes())

    def test_refusal_after_the_read(self):
        # the plan refuses once it is read: the error comes from there
        self.assert_refused_after_the_read('GroupNotViable', 'DetachDevice', 'st', NIC, 0)
        self.assert_nothing_written()

    def test_use_calls_check_on_a_reader(self):
        # GrantAccess reads the group before polkit is asked; here it then
        # refuses (the NIC is on its host driver)
        self.assert_refused_after_the_read('NotDetached', 'GrantAccess', 'st', NIC, 0)
        self.assertEqual(self.stack.polkit_calls(), [])

    def test_stop_does_not_wait_for_a_stuck_read(self):
        held = self.hold_view(self.DEVICE_LIST, 'ListDevices')
        self.stack.daemon.send_signal(signal.SIGTERM)
        # reads change nothing: the stop gives them a grace, then leaves
        self.wait_until(lambda: 'Exiting with a read of sysfs that has not returned' in self.daemon_log(),
                        'the daemon to give up on the read')
        # (the kernel ends the process only once its thread's read returns:
        # a FUSE read already sent waits for its answer, as a sysfs read
        # sleeping in a driver would)
        self.sim.release()
        self.assertEqual(self.stack.daemon.wait(timeout=30), 0)
        held.join(30)
        self.assertIsNotNone(held.error)
        self.stack.stop_daemon()
        self.assert_nothing_written()

    def test_stop_answers_a_read_that_returns(self):
        held = self.hold_view(self.NIC_GROUP_DIR, 'GetGroup', 's', NIC)
        self.stack.daemon.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        self.sim.release()
        self.assertEqual(self.stack.daemon.wait(timeout=30), 0)
        held.join(30)
        self.assertIsNone(held.error, held.error)
        self.assertEqual(held.result[0], 5)
        self.stack.stop_daemon()


class TestSlowPolkit(ConcurrencyTest):
    def test_daemon_answers_while_a_check_hangs(self):
        self.stack.polkit_mock('SimulateHang', 'b', True)
        waiting = self.caller_as_nobody('DetachDevice', NIC, GROUP)
        self.wait_until(lambda: len(self.stack.polkit_calls()) == 1, 'the check to reach polkit')
        # reads, dry runs and root's work on another group go on meanwhile
        self.assertEqual(self.stack.get_group(NIC)[0], 5)
        self.assertTrue(self.stack.list_devices())
        self.detach(NIC, GROUP | 0x2)
        self.detach(HECI)
        self.assertIsNone(waiting.poll())
        self.assert_audit(detach_writes(HECI, 'mei_me'))
        self.sim.clear_audit()

        self.stack.polkit_mock('SetAllowed', 'as', [ACTION_GROUP])
        self.assertEqual(self.stack.polkit_mock('ReleaseHangingCalls')[0], 1)
        result = self.result_of(waiting)
        self.assertNotIn('error', result, result.get('message'))
        self.assert_audit(group5_detach_writes())

    def test_slow_polkit_for_one_caller_blocks_no_other(self):
        self.stack.polkit_mock('SetAllowed', 'as', [ACTION_DEVICE])
        self.stack.polkit_mock('SetDelay', 'd', 1.5)
        slow = self.caller_as_nobody('DetachDevice', HECI, 0)
        self.wait_until(lambda: len(self.stack.polkit_calls()) == 1, 'the check to reach polkit')
        self.detach(NIC, GROUP)  # root, no polkit: not queued behind the check
        self.assertIsNone(slow.poll())
        result = self.result_of(slow)
        self.assertNotIn('error', result, result.get('message'))
        self.assert_drivers({HECI: 'vfio-pci', NIC: 'vfio-pci'})

    def test_group_changed_while_waiting_for_authorization(self):
        self.stack.polkit_mock('SimulateHang', 'b', True)
        waiting = self.caller_as_nobody('DetachDevice', AUDIO, GROUP)  # asks for all four
        self.wait_until(lambda: len(self.stack.polkit_calls()) == 1, 'the check to reach polkit')
        # meanwhile root takes the group and gives only the audio back
        self.detach(AUDIO, GROUP)
        self.reattach(AUDIO)
        self.sim.clear_audit()
        self.stack.polkit_mock('SetAllowed', 'as', [ACTION_GROUP, ACTION_DEVICE])
        self.stack.polkit_mock('ReleaseHangingCalls')
        result = self.result_of(waiting)
        # what was authorized (four devices) is not what would move now (one)
        self.assertEqual(result.get('error'), ERROR + 'Failed', result)
        self.assertIn('changed while waiting for authorization', result['message'])
        self.assert_nothing_written()
        self.assert_drivers({LPC: 'vfio-pci', PMC: 'vfio-pci', AUDIO: ORIGINAL[AUDIO], SMBUS: 'vfio-pci'})


if __name__ == '__main__':
    main()

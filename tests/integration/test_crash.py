#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""A crash at every durable step leaves no split group.

The daemon runs with crashpoint.so preloaded: it SIGKILLs itself right
after its Nth mutation (a state-file rename or a sysfs write).  For a
GROUP detach of group 5 (USB, SATA and NIC move, the root port stays) and
for the GROUP reattach, for every N from 1 to the number of mutations the
call makes: call, see the daemon die, start it again without the preload
(recovery runs), then check that the group is entirely as before the call
or entirely as the completed plan says, that nothing is left pending in
the state file, that the records say exactly which devices vfiod holds on
vfio-pci, and that recovery put devices back newest step first."""

import os
import signal

from gi.repository import Gio, GLib

from harness import BUILDDIR, ERROR, main
from detachlib import GROUP, GROUP5, NIC, ORIGINAL, SATA, USB, StackTest, ids_line

CRASHPOINT = os.path.join(BUILDDIR, 'tests', 'integration', 'crashpoint.so')
STATE_FILE = 'transactions.state'
MOVED = [USB, SATA, NIC]  # plan order: by address; the root port stays
HOST = {a: (ORIGINAL[a], None) for a in GROUP5}
DETACHED = dict(HOST, **{a: ('vfio-pci', 'vfio-pci') for a in MOVED})
MAX_MUTATIONS = 100  # far more than a group of three devices needs


class CrashCampaign(StackTest):
    """The campaign, without test cases (other modules reuse it)."""
    @property
    def log(self):
        return os.path.join(self.stack.tmp, 'crashpoint.log')

    # ---- the daemon, with and without the preload -----------------------
    def start_crashing(self, n):
        if os.path.exists(self.log):
            os.unlink(self.log)
        asan = os.environ.get('ASAN_OPTIONS') or 'detect_leaks=1'
        self.stack.daemon_env.update(LD_PRELOAD=CRASHPOINT, VFIOD_CRASH_AT=str(n), VFIOD_CRASH_LOG=self.log,
                                     ASAN_OPTIONS=asan + ':verify_asan_link_order=0')
        self.stack.restart_daemon()

    def start_plain(self):
        for key in ('LD_PRELOAD', 'VFIOD_CRASH_AT', 'VFIOD_CRASH_LOG', 'ASAN_OPTIONS'):
            self.stack.daemon_env.pop(key, None)
        self.stack.start_daemon()

    def mutations(self):
        """The crash log: one "N what path [data]" line per mutation."""
        if not os.path.exists(self.log):
            return []
        with open(self.log, errors='replace') as f:
            return f.read().splitlines()

    # ---- what the machine and the state file say --------------------------
    def group_state(self):
        return {a: (self.sim.driver_of(a), self.sim.override_of(a)) for a in GROUP5}

    def state_text(self):
        path = os.path.join(self.stack.state_directory, STATE_FILE)
        if not os.path.exists(path):
            return ''
        with open(path) as f:
            return f.read()

    def records(self):
        """{device: (original driver, original override)} of the devices
        the state file says vfiod detached."""
        text = self.state_text()
        kf = GLib.KeyFile()
        if text:
            kf.load_from_data(text, len(text.encode()), GLib.KeyFileFlags.NONE)
        out = {}
        for g in kf.get_groups()[0]:
            if g.startswith('device '):
                device = g[len('device '):]
            elif g in GROUP5 and 'known' in kf.get_keys(g)[0] and 'pending' not in kf.get_keys(g)[0]:
                device = g  # the format before transactions: [address], known=true, no pending
            else:
                continue
            out[device] = (kf.get_string(g, 'driver') or None, kf.get_string(g, 'override') or None)
        return out

    def recovery_order(self, writes):
        """The devices recovery wrote to, in order, each run of writes to
        one device counted once."""
        order = []
        for path, data, _ in writes:
            # driver_override names it in its path, bind/unbind/drivers_probe in the data
            device = os.path.basename(os.path.dirname(path)) if path.endswith('/driver_override') \
                else data.strip()
            if device and (not order or order[-1] != device):
                order.append(device)
        return order

    # ---- the campaign ------------------------------------------------------
    def crash_everywhere(self, call, before, after, records_before, records_after, back_to_before,
                         to_start=None, check=None):
        """For N = 1, 2, ... until @call completes without reaching its Nth
        mutation: crash at N, restart, check (and @check(state), which
        returns a list of what is wrong).  Returns the number of mutations
        of an uninterrupted call and what each one was; fails listing every
        N that broke the invariant."""
        labels, violations = {}, []
        for n in range(1, MAX_MUTATIONS + 1):
            self.assertEqual(self.group_state(), before, 'N=%d: not at the starting point' % n)
            self.start_crashing(n)
            self.sim.clear_audit()
            try:
                call()
                completed = True
            except GLib.Error as e:
                # the service's own errors are answers; anything else (no
                # reply, disconnected) means it died
                completed = (Gio.DBusError.get_remote_error(e) or '').startswith(ERROR)
            if completed:
                # N is past the last mutation: the call completed
                self.assertIsNone(self.stack.daemon.poll(), 'completed, then died')
                self.assertEqual(self.group_state(), after)
                self.assertEqual(self.records(), records_after)
                self.assertNotIn('pending', self.state_text())
                if check:
                    self.assertEqual(check(after), [])
                full = self.mutations()
                self.assertEqual(len(full), n - 1, '\n'.join(full))
                # the step before the first sysfs write and after the last are
                # state-file renames (a persistent assignment's removal may
                # come before them)
                first_write = next(i for i, m in enumerate(full) if ' write ' in m)
                self.assertIn(' rename ', full[first_write - 1])
                self.assertIn(' rename ', full[-1])
                self.assertEqual(violations, [], 'a crash broke the invariant:\n  ' + '\n  '.join(violations))
                return n - 1, labels

            # it died exactly at its Nth mutation
            self.assertEqual(self.stack.daemon.wait(timeout=20), -signal.SIGKILL, 'N=%d' % n)
            done = self.mutations()
            self.assertEqual(len(done), n, '\n'.join(done))
            labels[n] = done[-1].split(' ', 1)[1]
            at = 'N=%d (killed right after: %s)' % (n, labels[n])
            self.stack.daemon.log.close()
            self.stack.daemon = None

            self.sim.clear_audit()
            self.start_plain()  # returns once it owns its name: recovery is done
            state = self.group_state()
            found = []
            if state not in (before, after):
                found.append('split group: %s' % {a: v for a, v in state.items() if v != before[a]})
            if 'pending' in self.state_text():
                found.append('"pending" left in the state file')
            records = self.records()
            if state in (before, after) and records != (records_before if state == before else records_after):
                found.append('records %s' % records)
            # recovery puts back the newest step first, each device once
            order = self.recovery_order(self.sim.audit())
            if order != [a for a in reversed(MOVED) if a in order]:
                found.append('recovery order %s' % order)
            if check:
                found += check(state)
            # and it answers
            self.stack.get_group(NIC)
            if found:
                violations.append('%s: %s' % (at, '; '.join(found)))
                # start again from a fresh machine
                self.stack.stop()
                self.start()
                if to_start:
                    to_start()
            elif state == after and state != before:
                back_to_before()
        self.fail('the call never completed within %d mutations' % MAX_MUTATIONS)

    def detach(self, device, flags=0):
        return self.stack.call('DetachDevice', 'st', device, flags, timeout_ms=20000)[0]

    def reattach(self, device, flags=0):
        return self.stack.call('ReattachDevice', 'st', device, flags, timeout_ms=20000)[0]


class CrashTest(CrashCampaign):
    def test_detach_group(self):
        records = {a: (ORIGINAL[a], None) for a in MOVED}
        total, labels = self.crash_everywhere(lambda: self.detach(NIC, GROUP), HOST, DETACHED, {}, records,
                                              lambda: self.reattach(NIC, GROUP))
        print('detach: %d mutations, a crash after each left no split group' % total)
        for n in sorted(labels):
            print('  N=%d: %s' % (n, labels[n]))

    def test_reattach_group(self):
        self.detach(NIC, GROUP)
        records = {a: (ORIGINAL[a], None) for a in MOVED}
        total, labels = self.crash_everywhere(lambda: self.reattach(NIC, GROUP), DETACHED, HOST, records, {},
                                              lambda: self.detach(NIC, GROUP), lambda: self.detach(NIC, GROUP))
        print('reattach: %d mutations, a crash after each left no split group' % total)
        for n in sorted(labels):
            print('  N=%d: %s' % (n, labels[n]))

    def test_detach_fails_and_rolls_back(self):
        # the NIC's unbind always fails: the call rolls back the SATA and
        # USB controllers, and a crash in that rollback is recovered too
        self.sim.fail('e1000e/unbind', 'EBUSY', data=NIC)
        total, labels = self.crash_everywhere(lambda: self.detach(NIC, GROUP), HOST, HOST, {}, {},
                                              None, lambda: self.sim.fail('e1000e/unbind', 'EBUSY', data=NIC))
        print('failed detach: %d mutations, a crash after each left no split group' % total)
        for n in sorted(labels):
            print('  N=%d: %s' % (n, labels[n]))

    def test_crash_during_recovery(self):
        # kill the detach right after its last sysfs write (everything moved,
        # nothing committed), then kill recovery after each of its steps
        self.start_crashing(MAX_MUTATIONS)
        self.detach(NIC, GROUP)
        last_write = len(self.mutations()) - 1
        self.assertIn(' write ', self.mutations()[last_write - 1])
        self.stack.stop_daemon()
        self.start_plain()
        self.reattach(NIC, GROUP)

        for m in range(1, MAX_MUTATIONS + 1):
            self.assertEqual(self.group_state(), HOST)
            self.start_crashing(last_write)
            with self.assertRaises(GLib.Error):
                self.detach(NIC, GROUP)
            self.assertEqual(self.stack.daemon.wait(timeout=20), -signal.SIGKILL)
            self.assertEqual(self.group_state(), DETACHED)
            self.stack.daemon.log.close()
            self.stack.daemon = None

            # recovery runs before the daemon takes its name
            self.stack.daemon_env['VFIOD_CRASH_AT'] = str(m)
            os.unlink(self.log)
            quiet, self.stack.dump_logs = self.stack.dump_logs, lambda: None
            try:
                self.stack.start_daemon()
                survived = True
            except AssertionError:
                survived = False
            finally:
                self.stack.dump_logs = quiet
            if survived:
                # recovery needs fewer than m steps: it finished
                self.assertEqual(self.group_state(), HOST)
                self.assertNotIn('pending', self.state_text())
                print('recovery: %d mutations, a crash after each was recovered at the next start'
                      % (m - 1))
                return
            self.assertEqual(self.stack.daemon.wait(timeout=20), -signal.SIGKILL)
            at = 'recovery killed after its step %d (%s)' % (m, self.mutations()[-1].split(' ', 1)[1])
            self.stack.daemon.log.close()
            self.stack.daemon = None

            self.sim.clear_audit()
            self.start_plain()
            self.assertEqual(self.group_state(), HOST, at)
            self.assertNotIn('pending', self.state_text(), at)
            self.assertEqual(self.records(), {}, at)
            order = self.recovery_order(self.sim.audit())
            self.assertEqual(order, [a for a in reversed(MOVED) if a in order], at)
        self.fail('recovery never completed within %d mutations' % MAX_MUTATIONS)


class CrashForgetTest(CrashCampaign):
    """A transaction of an earlier boot is ended without a sysfs write
    (transaction_forget): for a persistent detach, first each member's
    persistent assignment is removed (one unlink each), then the state file
    drops the transaction and its records (one rename).  Killed after each
    of those steps, the next start finishes the job: still no sysfs write,
    no assignment left that could bind a device at the next boot, no
    record left or written twice, nothing pending."""

    OTHER_BOOT = '7d3a1c5e-2b4f-4e6a-9c8d-1f0e2d3c4b5a'

    def write_leftovers(self):
        """What a persistent detach of group 5 killed in an earlier boot
        left: its pending transaction, the members' records, and the
        persistent assignments it had written."""
        from test_persistent import IDS, record_text
        records = ''.join('[%s]\ngroup=5\nknown=true\ndriver=%s\noverride=\nboot=%s\n%s\n' % (
            a, ORIGINAL[a], self.OTHER_BOOT, ids_line(a)) for a in MOVED)
        with open(os.path.join(self.stack.state_directory, STATE_FILE), 'w') as f:
            f.write(records + '[transaction 9]\nstatus=pending\noperation=detach\ngroup=5\nboot=%s\n'
                    'devices=%s;\npersistent=true\ncount=%d\n' % (self.OTHER_BOOT, ';'.join(MOVED), len(MOVED)))
        os.makedirs(self.stack.persist_dir, exist_ok=True)
        for a in MOVED:
            with open(os.path.join(self.stack.persist_dir, a + '.conf'), 'w') as f:
                f.write(record_text(a, IDS[a], sorted(GROUP5)))

    def assignments(self):
        d = self.stack.persist_dir
        return sorted(n for n in os.listdir(d) if n.endswith('.conf')) if os.path.isdir(d) else []

    def test_crash_inside_forget(self):
        labels = {}
        for n in range(1, MAX_MUTATIONS + 1):
            self.stack.stop_daemon()
            self.write_leftovers()
            self.sim.clear_audit()
            quiet, self.stack.dump_logs = self.stack.dump_logs, lambda: None
            try:
                self.start_crashing(n)
                survived = True
            except AssertionError:
                survived = False
            finally:
                self.stack.dump_logs = quiet
            done = self.mutations()
            self.assert_nothing_written()
            if survived:
                # n is past the last step: it all ran in one start
                self.assertEqual(len(done), n - 1, '\n'.join(done))
                steps = [m.split(' ', 2)[1:] for m in done]
                self.assertEqual(steps, [['unlink', os.path.join(self.stack.persist_dir, a + '.conf')]
                                         for a in MOVED] +
                                 [['rename', os.path.join(self.stack.state_directory, STATE_FILE)]])
                # the checks' own calls without the preload
                self.stack.stop_daemon()
                self.start_plain()
                self.check_ended('uninterrupted')
                print('forget: %d steps, a crash after each was finished at the next start' % (n - 1))
                for k in sorted(labels):
                    print('  N=%d: %s' % (k, labels[k]))
                return
            self.assertEqual(self.stack.daemon.wait(timeout=20), -signal.SIGKILL, 'N=%d' % n)
            self.assertEqual(len(done), n, '\n'.join(done))
            labels[n] = done[-1].split(' ', 1)[1]
            self.stack.daemon.log.close()
            self.stack.daemon = None
            # what the kill left: the transaction still pending until the
            # last step, every assignment removed up to the kill
            if n <= len(MOVED):
                self.assertIn('status=pending', self.state_text(), labels[n])
            self.start_plain()
            self.assert_nothing_written()
            self.check_ended('killed after %s' % labels[n])
        self.fail('transaction_forget never completed within %d steps' % MAX_MUTATIONS)

    def check_ended(self, at):
        self.assertNotIn('pending', self.state_text(), at)
        self.assertNotIn('[transaction', self.state_text(), at)
        # its records went with it, once each: none is left to count as
        # "vfiod detached this", nor any assignment to bind it at boot
        self.assertEqual(self.records(), {}, at)
        self.assertEqual(self.assignments(), [], at)
        self.assertEqual(self.group_state(), HOST, at)
        self.stack.get_group(NIC)
        # and the daemon works from there
        self.detach(NIC, GROUP)
        self.reattach(NIC, GROUP)
        self.assertEqual(self.group_state(), HOST, at)
        self.sim.clear_audit()


if __name__ == '__main__':
    main()

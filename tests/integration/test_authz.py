#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Authorization of DetachDevice and ReattachDevice through polkit (our
polkitd mock, which records every check), callers as uid 65534 and as
root: every method x allowed / denied / challenge without the interactive
flag / challenge with it / polkit failing; which action is asked (device,
group, in use, reattach) with which details and subject; nothing written
unless allowed; root, dry runs and reads never reach polkit."""

import json
import os
import subprocess
import time

from harness import ERROR, HERE, NOBODY, main
from detachlib import (ACTION_DEVICE, ACTION_GROUP, ACTION_IN_USE, ACTION_REATTACH, ACTION_REATTACH_GROUP,
                       ALL_ACTIONS, DRY_RUN, FORCE, GROUP, GROUP5, HECI, IGPU, NIC, ORIGINAL, SATA, USB, StackTest,
                       detach_writes, ids_line, topology_variant)

ACCESS_DENIED = 'org.freedesktop.DBus.Error.AccessDenied'
INTERACTIVE_REQUIRED = 'org.freedesktop.DBus.Error.InteractiveAuthorizationRequired'

# What each method asks on plugin-nic.json: (method, device, flags, the
# actions asked in order, their details, the devices that move).
SCENARIOS = {
    # only the target moves (the HECI is alone in group 3)
    'detach_device': ('DetachDevice', HECI, 0, [ACTION_DEVICE],
                      {'device': HECI, 'group': '3', 'devices': HECI, 'persistent': 'no'}, [HECI]),
    # the plug-in NIC takes the USB and SATA controllers with it
    'detach_group': ('DetachDevice', NIC, GROUP, [ACTION_GROUP],
                     {'device': NIC, 'group': '5', 'devices': ' '.join([USB, SATA, NIC]), 'persistent': 'no'},
                     [USB, SATA, NIC]),
    # FORCE on the boot display: the device action, then the in-use one
    'detach_in_use': ('DetachDevice', IGPU, FORCE, [ACTION_DEVICE, ACTION_IN_USE],
                      {'device': IGPU, 'group': '2', 'devices': IGPU, 'persistent': 'no'}, [IGPU]),
    # the group detached by root first (so root is its owner_uid); giving
    # a whole group back is the stronger action
    'reattach': ('ReattachDevice', NIC, GROUP, [ACTION_REATTACH_GROUP],
                 {'device': NIC, 'group': '5', 'devices': ' '.join([USB, SATA, NIC]), 'owner_uid': '0'},
                 [USB, SATA, NIC]),
    'reattach_device': ('ReattachDevice', SATA, 0, [ACTION_REATTACH],
                        {'device': SATA, 'group': '5', 'devices': SATA, 'owner_uid': '0'}, [SATA]),
}


class AuthzTest(StackTest):
    def prepare(self, scenario):
        """Root puts the machine where the scenario starts; the audit and
        the mock's record start empty."""
        method, device, flags, actions, details, moved = SCENARIOS[scenario]
        if method == 'ReattachDevice':
            self.detach(NIC, GROUP)
        self.sim.clear_audit()
        self.stack.polkit_mock('ClearCalls')
        self.before = self.snapshot(moved)
        return method, device, flags, actions, details, moved

    def assert_checks(self, calls, sender, actions, details, interactive):
        self.assertEqual([c['action'] for c in calls], actions)
        for c in calls:
            # the caller's bus name, never a pid (racy: CVE-2013-4288)
            self.assertEqual(c['subject_kind'], 'system-bus-name')
            self.assertEqual(c['subject'], {'name': sender})
            self.assertEqual(c['details'], details)
            self.assertEqual(c['flags'], 1 if interactive else 0)

    def assert_unchanged(self, moved):
        self.assert_nothing_written()
        self.assertEqual(self.snapshot(moved), self.before)

    def assert_moved(self, method, moved):
        if method == 'DetachDevice':
            self.assert_drivers({a: 'vfio-pci' for a in moved})
        else:
            self.assert_drivers({a: ORIGINAL[a] for a in moved})


def make_case(scenario, outcome):
    def test(self):
        method, device, flags, actions, details, moved = self.prepare(scenario)
        interactive = outcome == 'challenge_interactive'
        if outcome == 'allowed':
            self.stack.polkit_mock('SetAllowed', 'as', actions)
        elif outcome == 'denied':
            # every action but the last allowed: the last one decides
            self.stack.polkit_mock('SetAllowed', 'as', actions[:-1])
        elif outcome in ('challenge', 'challenge_interactive'):
            self.stack.polkit_mock('SetAllowed', 'as', actions[:-1])
            self.stack.polkit_mock('SetChallenge', 'as', actions[-1:])
        elif outcome == 'polkit_error':
            self.stack.polkit_mock('SetAllowed', 'as', actions[:-1])
            self.stack.polkit_mock('SetError', 'as', actions[-1:])

        result = self.stack.call_as(NOBODY, method, 'st', device, flags, interactive=interactive)
        self.assertEqual(result['uid'], NOBODY)
        self.assert_checks(self.stack.polkit_calls(), result['sender'], actions, details, interactive)

        if outcome in ('allowed', 'challenge_interactive'):
            self.assertNotIn('error', result, result.get('message'))
            plan = result['reply'][0]
            self.assertEqual([e['address'] for e in plan if e['action'] != 'keep'], moved)
            self.assert_moved(method, moved)
            return

        want = INTERACTIVE_REQUIRED if outcome == 'challenge' else ACCESS_DENIED
        self.assertEqual(result.get('error'), want, result)
        if outcome != 'polkit_error':
            self.assertIn(actions[-1], result['message'])
        else:
            self.assertIn('authorization check failed', result['message'])
            self.assertIn('simulated polkit failure', result['message'])
        self.assertIn(device, result['message'])
        self.assert_unchanged(moved)
    test.__name__ = 'test_%s_%s' % (scenario, outcome)
    test.__doc__ = '%s: %s' % (scenario, outcome)
    return test


class TestMatrix(AuthzTest):
    pass


for _scenario in SCENARIOS:
    for _outcome in ('allowed', 'denied', 'challenge', 'challenge_interactive', 'polkit_error'):
        _case = make_case(_scenario, _outcome)
        setattr(TestMatrix, _case.__name__, _case)


class TestActionChoice(AuthzTest):
    def test_group_flag_moving_only_the_target_is_detach_device(self):
        self.stack.polkit_mock('SetAllowed', 'as', ALL_ACTIONS)
        result = self.stack.call_as(NOBODY, 'DetachDevice', 'st', HECI, GROUP)
        self.assertNotIn('error', result)
        self.assert_checks(self.stack.polkit_calls(), result['sender'], [ACTION_DEVICE],
                           {'device': HECI, 'group': '3', 'devices': HECI, 'persistent': 'no'}, False)

    def test_in_use_with_group(self):
        # FORCE|GROUP on the NIC's group, in use nowhere: no in-use action
        self.stack.polkit_mock('SetAllowed', 'as', ALL_ACTIONS)
        result = self.stack.call_as(NOBODY, 'DetachDevice', 'st', NIC, GROUP | FORCE)
        self.assertNotIn('error', result)
        self.assertEqual([c['action'] for c in self.stack.polkit_calls()], [ACTION_GROUP])

    def test_denied_device_action_stops_before_in_use(self):
        self.stack.polkit_mock('SetAllowed', 'as', [ACTION_IN_USE])
        result = self.stack.call_as(NOBODY, 'DetachDevice', 'st', IGPU, FORCE)
        self.assertEqual(result.get('error'), ACCESS_DENIED)
        self.assertEqual([c['action'] for c in self.stack.polkit_calls()], [ACTION_DEVICE])
        self.assert_nothing_written()
        self.assert_drivers({IGPU: 'i915'})


class TestReattachAction(AuthzTest):
    # the HECI starts on vfio-pci, put there by the administrator's boot
    # configuration: vfiod has no record of it
    topology = topology_variant('plugin-nic.json', {HECI: {'driver': 'vfio-pci', 'host_driver': 'mei_me'}})

    def test_device_vfiod_never_detached_needs_reattach_group(self):
        self.stack.polkit_mock('SetAllowed', 'as', [ACTION_REATTACH])
        result = self.stack.call_as(NOBODY, 'ReattachDevice', 'st', HECI, 0)
        self.assertEqual(result.get('error'), ACCESS_DENIED, result)
        self.assertIn(ACTION_REATTACH_GROUP, result['message'])
        self.assert_checks(self.stack.polkit_calls(), result['sender'], [ACTION_REATTACH_GROUP],
                           {'device': HECI, 'group': '3', 'devices': HECI, 'owner_uid': 'none'}, False)
        self.assert_nothing_written()
        self.assert_drivers({HECI: 'vfio-pci'})

        self.stack.polkit_mock('SetAllowed', 'as', [ACTION_REATTACH_GROUP])
        result = self.stack.call_as(NOBODY, 'ReattachDevice', 'st', HECI, 0)
        self.assertNotIn('error', result, result.get('message'))
        self.assert_drivers({HECI: 'mei_me'})

    def test_device_vfiod_detached_needs_only_reattach_device(self):
        self.detach(SATA, GROUP)  # root: records USB, SATA, NIC
        self.stack.polkit_mock('SetAllowed', 'as', [ACTION_REATTACH])
        result = self.stack.call_as(NOBODY, 'ReattachDevice', 'st', SATA, 0)
        self.assertNotIn('error', result, result.get('message'))
        self.assertEqual([c['action'] for c in self.stack.polkit_calls()], [ACTION_REATTACH])
        self.assert_drivers({SATA: 'ahci', USB: 'vfio-pci', NIC: 'vfio-pci'})



class TestReattachActionEarlierBoot(AuthzTest):
    """Issue 18, point 3: a record says vfiod detached the HECI, but in
    another boot (or an older vfiod's record, which does not say which):
    since then the admin's boot configuration bound it, so giving it back
    still needs reattach-group, as for a device vfiod never detached."""
    topology = topology_variant('plugin-nic.json', {HECI: {'driver': 'vfio-pci', 'host_driver': 'mei_me'}})

    def setUp(self):
        pass

    def reattach_with_record(self, boot_line, ids=None):
        """Starts the daemon with a record of the HECI ending in
        @boot_line and @ids (default: the HECI's own); uid 65534, allowed
        reattach-device only, reattaches it."""
        def write(stack):
            os.makedirs(stack.state_directory, exist_ok=True)
            with open(os.path.join(stack.state_directory, 'transactions.state'), 'w') as f:
                f.write('[%s]\ngroup=3\nknown=true\ndriver=mei_me\noverride=\n%s%s' % (
                    HECI, boot_line, ids if ids is not None else ids_line(HECI)))
        self.start(before_daemon=write)
        self.stack.polkit_mock('SetAllowed', 'as', [ACTION_REATTACH])
        return self.stack.call_as(NOBODY, 'ReattachDevice', 'st', HECI, 0)

    def check(self, boot_line, ids=None):
        result = self.reattach_with_record(boot_line, ids)
        self.assertEqual(result.get('error'), ACCESS_DENIED, result)
        self.assertIn(ACTION_REATTACH_GROUP, result['message'])
        self.assert_nothing_written()
        self.assert_drivers({HECI: 'vfio-pci'})

    def test_record_of_another_boot(self):
        self.check('boot=7d3a1c5e-2b4f-4e6a-9c8d-1f0e2d3c4b5a\n')

    def test_record_that_names_no_boot(self):
        self.check('')

    def test_record_of_this_boot_lowers_it(self):
        # the control: the same record, written in this boot
        result = self.reattach_with_record('boot=%s\n' % this_boot())
        self.assertNotIn('error', result, result.get('message'))
        self.assert_drivers({HECI: 'mei_me'})

    def test_record_of_another_device(self):
        # issue 18, point 3: a record of this boot, but of the card that
        # was at that address before a swap: vfiod did not detach this one
        self.check('boot=%s\n' % this_boot(), ids_line(HECI, change={'device': 0x15b7}))

    def test_record_without_ids(self):
        # an earlier vfiod's record of this boot: vfiod cannot tell it is
        # the same device, so it is not "vfiod detached this"
        self.check('boot=%s\n' % this_boot(), '')


def this_boot():
    with open('/proc/sys/kernel/random/boot_id') as f:
        return f.read().strip()


class TestCallerLifetime(AuthzTest):
    """An authorization never outlives its caller, never waits forever for
    polkit, and one caller cannot pile up checks."""

    def caller(self, request, uid=NOBODY):
        proc = subprocess.Popen(['setpriv', '--reuid=%d' % uid, '--regid=%d' % uid, '--clear-groups',
                                 '/usr/bin/python3', os.path.join(HERE, 'caller.py'), json.dumps(request)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=self.stack.address))
        self.addCleanup(lambda: proc.poll() is None and proc.kill())
        self.addCleanup(proc.wait)
        return proc

    def wait_until(self, cond, what, timeout=20):
        deadline = time.monotonic() + timeout
        while not cond():
            if time.monotonic() > deadline:
                self.fail('timed out waiting for ' + what)
            time.sleep(0.02)

    def daemon_log(self):
        with open(os.path.join(self.stack.tmp, 'vfiod.log'), errors='replace') as f:
            return f.read()

    def test_caller_leaving_withdraws_the_check_and_nothing_is_done(self):
        self.stack.polkit_mock('SimulateHang', 'b', True)
        proc = self.caller({'method': 'DetachDevice', 'signature': 'st', 'args': [NIC, GROUP]})
        self.wait_until(lambda: len(self.stack.polkit_calls()) == 1, 'the check to reach polkit')
        proc.kill()
        proc.wait()
        # the daemon notices the caller is gone and withdraws the question
        self.wait_until(lambda: 'left while it was being authorized' in self.daemon_log(),
                        'vfiod to drop the request')
        self.wait_until(lambda: self.stack.polkit_mock('GetCancelled')[0] ==
                        [self.stack.polkit_calls()[0]['cancellation_id']], 'CancelCheckAuthorization')
        # polkit saying yes now (an agent answering late) moves nothing
        self.stack.polkit_mock('SetAllowed', 'as', ALL_ACTIONS)
        self.stack.polkit_mock('ReleaseHangingCalls')
        self.assertEqual(self.stack.get_group(NIC)[0], 5)  # still serving
        self.assert_nothing_written()
        self.assert_drivers({a: ORIGINAL[a] for a in GROUP5})

    def test_polkit_that_never_answers_is_a_denial_after_the_timeout(self):
        self.stack.stop_daemon()
        self.stack.daemon_env['VFIOD_AUTHZ_TIMEOUT_MS'] = '1500'
        self.stack.start_daemon()
        self.stack.polkit_mock('SimulateHang', 'b', True)
        result = self.stack.call_as(NOBODY, 'DetachDevice', 'st', HECI, 0)
        self.assertEqual(result.get('error'), ACCESS_DENIED, result)
        self.assertIn('polkit did not answer within 2 s', result['message'])
        self.assertIn(HECI, result['message'])
        self.wait_until(lambda: len(self.stack.polkit_mock('GetCancelled')[0]) == 1, 'CancelCheckAuthorization')
        # a late yes changes nothing
        self.stack.polkit_mock('SetAllowed', 'as', ALL_ACTIONS)
        self.stack.polkit_mock('ReleaseHangingCalls')
        self.assertEqual(self.stack.get_group(HECI)[0], 3)
        self.assert_nothing_written()
        self.assert_drivers({HECI: ORIGINAL[HECI]})

    def test_one_caller_cannot_pile_up_checks(self):
        self.stack.polkit_mock('SimulateHang', 'b', True)
        proc = self.caller({'method': 'DetachDevice', 'signature': 'st', 'args': [HECI, 0], 'count': 17})
        self.assertIn('sender', json.loads(proc.stdout.readline()))
        # sixteen wait for polkit; the seventeenth is refused at once
        first = json.loads(proc.stdout.readline())
        self.assertEqual(first.get('error'), 'org.freedesktop.DBus.Error.LimitsExceeded', first)
        self.assertIn('16 requests of this caller', first['message'])
        self.wait_until(lambda: len(self.stack.polkit_calls()) == 16, 'sixteen checks at polkit')
        # another caller is not limited by the first one's checks
        other = self.caller({'method': 'DetachDevice', 'signature': 'st', 'args': [HECI, 0]})
        self.wait_until(lambda: len(self.stack.polkit_calls()) == 17, "the other caller's check")
        self.stack.polkit_mock('SetAllowed', 'as', [])
        self.assertEqual(self.stack.polkit_mock('ReleaseHangingCalls')[0], 17)
        rest = [json.loads(proc.stdout.readline()) for _ in range(16)]
        self.assertEqual({r.get('error') for r in rest}, {ACCESS_DENIED})
        proc.wait(timeout=30)
        out, _ = other.communicate(timeout=30)
        self.assertEqual(json.loads(out).get('error'), ACCESS_DENIED)
        self.assert_nothing_written()
        # the count went back down: the same caller may ask again
        self.stack.polkit_mock('SetAllowed', 'as', [ACTION_DEVICE])
        self.stack.polkit_mock('SimulateHang', 'b', False)
        result = self.stack.call_as(NOBODY, 'DetachDevice', 'st', HECI, 0)
        self.assertNotIn('error', result, result.get('message'))
        self.assert_audit(detach_writes(HECI, 'mei_me'))


class TestSkipsPolkit(AuthzTest):
    def setUp(self):
        super().setUp()
        # polkit would fail every check: anything that reaches it fails
        self.stack.polkit_mock('SetError', 'as', ALL_ACTIONS)

    def test_root_never_reaches_polkit(self):
        self.assertEqual([e['action'] for e in self.detach(NIC, GROUP)], ['detach', 'detach', 'keep', 'detach'])
        self.detach(IGPU, FORCE)
        self.detach(HECI)
        self.reattach(SATA)
        self.reattach(NIC, GROUP)
        # root through a separate process as well, interactive or not
        for interactive in (False, True):
            result = self.stack.call_as(0, 'DetachDevice', 'st', NIC, GROUP, interactive=interactive)
            self.assertNotIn('error', result, result.get('message'))
            result = self.stack.call_as(0, 'ReattachDevice', 'st', NIC, GROUP, interactive=interactive)
            self.assertNotIn('error', result, result.get('message'))
        self.assertEqual(self.stack.polkit_calls(), [])
        self.assert_drivers({a: ORIGINAL[a] for a in GROUP5})
        self.assert_drivers({IGPU: 'vfio-pci', HECI: 'vfio-pci'})

    def test_dry_runs_and_reads_need_no_authorization(self):
        self.detach(NIC, GROUP)
        self.sim.clear_audit()
        calls = [('GetGroup', 's', NIC), ('ListDevices', None),
                 ('DetachDevice', 'st', HECI, DRY_RUN), ('DetachDevice', 'st', IGPU, DRY_RUN | FORCE),
                 ('ReattachDevice', 'st', NIC, DRY_RUN | GROUP), ('ReattachDevice', 'st', SATA, DRY_RUN)]
        for interactive in (False, True):
            for method, signature, *args in calls:
                result = self.stack.call_as(NOBODY, method, signature, *args, interactive=interactive)
                self.assertNotIn('error', result, (method, args, result.get('message')))
        self.assertEqual(self.stack.polkit_calls(), [])
        self.assert_nothing_written()

    def test_refusals_before_authorization_reach_no_polkit(self):
        # errors the plan finds (not viable, in use, bridge) need no polkit
        for method, device, flags, error in (('DetachDevice', NIC, 0, 'GroupNotViable'),
                                             ('DetachDevice', IGPU, 0, 'DeviceInUse'),
                                             ('DetachDevice', '0000:00:1c.0', GROUP, 'NotAssignable'),
                                             ('ReattachDevice', NIC, 0, 'NotDetached')):
            result = self.stack.call_as(NOBODY, method, 'st', device, flags)
            self.assertEqual(result.get('error'), ERROR + error)
        self.assertEqual(self.stack.polkit_calls(), [])
        self.assert_nothing_written()


class TestCli(AuthzTest):
    def test_no_ask_password_gets_the_hint(self):
        self.stack.polkit_mock('SetChallenge', 'as', [ACTION_DEVICE])
        proc = self.stack.vfioctl('--no-ask-password', 'detach', HECI, uid=NOBODY, check=1)
        self.assertIn('Authentication is required', proc.stderr)
        self.assertIn('needs authentication', proc.stderr)
        self.assertNotIn('org.freedesktop.DBus.Error', proc.stderr)
        self.assertEqual([c['flags'] for c in self.stack.polkit_calls()], [0])
        self.assert_nothing_written()

    def test_asks_interactively_by_default(self):
        # no terminal, so no agent of its own: but the flag is set, so a
        # session's agent may answer (the mock plays that agent)
        self.stack.polkit_mock('SetChallenge', 'as', [ACTION_DEVICE])
        out = self.stack.vfioctl_json('detach', HECI, uid=NOBODY)
        self.assertEqual([e['action'] for e in out['plan']], ['detach'])
        self.assertEqual([(c['action'], c['flags']) for c in self.stack.polkit_calls()], [(ACTION_DEVICE, 1)])
        self.assert_drivers({HECI: 'vfio-pci'})

    def test_denied(self):
        proc = self.stack.vfioctl('--no-ask-password', 'detach', '--group', NIC, uid=NOBODY, check=1)
        self.assertIn('Not authorized', proc.stderr)
        self.assertIn(ACTION_GROUP, proc.stderr)
        self.assert_nothing_written()
        self.assert_drivers({a: ORIGINAL[a] for a in GROUP5})


if __name__ == '__main__':
    main()

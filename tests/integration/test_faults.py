#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Detach and reattach when the kernel says no, when a device disappears
and when the daemon dies: every device already touched goes back as it
was (exact writes from the simulator's audit log), the error names the
device, the step and the errno, and a restarted daemon rolls back what a
killed one left half-done, or still knows the original drivers."""

import os
import signal
import subprocess
import time

from harness import ERROR, HERE, main
from detachlib import (AUDIO, GROUP, GROUP5, GROUP8, NIC, ORIGINAL, ROOT_PORT, SATA, USB, StackTest, detach_writes,
                       ids_line, override_write, restore_in_place_writes, probe_write, reattach_writes, topology_variant, unbind_write)

FAILED = ERROR + 'Failed'
GROUP5_ORIGINAL = {a: ORIGINAL[a] for a in GROUP5}
GROUP5_ON_VFIO = {USB: 'vfio-pci', SATA: 'vfio-pci', ROOT_PORT: 'pcieport', NIC: 'vfio-pci'}


class FaultTest(StackTest):
    def state_text(self):
        path = os.path.join(self.stack.state_directory, 'transactions.state')
        if not os.path.exists(path):
            return ''
        with open(path) as f:
            return f.read()

    def assert_nothing_pending(self):
        self.assertNotIn('pending', self.state_text())

    def assert_back_as_before(self):
        self.assert_drivers(GROUP5_ORIGINAL)
        self.assert_overrides({a: None for a in GROUP5})
        self.assert_nothing_pending()

    def wait_audit(self, entry, timeout=10):
        deadline = time.monotonic() + timeout
        while entry not in self.sim.audit():
            if time.monotonic() > deadline:
                self.fail('never written: %r; audit: %r' % (entry, self.sim.audit()))
            time.sleep(0.01)

    def daemon_log(self):
        with open(os.path.join(self.stack.tmp, 'vfiod.log'), errors='replace') as f:
            return f.read()


class TestRollback(FaultTest):
    def test_ebusy_on_the_second_unbind(self):
        self.sim.fail('ahci/unbind', 'EBUSY', count=1, data=SATA)
        name, message = self.detach_error(NIC, GROUP)
        self.assertEqual(name, FAILED)
        self.assertIn('Could not move %s: unbinding it from ahci failed' % SATA, message)
        self.assertIn('EBUSY', message)
        self.assertIn('%s is back on xhci_hcd' % USB, message)
        self.assert_audit(
            detach_writes(USB, 'xhci_hcd') +
            [override_write(SATA, 'vfio-pci'), unbind_write(SATA, 'ahci', 'EBUSY')] +
            # newest first: the SATA controller never left ahci, only its
            # override goes; then the USB controller comes back
            restore_in_place_writes(SATA, 'ahci') +
            reattach_writes(USB))
        self.assert_back_as_before()

    def test_vfio_pci_probe_refused(self):
        # the NIC, last of the group, cannot be probed: two devices to undo
        self.sim.fail('drivers_probe', 'EINVAL', count=1, data=NIC)
        name, message = self.detach_error(NIC, GROUP)
        self.assertEqual(name, FAILED)
        self.assertIn('Could not move %s: writing it to drivers_probe failed' % NIC, message)
        self.assertIn('EINVAL', message)
        for address, driver in ((NIC, 'e1000e'), (SATA, 'ahci'), (USB, 'xhci_hcd')):
            self.assertIn('%s is back on %s' % (address, driver), message)
        self.assert_audit(
            detach_writes(USB, 'xhci_hcd') + detach_writes(SATA, 'ahci') +
            [override_write(NIC, 'vfio-pci'), unbind_write(NIC, 'e1000e'), probe_write(NIC, 'EINVAL')] +
            # the NIC is unbound: steer e1000e's probe, then clear the override
            restore_in_place_writes(NIC, 'e1000e', unbound=True) +
            reattach_writes(SATA) + reattach_writes(USB))
        self.assert_back_as_before()

    def test_reattach_fails_and_stays_detached(self):
        self.detach(NIC, GROUP)
        self.sim.clear_audit()
        self.sim.fail('vfio-pci/unbind', 'EBUSY', count=1, data=NIC)
        name, message = self.reattach_error(NIC, GROUP)
        self.assertEqual(name, FAILED)
        self.assertIn('Could not move %s: unbinding it from vfio-pci failed' % NIC, message)
        self.assertIn('EBUSY', message)
        # undone newest first: back on vfio-pci, held by the override
        self.assert_audit(
            reattach_writes(USB) + reattach_writes(SATA) +
            [override_write(NIC, 'e1000e'), unbind_write(NIC, 'vfio-pci', 'EBUSY'),
             override_write(NIC, 'vfio-pci')] +
            [override_write(SATA, 'vfio-pci'), unbind_write(SATA, 'ahci'), probe_write(SATA)] +
            [override_write(USB, 'vfio-pci'), unbind_write(USB, 'xhci_hcd'), probe_write(USB)])
        self.assert_drivers(GROUP5_ON_VFIO)
        self.assert_overrides({USB: 'vfio-pci', SATA: 'vfio-pci', NIC: 'vfio-pci'})
        self.assert_nothing_pending()
        # and the records still know where they came from
        self.sim.clear_audit()
        self.reattach(NIC, GROUP)
        self.assert_back_as_before()


class TestRollbackIncomplete(FaultTest):
    def test_group_busy_until_the_next_start(self):
        # the SATA controller's unbind fails, and so does putting the USB
        # controller back: the transaction stays pending, the group busy
        self.sim.fail('ahci/unbind', 'EBUSY', count=1, data=SATA)
        self.sim.fail('xhci_hcd/bind', 'EIO', data=USB)
        self.sim.fail('vfio-pci/unbind', 'EIO', data=USB)
        name, message = self.detach_error(NIC, GROUP)
        self.assertEqual(name, FAILED)
        self.assertIn('%s could NOT be put back' % USB, message)
        self.assertIn('status=pending', self.state_text())
        self.sim.clear_audit()
        name, message = self.detach_error(NIC, GROUP)
        self.assertEqual(name, ERROR + 'GroupBusy')
        self.assertIn('could not be undone completely', message)
        self.assert_nothing_written()
        # once the cause is gone, a restart finishes the rollback
        self.sim.clear_faults()
        self.assertEqual(self.stack.restart_daemon(), 0)
        self.assert_back_as_before()


class TestStateFile(FaultTest):
    def test_nothing_written_when_the_record_cannot_be_saved(self):
        # the original driver is recorded before the first write: when it
        # cannot be, no device is touched
        self.stack.stop_daemon()
        path = os.path.join(self.stack.state_directory, 'transactions.state')
        if os.path.exists(path):
            os.unlink(path)
        os.mkdir(path)  # rename() onto it fails
        self.stack.start_daemon()
        name, message = self.detach_error(NIC, GROUP)
        self.assertEqual(name, FAILED)
        self.assertIn('Could not move %s: recording the original drivers failed' % USB, message)
        self.assertIn('no device had been touched', message)
        self.assert_nothing_written()
        self.assert_drivers(GROUP5_ORIGINAL)
        os.rmdir(path)


class TestHotRemoval(FaultTest):
    def test_removed_during_its_unbind(self):
        self.sim.remove_on_write('ahci/unbind', SATA, data=SATA)
        sata_override = override_write(SATA, 'vfio-pci')  # its path, while it exists
        name, message = self.detach_error(NIC, GROUP)
        self.assertEqual(name, FAILED)
        self.assertIn('Could not move %s: unbinding it from ahci failed' % SATA, message)
        self.assertIn('ENODEV', message)
        self.assertIn('%s is gone' % SATA, message)
        self.assertIn('%s is back on xhci_hcd' % USB, message)
        self.assertFalse(self.sim.exists(SATA))
        self.assert_audit(detach_writes(USB, 'xhci_hcd') +
                          [sata_override, unbind_write(SATA, 'ahci', 'ENODEV')] +
                          reattach_writes(USB))
        self.assert_drivers({USB: 'xhci_hcd', ROOT_PORT: 'pcieport', NIC: 'e1000e'})
        self.assert_overrides({USB: None, NIC: None})
        # a device that is gone leaves nothing to retry at the next start
        self.assert_nothing_pending()
        self.sim.clear_audit()
        self.stack.restart_daemon()
        self.assert_nothing_written()

    def test_removed_before_its_turn(self):
        # gone between two devices: the first goes back, the NIC is never touched
        self.sim.remove_on_write('drivers_probe', SATA, data=USB)
        name, message = self.detach_error(NIC, GROUP)
        self.assertEqual(name, FAILED)
        self.assertIn('Could not move %s' % SATA, message)
        self.assertIn('%s is back on xhci_hcd' % USB, message)
        self.assert_audit(detach_writes(USB, 'xhci_hcd') + reattach_writes(USB))
        self.assert_drivers({USB: 'xhci_hcd', NIC: 'e1000e'})
        self.assert_nothing_pending()


class TestDaemonDeath(FaultTest):
    def test_sigkill_mid_group_then_restart_rolls_back(self):
        # the NIC's unbind (last of the group) takes 2 s; kill the daemon
        # once the USB and SATA controllers are on vfio-pci
        self.sim.delay('e1000e/unbind', 2000, data=NIC)
        caller = subprocess.Popen(['/usr/bin/python3', os.path.join(HERE, 'caller.py'),
                                   '{"method": "DetachDevice", "signature": "st", "args": ["%s", 1]}' % NIC],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                  env=dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=self.stack.address))
        self.addCleanup(caller.wait)
        self.wait_audit(override_write(NIC, 'vfio-pci'))
        self.assertEqual(self.stack.stop_daemon(signal.SIGKILL), -signal.SIGKILL)
        self.assert_drivers({USB: 'vfio-pci', SATA: 'vfio-pci'})
        # a FUSE write already sent completes before a killed writer dies:
        # the NIC's unbind happened, unless the kill came before it was written
        nic_unbound = self.sim.driver_of(NIC) is None
        self.assertEqual(unbind_write(NIC, 'e1000e') in self.sim.audit(), nic_unbound)
        # one transaction says what was under way, with all three devices
        text = self.state_text()
        self.assertEqual(text.count('status=pending'), 1)
        self.assertIn('operation=detach', text)
        self.assertIn('devices=%s;%s;%s;' % (USB, SATA, NIC), text)

        self.sim.clear_faults()
        self.sim.clear_audit()
        self.stack.start_daemon()  # returns once it owns its name: recovery is done
        self.assert_back_as_before()
        writes = self.sim.audit()
        # every device put back (in any order), each with the kernel's steps
        by_device = {a: [w for w in writes if a in w[0] or w[1] == a] for a in (USB, SATA, NIC)}
        self.assertEqual(by_device[USB], reattach_writes(USB))
        self.assertEqual(by_device[SATA], reattach_writes(SATA))
        self.assertEqual(by_device[NIC], restore_in_place_writes(NIC, 'e1000e', unbound=nic_unbound))
        self.assertEqual(len(writes), sum(map(len, by_device.values())))
        log = self.daemon_log()
        for address in (USB, SATA, NIC):
            self.assertIn('Rolling back the detach of %s' % address, log)

    def test_reattach_after_restart_restores_original_drivers(self):
        self.detach(NIC, GROUP)
        self.detach(AUDIO, GROUP)
        self.assertEqual(self.stack.restart_daemon(), 0)
        self.sim.clear_audit()
        self.assertEqual([(e['address'], e['to']) for e in self.reattach(NIC, GROUP) if e['action'] != 'keep'],
                         [(USB, 'xhci_hcd'), (SATA, 'ahci'), (NIC, 'e1000e')])
        self.assert_back_as_before()
        self.reattach(AUDIO, GROUP)
        self.assert_drivers({a: ORIGINAL[a] for a in GROUP8})
        self.assert_overrides({a: None for a in GROUP8})


class TestRestartKeepsOverride(FaultTest):
    def setUp(self):
        self.start(topology_variant('plugin-nic.json', {NIC: {'driver_override': 'e1000e'}}))

    def test_original_override_survives_restart(self):
        self.detach(NIC, GROUP)
        self.assertEqual(self.stack.restart_daemon(), 0)
        self.sim.clear_audit()
        self.reattach(NIC)
        self.assert_audit(reattach_writes(NIC, 'e1000e'))
        self.assert_overrides({NIC: 'e1000e'})
        self.assert_drivers({NIC: 'e1000e'})


HOSTILE_STATE = '''# not written by vfiod
[0000:02:00.0]
group=5
known=true
driver=../../../../tmp/evil
override=
pending=detach

[0000:00:14.0]
group=5
known=true
driver=xhci_hcd/../../bind
override=
pending=detach

[../../../../etc/passwd]
group=5
known=false
pending=detach

[0000:00:17.0]
group=banana
known=true
driver=ahci
override=
pending=detach

[0000:00:1f.3]
group=8
known=true
driver=snd_hda_intel
override=vfio-pci/../../x
pending=reattach

[0000:00:16.0]
group=3
known=maybe
pending=detach

[0000:00:02.0]
group=2
known=true
driver=i915
override=
pending=explode

[0:2:0.0]
group=5
known=false
pending=detach

[0000:00:1f.4]
group=8
known=true
driver=control\\tcharacters\\tin\\tit
override=
pending=reattach
'''


class TestHostileStateFile(FaultTest):
    def setUp(self):
        pass

    def start_with_state(self, content):
        def write(stack):
            os.makedirs(stack.state_directory)
            with open(os.path.join(stack.state_directory, 'transactions.state'), 'wb') as f:
                f.write(content)
        self.start(before_daemon=write)

    def check_acts_on_nothing(self):
        self.assert_nothing_written()
        self.assert_drivers({a: ORIGINAL[a] for a in GROUP5 + GROUP8})
        # and works normally from there: the bogus records are not originals
        plan = self.detach(NIC, GROUP)
        self.assertEqual([e['from'] for e in plan], ['xhci_hcd', 'ahci', 'pcieport', 'e1000e'])
        plan = self.reattach(NIC, GROUP)
        self.assertEqual([e['to'] for e in plan], ['xhci_hcd', 'ahci', 'pcieport', 'e1000e'])
        self.assert_back_as_before()

    def test_hostile_records_ignored(self):
        self.start_with_state(HOSTILE_STATE.encode())
        self.check_acts_on_nothing()
        self.assertIn('Ignoring the state file', self.daemon_log())

    def test_garbage_ignored(self):
        self.start_with_state(bytes(range(256)) * 8 + b'\n[0000:02:00.0\npending=detach\n')
        self.check_acts_on_nothing()
        self.assertIn('Ignoring the state file', self.daemon_log())



def this_boot():
    with open('/proc/sys/kernel/random/boot_id') as f:
        return f.read().strip()


OTHER_BOOT = '7d3a1c5e-2b4f-4e6a-9c8d-1f0e2d3c4b5a'


def pending_reattach(boot_line, ids=None):
    """A reattach of group 5 killed half-way: USB and SATA already back on
    their host drivers, which is where the machine has them now.  @ids:
    {address: its records's "ids=" line}, default each device's own."""
    ids = dict({a: ids_line(a) for a in (USB, SATA, NIC)}, **(ids or {}))
    records = ''.join('[%s]\ngroup=5\nknown=true\ndriver=%s\noverride=\n%s%s\n' % (
        a, ORIGINAL[a], boot_line, ids[a]) for a in (USB, SATA, NIC))
    return (records + '[transaction 9]\nstatus=pending\noperation=reattach\ngroup=5\n%s'
            'devices=%s;%s;%s;\ncount=3\n' % (boot_line, USB, SATA, NIC))


class TestEarlierBoot(FaultTest):
    """Issue 18, point 3: a transaction left pending by an earlier boot is
    never rolled back: rolling back that reattach would unbind ahci under
    whatever this boot mounted on it.  It is ended, without one write to
    sysfs, and the log says so; the same transaction of this boot is still
    rolled back (the control)."""

    setUp = TestHostileStateFile.setUp
    start_with_state = TestHostileStateFile.start_with_state

    def check_forgotten(self, boot_line, words):
        self.start_with_state(pending_reattach(boot_line).encode())
        self.assert_nothing_written()
        self.assert_drivers({a: ORIGINAL[a] for a in GROUP5})
        self.assert_nothing_pending()
        log = self.daemon_log()
        self.assertIn('Transaction 9 (reattach of IOMMU group 5', log)
        self.assertIn(words + ': not rolled back, nothing written to sysfs', log)
        # ended for good: a restart does not find it again
        self.assertEqual(self.stack.restart_daemon(), 0)
        self.assert_nothing_written()
        self.assertNotIn('Transaction 9', self.daemon_log().split(log, 1)[-1])
        # and the daemon works from there
        self.detach(NIC, GROUP)
        self.reattach(NIC, GROUP)
        self.assert_back_as_before()

    def test_transaction_of_another_boot(self):
        self.check_forgotten('boot=%s\n' % OTHER_BOOT, 'in an earlier boot')

    def test_transaction_that_names_no_boot(self):
        self.check_forgotten('', 'a run that did not record its boot (an older vfiod)')

    def test_transaction_of_this_boot_is_rolled_back(self):
        self.start_with_state(pending_reattach('boot=%s\n' % this_boot()).encode())
        self.assertNotEqual(self.sim.audit(), [])
        self.assert_drivers(GROUP5_ON_VFIO)
        self.assert_nothing_pending()

    def start_in_use(self, swaps):
        # in-use.json: group 1 is a root port and an NVMe whose partition
        # may be swap; a reattach of the NVMe was killed in this boot
        nvme = '0000:01:00.0'
        text = ('[%s]\ngroup=1\nknown=true\ndriver=nvme\noverride=\nboot=%s\n%s'
                '[transaction 4]\nstatus=pending\noperation=reattach\ngroup=1\nboot=%s\n'
                'devices=%s;\ncount=1\n' % (nvme, this_boot(), ids_line(nvme, 'in-use.json'), this_boot(), nvme))

        def write(stack):
            os.makedirs(stack.state_directory)
            with open(os.path.join(stack.state_directory, 'transactions.state'), 'w') as f:
                f.write(text)
        self.start('in-use.json', swaps=swaps, before_daemon=write)
        return nvme

    def test_rollback_refused_while_the_host_uses_it(self):
        # issue 18, point 3: since the kill, the host swaps on it: rolling
        # the reattach back would unbind nvme under the swap
        nvme = self.start_in_use('/dev/nvme0n1p3                          partition\t8388604\t0\t-2\n')
        self.assert_nothing_written()
        self.assert_drivers({nvme: 'nvme'})
        self.assertIn('status=pending', self.state_text())
        self.assertIn('Not rolling back the reattach of IOMMU group 1 (transaction 4)', self.daemon_log())
        self.assertIn('%s on nvme is in use (swap: /dev/nvme0n1p3)' % nvme, self.daemon_log())

    def test_rollback_of_a_device_nobody_uses(self):
        # the control: no swap, the rollback puts it back on vfio-pci
        nvme = self.start_in_use('')
        self.assert_drivers({nvme: 'vfio-pci'})
        self.assert_nothing_pending()

class TestReplacedWhileDown(FaultTest):
    """Issue 18, point 3: a reattach of group 5 was killed in this boot;
    while vfiod was down the NIC (an Intel e1000e) was swapped for a
    Realtek card on r8169 at the same address.  Rolling the reattach back
    would unbind r8169 and hand a device nobody detached to vfio-pci: what
    was recorded was of the other card.  The rollback is refused whole,
    nothing is written, the transaction stays recorded and the log names
    the device, both identities and what to do."""

    REALTEK = {'vendor': '0x10ec', 'device': '0x8168', 'subsystem_vendor': '0x1043',
               'subsystem_device': '0x8677', 'class': '0x020000', 'driver': 'r8169'}

    setUp = TestHostileStateFile.setUp

    def start_with_state(self, content, topology=None):
        def write(stack):
            os.makedirs(stack.state_directory)
            with open(os.path.join(stack.state_directory, 'transactions.state'), 'w') as f:
                f.write(content)
        self.start(topology, before_daemon=write)

    def test_replaced_member_is_not_rolled_back(self):
        swapped = topology_variant('plugin-nic.json', {NIC: self.REALTEK})
        self.start_with_state(pending_reattach('boot=%s\n' % this_boot()), swapped)
        self.assert_nothing_written()
        self.assert_drivers({USB: 'xhci_hcd', SATA: 'ahci', ROOT_PORT: 'pcieport', NIC: 'r8169'})
        self.assertIn('[transaction 9]', self.state_text())
        log = self.daemon_log()
        self.assertIn('Not rolling back the reattach of IOMMU group 5 (transaction 9): nothing was written to '
                      'sysfs and the transaction stays recorded', log)
        self.assertIn('%s is not the device recorded: ids 0x8086 0x10d3 0x8086 0xa01f 0x020000 recorded '
                      '(vendor device subsystem class), 0x10ec 0x8168 0x1043 0x8677 0x020000 found' % NIC, log)
        self.assertIn('delete [transaction 9]', log)
        # the group is busy until the admin settles it; nothing moves
        name, message = self.detach_error(NIC, GROUP)
        self.assertEqual(name, ERROR + 'GroupBusy', message)
        # and a restart does not roll it back either
        self.assertEqual(self.stack.restart_daemon(), 0)
        self.assert_nothing_written()
        self.assert_drivers({NIC: 'r8169'})

    def test_member_recorded_without_ids_is_not_rolled_back(self):
        # an earlier vfiod of this boot did not record ids: vfiod cannot
        # tell the device is the same, so it does not act (fail closed)
        self.start_with_state(pending_reattach('boot=%s\n' % this_boot(), {SATA: ''}))
        self.assert_nothing_written()
        self.assertIn('[transaction 9]', self.state_text())
        self.assertIn('%s is not the device recorded: its ids were not recorded' % SATA, self.daemon_log())

    def test_hostile_ids_are_never_acted_on(self):
        # ids that are not exactly what vfiod writes make the record
        # invalid, and the transaction naming it is not acted on at all
        for ids in ('ids=0x8086 0x10d3 0x8086 0xa01f 0x020000 0x0\n', 'ids=0x8086 0x10D3 0x8086 0xa01f 0x020000\n',
                    'ids=0x8086 0x10d3 0x8086 0xa01f\n', 'ids=../../bind\n', 'ids=\n'):
            with self.subTest(ids=ids):
                self.start_with_state(pending_reattach('boot=%s\n' % this_boot(), {NIC: ids}))
                self.assert_nothing_written()
                self.assert_drivers({USB: 'xhci_hcd', SATA: 'ahci', NIC: 'e1000e'})
                self.assertIn("Ignoring the state file's record [%s]" % NIC, self.daemon_log())
                self.stack.stop()

    def test_same_devices_are_rolled_back(self):
        # the control: the same machine, nothing swapped
        self.start_with_state(pending_reattach('boot=%s\n' % this_boot()))
        self.assert_drivers(GROUP5_ON_VFIO)
        self.assert_nothing_pending()

    def test_reattach_ignores_the_record_of_another_card(self):
        # not pending: the NIC's record says e1000e, but the card on
        # vfio-pci now is the Realtek (an admin's boot configuration bound
        # it): it goes back to whatever the kernel picks, not to e1000e
        swapped = topology_variant('plugin-nic.json', {NIC: dict(self.REALTEK, driver='vfio-pci',
                                                                 host_driver='r8169')})
        self.start_with_state('[%s]\ngroup=5\nknown=true\ndriver=e1000e\noverride=\nboot=%s\n%s' % (
            NIC, this_boot(), ids_line(NIC)), swapped)
        plan = self.reattach(NIC)
        step = next(e for e in plan if e['address'] == NIC)
        self.assertEqual(step['action'], 'reattach')
        self.assertEqual(self.sim.driver_of(NIC), 'r8169')
        self.assertNotIn('e1000e', [data for _, data, _ in self.sim.audit()])
        self.assertIn('The record of %s is not of the device there now' % NIC, self.daemon_log())


if __name__ == '__main__':
    main()

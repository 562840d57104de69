#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""DetachDevice and ReattachDevice against the real daemon on simulated
machines, callers as root: each rule of the contract, with the exact
sysfs writes (the simulator's audit log) and the drivers and overrides the
kernel shows afterwards; and vfioctl detach/reattach on top."""

import os
import time

from harness import ERROR, NOBODY, main
from detachlib import (AUDIO, DRY_RUN, FAKE_MODPROBE, FORCE, GROUP, GROUP5, GROUP8, HECI, HOST_BRIDGE, IGPU,
                       LPC, NIC, ORIGINAL, PMC, ROOT_PORT, SATA, SMBUS, USB, StackTest, detach_writes,
                       plan_entry, private_dev_vfio, reattach_writes, topology_variant, unbind_write)

INVALID_ARGS = 'org.freedesktop.DBus.Error.InvalidArgs'

GROUP5_DETACH_PLAN = [
    plan_entry(USB, 'detach', 'xhci_hcd', 'vfio-pci'),
    plan_entry(SATA, 'detach', 'ahci', 'vfio-pci'),
    plan_entry(ROOT_PORT, 'keep', 'pcieport', 'pcieport', 'bridge stays on pcieport'),
    plan_entry(NIC, 'detach', 'e1000e', 'vfio-pci'),
]
GROUP5_ON_VFIO = {USB: 'vfio-pci', SATA: 'vfio-pci', ROOT_PORT: 'pcieport', NIC: 'vfio-pci'}
GROUP5_ORIGINAL = {a: ORIGINAL[a] for a in GROUP5}


def group5_detach_writes():
    return detach_writes(USB, 'xhci_hcd') + detach_writes(SATA, 'ahci') + detach_writes(NIC, 'e1000e')


class TestGroupNotViable(StackTest):
    def test_alone_names_both_chipset_devices(self):
        _, members = self.stack.get_group(NIC)
        info = {d['address']: d for d in members}
        name, message = self.detach_error(NIC)
        self.assertEqual(name, ERROR + 'GroupNotViable')
        for address, driver in ((USB, 'xhci_hcd'), (SATA, 'ahci')):
            self.assertTrue(info[address]['name'], 'hwdb gave no name for %s' % address)
            self.assertIn('%s (%s %s, on %s)' % (address, info[address]['vendor'], info[address]['name'],
                                                 driver), message)
        # the bridge is no obstacle and is not listed; the way out is given,
        # for any client: the flag, not a command line
        self.assertNotIn(ROOT_PORT, message)
        self.assertIn('detach the whole group (the GROUP flag)', message)
        self.assertNotIn('vfioctl', message)
        self.assert_nothing_written()
        self.assert_drivers(GROUP5_ORIGINAL)

    def test_dry_run_refuses_the_same(self):
        name, _ = self.detach_error(NIC, DRY_RUN)
        self.assertEqual(name, ERROR + 'GroupNotViable')
        self.assert_nothing_written()


class TestDetachGroup(StackTest):
    def test_group_moves_all_three_endpoints(self):
        plan = self.detach(NIC, GROUP)
        self.assertEqual(plan, GROUP5_DETACH_PLAN)
        self.assert_drivers(GROUP5_ON_VFIO)
        self.assert_overrides({USB: 'vfio-pci', SATA: 'vfio-pci', ROOT_PORT: None, NIC: 'vfio-pci'})
        # per device, in address order: driver_override, unbind, drivers_probe
        self.assert_audit(group5_detach_writes())
        _, members = self.stack.get_group(NIC)
        self.assertEqual({d['address']: d['state'] for d in members},
                         {USB: 'vfio', SATA: 'vfio', ROOT_PORT: 'bridge', NIC: 'vfio'})

    def test_dry_run_returns_the_plan_and_writes_nothing(self):
        self.assertEqual(self.detach(NIC, GROUP | DRY_RUN), GROUP5_DETACH_PLAN)
        self.assert_nothing_written()
        self.assert_drivers(GROUP5_ORIGINAL)
        self.assert_overrides({a: None for a in GROUP5})
        # then the real call does what the dry run said
        self.assertEqual(self.detach(NIC, GROUP), GROUP5_DETACH_PLAN)

    def test_nothing_to_do_is_success_with_keep_entries(self):
        self.detach(NIC, GROUP)
        self.sim.clear_audit()
        keep = [plan_entry(USB, 'keep', 'vfio-pci', 'vfio-pci', 'already on vfio-pci'),
                plan_entry(SATA, 'keep', 'vfio-pci', 'vfio-pci', 'already on vfio-pci'),
                plan_entry(ROOT_PORT, 'keep', 'pcieport', 'pcieport', 'bridge stays on pcieport'),
                plan_entry(NIC, 'keep', 'vfio-pci', 'vfio-pci', 'already on vfio-pci')]
        self.assertEqual(self.detach(NIC, GROUP), keep)
        self.assertEqual(self.detach(NIC), keep)
        # an unprivileged caller too, with polkit refusing everything: no
        # authorization is asked when there is nothing to do
        self.stack.polkit_mock('SetAllowed', 'as', [])
        reply = self.stack.call_as(NOBODY, 'DetachDevice', 'st', NIC, GROUP)
        self.assertEqual(reply.get('reply'), [keep], reply)
        self.assertEqual(self.stack.polkit_calls(), [])
        self.assert_nothing_written()

    def test_alone_once_the_others_are_on_vfio(self):
        self.detach(NIC, GROUP)
        self.assertEqual(self.reattach(NIC), [
            plan_entry(USB, 'keep', 'vfio-pci', 'vfio-pci', 'stays on vfio-pci (not asked for)'),
            plan_entry(SATA, 'keep', 'vfio-pci', 'vfio-pci', 'stays on vfio-pci (not asked for)'),
            plan_entry(ROOT_PORT, 'keep', 'pcieport', 'pcieport', 'bridge stays as it is'),
            plan_entry(NIC, 'reattach', 'vfio-pci', 'e1000e')])
        self.assert_drivers({USB: 'vfio-pci', SATA: 'vfio-pci', ROOT_PORT: 'pcieport', NIC: 'e1000e'})
        self.sim.clear_audit()
        # every other device is on vfio-pci or a bridge: viable without GROUP
        self.assertEqual(self.detach(NIC), [
            plan_entry(USB, 'keep', 'vfio-pci', 'vfio-pci', 'already on vfio-pci'),
            plan_entry(SATA, 'keep', 'vfio-pci', 'vfio-pci', 'already on vfio-pci'),
            plan_entry(ROOT_PORT, 'keep', 'pcieport', 'pcieport', 'bridge stays on pcieport'),
            plan_entry(NIC, 'detach', 'e1000e', 'vfio-pci')])
        self.assert_audit(detach_writes(NIC, 'e1000e'))
        self.assert_drivers(GROUP5_ON_VFIO)

    def test_unbound_endpoints_get_the_override(self):
        note = 'no driver now; driver_override keeps host drivers off'
        plan = self.detach(AUDIO, GROUP)
        self.assertEqual(plan, [plan_entry(LPC, 'detach', '', 'vfio-pci', note),
                                plan_entry(PMC, 'detach', '', 'vfio-pci', note),
                                plan_entry(AUDIO, 'detach', 'snd_hda_intel', 'vfio-pci'),
                                plan_entry(SMBUS, 'detach', 'i801_smbus', 'vfio-pci')])
        # unbound devices: no unbind, only the override and a probe
        self.assert_audit(detach_writes(LPC, None) + detach_writes(PMC, None) +
                          detach_writes(AUDIO, 'snd_hda_intel') + detach_writes(SMBUS, 'i801_smbus'))
        self.assert_drivers({a: 'vfio-pci' for a in GROUP8})
        self.assert_overrides({a: 'vfio-pci' for a in GROUP8})

        self.sim.clear_audit()
        self.assertEqual(self.reattach(LPC, GROUP), [
            plan_entry(LPC, 'reattach', 'vfio-pci', '', 'had no driver before'),
            plan_entry(PMC, 'reattach', 'vfio-pci', '', 'had no driver before'),
            plan_entry(AUDIO, 'reattach', 'vfio-pci', 'snd_hda_intel'),
            plan_entry(SMBUS, 'reattach', 'vfio-pci', 'i801_smbus')])
        # a device that had no driver goes back to none: no drivers_probe,
        # which could hand it to a host driver it never had
        self.assert_audit(reattach_writes(LPC)[:2] + reattach_writes(PMC)[:2] +
                          reattach_writes(AUDIO) + reattach_writes(SMBUS))
        self.assert_drivers({a: ORIGINAL[a] for a in GROUP8})
        self.assert_overrides({a: None for a in GROUP8})


class TestReattach(StackTest):
    def test_single_then_group(self):
        self.detach(NIC, GROUP)
        self.sim.clear_audit()
        self.reattach(USB)
        self.assert_audit(reattach_writes(USB))
        self.assert_drivers({USB: 'xhci_hcd', SATA: 'vfio-pci', NIC: 'vfio-pci'})

        self.sim.clear_audit()
        plan = self.reattach(NIC, GROUP)
        self.assertEqual(plan, [
            plan_entry(USB, 'keep', 'xhci_hcd', 'xhci_hcd', 'not on vfio-pci'),
            plan_entry(SATA, 'reattach', 'vfio-pci', 'ahci'),
            plan_entry(ROOT_PORT, 'keep', 'pcieport', 'pcieport', 'bridge stays as it is'),
            plan_entry(NIC, 'reattach', 'vfio-pci', 'e1000e')])
        self.assert_audit(reattach_writes(SATA) + reattach_writes(NIC))
        self.assert_drivers(GROUP5_ORIGINAL)
        self.assert_overrides({a: None for a in GROUP5})

    def test_dry_run_writes_nothing(self):
        self.detach(NIC, GROUP)
        self.sim.clear_audit()
        plan = self.reattach(NIC, GROUP | DRY_RUN)
        self.assertEqual([(e['address'], e['action'], e['to']) for e in plan],
                         [(USB, 'reattach', 'xhci_hcd'), (SATA, 'reattach', 'ahci'),
                          (ROOT_PORT, 'keep', 'pcieport'), (NIC, 'reattach', 'e1000e')])
        self.assert_nothing_written()
        self.assert_drivers(GROUP5_ON_VFIO)

    def test_not_detached(self):
        for flags in (0, GROUP, DRY_RUN):
            name, message = self.reattach_error(NIC, flags)
            self.assertEqual(name, ERROR + 'NotDetached')
            self.assertIn(NIC, message)
            self.assertIn('e1000e', message)
        self.assert_nothing_written()


class TestOriginalOverride(StackTest):
    """The NIC starts with driver_override "e1000e" set by the admin."""

    def setUp(self):
        self.start(topology_variant('plugin-nic.json', {NIC: {'driver_override': 'e1000e'}}))

    def test_override_restored_exactly(self):
        self.assertEqual(self.sim.override_of(NIC), 'e1000e')
        self.detach(NIC, GROUP)
        self.assert_overrides({NIC: 'vfio-pci'})
        self.sim.clear_audit()
        self.reattach(NIC, GROUP)
        self.assert_audit(reattach_writes(USB) + reattach_writes(SATA) + reattach_writes(NIC, 'e1000e'))
        self.assert_overrides({USB: None, SATA: None, NIC: 'e1000e'})
        self.assert_drivers(GROUP5_ORIGINAL)


class TestRefusals(StackTest):
    def test_bridge_target_not_assignable(self):
        for device in (ROOT_PORT, HOST_BRIDGE):
            for flags in (0, GROUP, DRY_RUN, GROUP | FORCE):
                name, message = self.detach_error(device, flags)
                self.assertEqual(name, ERROR + 'NotAssignable', (device, flags))
                self.assertIn(device, message)
                self.assertIn('bridge', message)
        self.assert_nothing_written()
        self.assert_drivers({ROOT_PORT: 'pcieport', HOST_BRIDGE: None})

    def test_unknown_flags_are_invalid_args(self):
        for method, flags in (('DetachDevice', 0x10), ('DetachDevice', 1 << 63), ('DetachDevice', 0xff),
                              ('ReattachDevice', FORCE), ('ReattachDevice', 0x8),
                              ('ReattachDevice', GROUP | (1 << 40))):
            name, message = self.stack.call_error(method, 'st', NIC, flags)
            self.assertEqual(name, INVALID_ARGS, (method, flags))
            self.assertIn('Unknown flags', message)
        self.assert_nothing_written()

    def test_malformed_address(self):
        for method in ('DetachDevice', 'ReattachDevice'):
            for text in ('', 'nic', '0000:02:00.8', '../../../etc', '0000:02:00.0/', '02:00'):
                name, message = self.stack.call_error(method, 'st', text, GROUP)
                self.assertEqual(name, ERROR + 'InvalidAddress', (method, text))
                self.assertIn('is not a PCI address', message)
        self.assert_nothing_written()

    def test_no_such_device(self):
        for method in ('DetachDevice', 'ReattachDevice'):
            name, message = self.stack.call_error(method, 'st', '0000:7f:1e.6', 0)
            self.assertEqual(name, ERROR + 'NoSuchDevice')
            self.assertIn('0000:7f:1e.6', message)
        self.assert_nothing_written()

    def test_boot_display_in_use_then_force(self):
        name, message = self.detach_error(IGPU)
        self.assertEqual(name, ERROR + 'DeviceInUse')
        self.assertIn('%s is in use by the host: boot display' % IGPU, message)
        self.assertIn('FORCE flag', message)
        self.assertNotIn('vfioctl', message)
        self.assert_nothing_written()
        self.assertEqual(self.detach(IGPU, FORCE), [plan_entry(IGPU, 'detach', 'i915', 'vfio-pci')])
        self.assert_audit(detach_writes(IGPU, 'i915'))

    def test_address_forms_are_normalised(self):
        plan = self.detach(HECI.upper()[5:])
        self.assertEqual(plan, [plan_entry(HECI, 'detach', 'mei_me', 'vfio-pci')])
        self.assertEqual(self.reattach(HECI.upper()), [plan_entry(HECI, 'reattach', 'vfio-pci', 'mei_me')])


class TestPciStub(StackTest):
    """pci-stub.json: the GPU on pci-stub shares group 1 with its HDMI audio
    (snd_hda_intel) and the PEG root port."""
    topology = 'pci-stub.json'
    GPU, HDMI, PEG = '0000:01:00.0', '0000:01:00.1', '0000:00:01.0'

    def expected_plan(self):
        return [plan_entry(self.PEG, 'keep', 'pcieport', 'pcieport', 'bridge stays on pcieport'),
                plan_entry(self.GPU, 'keep', 'pci-stub', 'pci-stub', 'pci-stub isolates it'),
                plan_entry(self.HDMI, 'detach', 'snd_hda_intel', 'vfio-pci')]

    def test_group_leaves_the_stub_alone(self):
        self.assertEqual(self.detach(self.HDMI, GROUP), self.expected_plan())
        self.assert_audit(detach_writes(self.HDMI, 'snd_hda_intel'))
        self.assert_drivers({self.PEG: 'pcieport', self.GPU: 'pci-stub', self.HDMI: 'vfio-pci'})
        self.assert_overrides({self.GPU: None, self.PEG: None})

    def test_stub_does_not_block_a_single_detach(self):
        self.assertEqual(self.detach(self.HDMI), self.expected_plan())
        self.assert_audit(detach_writes(self.HDMI, 'snd_hda_intel'))
        self.assert_drivers({self.GPU: 'pci-stub', self.HDMI: 'vfio-pci'})


class TestPciStubWithIds(StackTest):
    """pci-stub given the GPU's id (as with pci-stub.ids=10de:1c82), so it
    can take it back: detached with its group, then reattached."""
    GPU, HDMI, PEG = TestPciStub.GPU, TestPciStub.HDMI, TestPciStub.PEG

    def setUp(self):
        self.start(topology_variant('pci-stub.json', drivers=[{'name': 'pci-stub', 'ids': ['10de:1c82']}]))

    def test_stub_device_goes_back_to_pci_stub(self):
        self.assertEqual(self.detach(self.GPU, GROUP), [
            plan_entry(self.PEG, 'keep', 'pcieport', 'pcieport', 'bridge stays on pcieport'),
            plan_entry(self.GPU, 'detach', 'pci-stub', 'vfio-pci'),
            plan_entry(self.HDMI, 'detach', 'snd_hda_intel', 'vfio-pci')])
        self.assert_audit(detach_writes(self.GPU, 'pci-stub') + detach_writes(self.HDMI, 'snd_hda_intel'))
        self.sim.clear_audit()
        self.assertEqual([(e['address'], e['to']) for e in self.reattach(self.GPU, GROUP)],
                         [(self.PEG, 'pcieport'), (self.GPU, 'pci-stub'), (self.HDMI, 'snd_hda_intel')])
        # drivers_probe would hand the GPU to nouveau (host drivers first):
        # the override names pci-stub while the kernel probes, so nouveau
        # never touches it
        self.assert_audit(reattach_writes(self.GPU, driver='pci-stub') +
                          reattach_writes(self.HDMI, driver='snd_hda_intel'))
        self.assert_drivers({self.GPU: 'pci-stub', self.HDMI: 'snd_hda_intel', self.PEG: 'pcieport'})
        self.assert_overrides({self.GPU: None, self.HDMI: None})


class TestDetachedBeforeVfiod(StackTest):
    """states.json: 03:00.0 was put on vfio-pci (override set) by someone
    else; vfiod has no record of its original driver."""
    topology = 'states.json'
    DEV, PORT = '0000:03:00.0', '0000:00:1c.4'

    def test_reattach_lets_the_kernel_pick(self):
        note = 'detached before vfiod knew it: the kernel picks the driver'
        self.assertEqual(self.reattach(self.DEV, DRY_RUN), [
            plan_entry(self.PORT, 'keep', 'pcieport', 'pcieport', 'bridge stays as it is'),
            plan_entry(self.DEV, 'reattach', 'vfio-pci', '', note)])
        self.assert_nothing_written()
        # after the call the plan says where it went
        self.assertEqual(self.reattach(self.DEV), [
            plan_entry(self.PORT, 'keep', 'pcieport', 'pcieport', 'bridge stays as it is'),
            plan_entry(self.DEV, 'reattach', 'vfio-pci', 'e1000e', note)])
        self.assert_audit(reattach_writes(self.DEV, driver=''))
        self.assert_drivers({self.DEV: 'e1000e'})
        self.assert_overrides({self.DEV: None})


class TestInUse(StackTest):
    """in-use.json: the NVMe at 03:00.0 holds a partition held by dm-0."""
    topology = 'in-use.json'
    NVME, PORT = '0000:03:00.0', '0000:00:1b.0'

    def test_refused_then_forced(self):
        _, members = self.stack.get_group(self.NVME)
        reason = {d['address']: d for d in members}[self.NVME]['in_use']
        self.assertEqual(reason, 'held by dm-0 (nvme1n1p1)')
        for flags in (0, GROUP, DRY_RUN, GROUP | DRY_RUN):
            name, message = self.detach_error(self.NVME, flags)
            self.assertEqual(name, ERROR + 'DeviceInUse', flags)
            self.assertIn('%s is in use by the host: %s' % (self.NVME, reason), message)
        self.assert_nothing_written()
        self.assert_drivers({self.NVME: 'nvme'})

        plan = self.detach(self.NVME, FORCE | DRY_RUN)
        self.assertEqual(plan, [plan_entry(self.PORT, 'keep', 'pcieport', 'pcieport', 'bridge stays on pcieport'),
                                plan_entry(self.NVME, 'detach', 'nvme', 'vfio-pci')])
        self.assert_nothing_written()
        self.assertEqual(self.detach(self.NVME, FORCE), plan)
        self.assert_audit(detach_writes(self.NVME, 'nvme'))
        self.assert_drivers({self.NVME: 'vfio-pci', self.PORT: 'pcieport'})


class TestVfioModule(StackTest):
    """vfio-pci not loaded: the daemon loads it through VFIOD_MODPROBE."""

    def setUp(self):
        pass

    def start_unloaded(self, fail=False):
        def env(stack):
            self.modprobe_log = os.path.join(stack.tmp, 'modprobe.log')
            stack.daemon_env.update(VFIOD_MODPROBE=FAKE_MODPROBE, FAKE_MODPROBE_LOG=self.modprobe_log,
                                    FAKE_MODPROBE_CONTROL=os.path.join(stack.tmp, 'sim', 'ctl'))
            if fail:
                stack.daemon_env['FAKE_MODPROBE_FAIL'] = '1'
        self.start(topology_variant('plugin-nic.json', vfio_pci_loaded=False), before_daemon=env)
        self.assertFalse(os.path.exists('/sys/bus/pci/drivers/vfio-pci'))

    def modprobe_calls(self):
        if not os.path.exists(self.modprobe_log):
            return []
        with open(self.modprobe_log) as f:
            return f.read().splitlines()

    def test_loaded_through_modprobe(self):
        self.start_unloaded()
        # a dry run needs no module
        self.detach(NIC, GROUP | DRY_RUN)
        self.assertEqual(self.modprobe_calls(), [])
        self.assertEqual(self.detach(NIC, GROUP), GROUP5_DETACH_PLAN)
        self.assertEqual(self.modprobe_calls(), ['-q vfio_pci'])
        self.assertTrue(os.path.isdir('/sys/bus/pci/drivers/vfio-pci'))
        self.assert_audit(group5_detach_writes())
        self.assert_drivers(GROUP5_ON_VFIO)

    def test_modprobe_fails(self):
        self.start_unloaded(fail=True)
        name, message = self.detach_error(NIC, GROUP)
        self.assertEqual(name, ERROR + 'VfioUnavailable')
        self.assertIn(NIC, message)
        self.assertIn('Module vfio_pci not found', message)
        self.assertIn('nothing was changed', message)
        self.assertEqual(self.modprobe_calls(), ['-q vfio_pci'])
        self.assert_nothing_written()
        self.assert_drivers(GROUP5_ORIGINAL)
        self.assert_overrides({a: None for a in GROUP5})


class TestGroupBusy(StackTest):
    def test_reattach_refused_while_the_group_is_open(self):
        self.detach(NIC, GROUP)
        self.sim.clear_audit()
        dev_vfio = self.enterContext(private_dev_vfio(self.stack.tmp))
        path = os.path.join(dev_vfio, '5')
        with open(path, 'w'):
            pass
        with open('/proc/self/comm') as f:
            comm = f.read().strip()
        with open(path, 'rb'):
            for flags in (0, GROUP):
                started = time.monotonic()
                name, message = self.reattach_error(NIC, flags)
                self.assertLess(time.monotonic() - started, 5, 'GroupBusy must not wait on the group')
                self.assertEqual(name, ERROR + 'GroupBusy')
                self.assertIn('pid %d (%s, uid %d)' % (os.getpid(), comm, os.getuid()), message)
                self.assertIn('IOMMU group 5', message)
            self.assert_nothing_written()
            self.assert_drivers(GROUP5_ON_VFIO)
        # closed: the VM is gone, the group goes back
        self.reattach(NIC, GROUP)
        self.assert_drivers(GROUP5_ORIGINAL)


class TestCli(StackTest):
    def test_not_viable_prints_the_list_and_the_hint(self):
        proc = self.stack.vfioctl('detach', NIC, check=1)
        self.assertIn(USB, proc.stderr)
        self.assertIn(SATA, proc.stderr)
        self.assertIn('on xhci_hcd', proc.stderr)
        self.assertIn('on ahci', proc.stderr)
        # the hint once, from vfioctl; the service's message names no command
        self.assertEqual(proc.stderr.count("vfioctl detach --group"), 1, proc.stderr)
        self.assertIn("Hint: 'vfioctl detach --group %s'" % NIC, proc.stderr)
        self.assertNotIn('org.freedesktop', proc.stderr)
        self.assertEqual(proc.stdout, '')
        self.assert_nothing_written()

    def test_each_refusal_gets_one_cli_hint(self):
        cases = [(('detach', IGPU), 'add --force'),
                 (('reattach', NIC), "Hint: 'vfioctl group %s'" % NIC),
                 (('detach', ROOT_PORT), "Hint: 'vfioctl group %s'" % ROOT_PORT),
                 (('group', '0000:7f:1e.6'), "Hint: 'vfioctl list'")]
        for args, hint in cases:
            proc = self.stack.vfioctl(*args, check=1)
            self.assertEqual(proc.stderr.count('Hint:'), 1, proc.stderr)
            self.assertIn(hint, proc.stderr)
            # the service's own words name no command line
            self.assertEqual(proc.stderr.count('vfioctl '), proc.stderr.count("Hint: 'vfioctl "), proc.stderr)
        self.assert_nothing_written()

    def test_dry_run_json_equals_dbus(self):
        out = self.stack.vfioctl_json('detach', '--group', '--dry-run', NIC)
        self.assertEqual(out, {'plan': GROUP5_DETACH_PLAN})
        self.assert_nothing_written()

    def test_detach_table_then_reattach_json(self):
        proc = self.stack.vfioctl('detach', '--group', NIC, check=0)
        lines = proc.stdout.splitlines()
        for address, driver in ((USB, 'xhci_hcd'), (SATA, 'ahci'), (NIC, 'e1000e')):
            line = next(line for line in lines if address in line)
            self.assertIn('detach', line)
            self.assertIn('%s -> vfio-pci' % driver, line)
        line = next(line for line in lines if ROOT_PORT in line)
        self.assertIn('keep', line)
        self.assertIn('bridge stays on pcieport', line)
        self.assert_drivers(GROUP5_ON_VFIO)

        out = self.stack.vfioctl_json('reattach', '--group', NIC)
        self.assertEqual([(e['address'], e['action'], e['from'], e['to']) for e in out['plan']],
                         [(USB, 'reattach', 'vfio-pci', 'xhci_hcd'), (SATA, 'reattach', 'vfio-pci', 'ahci'),
                          (ROOT_PORT, 'keep', 'pcieport', 'pcieport'), (NIC, 'reattach', 'vfio-pci', 'e1000e')])
        self.assert_drivers(GROUP5_ORIGINAL)

    def test_exit_codes(self):
        self.stack.vfioctl('reattach', NIC, check=1)            # NotDetached
        self.stack.vfioctl('detach', ROOT_PORT, check=1)        # NotAssignable
        self.stack.vfioctl('detach', 'not-an-address', check=1)
        self.stack.vfioctl('detach', check=2)                   # no device
        self.stack.vfioctl('detach', NIC, SATA, check=2)        # two devices
        self.stack.vfioctl('reattach', '--force', NIC, check=2)  # FORCE is detach-only
        self.stack.vfioctl('detach', '--bogus', NIC, check=2)
        help_text = self.stack.vfioctl('--help', check=0).stdout
        for word in ('detach', 'reattach', '--group', '--dry-run', '--force'):
            self.assertIn(word, help_text)
        self.assert_nothing_written()


if __name__ == '__main__':
    main()

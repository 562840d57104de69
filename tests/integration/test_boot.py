#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The boot-time helper (vfiod-boot-bind), run as udev runs it on "add",
against the simulated machine: it binds recorded devices whose ids still
match to vfio-pci with exactly the writes DetachDevice makes, loads
vfio-pci first when it is not loaded so the host driver loaded after it
never takes the device, and writes nothing at all for devices without a
record, with a record it must not trust, a record that no longer matches,
a device the host uses, or vfiod.persistent=0 on the command line.  Then
the daemon shows what the helper did.  The udev rule is checked with
udevadm's own rule processing: it runs the helper only for recorded
devices, before the rule that loads drivers."""

import errno
import json
import os
import re
import shutil
import subprocess
import tempfile

from harness import BUILDDIR, SRCDIR, main
from detachlib import (FAKE_MODPROBE, GROUP5, HECI, IGPU, LPC, NIC, ORIGINAL, SATA, USB, StackTest,
                       detach_writes, override_write, probe_write, topology_variant, unbind_write)
from test_persistent import IDS, record_text

HELPER = os.path.join(BUILDDIR, 'service', 'vfiod-boot-bind')
ENDPOINTS = [USB, SATA, NIC]   # group 5 without its root port
ALL = sorted(set(GROUP5 + list(ORIGINAL)))


class BootTest(StackTest):
    def setUp(self):
        pass

    def start(self, topology='plugin-nic.json', **kw):
        stack = super().start(topology, **kw)
        self.cmdline = os.path.join(stack.tmp, 'cmdline')
        self.set_cmdline('BOOT_IMAGE=/vmlinuz root=/dev/sda2 ro quiet')
        self.modprobe_log = os.path.join(stack.tmp, 'modprobe.log')
        return stack

    def set_cmdline(self, text):
        with open(self.cmdline, 'w') as f:
            f.write(text + '\n')

    def write_record(self, address, text=None, mode=0o644, ids=None):
        os.makedirs(self.stack.persist_dir, exist_ok=True)
        path = os.path.join(self.stack.persist_dir, address + '.conf')
        with open(path, 'w') as f:
            f.write(text if text is not None else record_text(address, ids or IDS[address], sorted(GROUP5)))
        os.chmod(path, mode)
        return path

    def run_helper(self, address, expect=0, initramfs=False, env=None):
        """The helper as udev runs it: on the real root, or in the
        initramfs (its marker there); its notes in the stack's /run."""
        env = dict(os.environ, FAKE_MODPROBE_LOG=self.modprobe_log,
                   FAKE_MODPROBE_CONTROL=os.path.join(self.stack.tmp, 'sim', 'ctl'), **(env or {}))
        marker = os.path.join(self.stack.tmp, 'initramfs-marker')
        if initramfs:
            open(marker, 'w').close()
        elif os.path.exists(marker):
            os.unlink(marker)
        os.makedirs(os.path.join(self.stack.tmp, 'run'), exist_ok=True)
        proc = subprocess.run([HELPER, '--no-kmsg', '--records', self.stack.persist_dir,
                               '--cmdline', self.cmdline, '--modprobe', FAKE_MODPROBE,
                               '--notes', self.stack.notes_dir, '--initramfs-marker', marker, address],
                              capture_output=True, text=True, env=env, timeout=30)
        self.assertEqual(proc.returncode, expect, proc.stderr)
        self.assertEqual(proc.stdout, '')
        return proc.stderr

    def coldplug(self):
        """The helper for every device, as udev's coldplug runs it; its
        messages by address."""
        return {a: self.run_helper(a) for a in ALL}

    def modprobes(self):
        if not os.path.exists(self.modprobe_log):
            return []
        with open(self.modprobe_log) as f:
            return f.read().splitlines()


class TestBind(BootTest):
    def test_recorded_devices_bound_others_untouched(self):
        self.start()
        for a in ENDPOINTS:
            self.write_record(a)
        said = self.coldplug()
        # exactly DetachDevice's writes, device by device, nothing else
        writes = []
        for a in ALL:
            if a in ENDPOINTS:
                writes += detach_writes(a, ORIGINAL[a])
        self.assert_audit(writes)
        self.assert_drivers({USB: 'vfio-pci', SATA: 'vfio-pci', NIC: 'vfio-pci', HECI: 'mei_me',
                             IGPU: 'i915', '0000:00:1c.0': 'pcieport'})
        for a in ENDPOINTS:
            self.assertIn('%s: bound to vfio-pci, as recorded in' % a, said[a])
        for a in set(ALL) - set(ENDPOINTS):
            self.assertEqual(said[a], '', a)
        # vfio-pci was loaded: nothing to load
        self.assertEqual(self.modprobes(), [])

        # a second run (udev's "add" again, or the real root after the
        # initramfs) has nothing left to do
        self.sim.clear_audit()
        self.coldplug()
        self.assert_nothing_written()

    def test_daemon_shows_what_the_helper_did(self):
        # the kernel announces each bind the helper makes, and the daemon
        # reads again on that news
        self.start(uevents=True)
        for a in ENDPOINTS:
            self.write_record(a)
        self.coldplug()
        _, members = self.stack.get_group(NIC)
        got = {d['address']: (d['driver'], d.get('persistent', '')) for d in members}
        self.assertEqual(got, {USB: ('vfio-pci', 'active'), SATA: ('vfio-pci', 'active'),
                               NIC: ('vfio-pci', 'active'), '0000:00:1c.0': ('pcieport', '')})
        plan = self.stack.call('ReattachDevice', 'st', NIC, 0x1)[0]
        self.assertEqual(sorted(e['address'] for e in plan if e['action'] == 'reattach'), ENDPOINTS)
        self.assertEqual(os.listdir(self.stack.persist_dir), [])
        self.assert_drivers({a: ORIGINAL[a] for a in ENDPOINTS})

    def test_host_driver_loaded_after_the_helper_never_binds(self):
        # the boot as it is: vfio-pci and e1000e are modules not loaded
        # yet, the NIC has no driver when it is added
        topo = topology_variant('plugin-nic.json', vfio_pci_loaded=False,
                                devices={NIC: {'driver': None}},
                                drivers=[{'name': 'e1000e', 'module': 'e1000e', 'loaded': False,
                                          'ids': ['8086:10d3']}])
        self.start(topo)
        self.write_record(NIC)
        self.run_helper(NIC)
        self.assertEqual(self.modprobes(), ['-q vfio_pci'])
        self.assert_drivers({NIC: 'vfio-pci'})
        self.assertEqual(self.sim.override_of(NIC), 'vfio-pci')
        # then 80-drivers.rules loads the host driver: it finds the NIC taken
        self.sim.load('e1000e')
        self.assert_drivers({NIC: 'vfio-pci'})
        # no unbind was needed: the override, and vfio-pci's own probe
        self.assert_audit([override_write(NIC, 'vfio-pci')])

    def test_another_devices_event_sets_the_override_first(self):
        # udev handles events in parallel: the USB controller's event may
        # load e1000e before the NIC's own event ran.  Its helper run sets
        # the NIC's override first, so e1000e finds the NIC taken.
        topo = topology_variant('plugin-nic.json', vfio_pci_loaded=False,
                                devices={NIC: {'driver': None}},
                                drivers=[{'name': 'e1000e', 'module': 'e1000e', 'loaded': False,
                                          'ids': ['8086:10d3']}])
        self.start(topo)
        self.write_record(NIC)
        said = self.run_helper(USB)
        self.assertIn('%s: driver_override set to vfio-pci ahead of its own event' % NIC, said)
        self.assert_audit([override_write(NIC, 'vfio-pci')])
        self.sim.load('e1000e')
        self.assert_drivers({NIC: None, USB: 'xhci_hcd'})
        # then the NIC's own event: vfio-pci is loaded and takes it
        self.sim.clear_audit()
        self.run_helper(NIC)
        self.assert_drivers({NIC: 'vfio-pci'})
        self.assertEqual(self.modprobes(), ['-q vfio_pci'])
        # a second sweep writes nothing: the override is there already
        self.sim.clear_audit()
        self.run_helper(SATA)
        self.assert_nothing_written()

    def test_sweep_leaves_bound_mismatched_and_untrusted_devices(self):
        # bound (its own event unbinds it, or not), another device at the
        # address, a record not to trust: the sweep writes nothing
        topo = topology_variant('plugin-nic.json', devices={USB: {'driver': None}, SATA: {'driver': None}})
        self.start(topo)
        vendor, device, sv, sd, cls = IDS[USB]
        self.write_record(USB, ids=(vendor, 0x1234, sv, sd, cls))
        self.write_record(SATA, mode=0o666)
        self.write_record(NIC)
        self.assertEqual(self.run_helper(HECI), '')
        self.assert_nothing_written()

    def test_unbound_device_with_vfio_pci_loaded_is_probed(self):
        self.start(topology_variant('plugin-nic.json', devices={NIC: {'driver': None}},
                                    drivers=[{'name': 'e1000e', 'module': 'e1000e', 'loaded': False,
                                              'ids': ['8086:10d3']}]))
        self.write_record(NIC)
        self.run_helper(NIC)
        self.assert_audit([override_write(NIC, 'vfio-pci'), probe_write(NIC)])
        self.assert_drivers({NIC: 'vfio-pci'})

    def test_modprobe_failure_is_reported(self):
        topo = topology_variant('plugin-nic.json', vfio_pci_loaded=False,
                                devices={NIC: {'driver': None}})
        self.start(topo)
        self.write_record(NIC)
        os.environ['FAKE_MODPROBE_FAIL'] = '1'
        self.addCleanup(os.environ.pop, 'FAKE_MODPROBE_FAIL')
        said = self.run_helper(NIC, expect=1)
        self.assertIn('vfio_pci could not be loaded', said)
        self.assert_drivers({NIC: None})


class TestWriteFailures(BootTest):
    """The kernel refusing each of the helper's writes, one at a time (all
    three are enumerated): it stops there, says which, and exits 1; what
    it wrote before stays as the kernel has it, and the daemon reports
    the assignment as not carried out."""

    def setUp(self):
        self.start()
        self.write_record(NIC)

    def test_override_write_fails(self):
        self.sim.fail('/driver_override', 'EIO', count=1)
        said = self.run_helper(NIC, expect=1)
        self.assertIn('writing', said)
        self.assertIn('driver_override failed', said)
        self.assert_audit([override_write(NIC, 'vfio-pci', result='EIO')])
        self.assert_drivers({NIC: 'e1000e'})

    def test_unbind_fails(self):
        self.sim.fail('/e1000e/unbind', 'EBUSY', count=1)
        said = self.run_helper(NIC, expect=1)
        self.assertIn('unbinding it from e1000e failed', said)
        self.assert_audit([override_write(NIC, 'vfio-pci'), ('/sys/bus/pci/drivers/e1000e/unbind', NIC, 'EBUSY')])
        # still the host's; its override sends it to vfio-pci on the next probe
        self.assert_drivers({NIC: 'e1000e'})
        self.assertEqual(self.sim.override_of(NIC), 'vfio-pci')

    def test_probe_fails(self):
        self.sim.fail('/drivers_probe', 'ENOMEM', count=1)
        said = self.run_helper(NIC, expect=1)
        self.assertIn('did not bind to vfio-pci', said)
        self.assert_audit(detach_writes(NIC, 'e1000e')[:-1] + [probe_write(NIC, result='ENOMEM')])
        self.assert_drivers({NIC: None})
        # the daemon says the assignment holds but did not happen
        self.stack.restart_daemon()
        with open(os.path.join(self.stack.tmp, 'vfiod.log'), errors='replace') as f:
            self.assertIn('Persistent assignment of %s holds, but the device is on no driver' % NIC, f.read())


class TestNothing(BootTest):
    """Every way the helper must leave a device alone: no writes."""

    def tearDown(self):
        self.assert_nothing_written()
        self.assert_drivers({a: ORIGINAL[a] for a in ALL})

    def test_no_records(self):
        self.start()
        said = self.coldplug()
        self.assertEqual(set(said.values()), {''})
        self.assertFalse(os.path.exists(self.stack.persist_dir))

    def test_turned_off_on_the_command_line(self):
        self.start()
        for a in ENDPOINTS:
            self.write_record(a)
        for cmdline in ('quiet vfiod.persistent=0', 'vfiod.persistent=1 vfiod.persistent=off',
                        'vfiod.persistent=maybe', '"vfiod.persistent=no"'):
            self.set_cmdline(cmdline)
            said = self.run_helper(NIC)
            self.assertIn(NIC, said)
            self.assertRegex(said, r'vfiod.persistent(=0 turns| has a value)', cmdline)

    def test_no_command_line(self):
        # cannot tell whether it was told to stop: does nothing
        self.start()
        self.write_record(NIC)
        os.unlink(self.cmdline)
        self.assertIn('persistent assignments are not carried out', self.run_helper(NIC))

    def test_device_no_longer_matches(self):
        self.start()
        vendor, device, sv, sd, cls = IDS[NIC]
        self.write_record(NIC, ids=(vendor, 0x10ea, sv, sd, cls))
        said = self.run_helper(NIC)
        self.assertIn('not the device recorded in', said)
        self.assertIn('8086:10ea', said)
        self.assertIn('8086:10d3', said)

    def test_records_not_to_trust(self):
        self.start()
        good = record_text(NIC, IDS[NIC], sorted(GROUP5))
        cases = {
            'group-writable': dict(mode=0o664),
            'world-writable': dict(mode=0o646),
            'truncated': dict(text=good[:-1]),
            'cut mid-key': dict(text=good[:good.index('class=')]),
            'garbage': dict(text='\x00\xff' * 100),
            'unknown key': dict(text=good + 'vendr=0x8086\n'),
            'another device': dict(text=record_text(SATA, IDS[NIC], sorted(GROUP5))),
            'empty': dict(text=''),
            'huge': dict(text='#' * 70000 + '\n' + good),
        }
        for what, kw in cases.items():
            self.write_record(NIC, **kw)
            said = self.run_helper(NIC)
            self.assertIn('the device is left alone', said, what)

    def test_record_owned_by_another_user(self):
        self.start()
        path = self.write_record(NIC)
        os.chown(path, 65534, 65534)
        self.assertIn('not a regular file of root', self.run_helper(NIC))

    def test_record_is_a_symlink_or_directory(self):
        self.start()
        target = os.path.join(self.stack.tmp, 'elsewhere.conf')
        with open(target, 'w') as f:
            f.write(record_text(NIC, IDS[NIC], sorted(GROUP5)))
        os.makedirs(self.stack.persist_dir)
        os.symlink(target, os.path.join(self.stack.persist_dir, NIC + '.conf'))
        self.assertIn('cannot be opened', self.run_helper(NIC))
        os.unlink(os.path.join(self.stack.persist_dir, NIC + '.conf'))
        os.mkdir(os.path.join(self.stack.persist_dir, NIC + '.conf'))
        self.assertIn('the device is left alone', self.run_helper(NIC))

    def test_unrecorded_group_members_are_never_bound(self):
        # the NIC is recorded with a group of itself alone (a kernel update
        # has since put USB and SATA with it): only the NIC is the user's
        self.start()
        self.write_record(NIC, text=record_text(NIC, IDS[NIC], [NIC]))
        said = {a: self.run_helper(a) for a in (USB, SATA)}
        self.assertEqual(said, {USB: '', SATA: ''})

    def test_bad_arguments(self):
        self.start()
        for args in ([], ['not-an-address'], [NIC, NIC], ['--bogus', NIC]):
            proc = subprocess.run([HELPER, '--no-kmsg'] + args, capture_output=True, text=True)
            self.assertEqual(proc.returncode, 2, args)
            self.assertIn('Usage:', proc.stderr)


class TestInUse(BootTest):
    """A host driver that bound the device first: the helper takes it
    only when the host does not use it, as DetachDevice would."""

    def test_mounted_disk_is_left_to_the_host(self):
        with open('/proc/self/mountinfo') as f:
            devnum = next(line.split()[2] for line in f if not line.split()[2].startswith('0:'))
        self.start('in-use.json', substitute=dict(ROOT_DEV=devnum, ROOT_PART='sdq2', ROOT_DISK='sdq'))
        sata = '0000:00:17.0'
        self.write_record(sata, ids=(0x8086, 0xa282, 0x1043, 0x8694, 0x010601))
        said = self.run_helper(sata)
        self.assertIn('ahci bound it first and the host uses it (mounted on', said)
        self.assert_nothing_written()

    def test_interface_up_is_left_to_the_host(self):
        subprocess.check_call(['ip', 'link', 'add', 'simeth0', 'type', 'veth', 'peer', 'name', 'simeth1'])
        subprocess.check_call(['ip', 'link', 'set', 'simeth0', 'up'])
        self.start('in-use.json', substitute=dict(NET_IF='simeth0'))
        nic = '0000:02:00.0'
        with open(os.path.join('/sys/bus/pci/devices', nic, 'vendor')) as f:
            vendor = int(f.read(), 16)
        ids = []
        for attr in ('vendor', 'device', 'subsystem_vendor', 'subsystem_device', 'class'):
            with open(os.path.join('/sys/bus/pci/devices', nic, attr)) as f:
                ids.append(int(f.read(), 16))
        self.assertEqual(ids[0], vendor)
        self.write_record(nic, text=record_text(nic, tuple(ids), [nic]))
        said = self.run_helper(nic)
        self.assertIn('network interface simeth0 is up', said)
        self.assert_nothing_written()
        # the same interface down: the device is free to go
        subprocess.check_call(['ip', 'link', 'set', 'simeth0', 'down'])
        said = self.run_helper(nic)
        self.assertIn('bound to vfio-pci', said)


class TestRule(BootTest):
    """udevadm test: the installed rule, processed by udev itself."""

    def udevadm_test(self, address):
        proc = subprocess.run(['udevadm', 'test', '--action=add', '/sys/bus/pci/devices/' + address],
                              capture_output=True, text=True,
                              env=dict(os.environ, SYSTEMD_DEVICE_VERIFY_SYSFS='0', SYSTEMD_LOG_LEVEL='debug'))
        return proc.stdout + proc.stderr

    def test_rule_runs_the_helper_before_drivers_load(self):
        if not shutil.which('udevadm'):
            self.fail('udevadm is missing: tools/deps installs udev')
        self.start()
        rules = os.path.join(self.stack.tmp, 'rules.d')
        os.makedirs(rules)
        with open(os.path.join(BUILDDIR, 'boot', '40-vfiod-persistent.rules')) as f:
            rule = f.read()
        # the installed rule, with the test's records and notes directories
        rule = re.sub(r'TEST(==|!=)"[^"]*/persistent"', r'TEST\1"%s"' % self.stack.persist_dir, rule)
        rule = rule.replace('TEST=="/run/vfiod/boot-bound"', 'TEST=="%s"' % self.stack.notes_dir)
        self.assertEqual(rule.count('TEST=="%s"' % self.stack.persist_dir), 1, rule)
        self.assertEqual(rule.count('TEST!="%s"' % self.stack.persist_dir), 1, rule)
        self.assertEqual(rule.count('TEST=="%s"' % self.stack.notes_dir), 1, rule)
        with open(os.path.join(rules, '40-vfiod-persistent.rules'), 'w') as f:
            f.write(rule)
        # udev reads /etc/udev/rules.d: ours there, next to the system's
        subprocess.check_call(['mount', '--bind', rules, '/etc/udev/rules.d'])
        self.addCleanup(subprocess.call, ['umount', '-l', '/etc/udev/rules.d'])
        # no records directory: the helper is not even started
        out = self.udevadm_test(NIC)
        self.assertNotIn('vfiod-boot-bind', ''.join(re.findall(r"^run: '(.*)'$", out, re.M)), out)
        # nor without records but with the initramfs's notes: it runs
        # once, to give back what the initramfs bound
        os.makedirs(self.stack.notes_dir)
        out = self.udevadm_test(NIC)
        self.assertEqual(''.join(re.findall(r"^run: '(.*)'$", out, re.M)).count('vfiod-boot-bind ' + NIC), 1, out)
        shutil.rmtree(self.stack.notes_dir)

        self.write_record(NIC)
        out = self.udevadm_test(NIC)
        runs = re.findall(r"^run: '(.*)'$", out, re.M)
        helper = [i for i, r in enumerate(runs) if 'vfiod-boot-bind' in r]
        self.assertEqual(len(helper), 1, out)
        self.assertTrue(runs[helper[0]].endswith('vfiod-boot-bind ' + NIC), runs)
        # 80-drivers.rules' module loading comes after it
        kmod = [i for i, r in enumerate(runs) if 'kmod load' in r]
        self.assertTrue(kmod, out)
        self.assertLess(helper[0], kmod[0], runs)
        # with records, every PCI device's event runs it first (see the rule)
        out = self.udevadm_test(SATA)
        self.assertIn('vfiod-boot-bind ' + SATA, ''.join(re.findall(r"^run: '(.*)'$", out, re.M)), out)


class TestGiveBack(BootTest):
    """The initramfs binds from its copy of the records; on the real root
    the helper gives back a device that copy bound and the real root's own
    records do not want (the record removed since the image was built, no
    longer matching, or persistent assignments off), noting it in /run for
    the daemon; it never touches a device vfio-pci got any other way."""

    def boot_initramfs(self, address=NIC):
        """The initramfs pass: the record there (a copy), the device bound
        and noted."""
        self.start()
        self.record = self.write_record(address)
        said = self.run_helper(address, initramfs=True)
        self.assertIn('bound to vfio-pci', said)
        self.assert_drivers({address: 'vfio-pci'})
        self.assertEqual(self.note(address)['state'], 'initramfs')
        self.sim.clear_audit()

    def note_path(self, address):
        return os.path.join(self.stack.notes_dir, address)

    def note(self, address):
        with open(self.note_path(address)) as f:
            return dict(line.split('=', 1) for line in f.read().splitlines() if not line.startswith('#'))

    def daemon_log(self):
        with open(os.path.join(self.stack.tmp, 'vfiod.log'), errors='replace') as f:
            return f.read()

    def persistent_of(self, address):
        _, members = self.stack.get_group(address)
        return next(d for d in members if d['address'] == address).get('persistent', '')

    def group_of(self, address):
        return int(os.path.basename(os.readlink('/sys/bus/pci/devices/%s/iommu_group' % address)))

    def given_back_writes(self, address=NIC):
        return [override_write(address, '\n'), unbind_write(address, 'vfio-pci'), probe_write(address)]

    def test_record_gone_device_given_back(self):
        self.boot_initramfs()
        os.unlink(self.record)          # vfioctl reattach since the image was built
        said = self.run_helper(NIC)     # the real root's coldplug
        self.assertIn('%s: given back to e1000e' % NIC, said)
        self.assertIn('update-initramfs -u', said)
        self.assert_audit(self.given_back_writes())
        self.assert_drivers({NIC: 'e1000e'})
        self.assertEqual(self.sim.override_of(NIC), None)
        note = self.note(NIC)
        self.assertEqual((note['state'], note['driver'], note['vendor']), ('given-back', 'e1000e', '0x8086'))
        # the daemon says so, in its log and where panels look
        self.stack.restart_daemon()
        self.assertIn('%s was bound to vfio-pci by the initramfs\'s stale copy of the records and given '
                      'back to its host driver (e1000e); run update-initramfs -u / dracut -f' % NIC,
                      self.daemon_log())
        self.assertEqual(self.persistent_of(NIC), 'stale-initramfs: given back to e1000e')
        out = self.stack.vfioctl('--json', 'list').stdout
        self.assertIn('stale-initramfs: given back to e1000e', out)
        # the user detaches it again this boot, and udev's add comes again:
        # left on vfio-pci
        self.detach(NIC, 0x1)  # GROUP
        self.sim.clear_audit()
        self.assertEqual(self.run_helper(NIC), '')
        self.assert_nothing_written()
        self.assert_drivers({NIC: 'vfio-pci'})

    def test_records_directory_gone_rule_still_runs(self):
        # the last record removed with the directory: the rule runs the
        # helper while the notes directory exists
        with open(os.path.join(BUILDDIR, 'boot', '40-vfiod-persistent.rules')) as f:
            rule = f.read()
        self.assertRegex(rule, r'TEST!="[^"]*persistent", TEST=="/run/vfiod/boot-bound", RUN\+=')
        self.boot_initramfs()
        shutil.rmtree(self.stack.persist_dir)
        self.assertIn('given back to e1000e', self.run_helper(NIC))
        self.assert_drivers({NIC: 'e1000e'})

    def test_record_no_longer_matches_given_back(self):
        self.boot_initramfs()
        vendor, device, sv, sd, cls = IDS[NIC]
        self.write_record(NIC, ids=(vendor, 0x10ea, sv, sd, cls))
        said = self.run_helper(NIC)
        self.assertIn('does not match it', said)
        self.assert_audit(self.given_back_writes())
        self.assert_drivers({NIC: 'e1000e'})

    def test_turned_off_on_the_real_root_given_back(self):
        self.boot_initramfs()
        self.set_cmdline('quiet vfiod.persistent=0')
        self.assertIn('turns persistent assignments off', self.run_helper(NIC))
        self.assert_drivers({NIC: 'e1000e'})

    def test_record_still_there_nothing_changes(self):
        self.boot_initramfs()
        self.assertEqual(self.run_helper(NIC), '')
        self.assert_nothing_written()
        self.assert_drivers({NIC: 'vfio-pci'})
        self.assertEqual(self.note(NIC)['state'], 'kept')
        self.stack.restart_daemon()
        self.assertEqual(self.persistent_of(NIC), 'active')
        self.assertNotIn('stale copy', self.daemon_log())
        # then the user gives it back and takes it again for this boot
        # only: a later add event leaves the user's detach alone
        self.reattach(NIC)
        self.detach(NIC, 0x1)  # GROUP
        self.sim.clear_audit()
        self.assertEqual(self.run_helper(NIC), '')
        self.assert_nothing_written()
        self.assert_drivers({NIC: 'vfio-pci'})

    def test_detached_by_vfiod_this_boot_left_alone(self):
        # no initramfs note: vfio-pci got it another way
        self.start()
        os.makedirs(self.stack.persist_dir)
        self.detach(NIC, 0x1)  # GROUP
        self.sim.clear_audit()
        self.assertEqual(self.run_helper(NIC), '')
        self.assert_nothing_written()
        self.assert_drivers({NIC: 'vfio-pci'})
        self.assertFalse(os.path.exists(self.note_path(NIC)))

    def test_group_held_left_and_reported(self):
        self.boot_initramfs()
        os.unlink(self.record)
        group = self.group_of(NIC)
        asan = os.environ.get('ASAN_OPTIONS') or 'detect_leaks=1'
        said = self.run_helper(NIC, env={
            'LD_PRELOAD': os.path.join(BUILDDIR, 'tests', 'integration', 'openfail.so'),
            'VFIOD_TEST_OPEN_FAIL': '/dev/vfio/%d:%d' % (group, errno.EBUSY),
            # the sanitizer build: our preload comes before ASan's runtime
            'ASAN_OPTIONS': asan + ':verify_asan_link_order=0'})
        self.assertIn('/dev/vfio/%d is held by a process; it is left on vfio-pci' % group, said)
        self.assert_nothing_written()
        self.assert_drivers({NIC: 'vfio-pci'})
        note = self.note(NIC)
        self.assertEqual((note['state'], note['group']), ('held', str(group)))
        self.stack.restart_daemon()
        self.assertEqual(self.persistent_of(NIC),
                         'stale-initramfs: left on vfio-pci: its group %d is in use' % group)
        self.assertIn('its group %d was in use' % group, self.daemon_log())
        # not tried again later in the boot
        self.assertEqual(self.run_helper(NIC), '')
        self.assert_nothing_written()

    def test_hostile_notes_ignored(self):
        self.boot_initramfs()
        os.unlink(self.record)
        path = self.note_path(NIC)
        with open(path) as f:
            good = f.read()
        elsewhere = os.path.join(self.stack.tmp, 'elsewhere')
        with open(elsewhere, 'w') as f:
            f.write(good)

        def put(text=None, mode=0o644, uid=0, link=False):
            os.unlink(path)
            if link:
                os.symlink(elsewhere, path)
                return
            with open(path, 'w') as f:
                f.write(text if text is not None else good)
            os.chmod(path, mode)
            os.chown(path, uid, uid)

        cases = {
            'symlink': dict(link=True),
            'not root\'s': dict(uid=65534),
            'group-writable': dict(mode=0o664),
            'garbage': dict(text='\x00\xff' * 100),
            'unknown state': dict(text=good.replace('state=initramfs', 'state=bogus')),
            'unknown key': dict(text=good + 'extra=1\n'),
            'truncated': dict(text=good[:-1]),
            'another device': dict(text=good.replace('address=' + NIC, 'address=' + SATA)),
            'huge': dict(text='#' * 2000 + '\n' + good),
        }
        for what, kw in cases.items():
            put(**kw)
            said = self.run_helper(NIC)
            self.assertIn('it is not used', said, what)
            self.assert_nothing_written()
            self.assert_drivers({NIC: 'vfio-pci'})
            self.stack.restart_daemon()
            self.assertEqual(self.persistent_of(NIC), '', what)
        # the directory itself a link to one that holds a good note
        put()
        moved = os.path.join(self.stack.tmp, 'notes-elsewhere')
        os.rename(self.stack.notes_dir, moved)
        os.symlink(moved, self.stack.notes_dir)
        self.assertIn('its notes are not used', self.run_helper(NIC))
        self.assert_nothing_written()
        self.assert_drivers({NIC: 'vfio-pci'})


KVER = '6.1.0-99-test'
# dracut's install functions standing in for dracut, which conflicts with
# initramfs-tools on Debian: the module is run as dracut calls it
DRACUT_STUB = '''
inst_simple() { echo "inst_simple $1"; }
instmods() { echo "instmods $* hostonly=[$hostonly]"; }
initdir="$2"
. "$1"
check; echo "check $?"
installkernel
install
'''


class TestInitramfs(BootTest):
    """The hook and the module, in initramfs images built by the real
    tools from what `meson install` lays out: the rule, the helper and the
    records go in; nothing goes in while there are no records."""

    def setUp(self):
        # no simulated machine needed: this namespace's prefix becomes the
        # installed tree
        self.tmp = tempfile.mkdtemp(prefix='vfiod-initramfs-')
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.dest = os.path.join(self.tmp, 'dest')
        subprocess.run(['meson', 'install', '-C', BUILDDIR, '--destdir', self.dest, '--no-rebuild', '--quiet'],
                       check=True, capture_output=True)
        prefix = self.prefix()
        self.installed = {
            'helper': os.path.join(prefix, 'libexec', 'vfiod-boot-bind'),
            'rule': os.path.join(prefix, 'lib', 'udev', 'rules.d', '40-vfiod-persistent.rules'),
            'hook': os.path.join(prefix, 'share', 'initramfs-tools', 'hooks', 'vfiod'),
            'dracut': os.path.join(prefix, 'lib', 'dracut', 'modules.d', '90vfiod', 'module-setup.sh'),
        }
        self.records = os.path.join(prefix, 'etc', 'vfiod', 'persistent')
        for path in self.installed.values():
            self.assertTrue(os.path.exists(self.dest + path), path)
        # the installed tree where it was meant to be, in this namespace
        self.mount('--bind', self.dest + prefix, prefix)

    def prefix(self):
        out = subprocess.run(['meson', 'introspect', '--buildoptions', BUILDDIR], check=True,
                             capture_output=True, text=True).stdout
        return next(o['value'] for o in json.loads(out) if o['name'] == 'prefix')

    def mount(self, *args):
        subprocess.check_call(['mount'] + list(args))
        self.addCleanup(subprocess.call, ['umount', '-l', args[-1]])

    def add_record(self):
        os.makedirs(self.records, exist_ok=True)
        with open(os.path.join(self.records, NIC + '.conf'), 'w') as f:
            f.write(record_text(NIC, IDS[NIC], sorted(GROUP5)))

    def fake_kernel(self):
        """A kernel version mkinitramfs accepts: its modules directory (in
        an overlay over /usr/lib) and its /boot/config."""
        ov = os.path.join(self.tmp, 'ov')
        os.makedirs(ov + '/upper')
        os.makedirs(ov + '/work')
        self.mount('-t', 'overlay', 'vfiod-test', '-o',
                   'lowerdir=/usr/lib,upperdir=%s/upper,workdir=%s/work' % (ov, ov), '/usr/lib')
        os.makedirs('/usr/lib/modules/' + KVER)
        subprocess.run(['depmod', '-b', '/', KVER], check=True, capture_output=True)
        boot = os.path.join(self.tmp, 'boot')
        os.makedirs(boot)
        with open(os.path.join(boot, 'config-' + KVER), 'w') as f:
            f.write('CONFIG_RD_GZIP=y\n')
        self.mount('--bind', boot, '/boot')

    def mkinitramfs(self):
        """Builds an image with the installed hook; where it was unpacked
        and its files."""
        conf = os.path.join(self.tmp, 'conf')
        shutil.rmtree(conf, True)
        shutil.copytree('/etc/initramfs-tools', conf)
        shutil.copy(self.installed['hook'], os.path.join(conf, 'hooks', 'vfiod'))
        image, unpacked = os.path.join(self.tmp, 'initrd.img'), os.path.join(self.tmp, 'unpacked')
        shutil.rmtree(unpacked, True)
        proc = subprocess.run(['mkinitramfs', '-d', conf, '-o', image, KVER], capture_output=True, text=True)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        subprocess.run(['unmkinitramfs', image, unpacked], check=True)
        files = set()
        for root, dirs, names in os.walk(unpacked):
            files.update(os.path.relpath(os.path.join(root, n), unpacked) for n in names)
        return unpacked, files

    def test_mkinitramfs_carries_rule_helper_and_records(self):
        if not shutil.which('mkinitramfs'):
            self.fail('mkinitramfs is missing: tools/deps installs initramfs-tools')
        self.fake_kernel()
        unpacked, files = self.mkinitramfs()
        self.assertFalse([f for f in files if 'vfiod' in f], 'no records: nothing of ours')

        self.add_record()
        unpacked, files = self.mkinitramfs()
        for what in ('helper', 'rule'):
            self.assertIn(self.installed[what].lstrip('/'), files)
        self.assertIn(os.path.join(self.records, NIC + '.conf').lstrip('/'), files)
        # the marker that tells the helper it runs in the initramfs: only there
        self.assertIn(self.marker().lstrip('/'), files)
        self.assertFalse(os.path.exists(self.marker()))
        # the helper runs there: its libraries came along (copy_exec)
        self.assertTrue(os.access(os.path.join(unpacked, self.installed['helper'].lstrip('/')), os.X_OK))
        self.assertTrue([f for f in files if f.endswith('/libc.so.6')], sorted(files))
        with open(os.path.join(unpacked, self.installed['rule'].lstrip('/'))) as f:
            self.assertIn('TEST=="%s"' % self.records, f.read())

    def test_dracut_module(self):
        initdir = os.path.join(self.tmp, 'initdir')
        os.makedirs(initdir)

        def run():
            return subprocess.run(['bash', '-c', DRACUT_STUB, 'test', self.installed['dracut'], initdir],
                                  capture_output=True, text=True, check=True).stdout.splitlines()
        self.assertEqual(run()[0], 'check 255')
        self.add_record()
        self.assertEqual(run(), ['check 0', 'instmods vfio_pci hostonly=[]',
                                 'inst_simple ' + self.installed['helper'],
                                 'inst_simple ' + self.installed['rule'],
                                 'inst_simple ' + os.path.join(self.records, NIC + '.conf')])
        # and the marker that tells the helper it runs in the initramfs
        self.assertTrue(os.path.isfile(initdir + self.marker()))

    def marker(self):
        return os.path.join(os.path.dirname(self.records), 'initramfs')


if __name__ == '__main__':
    main()

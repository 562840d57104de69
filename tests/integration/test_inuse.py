#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Each in-use reason, found the way the daemon finds them on a real
machine: block devices below the PCI device that are mounted (a real
major:minor from this machine's mountinfo), used as swap, or held by
dm/md; a network interface below it that is up with an address (a real
veth in the test's own network namespace); the boot display."""

import json
import os
import subprocess
import tempfile
import unittest

from harness import TOPOLOGIES, Stack, by_address, main

SATA, NVME_SWAP, NVME_DM, NIC, NIC_NO_IF, GPU = (
    '0000:00:17.0', '0000:01:00.0', '0000:03:00.0', '0000:02:00.0', '0000:04:00.0', '0000:00:02.0')


def first_block_mount():
    """(major:minor, mount point) of the first mount backed by a block
    device, as the daemon will see it."""
    with open('/proc/self/mountinfo') as f:
        for line in f:
            fields = line.split()
            major, minor = fields[2].split(':')
            if major != '0':
                return fields[2], fields[4].encode().decode('unicode_escape')
    raise AssertionError('no block-device mount on this machine')


class InUseTest(unittest.TestCase):
    def start(self, swaps='', **substitute):
        self.stack = Stack('in-use.json', substitute=substitute, swaps=swaps)
        self.stack.start()
        self.addCleanup(self.stack.stop)
        self.addCleanup(lambda: self.assertEqual(self.stack.sim.audit(), []))
        return by_address(self.stack.list_devices())

    def test_mounted(self):
        devnum, mountpoint = first_block_mount()
        devices = self.start(ROOT_DEV=devnum, ROOT_PART='sdq2', ROOT_DISK='sdq')
        self.assertIn('mounted: %s (sdq2)' % mountpoint, devices[SATA]['in_use'])
        # GetGroup says the same as ListDevices
        group, members = self.stack.get_group(SATA)
        self.assertEqual(by_address(members)[SATA]['in_use'], devices[SATA]['in_use'])

    def test_mounted_by_source_name(self):
        # file systems whose mountinfo number is anonymous (btrfs: 0:N)
        # are matched by their source device name
        os.makedirs('/tmp/vfiod-mnt', exist_ok=True)
        subprocess.check_call(['mount', '-t', 'tmpfs', '/dev/sdq2', '/tmp/vfiod-mnt'])
        self.addCleanup(subprocess.call, ['umount', '/tmp/vfiod-mnt'])
        devices = self.start(ROOT_PART='sdq2', ROOT_DISK='sdq', ROOT_DEV='8:252')
        self.assertEqual(devices[SATA]['in_use'], 'mounted: /tmp/vfiod-mnt (sdq2)')

    def test_swap_by_name(self):
        devices = self.start(swaps='/dev/nvme0n1p3                          partition\t8388604\t0\t-2\n')
        self.assertEqual(devices[NVME_SWAP]['in_use'], 'swap: /dev/nvme0n1p3')

    def test_swap_by_device_number(self):
        node = '/tmp/vfiod-swapdev'
        if os.path.exists(node):
            os.unlink(node)
        os.mknod(node, 0o600 | 0o060000, os.makedev(259, 77))
        self.addCleanup(os.unlink, node)
        devices = self.start(swaps='%s partition\t8388604\t0\t-2\n' % node, SWAP_DEV='259:77')
        self.assertEqual(devices[NVME_SWAP]['in_use'], 'swap: ' + node)

    def test_held_by_device_mapper(self):
        devices = self.start()
        self.assertEqual(devices[NVME_DM]['in_use'], 'held by dm-0 (nvme1n1p1)')

    def test_network_interface_up(self):
        subprocess.check_call(['ip', 'link', 'add', 'simeth0', 'type', 'veth', 'peer', 'name', 'simeth1'])
        subprocess.check_call(['ip', 'addr', 'add', '192.0.2.10/24', 'dev', 'simeth0'])
        subprocess.check_call(['ip', 'link', 'set', 'simeth0', 'up'])
        devices = self.start(NET_IF='simeth0')
        self.assertEqual(devices[NIC]['in_use'], 'network interface simeth0 is up with 192.0.2.10')
        self.assertEqual(devices[NIC_NO_IF]['in_use'], '')

    def test_network_interface_down_or_bare(self):
        subprocess.check_call(['ip', 'link', 'add', 'simeth0', 'type', 'veth', 'peer', 'name', 'simeth1'])
        subprocess.check_call(['ip', 'addr', 'add', '192.0.2.10/24', 'dev', 'simeth0'])
        devices = self.start(NET_IF='simeth0')
        self.assertEqual(devices[NIC]['in_use'], '', 'a link that is down is not in use')
        subprocess.check_call(['ip', 'addr', 'flush', 'dev', 'simeth0'])
        subprocess.check_call(['ip', 'link', 'set', 'simeth0', 'up'])
        # up, but only the automatic link-local address: not in use
        self.assertEqual(by_address(self.stack.list_devices())[NIC]['in_use'], '')

    def test_lower_device_of_a_vlan(self):
        # the NIC carries a VLAN (the VLAN would have the address); it has
        # none itself.  The simulated sysfs has the upper_ link (this
        # machine's kernel may have no 8021q: the e2e test makes a real one)
        subprocess.check_call(['ip', 'link', 'add', 'simeth0', 'type', 'veth', 'peer', 'name', 'simeth1'])
        subprocess.check_call(['ip', 'link', 'set', 'simeth0', 'up'])
        with open(os.path.join(TOPOLOGIES, 'in-use.json')) as f:
            topology = json.load(f)
        for d in topology['devices']:
            if d['address'] == NIC:
                d['net'] = [{'name': '@NET_IF@', 'uppers': ['simeth0.100']}]
        fd, path = tempfile.mkstemp(suffix='.json')
        with os.fdopen(fd, 'w') as f:
            json.dump(topology, f)
        self.addCleanup(os.unlink, path)
        self.stack = Stack(path, substitute={'NET_IF': 'simeth0'})
        self.stack.start()
        self.addCleanup(self.stack.stop)
        devices = by_address(self.stack.list_devices())
        self.assertEqual(devices[NIC]['in_use'], 'network interface simeth0 is up and carries simeth0.100')
        # down, the VLAN is down with it: nothing to take
        subprocess.check_call(['ip', 'link', 'set', 'simeth0', 'down'])
        self.assertEqual(by_address(self.stack.list_devices())[NIC]['in_use'], '')

    def test_boot_display(self):
        devices = self.start()
        self.assertEqual(devices[GPU]['in_use'], 'boot display')

    def test_free_devices_say_nothing(self):
        devices = self.start()
        for address in ('0000:00:14.0', '0000:00:00.0', NIC_NO_IF):
            self.assertEqual(devices[address]['in_use'], '', address)

    def test_cli_shows_reason(self):
        self.start()
        out = self.stack.vfioctl('group', GPU, check=0).stdout
        self.assertIn('boot display', out)
        self.assertEqual(self.stack.vfioctl_json('group', GPU)['devices'][0]['in_use'], 'boot display')


if __name__ == '__main__':
    main()

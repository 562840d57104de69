#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The demo: vfiod on a simulated machine.  The story of the source
discussion: a plug-in NIC that shares its IOMMU group with the chipset's
USB and SATA controllers, on a machine where a real kernel makes that
group (tests/topologies/amd-x370.json: a Ryzen on an X370 board, whose
chipset has no ACS; the NIC is in a chipset slot).  Runs the real daemon on a private
system bus over a simulated /sys (in a private mount namespace: the real
machine is not touched) and drives it with the real vfioctl."""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, 'tests', 'integration'))
os.environ.setdefault('VFIOD_BUILD_DIR', os.path.join(ROOT, 'build'))

import harness  # noqa: E402

harness.enter_namespaces()

NIC = '05:00.0'
TOPOLOGY = 'amd-x370.json'


def show(stack, *args):
    print('\n$ vfioctl ' + ' '.join(args), flush=True)
    proc = stack.vfioctl(*args)
    sys.stdout.write(proc.stdout)
    sys.stdout.write(proc.stderr)
    print('(exit status %d)' % proc.returncode, flush=True)


with harness.Stack(TOPOLOGY) as stack:
    print('vfiod is running on a private bus, over a simulated /sys (tests/topologies/%s).' % TOPOLOGY)
    show(stack, 'list')
    show(stack, 'group', NIC)
    show(stack, 'explain', NIC)
    show(stack, 'detach', NIC)
    print('\n(On this simulated machine no disk is mounted from the chipset\'s SATA controller,'
          '\nso the group may go; on a machine booted from it, vfiod refuses and names the mount.)')
    show(stack, 'detach', '--group', '--dry-run', NIC)
    show(stack, 'detach', '--group', NIC)
    show(stack, 'group', NIC)
    show(stack, 'reattach', '--group', NIC)
    show(stack, 'group', NIC)
    print('\nWrites the daemon made to the simulated /sys:')
    for path, data, result in stack.sim.audit():
        print('  %-70s %-14s %s' % (path, repr(data), result))

#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""What the host needs on a desktop (desktop.json): the keyboard and mouse
on a USB controller, the framebuffer console, and the device nodes below
a device that a process holds open (a display, a render node, a sound
card, a disk).  The nodes' stand-ins are files in the daemon's
VFIOD_DEV_DIR, named as the kernel's DEVNAME, that a test process really
holds open; the daemon finds it the way it finds a real opener, through
/proc/PID/fd."""

import json
import os
import shutil
import signal
import subprocess
import time
import unittest

from detachlib import DRY_RUN, FORCE, GROUP, StackTest

IN_USE = 'org.freedesktop.vfio1.Error.DeviceInUse'
from gi.repository import Gio, GLib
from harness import MOCK_IFACE, TOPOLOGIES, by_address, main

LOGIN1 = 'org.freedesktop.login1'

IGPU, USB, DISK, AUDIO, GPU, GPU_AUDIO, USB_CARD = (
    '0000:00:02.0', '0000:00:14.0', '0000:00:17.0', '0000:00:1f.3',
    '0000:01:00.0', '0000:01:00.1', '0000:02:00.0')


class DesktopTest(StackTest):
    topology = 'desktop.json'

    def setUp(self):
        pass

    def start(self, **kw):
        super().start(**kw)
        self.devnodes = self.stack.dev_dir
        return by_address(self.stack.list_devices())

    def hold(self, devname, program='sleep'):
        """A process holding the stand-in of node @devname open (as its
        stdin); returns its pid once it runs @program."""
        path = os.path.join(self.devnodes, devname)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if not os.path.exists(path):
            open(path, 'w').close()
        with open(path) as f:
            proc = subprocess.Popen([program, '300'], stdin=f)
        self.addCleanup(lambda: (proc.kill(), proc.wait()))
        for _ in range(200):
            try:
                with open('/proc/%d/comm' % proc.pid) as c:
                    if c.read().strip() == os.path.basename(program)[:15]:
                        return proc
            except FileNotFoundError:
                pass
            time.sleep(0.01)
        raise AssertionError('%s did not start' % program)

    def group_in_use(self, device):
        _, members = self.stack.get_group(device)
        return by_address(members)[device]['in_use']

    @staticmethod
    def udev_entry(name, text):
        """A before_daemon step: udev's database entry @name."""
        def write(stack):
            with open(os.path.join(stack.udev_data_dir, name), 'w') as f:
                f.write(text)
        return write

    def test_keyboard_and_mouse(self):
        # udev's word for the mouse (its capabilities say so too), the
        # kernel's capabilities alone for the keyboard
        devices = self.start(before_daemon=self.udev_entry(
            'c13:68', 'I:1234\nE:ID_INPUT=1\nE:ID_INPUT_MOUSE=1\nG:seat\nQ:seat\nV:1\n'))
        self.assertEqual(devices[USB]['in_use'],
                         'keyboard Logitech USB Keyboard (input event3); '
                         'mouse Logitech USB Optical Mouse (input event4)')
        # a gamepad on the other controller is no keyboard: it can go
        self.assertEqual(devices[USB_CARD]['in_use'], '')
        name, message = self.detach_error(USB)
        self.assertEqual(name, IN_USE)
        self.assertIn('keyboard Logitech USB Keyboard (input event3)', message)
        self.assert_nothing_written()
        self.detach(USB_CARD, GROUP | DRY_RUN)

    def test_udev_says_not_a_keyboard(self):
        # udev's database (hwdb, rules) beats the kernel's capabilities
        devices = self.start(before_daemon=self.udev_entry('c13:67', 'E:ID_INPUT=1\nE:ID_INPUT_KEY=1\n'))
        self.assertEqual(devices[USB]['in_use'], 'mouse Logitech USB Optical Mouse (input event4)')

    def test_unreadable_capabilities_are_a_doubt(self):
        self.start()
        self.sim.fail_read('input3/capabilities/ev', 'EACCES')
        self.stack.host_changed()
        in_use = by_address(self.stack.list_devices())[USB]['in_use']
        self.assertIn('cannot tell whether it is in use: whether input event3 is a keyboard or a mouse',
                      in_use)
        name, message = self.detach_error(USB)
        self.assertEqual(name, IN_USE)
        self.assertIn('may be in use', message)
        self.assert_nothing_written()

    def test_unreadable_keys_are_a_doubt(self):
        # a device with events but no readable keys could be a keyboard
        self.start()
        self.sim.fail_read('input3/capabilities/key', 'EIO')
        self.stack.host_changed()
        in_use = by_address(self.stack.list_devices())[USB]['in_use']
        self.assertIn('whether input event3 is a keyboard or a mouse', in_use)
        self.assertIn('capabilities/key could not be read or understood', in_use)

    def test_framebuffer_console(self):
        devices = self.start()
        self.assertEqual(devices[IGPU]['in_use'], 'boot display; framebuffer console (fb0)')
        # the RX 580's own framebuffer (fb1) has no console on it
        self.assertEqual(devices[GPU]['in_use'], '')
        self.assertEqual(self.group_in_use(GPU), '')

    def test_no_framebuffer_console_when_unbound(self):
        topology = self.topology_copy()
        for vt in topology['vtconsoles']:
            vt['bind'] = 0
        devices = self.start(topology=self.write_topology(topology))
        self.assertEqual(devices[IGPU]['in_use'], 'boot display')

    def test_display_held_open(self):
        self.start()
        holder = self.hold('dri/card1', 'sleep')
        reason = 'display: sleep pid %d (card1)' % holder.pid
        # the walk of every process's open files is for a group's reads and
        # plans, never for a whole machine's list
        self.assertEqual(by_address(self.stack.list_devices())[GPU]['in_use'], '')
        self.assertEqual(self.group_in_use(GPU), reason)
        name, message = self.detach_error(GPU, GROUP | DRY_RUN)
        self.assertEqual(name, IN_USE)
        self.assertIn(reason, message)
        # the holder leaves: the group can go
        holder.kill()
        holder.wait()
        self.assertEqual(self.group_in_use(GPU), '')
        self.detach(GPU, GROUP | DRY_RUN)
        self.assert_nothing_written()

    def test_render_node_and_sound_held_open(self):
        self.start()
        compute = self.hold('dri/renderD129')
        sound = self.hold('snd/pcmC1D3p')
        _, members = self.stack.get_group(GPU)
        members = by_address(members)
        self.assertEqual(members[GPU]['in_use'], 'GPU: sleep pid %d (renderD129)' % compute.pid)
        self.assertEqual(members[GPU_AUDIO]['in_use'], 'sound: sleep pid %d (pcmC1D3p)' % sound.pid)
        name, message = self.detach_error(GPU, GROUP | DRY_RUN)
        self.assertEqual(name, IN_USE)
        self.assertIn('GPU: sleep pid %d (renderD129)' % compute.pid, message)
        self.assertIn('sound: sleep pid %d (pcmC1D3p)' % sound.pid, message)

    def test_disk_held_open(self):
        self.start()
        holder = self.hold('sdp')
        self.assertEqual(self.group_in_use(DISK), 'open by sleep pid %d (sdp)' % holder.pid)
        name, message = self.detach_error(DISK)
        self.assertEqual(name, IN_USE)
        self.assertIn('open by sleep pid %d (sdp)' % holder.pid, message)
        # FORCE takes it, as for any device in use
        self.detach(DISK, FORCE)
        self.assertEqual(self.sim.driver_of(DISK), 'vfio-pci')

    def test_member_of_a_mounted_btrfs(self):
        # the kernel lists a btrfs's devices only while it is mounted; this
        # mount table may not show it (another namespace) or name another member
        topology = self.topology_copy()
        topology['btrfs'] = [{'uuid': '0b5f9c2e-7d3a-4c55-9a64-2f1e8d0c6b17', 'label': 'data',
                              'devices': ['sdp']}]
        devices = self.start(topology=self.write_topology(topology))
        self.assertEqual(devices[DISK]['in_use'], 'member of a mounted btrfs data (sdp)')
        name, message = self.detach_error(DISK)
        self.assertEqual(name, IN_USE)
        self.assertIn('member of a mounted btrfs data (sdp)', message)

    def test_usb_device_held_open(self):
        self.start()
        holder = self.hold('bus/usb/003/002')
        self.assertEqual(self.group_in_use(USB_CARD), 'open by sleep pid %d (3-1)' % holder.pid)

    def test_hostile_process_name(self):
        # a process names itself: it cannot make a reason of its own
        self.start()
        program = os.path.join(self.tmp_dir(), 'x; ok')
        shutil.copy('/bin/sleep', program)
        holder = self.hold('snd/pcmC0D0p', program)
        self.assertEqual(self.group_in_use(AUDIO), 'sound: x? ok pid %d (pcmC0D0p)' % holder.pid)

    def logind(self):
        """python-dbusmock's logind on the test bus, with GetSessionByPID
        (which its template lacks) answering from self.sessions."""
        proc = self.stack._spawn('logind', ['/usr/bin/python3', '-m', 'dbusmock', '--system',
                                            '--template', 'logind'])
        self.stack._wait(lambda: self.stack._has_owner(LOGIN1), 'logind mock')
        self.stack.conn.call_sync(LOGIN1, '/org/freedesktop/login1', MOCK_IFACE, 'AddSession',
                                  GLib.Variant('(ssusb)', ('2', 'seat0', 1000, 'alice', True)),
                                  None, Gio.DBusCallFlags.NONE, 10000, None)
        return proc

    def set_session_of(self, pid):
        code = ('if args[0] != %d: raise dbus.exceptions.DBusException("no session", '
                'name="org.freedesktop.login1.NoSessionForPID")\n'
                'ret = "/org/freedesktop/login1/session/2"' % pid)
        self.stack.conn.call_sync(LOGIN1, '/org/freedesktop/login1', MOCK_IFACE, 'AddMethod',
                                  GLib.Variant('(sssss)', ('org.freedesktop.login1.Manager',
                                                           'GetSessionByPID', 'u', 'o', code)),
                                  None, Gio.DBusCallFlags.NONE, 10000, None)

    def test_holder_in_a_logind_session(self):
        self.start()
        self.logind()
        shell = self.hold('dri/card1')
        other = self.hold('dri/renderD129')
        self.set_session_of(shell.pid)
        _, members = self.stack.get_group(GPU)
        self.assertEqual(by_address(members)[GPU]['in_use'],
                         'display: sleep pid %d, session 2 of alice on seat0 (card1); '
                         'GPU: sleep pid %d (renderD129)' % (shell.pid, other.pid))

    def test_logind_that_never_answers(self):
        # the holder is named without its session; the call is not held long
        self.start()
        proc = self.logind()
        holder = self.hold('dri/card1')
        self.set_session_of(holder.pid)
        os.kill(proc.pid, signal.SIGSTOP)
        self.addCleanup(lambda: os.kill(proc.pid, signal.SIGCONT))
        t = time.monotonic()
        self.assertEqual(self.group_in_use(GPU), 'display: sleep pid %d (card1)' % holder.pid)
        self.assertLess(time.monotonic() - t, 10)

    def test_cli_names_the_holder(self):
        self.start()
        holder = self.hold('dri/card1')
        sound = self.hold('snd/pcmC1D3p')
        compute = self.hold('dri/renderD129')
        out = self.stack.vfioctl('group', GPU, check=0).stdout
        # each reason whole, on a line of its own, below the table
        self.assertIn('\nIn use:\n', out)
        lines = out.split('\nIn use:\n')[1].splitlines()
        self.assertEqual(lines, [
            '  %-14s display: sleep pid %d (card1)' % (GPU, holder.pid),
            '  %-14s GPU: sleep pid %d (renderD129)' % ('', compute.pid),
            '  %-14s sound: sleep pid %d (pcmC1D3p)' % (GPU_AUDIO, sound.pid),
        ])

    # ---- helpers ------------------------------------------------------------
    @staticmethod
    def topology_copy():
        with open(os.path.join(TOPOLOGIES, 'desktop.json')) as f:
            return json.load(f)

    def write_topology(self, topology):
        path = os.path.join(self.tmp_dir(), 'desktop-changed.json')
        with open(path, 'w') as f:
            json.dump(topology, f)
        return path

    def tmp_dir(self):
        path = os.path.join('/tmp', 'vfiod-desktop-%d' % os.getpid())
        os.makedirs(path, exist_ok=True)
        self.addCleanup(shutil.rmtree, path, True)
        return path


if __name__ == '__main__':
    main()

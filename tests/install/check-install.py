#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""`meson install` into a DESTDIR lays out every file where the system
looks for it, under the configured directories, with the modes that
matter (programs executable, configuration not writable by others), and
nothing else.

    check-install.py BUILDDIR
"""

import json
import os
import stat
import subprocess
import sys
import tempfile


def options(builddir):
    out = subprocess.run(['meson', 'introspect', '--buildoptions', builddir], check=True,
                         capture_output=True, text=True).stdout
    return {o['name']: o['value'] for o in json.loads(out)}


def main():
    builddir = sys.argv[1]
    o = options(builddir)
    prefix = o['prefix']

    def p(*parts):
        return os.path.join(prefix, *parts)

    expected = {
        # path: mode (None: any regular file)
        p(o['libexecdir'], 'vfiod'): 0o755,
        p(o['libexecdir'], 'vfiod-boot-bind'): 0o755,
        p(o['bindir'], 'vfioctl'): 0o755,
        p(o['includedir'], 'vfiod', 'vfiod.h'): 0o644,
        p(o['includedir'], 'vfiod', 'vfiod-names.h'): 0o644,
        p(o['libdir'], 'libvfiod.so'): None,
        p(o['libdir'], 'libvfiod.so.0'): None,
        p(o['libdir'], 'libvfiod.so.0.0.0'): 0o755,
        p(o['libdir'], 'pkgconfig', 'vfiod.pc'): 0o644,
        p('lib', 'systemd', 'system', 'vfiod.service'): 0o644,
        p('lib', 'udev', 'rules.d', '40-vfiod-persistent.rules'): 0o644,
        p(o['datadir'], 'dbus-1', 'interfaces', 'org.freedesktop.vfio1.Manager.xml'): 0o644,
        p(o['datadir'], 'dbus-1', 'interfaces', 'org.freedesktop.vfio1.Device.xml'): 0o644,
        p(o['datadir'], 'dbus-1', 'interfaces', 'org.freedesktop.vfio1.Group.xml'): 0o644,
        p(o['datadir'], 'dbus-1', 'system-services', 'org.freedesktop.vfio1.service'): 0o644,
        p(o['datadir'], 'dbus-1', 'system.d', 'org.freedesktop.vfio1.conf'): 0o644,
        p(o['datadir'], 'polkit-1', 'actions', 'org.freedesktop.vfio1.policy'): 0o644,
        p(o['datadir'], 'doc', 'vfiod', 'examples', '50-vfiod-example.rules'): 0o644,
        p(o['datadir'], 'bash-completion', 'completions', 'vfioctl'): 0o644,
    }
    if o['initramfs_tools']:
        expected[p(o['datadir'], 'initramfs-tools', 'hooks', 'vfiod')] = 0o755
    if o['dracut']:
        expected[p('lib', 'dracut', 'modules.d', '90vfiod', 'module-setup.sh')] = 0o755
    if o['man'] != 'disabled' and os.path.exists(os.path.join(builddir, 'man', 'vfiod.8')):
        for page, section in (('vfioctl', 1), ('vfiod', 8), ('vfiod-boot-bind', 8),
                              ('org.freedesktop.vfio1', 5)):
            expected[p(o['mandir'], 'man%d' % section, '%s.%d' % (page, section))] = 0o644

    with tempfile.TemporaryDirectory(prefix='vfiod-install-') as dest:
        subprocess.run(['meson', 'install', '-C', builddir, '--destdir', dest, '--no-rebuild', '--quiet'],
                       check=True, capture_output=True)
        found = {}
        for root, dirs, names in os.walk(dest):
            for name in names:
                path = os.path.join(root, name)
                found['/' + os.path.relpath(path, dest)] = os.lstat(path).st_mode
        problems = []
        for path in sorted(set(expected) - set(found)):
            problems.append('missing: ' + path)
        for path in sorted(set(found) - set(expected)):
            problems.append('not expected: ' + path)
        for path, mode in sorted(expected.items()):
            if path in found and mode is not None:
                if not stat.S_ISREG(found[path]) or stat.S_IMODE(found[path]) != mode:
                    problems.append('%s: mode %o, expected a file of mode %o' % (
                        path, stat.S_IMODE(found[path]), mode))
        # the installed files name each other where they are
        with open(dest + p('lib', 'udev', 'rules.d', '40-vfiod-persistent.rules')) as f:
            if p(o['libexecdir'], 'vfiod-boot-bind') not in f.read():
                problems.append('the udev rule does not run the installed helper')
        with open(dest + p('lib', 'systemd', 'system', 'vfiod.service')) as f:
            if 'ExecStart=' + p(o['libexecdir'], 'vfiod') + '\n' not in f.read():
                problems.append('the unit does not start the installed daemon')
    for line in problems:
        print(line)
    print('%d files installed, %d problems' % (len(found), len(problems)))
    return 1 if problems else 0


if __name__ == '__main__':
    sys.exit(main())

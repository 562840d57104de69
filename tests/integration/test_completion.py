#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""vfioctl's bash completion, sourced into a real bash with
bash-completion loaded, completing against the real daemon on the
simulated machine: commands, each command's options, addresses of every
device, and only of detached ones where only those make sense.  And the
verb table (as `vfioctl --help` prints it) against the completion and
the manual, both ways."""

import os
import re
import subprocess
import unittest

from harness import BUILDDIR, SRCDIR, main
from detachlib import GROUP, GROUP5, NIC, ORIGINAL, StackTest

COMPLETION = os.path.join(SRCDIR, 'shell-completion', 'bash', 'vfioctl')
BASH_COMPLETION = '/usr/share/bash-completion/bash_completion'
MANUAL = os.path.join(SRCDIR, 'man', 'vfioctl.1.scd')
VFIOCTL = os.path.join(BUILDDIR, 'client', 'vfioctl')


def bash_complete(test, line, address=None):
    """What bash offers for @line (the cursor at its end), with vfioctl
    talking to the bus at @address (None: none, so no addresses)."""
    script = '''
            . %s
            . %s
            COMP_LINE=$1
            COMP_POINT=${#COMP_LINE}
            read -r -a COMP_WORDS <<< "$COMP_LINE"
            [[ $COMP_LINE == *' ' ]] && COMP_WORDS+=('')
            COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
            _vfioctl vfioctl "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
            printf '%%s\\n' "${COMPREPLY[@]}"
        ''' % (BASH_COMPLETION, COMPLETION)
    env = dict(os.environ, PATH=os.path.join(BUILDDIR, 'client') + ':' + os.environ['PATH'],
               DBUS_SYSTEM_BUS_ADDRESS=address or 'unix:path=/nonexistent')
    proc = subprocess.run(['bash', '-c', script, 'complete', line], capture_output=True, text=True,
                          env=env, timeout=60)
    test.assertEqual(proc.returncode, 0, proc.stderr)
    return sorted(w for w in proc.stdout.splitlines() if w)


class TestCompletion(StackTest):
    def complete(self, line):
        """What bash offers for @line (the cursor at its end)."""
        return bash_complete(self, line, self.stack.address)

    def test_commands(self):
        self.assertEqual(self.complete('vfioctl '),
                         sorted('list group explain detach reattach persistent monitor grant revoke run help'.split()))
        self.assertEqual(self.complete('vfioctl re'), ['reattach', 'revoke'])
        self.assertEqual(self.complete('vfioctl --json gr'), ['grant', 'group'])

    def test_options_per_command(self):
        self.assertEqual(self.complete('vfioctl detach --'),
                         sorted(['--group', '--dry-run', '--force', '--persistent', '--help', '--version',
                                 '--json', '--no-ask-password']))
        self.assertEqual(self.complete('vfioctl reattach --g'), ['--group'])
        self.assertEqual(self.complete('vfioctl run --m'), ['--memlock'])
        self.assertIn('8G', self.complete('vfioctl run --memlock '))

    def test_addresses(self):
        every = sorted(d['address'] for d in self.stack.list_devices())
        self.assertEqual(len(every), 12)
        self.assertEqual(self.complete('vfioctl detach '), every)
        # bash replaces only what follows the word's last ':' (a word break)
        self.assertEqual(self.complete('vfioctl group 0000:02'), ['02:00.0'])
        self.assertEqual(self.complete('vfioctl explain '), every)
        # only detached devices can be reattached or granted
        self.assertEqual(self.complete('vfioctl reattach '), [])
        self.stack.call('DetachDevice', 'st', NIC, GROUP)
        detached = sorted(a for a in GROUP5 if ORIGINAL[a] != 'pcieport')
        self.assertEqual(self.complete('vfioctl reattach '), detached)
        self.assertEqual(self.complete('vfioctl grant '), detached)

    def test_without_the_service_there_are_no_addresses(self):
        self.stack.stop_daemon()
        self.assertEqual(self.complete('vfioctl detach '), [])


class TestVerbTable(unittest.TestCase):
    """Every verb of vfioctl's table, with its options, in the shell
    completion and in the manual, and nothing else there: --help prints
    the table (its Commands: section is made from it), so a verb added to
    the table and not to the other two, or left in them after it went,
    fails here."""

    def setUp(self):
        proc = subprocess.run([VFIOCTL, '--help'], capture_output=True, text=True, timeout=60)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.help = proc.stdout

    def table(self):
        """{verb: set of its options}, from --help's Commands: section."""
        section = self.help.split('\nCommands:\n', 1)[1].split('\n\n', 1)[0]
        verbs = {}
        for line in section.splitlines():
            m = re.match(r'^  ([a-z][a-z-]*)((?: \[--[a-z-]+\])*)', line)
            if m:
                verbs[m.group(1)] = set(re.findall(r'--[a-z-]+', m.group(2)))
        self.assertIn('list', verbs)
        return verbs

    def global_options(self, table):
        """--help's Options: section, less the options of verbs."""
        section = self.help.split('\nOptions:\n', 1)[1].split('\n\n', 1)[0]
        every = set(re.findall(r'^ +((?:-[a-z] )?--[a-z-]+)', section, re.M))
        every = set(w for o in every for w in o.split())
        return every - set().union(*table.values())

    def test_completion(self):
        table = self.table()
        self.assertEqual(bash_complete(self, 'vfioctl '), sorted(table))
        common = self.global_options(table)
        for verb, options in table.items():
            self.assertEqual(bash_complete(self, 'vfioctl %s -' % verb), sorted(common | options),
                             'the options of %s' % verb)

    def test_manual(self):
        with open(MANUAL) as f:
            text = f.read()
        commands = text.split('\n# COMMANDS\n', 1)[1].split('\n# ', 1)[0]
        manual = {}
        for line in commands.splitlines():
            m = re.match(r'^\*([a-z][a-z-]*)\*(.*)$', line)
            if m:
                manual[m.group(1)] = set(re.findall(r'\[\*(--[a-z-]+)\*', m.group(2)))
        self.assertEqual(manual, self.table())
        options = text.split('\n# OPTIONS\n', 1)[1].split('\n# ', 1)[0]
        documented = set(re.findall(r'^\*(-[a-z-]+)\*', options, re.M)) | \
            set(re.findall(r'^\*-[a-z]\*, \*(--[a-z-]+)\*', options, re.M))
        table = self.table()
        self.assertEqual(documented, self.global_options(table) | set().union(*table.values()))


if __name__ == '__main__':
    main()

#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""vfioctl's bash completion, sourced into a real bash with
bash-completion loaded, completing against the real daemon on the
simulated machine: commands, each command's options, addresses of every
device, and only of detached ones where only those make sense."""

import os
import subprocess

from harness import BUILDDIR, SRCDIR, main
from detachlib import GROUP, GROUP5, NIC, ORIGINAL, StackTest

COMPLETION = os.path.join(SRCDIR, 'shell-completion', 'bash', 'vfioctl')
BASH_COMPLETION = '/usr/share/bash-completion/bash_completion'


class TestCompletion(StackTest):
    def complete(self, line):
        """What bash offers for @line (the cursor at its end)."""
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
                   DBUS_SYSTEM_BUS_ADDRESS=self.stack.address)
        proc = subprocess.run(['bash', '-c', script, 'complete', line], capture_output=True, text=True,
                              env=env, timeout=60)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        return sorted(w for w in proc.stdout.splitlines() if w)

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


if __name__ == '__main__':
    main()

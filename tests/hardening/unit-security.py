#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Regression guards for the hardening of the generated systemd unit.

  unit-security.py security UNIT MAX   systemd-analyze security --offline=yes:
                                       prints the score and what still counts,
                                       fails if the score is above MAX
  unit-security.py caps UNIT           prints CapabilityBoundingSet= with the
                                       reason for each capability, from the
                                       comment block right above it (entries
                                       "#  CAP_X: reason", continued by lines
                                       indented further); fails if one has no
                                       reason or a reason names a capability
                                       not in the set
  unit-security.py verify UNIT VFIOD   systemd-analyze verify, with ExecStart=
                                       pointed at the built daemon

Offline checks only: nothing here starts the unit (that needs systemd as
PID 1).  Exit 77 (skip) only when systemd-analyze is absent (not for caps,
which needs nothing); CI installs it (tools/deps) and counts skips as
failures."""

import os
import re
import shutil
import subprocess
import sys
import tempfile


def analyze(*args):
    env = dict(os.environ, SYSTEMD_COLORS='0', SYSTEMD_PAGER='cat', LC_ALL='C.UTF-8')
    return subprocess.run(['systemd-analyze', '--no-pager', *args], env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, check=False)


def security(unit, maximum):
    run = analyze('security', '--offline=yes', unit)
    print(run.stdout, end='')
    match = re.search(r'Overall exposure level for \S+: (\d+\.\d)', run.stdout)
    if match is None:
        print(f'no score in the output of systemd-analyze (exit {run.returncode})')
        return 1
    score = float(match.group(1))
    counted = [line for line in run.stdout.splitlines() if line.startswith('✗')]
    print(f'\nscore {score} (at most {maximum} allowed); {len(counted)} settings still count:')
    for line in counted:
        fields = re.split(r'\s{2,}', line[1:].strip())
        print(f'  {fields[-1]:>4}  {fields[0]}')
    # what the capabilities cost is the largest part of the score: show what each is for
    # (the caps check fails on a missing reason; here it is only shown)
    with open(unit, encoding='utf-8') as f:
        try:
            bounding, reasons = capability_reasons(f.read())
        except ValueError as e:
            bounding, reasons = [], {}
            print(f'\nno capability list: {e}')
    if bounding:
        print(f'\n{len(bounding)} capabilities (CapabilityBoundingSet=), each for:')
        for cap in bounding:
            print(f'  {cap}: {reasons.get(cap, "(no reason given)")}')
    if score > maximum:
        print(f'FAIL: the unit scores {score}, above {maximum}: a hardening setting was '
              'dropped or loosened (see the list above)')
        return 1
    return 0


def capability_reasons(text):
    """The unit's CapabilityBoundingSet= (one line; its words, in order) and the reasons in the
    comment block right above it: {CAP_X: reason}.  Raises ValueError when the unit has no such
    line, or more than one."""
    lines = text.splitlines()
    at = [i for i, line in enumerate(lines) if line.startswith('CapabilityBoundingSet=')]
    if len(at) != 1:
        raise ValueError(f'{len(at)} CapabilityBoundingSet= lines, one expected')
    caps = lines[at[0]].split('=', 1)[1].split()
    block = []
    i = at[0] - 1
    while i >= 0 and lines[i].startswith('#'):
        block.insert(0, lines[i])
        i -= 1
    reasons, current = {}, None
    for line in block:
        entry = re.match(r'#  (CAP_[A-Z_]+): (.*)$', line)
        if entry:
            current = entry.group(1)
            if current in reasons:
                raise ValueError(f'{current} has two reasons')
            reasons[current] = entry.group(2).strip()
        elif current and re.match(r'#   \S', line):
            reasons[current] += ' ' + line[1:].strip()
        else:
            current = None
    return caps, reasons


def caps(unit):
    with open(unit, encoding='utf-8') as f:
        text = f.read()
    try:
        bounding, reasons = capability_reasons(text)
    except ValueError as e:
        print(f'FAIL: {unit}: {e}')
        return 1
    print(f'CapabilityBoundingSet= of {os.path.basename(unit)}: {len(bounding)} capabilities')
    for cap in bounding:
        print(f'  {cap}: {reasons.get(cap, "(NO REASON)")}')
    failed = False
    missing = [cap for cap in bounding if cap not in reasons]
    if missing:
        print(f'FAIL: no reason for {", ".join(missing)}: say in the comment above '
              'CapabilityBoundingSet= what each capability is for ("#  CAP_X: reason")')
        failed = True
    stray = [cap for cap in reasons if cap not in bounding]
    if stray:
        print(f'FAIL: a reason for {", ".join(stray)}, which the set does not hold: '
              'the comment and the set disagree')
        failed = True
    if not bounding:
        print('FAIL: an empty CapabilityBoundingSet=: vfiod needs capabilities '
              '(this check expects the set to be listed)')
        failed = True
    return 1 if failed else 0


def verify(unit, vfiod):
    with tempfile.TemporaryDirectory() as tmp:
        copy = os.path.join(tmp, os.path.basename(unit))
        with open(unit, encoding='utf-8') as f:
            text = f.read()
        # the unit names the installed path, which need not exist here
        text = re.sub(r'^ExecStart=.*$', f'ExecStart={os.path.abspath(vfiod)}', text,
                      flags=re.MULTILINE)
        with open(copy, 'w', encoding='utf-8') as f:
            f.write(text)
        # --man=no: the documentation pages are not installed in a build tree
        run = analyze('verify', '--man=no', copy)
    print(run.stdout, end='')
    if run.returncode != 0 or run.stdout.strip():
        print(f'FAIL: systemd-analyze verify complained (exit {run.returncode})')
        return 1
    print(f'systemd-analyze verify accepts {os.path.basename(unit)}')
    return 0


def main():
    if sys.argv[1:2] == ['caps'] and len(sys.argv) == 3:
        return caps(sys.argv[2])
    if len(sys.argv) != 4 or sys.argv[1] not in ('security', 'verify'):
        print(__doc__, file=sys.stderr)
        return 2
    if shutil.which('systemd-analyze') is None:
        print('systemd-analyze is missing (Debian package systemd; tools/deps installs it)')
        return 77
    if sys.argv[1] == 'security':
        return security(sys.argv[2], float(sys.argv[3]))
    return verify(sys.argv[2], sys.argv[3])


if __name__ == '__main__':
    sys.exit(main())

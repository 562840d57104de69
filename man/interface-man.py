#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Writes org.freedesktop.vfio1(5) in scdoc from the interface XML.

The XML files (interfaces/) are the one place the bus API is described:
their comments become the page, in the order they come, so the page
cannot drift from the contract tests check against the live daemon.

    interface-man.py OUTPUT.scd MANAGER.xml DEVICE.xml GROUP.xml
"""

import re
import sys
import textwrap
import xml.etree.ElementTree as ET


def comment_text(text):
    """A comment's text, dedented, for a verbatim block (scdoc: a line
    indented with a tab inside ``` keeps its spacing)."""
    return textwrap.dedent(text.strip('\n')).rstrip()


def escape(text):
    # scdoc's inline markup: * and _ ; a backslash escapes them
    return re.sub(r'([*_\\])', r'\\\1', text)


def signature(member):
    args = []
    for arg in member.findall('arg'):
        direction = arg.get('direction', 'in')
        args.append('%s %s %s' % (direction, arg.get('type'), arg.get('name')))
    return '%s(%s)' % (member.get('name'), ', '.join(args))


def verbatim(lines, text):
    lines.append('```')
    lines.extend(text.splitlines())
    lines.append('```')
    lines.append('')


def interface_section(path, lines):
    parser = ET.XMLParser(target=ET.TreeBuilder(insert_comments=True))
    with open(path, 'rb') as f:
        data = f.read()
    # the DOCTYPE is not needed to read the tree
    root = ET.fromstring(data, parser=parser)
    # the file's leading comment (before <node>) describes the interface
    head = re.search(rb'-->\s*<node', data)
    lead = re.search(rb'<!--(.*?)-->', data, re.S)
    iface = root.find('interface')
    lines.append('# %s' % iface.get('name').upper().replace('ORG.FREEDESKTOP.VFIO1.', 'INTERFACE '))
    lines.append('')
    lines.append('*%s*' % escape(iface.get('name')))
    lines.append('')
    if lead and head and lead.end() <= head.end():
        verbatim(lines, comment_text(lead.group(1).decode()))

    pending = []
    for child in iface:
        if child.tag is ET.Comment:
            pending.append(comment_text(child.text))
            continue
        if child.tag == 'method':
            lines.append('## Method %s' % child.get('name'))
            lines.append('')
            lines.append('*%s*' % escape(signature(child)))
            lines.append('')
        elif child.tag == 'property':
            lines.append('## Property %s' % child.get('name'))
            lines.append('')
            lines.append('*%s* %s, %s' % (escape(child.get('name')), escape(child.get('type')),
                                          child.get('access')))
            lines.append('')
        elif child.tag == 'signal':
            lines.append('## Signal %s' % child.get('name'))
            lines.append('')
            lines.append('*%s*' % escape(signature(child)))
            lines.append('')
        else:
            continue
        for text in pending:
            verbatim(lines, text)
        pending = []
    for text in pending:
        verbatim(lines, text)


def main():
    out, sources = sys.argv[1], sys.argv[2:]
    lines = [
        'org.freedesktop.vfio1(5)',
        '',
        '# NAME',
        '',
        'org.freedesktop.vfio1 - the D-Bus interfaces of vfiod, the VFIO device manager',
        '',
        '# DESCRIPTION',
        '',
        '*vfiod*(8) owns the name *org.freedesktop.vfio1* on the system bus. The',
        'Manager object at */org/freedesktop/vfio1* answers questions and moves',
        'devices; below it, an object per PCI device and per IOMMU group, managed',
        'by *org.freedesktop.DBus.ObjectManager*, mirror the machine live.',
        'The interface XML is installed in */usr/share/dbus-1/interfaces*. What',
        'follows is generated from it.',
        '',
    ]
    for path in sources:
        interface_section(path, lines)
    lines += ['# SEE ALSO', '', '*vfiod*(8), *vfioctl*(1), *dbus-daemon*(1), *polkit*(8)', '']
    with open(out, 'w') as f:
        f.write('\n'.join(lines))


if __name__ == '__main__':
    main()

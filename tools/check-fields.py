#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Checks that common/vfiod-fields.h agrees with the contract,
interfaces/*.xml: the Device and Group <property> elements (names, types,
order) and the key lists of the dictionaries the Manager's comments
document (keys, types, order, and which keys are sparse where the comment
says).  Prints every difference and exits 1 if there is one.

    tools/check-fields.py [SOURCE_DIR]
    tools/check-fields.py --self-test [SOURCE_DIR]

--self-test changes the inputs in memory (a row added on one side, a row
dropped, two rows swapped, a type changed) and fails unless each change
is found: a checker that finds nothing passes otherwise."""

import os
import re
import sys
import xml.etree.ElementTree as ET

# The characters of a D-Bus signature; is_signature() says whether a
# word is one.
SIG = r'(?:[abdghinoqstuvxy{}()]+)'


def complete_type(sig, i):
    """The end of the complete type at sig[i], or -1."""
    if i >= len(sig):
        return -1
    c = sig[i]
    if c in 'bdghinoqstuvxy':
        return i + 1
    if c == 'a':
        if sig[i + 1:i + 2] == '{':
            j = complete_type(sig, i + 2)
            if j < 0 or sig[i + 2] not in 'bdghinoqstuxy':
                return -1
            j = complete_type(sig, j)
            return j + 1 if j >= 0 and sig[j:j + 1] == '}' else -1
        return complete_type(sig, i + 1)
    if c == '(':
        j = i + 1
        while j < len(sig) and sig[j] != ')':
            j = complete_type(sig, j)
            if j < 0:
                return -1
        return j + 1 if j < len(sig) and j > i + 1 else -1
    return -1


def is_signature(word):
    """One complete type: "s", "as", "aa{sv}" (keys have one type)."""
    return bool(word) and complete_type(word, 0) == len(word)


def join_continuations(text):
    return re.sub(r'\\\n', ' ', text)


def parse_names(text):
    """#define NAME "value" of vfiod-names.h."""
    names = {}
    for m in re.finditer(r'^#define\s+(\w+)\s+"([^"]*)"', join_continuations(text), re.M):
        names[m.group(1)] = m.group(2)
    return names


def parse_fields(text, names):
    """VFIOD_<LIST>_FIELDS(X) of vfiod-fields.h: {LIST: [row]}, each row a
    dict id, property, property_signature, key, key_signature, sparse."""
    lists = {}
    text = join_continuations(text)
    consts = {'VFIOD_FIELD_ALWAYS': False, 'VFIOD_FIELD_SPARSE': True}

    def value(arg, where):
        arg = arg.strip()
        if arg == 'NULL':
            return None
        if arg.startswith('"'):
            return arg.strip('"')
        if arg in consts:
            return consts[arg]
        if arg in names:
            return names[arg]
        raise SystemExit('%s: %s is not defined in vfiod-names.h' % (where, arg))

    for m in re.finditer(r'^#define\s+VFIOD_(\w+)_FIELDS\s*\(X\)(.*)$', text, re.M):
        rows = []
        for r in re.finditer(r'\bX\s*\(([^()]*)\)', m.group(2)):
            args = r.group(1).split(',')
            where = 'VFIOD_%s_FIELDS row %s' % (m.group(1), args[0].strip())
            if len(args) != 6:
                raise SystemExit('%s: %d arguments, not 6' % (where, len(args)))
            rows.append(dict(id=args[0].strip(), property=value(args[1], where),
                             property_signature=value(args[2], where), key=value(args[3], where),
                             key_signature=value(args[4], where), sparse=value(args[5], where)))
        lists[m.group(1)] = rows
    return lists


def properties(xml_text, interface):
    """[(name, type)] of @interface's <property> elements, in order."""
    root = ET.fromstring(xml_text)
    for iface in root.iter('interface'):
        if iface.get('name') == interface:
            return [(p.get('name'), p.get('type')) for p in iface if p.tag == 'property']
    raise SystemExit('no interface %s in its XML' % interface)


def comments(xml_text):
    return re.findall(r'<!--(.*?)-->', xml_text, re.S)


def after(text, marker):
    i = text.find(marker)
    return None if i < 0 else text[i + len(marker):]


TABLE_ROW = re.compile(r'^( +)([a-z_]+)  +(' + SIG + r')(?: +(.*))?$')


def table(text):
    """The first key table in @text: rows "  key  sig  description", the
    description going on in lines indented further.  [(key, sig, text)]."""
    rows = []
    indent = None
    for line in text.split('\n'):
        m = TABLE_ROW.match(line)
        if m and not is_signature(m.group(3)):
            m = None
        if indent is None:
            if m:
                indent = len(m.group(1))
            else:
                continue
        if m and len(m.group(1)) == indent:
            rows.append([m.group(2), m.group(3), m.group(4) or ''])
        elif line.strip() and len(line) - len(line.lstrip()) > indent:
            rows[-1][2] += ' ' + line.strip()
        else:
            break
    return [tuple(r) for r in rows]


TOKEN = re.compile(r'"([^"]*)"|(\()|(\))|([^\s",()]+)|(,)')


def prose(text):
    """Keys in sentences: "key" sig, "a", "b" (q), "c" (as, what it is).
    A sig (bare, or first in parentheses) right after a key types it and
    the keys listed before it without one; the rest of a parenthesis is
    skipped.  A key after the word "when" (outside parentheses) is sparse.
    [(key, sig, sparse)]."""
    out = []
    pending = []
    depth = 0
    first_in_paren = False
    after_key = False
    when = False
    for m in TOKEN.finditer(re.sub(r'\s+', ' ', text)):
        quoted, opening, closing, word, comma = m.groups()
        if word is not None:
            word = word.rstrip('.;:')
        if opening is not None:
            depth += 1
            first_in_paren = depth == 1
            continue
        if closing is not None:
            depth = max(0, depth - 1)
            after_key = False
            continue
        if depth:
            if first_in_paren and after_key and word and is_signature(word):
                for k in pending:
                    k[1] = word
                pending = []
            first_in_paren = False
            continue
        if comma is not None:
            continue
        if quoted is not None:
            entry = [quoted, None, when]
            out.append(entry)
            pending.append(entry)
            after_key = True
            continue
        if after_key and is_signature(word):
            for k in pending:
                k[1] = word
            pending = []
        elif word.lower() == 'when':
            when = True
        after_key = False
    return [tuple(k) for k in out]


def manager_dictionaries(xml_text):
    """{LIST: (where, [(key, sig, sparse or None)])} as the Manager's
    comments document them; LIST: None where no key list was found."""
    found = {}
    notes = comments(xml_text)
    top = notes[0] if notes else ''

    device = after(top, 'Device dictionary (a{sv})')
    if device:
        intro = device[:device.find('\n    address')]
        sparse = set(re.findall(r'"([a-z_]+)"', intro.split('except', 1)[1])) if 'except' in intro else set()
        found['DEVICE'] = ('the device dictionary (Manager.xml, top comment)',
                           [(k, s, k in sparse) for k, s, _ in table(device)])

    plan = after(top, 'Plan dictionary (a{sv})')
    if plan:
        found['PLAN_STEP'] = ('the plan dictionary (Manager.xml, top comment)',
                              [(k, s, False) for k, s, _ in table(plan)])

    for note in notes:
        flat = re.sub(r'\s+', ' ', note)
        explanation = after(note, 'Keys of @explanation:')
        if explanation:
            rows = table(explanation)
            found['EXPLANATION'] = ('the keys of @explanation (ExplainGroup)',
                                    [(k, s, False) for k, s, _ in rows])
            for k, s, description in rows:
                if k == 'isolating_slots':
                    found['SLOT'] = ('the entries of "isolating_slots" (ExplainGroup)',
                                     prose(description))
        assignments = flat.split('ListPersistentAssignments:', 1)
        if len(assignments) == 2:
            text = after(assignments[1], 'One dictionary each:')
            if text:
                text = text.split('No authorization is needed.')[0]
                found['ASSIGNMENT'] = ('the dictionary of ListPersistentAssignments', prose(text))
        if 'GrantAccess:' in flat:
            text = after(flat, '@nodes: one dictionary per node:')
            if text:
                found['NODE'] = ('the node dictionary (GrantAccess @nodes)', prose(text))
    return found


def compare(what, header, xml, sparse_documented=True):
    """Differences between two lists of (name, sig[, sparse]) in order."""
    problems = []
    hn = [h[0] for h in header]
    xn = [x[0] for x in xml]
    for n in hn:
        if n not in xn:
            problems.append('%s: %s is in vfiod-fields.h only' % (what, n))
    for n in xn:
        if n not in hn:
            problems.append('%s: %s is in the XML only' % (what, n))
    common_h = [n for n in hn if n in xn]
    common_x = [n for n in xn if n in hn]
    if common_h != common_x:
        problems.append('%s: the order differs:\n    vfiod-fields.h: %s\n    XML:            %s'
                        % (what, ', '.join(common_h), ', '.join(common_x)))
    xd = {x[0]: x for x in xml}
    for h in header:
        x = xd.get(h[0])
        if x is None:
            continue
        if h[1] != x[1]:
            problems.append('%s: %s is "%s" in vfiod-fields.h, "%s" in the XML'
                            % (what, h[0], h[1], x[1]))
        if sparse_documented and len(h) > 2 and h[2] != x[2]:
            problems.append('%s: %s is %s in vfiod-fields.h, %s in the XML'
                            % (what, h[0], 'sparse' if h[2] else 'always there',
                               'sparse' if x[2] else 'always there'))
    return problems


def check(texts):
    """@texts: {'names', 'fields', 'Device', 'Group', 'Manager'}: the file
    contents.  Returns the list of differences."""
    problems = []
    lists = parse_fields(texts['fields'], parse_names(texts['names']))

    for iface, name in (('Device', 'DEVICE'), ('Group', 'GROUP')):
        rows = lists.get(name)
        if rows is None:
            problems.append('vfiod-fields.h has no VFIOD_%s_FIELDS' % name)
            continue
        header = [(r['property'], r['property_signature']) for r in rows if r['property']]
        xml = properties(texts[iface], 'org.freedesktop.vfio1.' + iface)
        problems += compare('org.freedesktop.vfio1.%s properties' % iface, header, xml)

    documented = manager_dictionaries(texts['Manager'])
    for name, rows in lists.items():
        keyed = [(r['key'], r['key_signature'], r['sparse']) for r in rows if r['key']]
        if name == 'GROUP':
            if keyed:
                problems.append('VFIOD_GROUP_FIELDS has keys, but the contract has no group '
                                'dictionary: %s' % ', '.join(k for k, _, _ in keyed))
            continue
        if name not in documented:
            problems.append('VFIOD_%s_FIELDS: no key list for it found in Manager.xml\'s comments '
                            '(or this checker does not know where to look)' % name)
            continue
        where, xml = documented[name]
        problems += compare('VFIOD_%s_FIELDS and %s' % (name, where), keyed, xml)
    for name in documented:
        if name not in lists:
            problems.append('%s is documented, but vfiod-fields.h has no VFIOD_%s_FIELDS'
                            % (documented[name][0], name))
    return problems


def read_texts(srcdir):
    def read(*parts):
        with open(os.path.join(srcdir, *parts), encoding='utf-8') as f:
            return f.read()
    texts = {'names': read('common', 'vfiod-names.h'), 'fields': read('common', 'vfiod-fields.h')}
    for iface in ('Device', 'Group', 'Manager'):
        texts[iface] = read('interfaces', 'org.freedesktop.vfio1.%s.xml' % iface)
    return texts


def self_test(texts):
    """Each change of one side must be found."""
    def changed(key, old, new):
        t = dict(texts)
        assert old in t[key], (key, old)
        t[key] = t[key].replace(old, new, 1)
        return t

    dev_prop = '    <property name="Driver" type="s" access="read"/>\n'
    cases = {
        'a Device property in the XML only':
            changed('Device', dev_prop, dev_prop + '    <property name="Extra" type="s" access="read"/>\n'),
        'a Device property dropped from the XML':
            changed('Device', dev_prop, ''),
        'Device properties reordered in the XML':
            changed('Device', '<property name="VendorId" type="q" access="read"/>\n'
                    '    <property name="DeviceId" type="q" access="read"/>',
                    '<property name="DeviceId" type="q" access="read"/>\n'
                    '    <property name="VendorId" type="q" access="read"/>'),
        'a Device property of another type':
            changed('Device', '<property name="Class" type="u"', '<property name="Class" type="t"'),
        'a Group property in the XML only':
            changed('Group', '<property name="Viable" type="b" access="read"/>',
                    '<property name="Viable" type="b" access="read"/>\n'
                    '    <property name="Extra" type="b" access="read"/>'),
        'a device key in the XML only':
            changed('Manager', '    bridge               b ', '    extra                s  x\n'
                    '    bridge               b '),
        'a device key of another type in the XML':
            changed('Manager', '    class                u ', '    class                t '),
        'a plan key in the header only':
            changed('fields', '  X (REASON, NULL, NULL, VFIOD_KEY_REASON, "s", VFIOD_FIELD_ALWAYS)',
                    '  X (REASON, NULL, NULL, VFIOD_KEY_REASON, "s", VFIOD_FIELD_ALWAYS) '
                    'X (EXTRA, NULL, NULL, "extra", "s", VFIOD_FIELD_ALWAYS)'),
        'a plan key dropped from the XML':
            changed('Manager', '    to       s ', '    tx       s '),
        'a sparse device key documented as always there':
            changed('Manager', '"owner_uid", present only', 'owner_uid, present only'),
        'a node key in the XML only':
            changed('Manager', '"path" s, "uid" u.', '"path" s, "uid" u, "gid" u.'),
        'assignment keys reordered in the XML':
            changed('Manager', '"address" s, "record" s (the file),', '"record" s (the file), "address" s,'),
        'a slot key of another type':
            changed('Manager', '"occupant" as', '"occupant" s'),
    }
    # reorder rows of the header: swap two device rows
    t = dict(texts)
    vendor = 'X (VENDOR, VFIOD_PROP_VENDOR, "s", VFIOD_KEY_VENDOR, "s", VFIOD_FIELD_ALWAYS)'
    name = 'X (NAME, VFIOD_PROP_NAME, "s", VFIOD_KEY_NAME, "s", VFIOD_FIELD_ALWAYS)'
    assert vendor in t['fields'] and name in t['fields']
    t['fields'] = t['fields'].replace(vendor, '@@').replace(name, vendor).replace('@@', name)
    cases['device rows reordered in the header'] = t

    baseline = set(check(texts))
    failed = 0
    for what, t in cases.items():
        new = [p for p in check(t) if p not in baseline]
        if new:
            print('ok: %s: %s' % (what, new[0].split('\n')[0]))
        else:
            print('NOT FOUND: %s' % what)
            failed += 1
    return failed


def main(argv):
    args = [a for a in argv[1:] if not a.startswith('--')]
    srcdir = args[0] if args else os.path.join(os.path.dirname(os.path.abspath(__file__)), '..')
    texts = read_texts(srcdir)
    if '--self-test' in argv:
        return 1 if self_test(texts) else 0
    problems = check(texts)
    for p in problems:
        print(p)
    if problems:
        print('%d difference(s) between common/vfiod-fields.h and interfaces/*.xml' % len(problems))
        return 1
    print('common/vfiod-fields.h agrees with interfaces/*.xml')
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))

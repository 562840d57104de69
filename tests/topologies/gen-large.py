#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Print a topology of exactly N PCI devices (vfiosim's JSON) for scale tests.

    gen-large.py N > large.json        (N >= 6)

A two-socket Xeon Scalable-like machine, repeated over PCI segments as
needed: per segment, root complexes ("stacks") with integrated endpoints and
root ports; behind the root ports SR-IOV NICs (PFs plus VFs carrying physfn),
NVMe drives, GPUs with their audio function (one group), PCIe switches with
drives behind every downstream port, PCIe-to-PCI bridges with conventional
cards (one group); VMD domains (10000, 10001, ...) whose devices share the VMD
device's group.  Root ports and switch ports have ACS: everything else gets
a group of its own.  Deterministic: the same N gives the same output.
"""

import json
import sys

SM = ('15d9', '095d')   # Supermicro board subsystem


class Gen:
    def __init__(self, n):
        self.n = n
        self.devices = []
        self.group = 0
        self.domain = 0
        self.next_bus = 0
        self.vmd_domain = 0x10000
        self.pending_vmd = []       # (vmd address, group)

    # ---- helpers ----
    def left(self):
        return self.n - len(self.devices)

    def new_group(self):
        g = self.group
        self.group += 1
        return g

    def addr(self, bus, slot, fn, domain=None):
        d = self.domain if domain is None else domain
        return '%04x:%02x:%02x.%x' % (d, bus, slot, fn)

    def add(self, address, vd, cls, name, driver, group, sub=SM, bridge=False,
            sec=None, subo=None, mf=False, **extra):
        v, d = vd
        o = {'address': address, 'vendor': '0x' + v, 'device': '0x' + d,
             'class': '0x%06x' % cls, 'name': name, 'driver': driver,
             'iommu_group': group, 'header_type': 'bridge' if bridge else 'endpoint',
             'secondary_bus': sec, 'subordinate_bus': subo if subo is not None else sec,
             'multifunction': mf, 'subsystem_vendor': '0x' + sub[0],
             'subsystem_device': '0x' + sub[1]}
        o.update(extra)
        self.devices.append(o)
        return o

    def alloc_bus(self):
        b = self.next_bus
        self.next_bus += 1
        return b

    def root_port(self, bus, slot, ident, name, subtree_buses):
        """A root port at bus:slot.0 whose subtree gets subtree_buses buses."""
        sec = self.next_bus
        self.next_bus += subtree_buses
        self.add(self.addr(bus, slot, 0), ident, 0x060400, name, 'pcieport',
                 self.new_group(), bridge=True, sec=sec, subo=sec + subtree_buses - 1,
                 revision='0x04', acs_cap=ACS)
        return sec

    # ---- units behind a root port: (devices, buses, builder) ----
    def unit_sriov(self, vfs):
        """X710: two PFs on i40e, each with `vfs` VFs on iavf."""
        def build(bus):
            for pf in range(2):
                pfa = self.add(self.addr(bus, 0, pf), ('8086', '1572'), 0x020000,
                               'Ethernet Controller X710 for 10GbE SFP+', 'i40e',
                               self.new_group(), sub=('8086', '0007'), mf=True, revision='0x02',
                               acs_cap=ACS)
                for i in range(vfs):
                    rid = 16 + pf * vfs + i
                    self.add(self.addr(bus, rid // 8, rid % 8), ('8086', '154c'), 0x020000,
                             'Ethernet Virtual Function 700 Series', 'iavf', self.new_group(),
                             sub=('8086', '0000'), revision='0x02', physfn=pfa['address'])
        return 2 + 2 * vfs, 1, build

    def unit_mlx(self, vfs):
        """ConnectX-5: one PF on mlx5_core with `vfs` VFs."""
        def build(bus):
            pfa = self.add(self.addr(bus, 0, 0), ('15b3', '1017'), 0x020000,
                           'MT27800 Family [ConnectX-5]', 'mlx5_core', self.new_group(),
                           sub=('15b3', '0007'))
            for i in range(vfs):
                rid = 2 + i
                self.add(self.addr(bus, rid // 8, rid % 8), ('15b3', '1018'), 0x020000,
                         'MT27800 Family [ConnectX-5 Virtual Function]', 'mlx5_core',
                         self.new_group(), sub=('15b3', '0007'), physfn=pfa['address'])
        return 1 + vfs, 1, build

    def unit_nvme(self):
        def build(bus):
            self.add(self.addr(bus, 0, 0), ('144d', 'a808'), 0x010802,
                     'NVMe SSD Controller SM981/PM981/PM983', 'nvme', self.new_group(),
                     sub=('144d', 'a801'))
        return 1, 1, build

    def unit_gpu(self):
        def build(bus):
            g = self.new_group()
            self.add(self.addr(bus, 0, 0), ('10de', '1b80'), 0x030000, 'GP104 [GeForce GTX 1080]',
                     'nouveau', g, sub=('1458', '3702'), mf=True, revision='0xa1', boot_vga=0)
            self.add(self.addr(bus, 0, 1), ('10de', '10f0'), 0x040300,
                     'GP104 High Definition Audio Controller', 'snd_hda_intel', g,
                     sub=('1458', '3702'), mf=True, revision='0xa1')
        return 2, 1, build

    def unit_switch(self, ports):
        """PEX 8747: upstream port, `ports` downstream ports, an NVMe under each."""
        def build(bus):
            up_sec = bus + 1
            self.add(self.addr(bus, 0, 0), ('10b5', '8747'), 0x060400,
                     'PEX 8747 48-Lane, 5-Port PCI Express Gen 3 (8.0 GT/s) Switch', 'pcieport',
                     self.new_group(), sub=('10b5', '8747'), bridge=True, sec=up_sec,
                     subo=up_sec + ports, revision='0xca', port_type='upstream')
            for p in range(ports):
                dsec = up_sec + 1 + p
                self.add(self.addr(up_sec, 8 + p, 0), ('10b5', '8747'), 0x060400,
                         'PEX 8747 48-Lane, 5-Port PCI Express Gen 3 (8.0 GT/s) Switch',
                         'pcieport', self.new_group(), sub=('10b5', '8747'), bridge=True,
                         sec=dsec, revision='0xca', port_type='downstream', acs_cap=ACS)
                self.add(self.addr(dsec, 0, 0), ('8086', '0953'), 0x010802,
                         'PCIe Data Center SSD', 'nvme', self.new_group(),
                         sub=('8086', '3703'), revision='0x01')
        return 1 + 2 * ports, 2 + ports, build

    def unit_legacy(self):
        """ASM1083 PCIe-to-PCI bridge with two conventional NICs: one group."""
        def build(bus):
            g = self.new_group()
            self.add(self.addr(bus, 0, 0), ('1b21', '1080'), 0x060401,
                     'ASM1083/1085 PCIe to PCI Bridge', None, g, sub=('1043', '8489'),
                     bridge=True, sec=bus + 1, revision='0x04', port_type='pcie_to_pci')
            self.add(self.addr(bus + 1, 1, 0), ('8086', '107c'), 0x020000,
                     '82541PI Gigabit Ethernet Controller', 'e1000', g, sub=('8086', '1376'),
                     revision='0x05')
            self.add(self.addr(bus + 1, 2, 0), ('10ec', '8139'), 0x020000,
                     'RTL-8100/8101L/8139 PCI Fast Ethernet Adapter', '8139too', g,
                     sub=('10ec', '8139'), revision='0x10')
        return 3, 2, build

    UNITS = ['sriov', 'nvme', 'switch', 'mlx', 'gpu', 'nvme', 'sriov', 'legacy', 'switch', 'mlx']

    def make_unit(self, kind, k):
        if kind == 'sriov':
            return self.unit_sriov(8 + 8 * (k % 4))       # 8..32 VFs per PF
        if kind == 'mlx':
            return self.unit_mlx(16 + 16 * (k % 2))
        if kind == 'switch':
            return self.unit_switch(4)
        if kind == 'gpu':
            return self.unit_gpu()
        if kind == 'legacy':
            return self.unit_legacy()
        return self.unit_nvme()

    # ---- the machine ----
    def chipset(self, bus):
        """Bus 00 of segment 0: host bridge and the C620 PCH."""
        if self.n < 6:
            raise SystemExit('gen-large.py: N must be at least 6')
        self.add(self.addr(bus, 0, 0), ('8086', '2020'), 0x060000, 'Sky Lake-E DMI3 Registers',
                 None, self.new_group(), revision='0x04')
        self.add(self.addr(bus, 0x14, 0), ('8086', 'a1af'), 0x0c0330,
                 'C620 Series Chipset Family USB 3.0 xHCI Controller', 'xhci_hcd',
                 self.new_group(), revision='0x09')
        self.add(self.addr(bus, 0x17, 0), ('8086', 'a182'), 0x010601,
                 'C620 Series Chipset Family SATA Controller [AHCI mode]', 'ahci',
                 self.new_group(), revision='0x09')
        g = self.new_group()
        self.add(self.addr(bus, 0x1f, 0), ('8086', 'a1c2'), 0x060100,
                 'C621 Series Chipset LPC/eSPI Controller', None, g, mf=True, revision='0x09')
        self.add(self.addr(bus, 0x1f, 4), ('8086', 'a1a3'), 0x0c0500,
                 'C620 Series Chipset Family SMBus', 'i801_smbus', g, mf=True, revision='0x09')
        self.add(self.addr(bus, 0x1f, 6), ('8086', '15b9'), 0x020000,
                 'Ethernet Connection (2) I219-LM', 'e1000e', g, mf=True)

    def vmd_domain_devices(self, vmd_address, group, budget):
        """Devices behind a VMD: a new domain, all in the VMD's group."""
        dom = self.vmd_domain
        self.vmd_domain += 1
        made = 0
        for rp in range(4):
            if budget - made < 2:
                break
            self.add(self.addr(0, rp, 0, dom), ('8086', '2030'),
                     0x060400, 'Sky Lake-E PCI Express Root Port A', 'pcieport', group,
                     bridge=True, sec=rp + 1, revision='0x04')
            self.add(self.addr(rp + 1, 0, 0, dom), ('144d', 'a808'), 0x010802,
                     'NVMe SSD Controller SM981/PM981/PM983', 'nvme', group, sub=('144d', 'a801'))
            made += 2
        return made

    def stack(self, first):
        """One root complex: integrated endpoints, a VMD, up to 4 root ports."""
        bus = self.alloc_bus()
        if first:
            self.chipset(bus)
        if self.left() <= 0:
            return
        # Integrated endpoints (each its own group, no driver); fillers too.
        for fn, (dev, name) in enumerate([('2034', 'Sky Lake-E VT-d'),
                                          ('2035', 'Sky Lake-E RAS Configuration Registers'),
                                          ('2036', 'Sky Lake-E IOxAPIC Configuration Registers')]):
            if self.left() <= 0:
                return
            self.add(self.addr(bus, 5, fn), ('8086', dev), 0x088000, name, None,
                     self.new_group(), mf=True, revision='0x04', acs_cap=ACS)
        if not first and self.left() >= 3 and self.stacks % 3 == 1:
            g = self.new_group()
            vmd = self.add(self.addr(bus, 5, 5), ('8086', '201d'), 0x010400,
                           'Volume Management Device NVMe RAID Controller', 'vmd', g,
                           mf=True, revision='0x04', acs_cap=ACS,
                           child_domain='%x' % self.vmd_domain)
            self.vmd_domain_devices(vmd['address'], g, min(self.left(), 8))
        for rp in range(4):
            if self.left() < 2:
                break
            kind = self.UNITS[self.unit_index % len(self.UNITS)]
            count, buses, build = self.make_unit(kind, self.unit_index)
            if count + 1 > self.left():
                count, buses, build = self.unit_nvme()
            if self.next_bus + buses > 0xff:
                break
            self.unit_index += 1
            sec = self.root_port(bus, rp + (1 if first else 0), ('8086', '2030'),
                                 'Sky Lake-E PCI Express Root Port A', buses)
            build(sec)

    def run(self):
        self.stacks = 0
        self.unit_index = 0
        while self.left() > 0:
            if self.next_bus > 0xf0:
                self.domain += 1
                self.next_bus = 0
            self.stack(self.stacks == 0)
            self.stacks += 1
        assert len(self.devices) == self.n, (len(self.devices), self.n)
        return {'comment': 'generated by gen-large.py %d' % self.n, 'devices': self.devices}


# Root and switch downstream ports, and functions that each have a group of their
# own, have ACS (SV TB RR CR UF, Egress Control): the kernel's rules then give
# the groups listed.
ACS = '0x005f'


def main():
    if len(sys.argv) != 2 or not sys.argv[1].isdigit() or int(sys.argv[1]) < 6:
        sys.stderr.write('usage: gen-large.py N\n')
        return 2
    doc = Gen(int(sys.argv[1])).run()
    out = sys.stdout
    out.write('{\n  "comment": %s,\n  "devices": [\n' % json.dumps(doc['comment']))
    out.write(',\n'.join('    ' + json.dumps(d) for d in doc['devices']))
    out.write('\n  ]\n}\n')
    return 0


if __name__ == '__main__':
    sys.exit(main())

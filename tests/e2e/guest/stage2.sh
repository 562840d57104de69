#!/bin/bash
# Stage 2 of the e2e guest, PID 1 after switch_root. Runs from the host's root file system
# (read-only 9p + tmpfs overlay), so every host binary and library is available unchanged.
#
# Sets the machine up the way the guest scripts expect (see README.md, "Guest environment"),
# runs $E2E_GUEST_SCRIPT, writes its exit code to the results share and powers off.
# Configuration comes from /e2e/results/.e2e/config.sh, written by run-e2e.py.

set -u
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export LANG=C.UTF-8 HOME=/root TERM=dumb
R=/e2e/results
. "$R/.e2e/config.sh"

uptime_s() { cut -d' ' -f1 /proc/uptime; }
T_STAGE2=$(uptime_s)
log() { echo "e2e-stage2: $* (uptime $(uptime_s))"; }

finish() {
	local rc=$1
	if [ -n "${E2E_SYSTEMD:-}" ]; then
		# the whole boot's journal, for the reader of a failure
		journalctl -b --no-pager -o short-monotonic > "$R/journal.txt" 2>&1
		systemctl --no-pager --failed > "$R/failed-units.txt" 2>&1
	fi
	echo "$rc" > "$R/exit-code.tmp" && mv "$R/exit-code.tmp" "$R/exit-code"
	sync
	log "exit code $rc, powering off"
	umount "$R" 2>/dev/null
	/bin/busybox poweroff -f
	sleep 60
}
die() { echo "E2E-STAGE2-FAILED: $*"; finish 99; }

if [ -z "${E2E_SYSTEMD:-}" ]; then
	# PID 1 here: the mounts and links systemd would make
	mountpoint -q /dev/pts || { mkdir -p /dev/pts && mount -t devpts -o mode=620,ptmxmode=666 devpts /dev/pts; }
	mkdir -p /dev/shm && mount -t tmpfs -o mode=1777 tmpfs /dev/shm
	mount -t tmpfs -o mode=0755 tmpfs /run
	ln -sf /proc/self/fd /dev/fd 2>/dev/null
	ln -sf /proc/self/fd/0 /dev/stdin; ln -sf /proc/self/fd/1 /dev/stdout; ln -sf /proc/self/fd/2 /dev/stderr
	: > /etc/machine-id.e2e && mv /etc/machine-id.e2e /etc/machine-id
fi
# /tmp stays the overlay's (writes land in tmpfs anyway): a checkout or build dir under the
# host's /tmp, as some CI systems use, stays visible in the guest.
mkdir -p /run/lock /run/e2e
hostname e2e-guest
echo "127.0.0.1 localhost e2e-guest" > /etc/hosts
# (the kernel's modules: init.sh bound them into /lib/modules/$E2E_KVER)
ip link set lo up

if [ -n "${E2E_COLDPLUG:-}" ]; then
	# --coldplug: drivers the way a booting system loads them, so the installed udev rules
	# (vfiod's persistent assignments) run before the rules that load modules. Stays running.
	# No vfio-pci loaded by hand: the boot checks of e2e-persist look at what coldplug did.
	if [ -n "${E2E_SYSTEMD:-}" ]; then
		# systemd-udevd.service and systemd-udev-trigger.service did it, as at any boot
		log "coldplug by systemd-udev-trigger.service; waiting for udev"
	else
		log "coldplug with systemd-udevd"
		/lib/systemd/systemd-udevd --daemon || die "systemd-udevd"
		udevadm trigger --type=subsystems --action=add || die "udevadm trigger subsystems"
		udevadm trigger --type=devices --action=add || die "udevadm trigger devices"
	fi
	udevadm settle --timeout=240 || die "udevadm settle"
else
	# Drivers: two passes over the modaliases (the second catches devices that appeared because
	# of the first, e.g. SCSI disks behind AHCI). Much faster than udev under TCG.
	log "loading drivers"
	for pass in 1 2; do
		cat /sys/bus/pci/devices/*/modalias /sys/bus/scsi/devices/*/modalias \
		    /sys/bus/virtio/devices/*/modalias 2>/dev/null | sort -u | xargs -r modprobe -qab
	done
	if [ -n "${E2E_DESKTOP:-}" ]; then
		# --desktop: the USB devices enumerate behind xhci, then HID, input and the HDA codec
		for i in $(seq 1 100); do
			[ -e /sys/bus/usb/devices/1-2 ] && break
			sleep 0.1
		done
		for pass in 1 2 3; do
			cat /sys/bus/usb/devices/*/modalias /sys/bus/hid/devices/*/modalias \
			    /sys/class/input/*/modalias /sys/bus/hdaudio/devices/*/modalias 2>/dev/null |
			    sort -u | xargs -r modprobe -qab
			sleep 0.3
		done
	fi
	# Under systemd, vfiod.service loads vfio-pci (modprobe@vfio_pci.service) when the bus
	# starts it; the guest script checks that it does.
	if [ -z "${E2E_SYSTEMD:-}" ]; then
		modprobe -q vfio-pci || die "modprobe vfio-pci"
	fi
fi
T_DRIVERS=$(uptime_s)

# The "system disk": the AHCI disk, formatted and mounted, so the 00:1f.x group is in use.
DISK=""
for i in $(seq 1 100); do
	for b in /sys/bus/pci/devices/0000:00:1f.2/ata*/host*/target*/*/block/*; do
		[ -e "$b" ] && DISK=/dev/$(basename "$b") && break 2
	done
	sleep 0.1
done
[ -n "$DISK" ] && [ -b "$DISK" ] || die "no disk on AHCI 00:1f.2"
mkfs.ext4 -q -F -L e2e-disk "$DISK" || die "mkfs.ext4 $DISK"
modprobe -q ext4
mkdir -p /mnt/e2e-disk && mount "$DISK" /mnt/e2e-disk || die "mount $DISK"
echo "written by the e2e harness" > /mnt/e2e-disk/hello

# The NIC whose interface is up with an address (restricted user-mode backend: no traffic
# leaves the VM).
UP_IFACE=""
for i in $(seq 1 50); do
	for n in /sys/bus/pci/devices/$E2E_UP_NIC/net/* /sys/bus/pci/devices/$E2E_UP_NIC/virtio*/net/*; do
		[ -e "$n" ] && UP_IFACE=$(basename "$n") && break 2
	done
	sleep 0.1
done
[ -n "$UP_IFACE" ] || die "no interface on $E2E_UP_NIC"
ip addr add 10.0.2.15/24 dev "$UP_IFACE" && ip link set "$UP_IFACE" up || die "ip $UP_IFACE"
T_READY=$(uptime_s)

cat > /run/e2e/env <<EOF
export E2E_RESULTS=$R
export E2E_KVER=$E2E_KVER
export E2E_BUILD_DIR=$E2E_BUILD_DIR
export E2E_SOURCE_DIR=$E2E_SOURCE_DIR
export E2E_DISK_DEV=$DISK
export E2E_DISK_MOUNT=/mnt/e2e-disk
export E2E_UP_NIC=$E2E_UP_NIC
export E2E_UP_IFACE=$UP_IFACE
export E2E_TOPOLOGY=$R/topology.json
export PYTHONPATH=$E2E_SOURCE_DIR/tests/e2e
EOF
# the boot's kind and --env values, for the script
grep -E "^export E2E_(PERSIST_DEV|COLDPLUG|VARIANT|PHASE|INSTALL_BUILD|SYSTEMD|INSTALL|UNIT_EXTRA|DESKTOP)=" "$R/.e2e/config.sh" >> /run/e2e/env
. /run/e2e/env

T_INSTALL=$(uptime_s)
if [ -n "${E2E_INSTALL:-}" ]; then
	# --install: the project as a distribution installs it (run-e2e.py built it with
	# --prefix=/usr in E2E_INSTALL_BUILD), into the overlay; then systemd and the bus read
	# the new unit, bus service file and policy, as a package's triggers make them.
	log "meson install from $E2E_INSTALL_BUILD"
	meson install --no-rebuild --quiet -C "$E2E_INSTALL_BUILD" > "$R/meson-install.log" 2>&1 \
		|| die "meson install (see meson-install.log)"
	if [ -n "${E2E_SYSTEMD:-}" ]; then
		systemctl daemon-reload || die "systemctl daemon-reload"
		if systemctl -q is-active dbus.service; then
			systemctl reload dbus.service || die "systemctl reload dbus"
		fi
	fi
fi
T_INSTALLED=$(uptime_s)

cat > "$R/stage2.json" <<EOF
{"kernel": "$(uname -r)", "uptime_stage2_start": $T_STAGE2, "uptime_drivers_loaded": $T_DRIVERS,
 "uptime_ready": $T_READY, "uptime_install_start": $T_INSTALL, "uptime_script_start": $T_INSTALLED,
 "systemd": "${E2E_SYSTEMD:-}", "disk": "$DISK", "up_iface": "$UP_IFACE"}
EOF

log "running $E2E_GUEST_SCRIPT"
cd /
"$E2E_GUEST_SCRIPT" 2>&1 | tee "$R/guest.log"
rc=${PIPESTATUS[0]}
T_END=$(uptime_s)
echo "{\"uptime_script_end\": $T_END}" > "$R/stage2-end.json"
finish "$rc"

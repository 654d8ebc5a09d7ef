#!/bin/bash
# PID 1 of a vdvk UML guest started by vdvk-uml. Not for use on the host.
#
# The root is the host's / through hostfs, read-only. vdvk-uml passes
# vdvk_dir=HOSTDIR on the kernel command line (the kernel hands unknown
# key=value words to init as environment). HOSTDIR holds:
#   argv     the command, NUL-separated (written by the launcher)
#   stdin    optional: the command's stdin (vdvk-uml --stdin)
#   status   the command's exit status (written here)
# Everything here runs as guest PID 1: exiting would panic the guest, so the
# script ends by powering off and never returns.

PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export PATH HOME=/root TERM=dumb

say() { echo "vdvk-guest-init: $*" >&2; }

# Never return: power off if (and only if) it is safe, else sleep until the
# launcher's timeout kills us.
halt_guest() {
	# The sysrq write must reach the GUEST's /proc. If /proc were not mounted,
	# /proc/sysrq-trigger would be the host's file seen through hostfs and
	# "o" would power off the host. The guest's own proc shows our pid (1)
	# as self and reports the guest kernel's release.
	# "read" is a builtin: /proc/self is opened by this shell itself. Through
	# hostfs it would name the host's UML process instead.
	local self="" release=""
	read -r self _ </proc/self/stat 2>/dev/null
	read -r release </proc/sys/kernel/osrelease 2>/dev/null
	if [[ $proc_mounted == 1 && $self == "$BASHPID" && $release == "$(uname -r)" ]]; then
		echo o >/proc/sysrq-trigger
	else
		say "guest /proc not verified (self=$self release=$release); not powering off"
	fi
	while :; do sleep 3600; done
}

proc_mounted=0
mount -t proc proc /proc && proc_mounted=1
mount -t sysfs sysfs /sys 2>/dev/null
mountpoint -q /dev || mount -t devtmpfs devtmpfs /dev 2>/dev/null
[[ ${vdvk_tmp:-} == host ]] || mount -t tmpfs -o mode=1777 tmpfs /tmp

if [[ $proc_mounted != 1 ]]; then
	say "cannot mount /proc"
	halt_guest
fi

# The command's terminal is con1 (/dev/tty1, the launcher's stdin/stdout);
# /dev/console carries kernel messages. tty1 is a tty: without -onlcr every
# "\n" would reach the host as "\r\n".
term=/dev/tty1
[[ -c $term ]] || term=/dev/console
stty -onlcr 2>/dev/null <"$term"

# A mount point the read-only root lets us create: in the tmpfs on /tmp, or
# (with the host's /tmp kept) on a tmpfs over /mnt.
# The command's writable scratch directory ($VDVK_SCRATCH) is there too.
if [[ ${vdvk_tmp:-} == host ]]; then
	mount -t tmpfs -o mode=755 tmpfs /mnt
	ctl=/mnt/.vdvk-ctl
	mkdir -p -m 1777 /mnt/scratch
	export VDVK_SCRATCH=/mnt/scratch
else
	ctl=/tmp/.vdvk-ctl
	export VDVK_SCRATCH=/tmp
fi
unset vdvk_tmp
if [[ -z ${vdvk_dir:-} ]] || ! mkdir -p "$ctl" ||
	! mount -t hostfs -o "$vdvk_dir" none "$ctl"; then
	say "cannot mount the launcher's directory '${vdvk_dir:-}'"
	halt_guest
fi
unset vdvk_dir

args=()
if ! mapfile -d '' -t args <"$ctl/argv" || ((${#args[@]} == 0)); then
	say "no command in $ctl/argv"
	halt_guest
fi

cd / || :
# A subshell so that the command's exec cannot replace PID 1.
# Without --stdin, EOF: the tty's host side is /dev/null, which a tty never
# reports as end of input (a reading command would hang until the timeout).
input=/dev/null
[[ -f $ctl/stdin ]] && input=$ctl/stdin
("${args[@]}") <"$input" >"$term" 2>&1
status=$?

echo "$status" >"$ctl/status.tmp" && mv "$ctl/status.tmp" "$ctl/status"
sync
umount "$ctl"
halt_guest

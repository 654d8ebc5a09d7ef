#!/usr/bin/env bash
# Builds the vdvk UML kernel from Debian's linux-source-6.1, cached outside the
# repository so reruns (CI, ctest) take seconds.
#
#   build-kernel.sh [--out DIR] [--jobs N] [--force] [--extra-patch FILE ...]
#
# --extra-patch applies FILE after patches/*.patch (tests only, e.g.
# tests/xstate_bounce_check.sh; use a separate VDVK_CACHE for such builds).
#
# Cache ($VDVK_CACHE, default ${XDG_CACHE_HOME:-$HOME/.cache}/vdvk/uml):
#   tree/     unpacked + patched source (+ driver integration), keyed by
#             source version, patches and whether the driver exists
#   obj/      out-of-tree build dir (O=), its .config keyed by the tree key
#             plus the config fragment
#   linux     the installed kernel; linux.key holds the full key (tree +
#             config + driver sources); a matching key skips make entirely
# The kernel path is printed on the last line ("[uml] kernel: PATH").
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
umldir=$(dirname "$here")
repo=$(dirname "$umldir")
# Debian's linux-source-6.1; overridable only to test the error path.
tarball=${VDVK_LINUX_TARBALL:-/usr/src/linux-source-6.1.tar.xz}
fragment=$here/vdvk.config
patchdir=$here/patches
driverdir=$umldir/driver
ringhdr=$repo/wire/vdvk_ring.h
cache=${VDVK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/vdvk/uml}
jobs=$(nproc)
out=""
force=0
extra_patches=()

log() { echo "[uml] $*"; }
die() { echo "[uml] error: $*" >&2; exit 1; }

usage() {
	sed -n '2,17p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

while (($#)); do
	case $1 in
	--out) [[ $# -ge 2 ]] || die "--out needs a directory"; out=$2; shift 2 ;;
	--jobs|-j) [[ $# -ge 2 && $2 =~ ^[1-9][0-9]*$ ]] || die "--jobs needs a positive number"
		jobs=$2; shift 2 ;;
	--force) force=1; shift ;;
	--extra-patch) [[ $# -ge 2 && -f $2 ]] || die "--extra-patch needs an existing file"
		extra_patches+=("$(realpath "$2")"); shift 2 ;;
	-h|--help) usage; exit 0 ;;
	*) die "unknown option '$1' (see --help)" ;;
	esac
done

[[ -r $tarball ]] || die "$tarball not found: linux-source-6.1 is missing, run ./install-deps.sh"
for tool in make gcc flex bison bc xz patch sha256sum; do
	command -v "$tool" >/dev/null || die "'$tool' not found, run ./install-deps.sh"
done

# --- cache keys ----------------------------------------------------------
srcver=$(dpkg-query -W -f='${Version}' linux-source-6.1 2>/dev/null || true)
# Not installed through dpkg (unusual): the tarball's identity stands in.
[[ -n $srcver ]] || srcver=$(stat -c '%s-%Y' "$tarball")

shopt -s nullglob
patches=("$patchdir"/*.patch)
patches+=("${extra_patches[@]}")
driver_files=()
if [[ -d $driverdir ]]; then
	driver_files=("$driverdir"/*.c "$driverdir"/*.h)
fi
shopt -u nullglob
have_driver=0
((${#driver_files[@]})) && have_driver=1

hash_files() { # prints one hash over names + contents (empty list -> fixed hash)
	local f
	for f in "$@"; do
		printf '%s\n' "$(basename "$f")"
		cat "$f"
	done | sha256sum | cut -d' ' -f1
}
tree_key="src=$srcver patches=$(hash_files "${patches[@]}") driver=$have_driver"
config_key="$tree_key config=$(hash_files "$fragment")"
drv_inputs=("${driver_files[@]}")
if ((have_driver)); then
	drv_inputs+=("$ringhdr")	# copied next to the driver, part of its build
fi
full_key="$config_key drv=$(hash_files "${drv_inputs[@]}")"

mkdir -p "$cache"
# Two builds racing on one cache (parallel ctest, CI) would corrupt it.
exec 9>"$cache/.lock"
flock 9

tree=$cache/tree
obj=$cache/obj
kernel=$cache/linux

install_out() {
	[[ -n $out ]] || return 0
	mkdir -p "$out"
	if ! cmp -s "$kernel" "$out/linux"; then
		cp "$kernel" "$out/linux.tmp.$$"
		mv -f "$out/linux.tmp.$$" "$out/linux"
	fi
	log "copied to $out/linux"
}

if ((!force)) && [[ -x $kernel && -f $cache/linux.key ]] &&
	[[ "$(cat "$cache/linux.key")" == "$full_key" ]]; then
	log "up to date (key matches)"
	install_out
	log "kernel: $kernel"
	exit 0
fi

# --- source tree ---------------------------------------------------------
if ((force)) || [[ ! -f $tree/.vdvk-tree-key || "$(cat "$tree/.vdvk-tree-key")" != "$tree_key" ]]; then
	log "unpacking $tarball (linux-source-6.1 $srcver)..."
	rm -rf "$tree" "$tree.tmp" "$obj"
	mkdir -p "$tree.tmp"
	tar -xJf "$tarball" -C "$tree.tmp" --strip-components=1
	for p in "${patches[@]}"; do
		log "applying $(basename "$p")"
		patch -d "$tree.tmp" -p1 --forward --batch --quiet <"$p" ||
			die "patch $(basename "$p") does not apply to linux-source $srcver"
	done
	if ((have_driver)); then
		log "adding the vdvk driver to arch/um/drivers"
		cat >>"$tree.tmp/arch/um/drivers/Kconfig" <<'EOF'

config UML_VDVK
	bool "vdvk: DVK IPC through a host-backend ring"
	default n
	help
	  Maps a vdvk ring file shared with host-backend (vdvk0=ring:PATH)
	  and exposes it as /dev/vdvk.
EOF
		# Must precede the Makefile.rules include, which derives USER_OBJS.
		sed -i '/^include arch\/um\/scripts\/Makefile.rules/i\
vdvk-objs := vdvk_kern.o vdvk_user.o\
obj-$(CONFIG_UML_VDVK) += vdvk.o\
' "$tree.tmp/arch/um/drivers/Makefile"
		grep -q 'CONFIG_UML_VDVK' "$tree.tmp/arch/um/drivers/Makefile" ||
			die "could not add the vdvk lines to arch/um/drivers/Makefile"
	fi
	echo "$tree_key" >"$tree.tmp/.vdvk-tree-key"
	mv "$tree.tmp" "$tree"
fi

# Driver sources: copied only when changed, so make rebuilds just them.
if ((have_driver)); then
	for f in "${driver_files[@]}" "$ringhdr"; do
		dst=$tree/arch/um/drivers/$(basename "$f")
		cmp -s "$f" "$dst" || cp "$f" "$dst"
	done
fi

# --- configuration -------------------------------------------------------
kmake() { make -C "$tree" O="$obj" ARCH=um "$@"; }

if [[ ! -f $obj/.config || ! -f $obj/.vdvk-config-key || "$(cat "$obj/.vdvk-config-key")" != "$config_key" ]]; then
	log "configuring (tinyconfig + $(basename "$fragment"))..."
	mkdir -p "$obj"
	rm -f "$obj/.config" "$obj/.vdvk-config-key"
	frags=("$fragment")
	if ((have_driver)); then
		echo "CONFIG_UML_VDVK=y" >"$obj/vdvk-driver.config"
		frags+=("$obj/vdvk-driver.config")
	fi
	kmake -s tinyconfig >/dev/null
	(cd "$tree" && ARCH=um scripts/kconfig/merge_config.sh -m -O "$obj" "$obj/.config" "${frags[@]}" >/dev/null)
	kmake -s olddefconfig >/dev/null
	# merge_config only warns when an option is dropped; we fail instead.
	missing=0
	for f in "${frags[@]}"; do
		while IFS= read -r line; do
			if [[ $line =~ ^(CONFIG_[A-Za-z0-9_]+)=(.*)$ ]]; then
				grep -qxF "$line" "$obj/.config" || {
					echo "[uml] error: $line requested but .config has: $(grep -E "^(# )?${BASH_REMATCH[1]}[= ]" "$obj/.config" || echo 'nothing')" >&2
					missing=1
				}
			elif [[ $line =~ ^#\ (CONFIG_[A-Za-z0-9_]+)\ is\ not\ set$ ]]; then
				if grep -qE "^${BASH_REMATCH[1]}=" "$obj/.config"; then
					echo "[uml] error: ${BASH_REMATCH[1]} should be unset but is $(grep -E "^${BASH_REMATCH[1]}=" "$obj/.config")" >&2
					missing=1
				fi
			fi
		done <"$f"
	done
	((missing == 0)) || die "config fragment not honoured (missing dependency?), see above"
	echo "$config_key" >"$obj/.vdvk-config-key"
fi

# --- build ---------------------------------------------------------------
log "building with -j$jobs (this takes ~1-3 min cold, seconds when cached)..."
start=$SECONDS
if ! kmake -s -j"$jobs" linux >"$cache/build.log" 2>&1; then
	tail -40 "$cache/build.log" >&2
	die "kernel build failed (full log: $cache/build.log)"
fi
log "built in $((SECONDS - start)) s"

cp "$obj/linux" "$kernel.tmp"
mv -f "$kernel.tmp" "$kernel"
echo "$full_key" >"$cache/linux.key"
install_out
log "kernel: $kernel"

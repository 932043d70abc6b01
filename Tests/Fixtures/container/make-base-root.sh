#!/bin/sh
# make-base-root.sh ROOT CORRAL: the root filesystem of the container test's base image, made
# from this host's Debian packages (no registry is reachable): busybox-static for a shell and
# the usual commands, bash and python3 with its standard library for scripts/test-termination.sh,
# and every shared library the corral binary CORRAL, bash and python's extension modules load
# (ldd), at the paths they have here. deploy/container/Containerfile is built on it with
# INSTALL_PACKAGES empty.
set -eu
root=$1
corral=$2
python=$(readlink -f /usr/bin/python3)
version=$(basename "$python")

mkdir -p "$root/bin" "$root/usr/bin" "$root/tmp" "$root/etc" "$root/var/lib" "$root/proc" "$root/sys" "$root/dev"
chmod 1777 "$root/tmp"
cp /bin/busybox "$root/bin/busybox"
for applet in sh ash basename cat cp dirname echo env grep id kill ls mkdir ps readlink rm setsid sleep sort test true false tr wc xargs; do
    ln -sf busybox "$root/bin/$applet"
done
ln -sf /bin/busybox "$root/usr/bin/env"
cp /bin/bash "$root/bin/bash"
cp "$python" "$root/usr/bin/$version"
ln -sf "$version" "$root/usr/bin/python3"
# The standard library without its tests and caches.
mkdir -p "$root/usr/lib/$version"
(cd "/usr/lib/$version" && tar -cf - --exclude=test --exclude=__pycache__ --exclude=idlelib --exclude=tkinter --exclude=ensurepip \
    --exclude=dist-packages --exclude=site-packages .) | (cd "$root/usr/lib/$version" && tar -xf -)
echo "root:x:0:0:root:/root:/bin/sh" > "$root/etc/passwd"
echo "root:x:0:" > "$root/etc/group"

# Every library these load, copied where the loader looks for it here (symbolic links resolved).
for file in "$corral" /bin/bash "$python" "/usr/lib/$version/lib-dynload/"*.so; do
    ldd "$file" 2>/dev/null | awk '/=> \// { print $3 } /^\t\/lib/ { print $1 }'
done | sort -u | while read -r library; do
    mkdir -p "$root$(dirname "$library")"
    cp -L "$library" "$root$library"
done

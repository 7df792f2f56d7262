#!/bin/bash
# Installs the Debian package, uses it and removes it, inside a mount
# namespace of its own (unshare --mount) whose /usr, /etc and /var are
# overlays on a tmpfs: dpkg, the maintainer scripts and man-db write there,
# and the machine — and every other test — never sees the package. Started
# by package.rs, which checks what this prints between the `== name` lines.
#
# Environment: DEB (the package), SCRATCH (an empty directory for the
# overlays), TESTUSER (a user with an empty home), DRIVERS (readable by that
# user), ROOT (a Mastodon install) and RECORD (where its recorders write).
set -eu

mount -t tmpfs tootguard-package "$SCRATCH"
for dir in usr etc var; do
  mkdir -p "$SCRATCH/$dir/upper" "$SCRATCH/$dir/work"
  mount -t overlay tootguard-package \
    -o "lowerdir=/$dir,upperdir=$SCRATCH/$dir/upper,workdir=$SCRATCH/$dir/work" "/$dir"
done

# Every file of the system, but caches dpkg's triggers rebuild (man-db).
files() {
  find /usr /etc /var -xdev -path /var/cache -prune -o -path /var/log -prune -o -print | sort
}

# A rake of the admin's own in /usr/local/bin: the package must leave it.
printf '#!/bin/sh\necho the admin rake\n' > /usr/local/bin/rake
chmod 755 /usr/local/bin/rake
files > "$SCRATCH/before"

echo "== install"
dpkg -i "$DEB" > "$SCRATCH/dpkg.log" 2>&1 || { cat "$SCRATCH/dpkg.log"; exit 1; }
grep '^tootguard:' "$SCRATCH/dpkg.log"
for name in rails rake tootctl ruby bundle; do
  echo "$name -> $(readlink "/usr/local/bin/$name" || echo "(not a link)")"
done

echo "== man"
man -w tootguard tootguard-upgrade tootguard-shim
for page in /usr/share/man/man1/tootguard*.1.gz; do
  LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -E UTF-8 -l "$page" > /dev/null 2>> "$SCRATCH/man.err"
done
echo "warnings: $(cat "$SCRATCH/man.err")"

echo "== completion"
home=$(getent passwd "$TESTUSER" | cut -d: -f6)
echo "home before: $(find "$home" -mindepth 1 -printf "%P ")"
runuser -l "$TESTUSER" -c "bash -il $DRIVERS/package-complete.bash" 2> "$SCRATCH/bash.err" ||
  { cat "$SCRATCH/bash.err"; exit 1; }
runuser -l "$TESTUSER" -c "timeout 20 zsh -f $DRIVERS/package-complete.zsh" 2>&1
runuser -l "$TESTUSER" -c "fish -l -c 'complete -C \"tootctl acc\"'" 2>&1 |
  sed 's/\t.*//; s/^/fish: /'

echo "== sudo"
cd "$ROOT"
sudo env TG_RECORD="$RECORD" tootctl --version
echo "sudo tootctl: $?"
sudo sh -c 'command -v tootguard; command -v tootctl'
cd /

echo "== remove"
dpkg -r tootguard > "$SCRATCH/dpkg.log" 2>&1 || { cat "$SCRATCH/dpkg.log"; exit 1; }
files > "$SCRATCH/after"
echo "left: $(diff "$SCRATCH/before" "$SCRATCH/after" | grep '^[<>]' | tr '\n' ' ')"
/usr/local/bin/rake
dpkg -P tootguard > "$SCRATCH/dpkg.log" 2>&1 || { cat "$SCRATCH/dpkg.log"; exit 1; }
files > "$SCRATCH/after"
echo "purged: $(diff "$SCRATCH/before" "$SCRATCH/after" | grep '^[<>]' | tr '\n' ' ')"

# Builds the jail's file system and runs the jailed command in it. Run by sh(1) as root, exec'd by
# `unshare --mount --net --pid`: this shell is already in the jail's fresh mount and network namespaces, and the
# first process it forks is PID 1 of the jail's PID namespace. That child builds the file system (every mount and
# device node exists in this mount namespace only and vanishes with it) and execs chroot, setpriv, java. This
# shell stays outside the PID namespace as the process the user started: it passes TERM, INT, HUP and QUIT on
# to the jailed VM (unshare --fork would hold them back) and exits with its status.
# Arguments: ROOT, then steps until "--", then the command to exec inside the chroot. The steps are built by
# dev.stasis.jail.JailPlan, which documents each; this script only carries them out, in order.
set -eu
umask 022
root=$1
shift
# target PATH DIR|FILE: the mount point for a bind mount, made with its parents (root-owned, 0755)
target() {
    mkdir -p "$(dirname "$1")"
    if [ "$2" = dir ]; then mkdir -p "$1"; elif [ ! -e "$1" ]; then : > "$1"; fi
}
build() {
    while [ "$1" != -- ]; do
        case $1 in
            bind)   # bind SRC DST: SRC read-only (no setuid, no devices) at DST
                if [ -d "$2" ]; then target "$root$3" dir; else target "$root$3" file; fi
                mount --bind -o ro,nosuid,nodev "$2" "$root$3"
                shift 3 ;;
            link)   # link DST TARGET: a symbolic link, kept if one with the same target is there already
                if [ "$(readlink "$root$2" || true)" != "$3" ]; then ln -s "$3" "$root$2"; fi
                shift 3 ;;
            proc)   # proc DST: this PID namespace's /proc
                target "$root$2" dir
                mount -t proc -o nosuid,nodev,noexec proc "$root$2"
                shift 2 ;;
            tmpfs)  # tmpfs DST OPTIONS
                target "$root$2" dir
                mount -t tmpfs -o "$3" tmpfs "$root$2"
                shift 3 ;;
            device) # device DST MAJOR MINOR MODE OWNER: a character device node (inside a tmpfs mounted just before)
                mknod -m "$5" "$root$2" c "$3" "$4"
                chown "$6" "$root$2"
                shift 6 ;;
            *)
                echo "stasis: jail-init: unknown step $1" >&2
                exit 1 ;;
        esac
    done
    shift
    # A shell starts background commands with INT and QUIT ignored, and a JVM keeps ignored signals ignored.
    exec env --default-signal=INT,QUIT chroot "$root" "$@"
}

child=
for signal in TERM INT HUP QUIT; do
    # set before the fork so none is missed; a subshell starts with its traps reset
    trap "[ -z \"\$child\" ] || kill -$signal \"\$child\" 2>/dev/null || :" "$signal"
done
build "$@" &
child=$!
while :; do
    status=0
    wait "$child" || status=$?
    # wait also returns when a trapped signal arrives; only a child that is gone has finished
    if ! kill -0 "$child" 2>/dev/null; then
        exit "$status"
    fi
done

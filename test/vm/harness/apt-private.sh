# shellcheck shell=bash
# A PRIVATE apt configuration for another Debian suite under the cache (sourced, never run):
# its own sources list, package lists, archive cache and an empty dpkg status, so packages of
# that suite can be `apt-get download`ed (or resolved with their dependencies) and unpacked
# without touching the host's apt state or installing anything. The mirror is the one the
# host's own sources name for its release. custom-kernel.sh (trixie's kernel source) and
# qemu-new.sh (trixie's QEMU) use it.
#
#   apt_private SUITE LABEL   sets aptdir, mirror and apt_opts (an array of -o options)
#   apt_private_update        apt-get update of the private lists (serialised on a lock)
# env: VFIO_VM_DEBIAN_MIRROR  Debian archive URL (default: from /etc/apt/sources.list*)

# The Debian archive the host itself uses: the URI of the sources entry (one-line .list or
# deb822 .sources) whose suite is exactly the host's codename -- not -security/-updates.
host_mirror() {
  local codename
  # shellcheck source=/dev/null
  codename="$(. /etc/os-release && echo "${VERSION_CODENAME:-}")"
  [ -n "$codename" ] || return 0
  {
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
      [ -f "$f" ] || continue
      sed -e 's/#.*//' -e 's/\[[^]]*\]//' "$f" |
        awk -v c="$codename" '$1 == "deb" && $3 == c { print $2 }'
    done
    for f in /etc/apt/sources.list.d/*.sources; do
      [ -f "$f" ] || continue
      # deb822 comments are whole lines; blanking them would split a stanza
      sed '/^[[:space:]]*#/d' "$f" | awk -v c="$codename" '
        function flush() { if (types ~ /(^| )deb( |$)/ && (" " suites " ") ~ (" " c " ") && uri != "") print uri; types = suites = uri = "" }
        /^[ \t]*$/ { flush(); next }
        tolower($1) == "types:" { $1 = ""; types = $0 }
        tolower($1) == "suites:" { $1 = ""; suites = $0 }
        tolower($1) == "uris:" { uri = $2 }
        END { flush() }'
    done
  } | head -n 1
}

apt_private() {
  apt_suite="$1" apt_label="$2"
  aptdir="$VM_CACHE/apt-$apt_suite"
  mirror="${VFIO_VM_DEBIAN_MIRROR:-$(host_mirror)}"
  if [ -z "$mirror" ]; then
    mirror=http://deb.debian.org/debian
    vm_log "$apt_label: no Debian mirror found in /etc/apt/sources.list*; using $mirror"
  fi
  mirror="${mirror%/}"

  mkdir -p "$aptdir/lists/partial" "$aptdir/archives/partial" "$aptdir/sources.list.d"
  [ -f "$aptdir/status" ] || : >"$aptdir/status"
  local sources="deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror $apt_suite main"
  # A changed mirror means new lists.
  if [ "$(cat "$aptdir/sources.list" 2>/dev/null)" != "$sources" ]; then
    echo "$sources" >"$aptdir/sources.list"
    rm -f "$aptdir/lists/"*_Packages* "$aptdir/lists/"*Release*
  fi
  apt_opts=(
    -o "Dir::Etc::sourcelist=$aptdir/sources.list"
    -o "Dir::Etc::sourceparts=$aptdir/sources.list.d" # empty: none of the host's sources
    -o "Dir::State::Lists=$aptdir/lists"
    -o "Dir::Cache=$aptdir"
    -o "Dir::State::status=$aptdir/status"
    -o Acquire::Languages=none
    # root's apt drops to _apt for downloads, which cannot write our directories
    -o APT::Sandbox::User=root
  )
  # snapshot.debian.org serves old Release files on purpose.
  case "$mirror" in *snapshot.debian.org*) apt_opts+=(-o Acquire::Check-Valid-Until=false) ;; esac
}

apt_private_update() {
  vm_log "$apt_label: apt-get update ($apt_suite from $mirror, private lists in $aptdir)"
  (
    flock 7
    apt-get "${apt_opts[@]}" update -qq >&2
  ) 7>"$aptdir/update.lock" ||
    vm_die "apt-get update for $apt_suite failed (a keyring without the $apt_suite key? apt-get install debian-archive-keyring)"
}

#!/usr/bin/env bash
# Installs the Debian packages named on the command line that are not installed yet (quietly; as root, or through
# password-less sudo as in the dev container). Used by setup.sh and CI's install steps. Exit 1 with a warning when it cannot.
set -uo pipefail
missing=()
for pkg in "$@"; do dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg"); done
[ ${#missing[@]} -eq 0 ] && exit 0
if ! command -v apt-get >/dev/null; then echo "warning: no apt-get here; install ${missing[*]} by hand" >&2; exit 1; fi
as_root=""
if [ "$(id -u)" -ne 0 ]; then
  if sudo -n true 2>/dev/null; then as_root="sudo -n"; else echo "warning: ${missing[*]} missing and no root to install them" >&2; exit 1; fi
fi
echo "Installing ${missing[*]} (Debian packages)..."
if ! { $as_root apt-get update -qq && $as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >/dev/null 2>&1; then
  echo "warning: could not install ${missing[*]}" >&2; exit 1
fi

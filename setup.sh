#!/usr/bin/env bash
# The README's set-up: chromium for chart images, then restore every package (TorchSharp with libtorch, and the download-only
# packages that carry the embedded backbones) and build, which also makes libtorch loadable on
# systems with an older libstdc++ (build/LibTorchSharp.targets). Safe to run again.
# `bash setup.sh --jupyter` also sets up Jupyter with the .NET (C#) kernel (build/jupyter-setup.sh);
# `bash setup.sh --link` links the launcher ./aptnb into ~/.local/bin without asking (a terminal is asked).
set -euo pipefail
cd "$(dirname "$0")"
jupyter=0
link=ask
for arg in "$@"; do
  case "$arg" in
    --jupyter) jupyter=1 ;;
    --link) link=yes ;;
    *) echo "usage: bash setup.sh [--jupyter] [--link]" >&2; exit 2 ;;
  esac
done
# Chart PNG export (Apt.Reporting) renders with Debian's chromium; install it when missing and we may.
# (The dev container's user is not root but has password-less sudo.)
if [ ! -x /usr/bin/chromium ] && command -v apt-get >/dev/null; then
  as_root=""; [ "$(id -u)" -eq 0 ] || as_root="sudo -n"
  if [ -z "$as_root" ] || sudo -n true 2>/dev/null; then
    echo "Installing chromium for chart PNG export..."
    $as_root apt-get update -qq && $as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "warning: chromium is missing and cannot be installed without root; chart PNG export will say so" >&2
  fi
fi
dotnet build AptNotebooks.sln -c Release
# The notebook kernel (dotnet-interactive, pinned in .config/dotnet-tools.json) for Jupyter and for running notebooks from a shell.
dotnet tool restore
if [ "$jupyter" -eq 1 ]; then bash build/jupyter-setup.sh; fi
# The command on the PATH: a link to the launcher, which finds this checkout through it.
target="$HOME/.local/bin/aptnb"
if [ "$(readlink -f "$target" 2>/dev/null)" != "$PWD/aptnb" ]; then
  if [ "$link" = ask ] && [ -t 0 ] && [ ! -e "$target" ]; then
    read -r -p "Link aptnb into ~/.local/bin, to type 'aptnb <verb>' anywhere? [y/N] " answer
    case "$answer" in [yY]*) link=yes ;; esac
  fi
  if [ "$link" = yes ]; then
    mkdir -p "$HOME/.local/bin" && ln -sfn "$PWD/aptnb" "$target" && echo "linked $target -> $PWD/aptnb"
    case ":$PATH:" in *":$HOME/.local/bin:"*) ;; *) echo "note: add ~/.local/bin to your PATH to type aptnb" ;; esac
  else
    echo "aptnb is ./aptnb here; 'bash setup.sh --link' links it into ~/.local/bin"
  fi
fi
./aptnb doctor

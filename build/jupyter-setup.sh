#!/usr/bin/env bash
# Jupyter with the .NET kernel, from a fresh Debian machine: installs Jupyter (Debian splits it: python3-notebook and
# python3-nbconvert are the modules, jupyter-notebook and jupyter-nbconvert the `jupyter notebook` and `jupyter nbconvert`
# commands, jupyter-client carries `jupyter kernelspec`), creates the user's kernels folder that `dotnet interactive jupyter install`
# expects but does not create, restores the pinned dotnet-interactive tool (.config/dotnet-tools.json) and registers
# its kernels (".NET (C#)" is `.net-csharp`). Called by `bash setup.sh --jupyter` and by CI (.ci/install-jupyter.sh).
# Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
export PYDEVD_DISABLE_FILE_VALIDATION=1 # Debian's Python otherwise warns about frozen modules at every jupyter start

if ! command -v jupyter-kernelspec >/dev/null || ! command -v jupyter-nbconvert >/dev/null || ! command -v jupyter-notebook >/dev/null; then
  bash build/apt-install.sh python3-notebook python3-nbconvert jupyter-client jupyter-nbconvert jupyter-notebook
fi
for cmd in jupyter jupyter-kernelspec jupyter-nbconvert; do
  command -v "$cmd" >/dev/null || { echo "error: '$cmd' is not on the PATH; install the Debian packages named in build/jupyter-setup.sh" >&2; exit 1; }
done

# dotnet-interactive installs its kernelspecs into this folder and stops with "The kernelspec path ... does not exist"
# when it is missing, which it is until Jupyter has written a kernel of its own.
kernels="$(jupyter --data-dir)/kernels"
mkdir -p "$kernels"

dotnet tool restore
dotnet tool run dotnet-interactive jupyter install
kernelspecs=$(jupyter kernelspec list)
echo "$kernelspecs"
if ! grep -q '\.net-csharp' <<<"$kernelspecs"; then
  echo "error: the .NET (C#) kernel (.net-csharp) is not registered in $kernels" >&2
  exit 1
fi
echo "Jupyter is ready: 'jupyter notebook' from the repository, then open notebooks/ and pick \".NET (C#)\"."

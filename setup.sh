#!/usr/bin/env bash
# The README's set-up: restore every package (TorchSharp with libtorch, and the download-only
# packages that carry the embedded backbones) and build, which also makes libtorch loadable on
# systems with an older libstdc++ (build/LibTorchSharp.targets). Safe to run again.
set -euo pipefail
cd "$(dirname "$0")"
dotnet build AptNotebooks.sln -c Release
dotnet run --project lib/Apt.Cli -c Release --no-build -- doctor

#!/usr/bin/env bash
# The benchmark's PyTorch peer (lib/Apt.Bench/peer/pytorch_peer.py) runs with Debian's python3-torch, on Debian's OpenMP
# build of OpenBLAS (libopenblas0-openmp; with the reference BLAS the peer would be many times slower than PyTorch is);
# the bench smoke test then checks its rows too. The bench itself does not need them: without torch it says why the
# peer was skipped.
bash build/apt-install.sh python3-torch libopenblas0-openmp || echo "warning: the bench smoke test will check the kit's rows only"

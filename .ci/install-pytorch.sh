#!/usr/bin/env bash
# The benchmark's PyTorch peer (lib/Apt.Bench/peer/pytorch_peer.py) runs with Debian's python3-torch; the bench smoke
# test then checks its rows too. The bench itself does not need it: without torch it says why the peer was skipped.
bash build/apt-install.sh python3-torch || echo "warning: the bench smoke test will check the kit's rows only"

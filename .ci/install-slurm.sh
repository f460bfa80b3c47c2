#!/usr/bin/env bash
# The Slurm job-array tests start a one-node cluster (munged, slurmctld, slurmd on loopback) from Debian's packages.
bash build/apt-install.sh slurm-wlm munge || echo "warning: the Slurm cluster tests will be skipped with a message saying so"

#!/usr/bin/env bash
# Jupyter with the .NET (C#) kernel for .ci/pass-notebook-jupyter.sh, installed as a user on a fresh Debian machine would:
# the README's `bash setup.sh --jupyter` runs the same script.
bash build/jupyter-setup.sh || echo "warning: Jupyter or its .NET kernel could not be set up; the Jupyter notebook pass will fail saying so"

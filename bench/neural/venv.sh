# Sourced by bench/neural's scripts: makes $here/.venv with PyTorch's CPU build and NumPy when it is missing.
# The CPU build: a local wheel in PIP_FIND_LINKS (default /opt/wheels) when there is one, else PyTorch's CPU index;
# plain PyPI's torch pulls gigabytes of CUDA libraries.
venv="$here/.venv"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import torch, numpy' 2>/dev/null; then
    python3 -m venv "$venv"
    links="${PIP_FIND_LINKS:-/opt/wheels}"
    cpu_wheel="$(ls "$links"/torch-*+cpu-*.whl 2>/dev/null | sort | tail -1 || true)"
    if [ -n "$cpu_wheel" ]; then
        "$venv/bin/pip" install -q --find-links "$links" "$cpu_wheel" numpy
    else
        "$venv/bin/pip" install -q torch numpy --index-url https://download.pytorch.org/whl/cpu
    fi
fi

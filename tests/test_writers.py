"""One rule for every command that writes: never overwrite an input; an output that exists is
replaced only with --force (training: or continued with --resume); a refusal is one line naming
the path, exit 2, and nothing written anywhere."""

from __future__ import annotations

import os
import subprocess
import sys

from clamp_cli import __version__

from .test_cli import REPO

PLAIN = {"NO_COLOR": "1", "HF_HUB_OFFLINE": "1"}


# -- python -m clamp_cli ------------------------------------------------------------

def test_python_dash_m_runs_the_cli(tmp_path):
    env = {**os.environ, **PLAIN, "PYTHONPATH": str(REPO)}

    def clamp(*args):
        return subprocess.run([sys.executable, "-m", "clamp_cli", *map(str, args)], env=env, cwd=tmp_path,
                              capture_output=True, text=True, timeout=120)

    proc = clamp("--version")
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, f"clamp {__version__}\n", "")

"""The API takes the open-files limit it may have: under a soft limit of 1,024, 1,000 clients were reset."""

from __future__ import annotations

import resource
import subprocess
import sys

PROBE = """
import resource
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))
from appyard_api.__main__ import raise_open_files_limit
print(raise_open_files_limit(), resource.getrlimit(resource.RLIMIT_NOFILE)[0])
"""


def test_the_soft_limit_rises_to_the_hard_one() -> None:
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    expected = 1_048_576 if hard == resource.RLIM_INFINITY else min(hard, 1_048_576)
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True).stdout.split()
    assert out == [str(expected), str(expected)]
    assert expected > 256

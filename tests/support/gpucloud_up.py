"""Starts `gpucloud up --no-demo` on a free port for the Python integration tests."""
import re
import subprocess
import time


def start(gpucloud, data_dir, timeout=30):
    """Starts gpucloud up with its data in `data_dir`; returns (process, base URL), the URL None
    when it printed none within `timeout` seconds (the process is then still to be killed)."""
    up = subprocess.Popen([gpucloud, "up", "--no-demo", "--port", "0", "--data-dir", data_dir],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + timeout
    while time.time() < deadline:
        line = up.stdout.readline()
        if not line:
            break
        m = re.match(r"gpucloud is up in [0-9.]+ s: (\S+)", line)
        if m:
            return up, m.group(1)
    return up, None

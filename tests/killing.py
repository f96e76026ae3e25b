"""Killing a training run as a lost Colab runtime does: SIGKILL, no handler, no cleanup."""
import signal
import subprocess
import time


def kill_when_marked(command: list[str], marker, *, what: str, timeout: float = 120) -> None:
    """Start ``command``, wait until it creates ``marker`` (it does so where it should be killed),
    then SIGKILL it. Fails if it ends by itself first or never gets there within ``timeout``."""
    process = subprocess.Popen(command, stderr=subprocess.PIPE)
    deadline = time.monotonic() + timeout
    while not marker.exists():
        assert process.poll() is None, f"the run ended early: {process.stderr.read().decode()}"
        assert time.monotonic() < deadline, f"the run never reached {what}"
        time.sleep(0.05)
    process.kill()
    assert process.wait() == -signal.SIGKILL
    process.stderr.close()

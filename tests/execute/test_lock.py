"""The per-cell lock: exclusive across processes, released when its holder is killed."""

from __future__ import annotations

import signal

from radbench.execute.lock import FileLock, is_locked


def test_lock_is_exclusive_across_processes_and_freed_by_sigkill(tmp_path, lock_holder):
    path = tmp_path / "cell" / ".lock"
    assert not is_locked(path)
    holder = lock_holder(path)
    assert is_locked(path)
    mine = FileLock(path)
    assert not mine.acquire(wait_s=0.3)
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    assert not is_locked(path)  # the kernel dropped it with the process
    assert mine.acquire() and mine.held
    assert is_locked(path)  # a second open file in this process cannot take it either
    mine.release()
    assert not is_locked(path)


def test_lock_waits_for_a_short_holder(tmp_path):
    import threading
    import time

    path = tmp_path / ".lock"
    first = FileLock(path)
    assert first.acquire()
    threading.Timer(0.3, first.release).start()
    started = time.monotonic()
    second = FileLock(path)
    assert second.acquire(wait_s=5)
    assert time.monotonic() - started < 5
    second.release()

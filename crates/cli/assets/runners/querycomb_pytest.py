"""querycomb's pytest plugin, loaded by `querycomb run` through PYTEST_PLUGINS.

It tells querycomb when each test's setup, call and teardown phases start and end, so
that every SQL statement the proxy sees can be attributed to the test and phase that ran
it. It only appends one JSON line per phase boundary to the file named by QUERYCOMB_TESTS;
it never touches the database, the tests or their results.
"""

import json
import os
import time

import pytest

_PATH = os.environ.get("QUERYCOMB_TESTS")
_fd = None
_fd_pid = None


def _send(test, phase, at):
    global _fd, _fd_pid
    if not _PATH:
        return
    pid = os.getpid()
    line = json.dumps(
        {
            "pid": pid,
            "test": test,
            "phase": phase,
            "at": at,
            "time_us": time.time_ns() // 1000,
            # CLOCK_MONOTONIC, the proxy's own clock: exact ordering against its statements.
            "mono_us": time.monotonic_ns() // 1000,
        }
    )
    try:
        if _fd is None or _fd_pid != pid:
            _fd = os.open(_PATH, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            _fd_pid = pid
        # One write per line: O_APPEND keeps lines of parallel workers whole.
        os.write(_fd, (line + "\n").encode("utf-8"))
    except OSError:
        pass


def _phase(name):
    @pytest.hookimpl(hookwrapper=True)
    def hook(item, *args):
        _send(item.nodeid, name, "start")
        try:
            yield
        finally:
            _send(item.nodeid, name, "end")

    return hook


pytest_runtest_setup = _phase("setup")
pytest_runtest_call = _phase("call")
pytest_runtest_teardown = _phase("teardown")

"""The doorbell between a separate gateway and `work` (mailgate.doorbell), on real sockets."""

from __future__ import annotations

import logging
import socket
import threading
from pathlib import Path

import pytest

from mailgate.doorbell import Doorbell, Ringer, bell_path

WAIT = 10.0  # seconds: what must come at once, with room for a busy machine


@pytest.fixture
def short_tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # pytest's temporary folders can be longer than a socket name may be.
    return Path(tmp_path_factory.mktemp("bell", numbered=True))


def test_a_ring_wakes_the_listener(short_tmp: Path) -> None:
    rung = threading.Event()
    bell = Doorbell(bell_path(short_tmp), rung.set)
    assert bell.open()
    ringer = Ringer(bell_path(short_tmp))
    try:
        ringer.ring()
        assert rung.wait(WAIT)
        rung.clear()
        ringer.ring()  # and again: the listener keeps listening
        assert rung.wait(WAIT)
    finally:
        ringer.close()
        bell.close()
    assert not bell_path(short_tmp).exists()  # closing removes the bell


def test_ringing_with_nobody_listening_is_harmless(short_tmp: Path) -> None:
    ringer = Ringer(bell_path(short_tmp))  # no such socket
    ringer.ring()
    bell_path(short_tmp).parent.mkdir(parents=True, exist_ok=True)
    bell_path(short_tmp).write_text("not a socket")
    ringer.ring()
    ringer.close()


def test_a_bell_left_by_a_process_that_died_is_replaced(short_tmp: Path) -> None:
    path = bell_path(short_tmp)
    path.parent.mkdir(parents=True)
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    dead.bind(str(path))
    dead.close()  # the file stays, as after a kill -9
    rung = threading.Event()
    bell = Doorbell(path, rung.set)
    try:
        assert bell.open()
        Ringer(path).ring()
        assert rung.wait(WAIT)
    finally:
        bell.close()


def test_a_second_listener_takes_the_bell_and_the_first_leaves_it_alone(
    short_tmp: Path,
) -> None:
    path = bell_path(short_tmp)
    first_rung, second_rung = threading.Event(), threading.Event()
    first, second = Doorbell(path, first_rung.set), Doorbell(path, second_rung.set)
    assert first.open()
    assert second.open()
    try:
        first.close()  # must not remove the bell the second one listens on
        assert path.exists()
        Ringer(path).ring()
        assert second_rung.wait(WAIT)
        assert not first_rung.is_set()
    finally:
        second.close()


def test_a_var_directory_too_long_for_a_socket_name_means_polling(
    short_tmp: Path, caplog: pytest.LogCaptureFixture
) -> None:
    deep = short_tmp / ("d" * 60) / ("e" * 60)
    bell = Doorbell(bell_path(deep), lambda: None)
    with caplog.at_level(logging.WARNING, logger="mailgate.doorbell"):
        assert not bell.open()
    assert "too long for a socket name" in caplog.text
    bell.close()  # closing a bell that never opened is harmless
    Ringer(bell_path(deep)).ring()  # and so is ringing it

"""Test helper: a sequence whose reader raises at one frame (Ctrl-C, a failing disk); used by the
pipeline, output and runtime-batch tests."""
from __future__ import annotations


def raise_at(seq, index: int, exc: BaseException):
    """Make ``seq`` (an opened sequence) raise ``exc`` when its iteration reaches frame ``index``."""
    base = type(seq)

    class Raising(base):
        def __iter__(self):
            for frame in base.__iter__(self):
                if frame.index == index:
                    raise exc
                yield frame

    seq.__class__ = Raising
    return seq

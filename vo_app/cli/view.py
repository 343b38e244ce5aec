"""``vo-view``: replay a finished run in open3d (planned: see the viewer issue)."""
from .common import not_yet


def main(args=None) -> None:
    not_yet("vo-view", "the open3d viewer issue")

"""``vo-train``: self-supervised training of the flow and depth networks (planned: see the training issue)."""
from .common import not_yet


def main(args=None) -> None:
    not_yet("vo-train", "the learned optical flow issue")

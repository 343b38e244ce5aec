"""``vo-eval``: trajectory and flow evaluation (planned: see the evaluation issue)."""
from .common import not_yet


def main(args=None) -> None:
    not_yet("vo-eval", "the evaluation and reporting issue; meanwhile vo-run prints the ATE when the data has ground truth")

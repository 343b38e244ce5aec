"""vo_app: monocular visual odometry from geometry on dense correspondences (TrianFlow)."""

__version__ = "0.1.0"

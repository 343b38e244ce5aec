"""Training and held-out samples rendered by the synthetic renderer: flow pairs with exact ground
truth (``synthetic.py``) and depth frames/pairs (``depth_synth.py``), with their augmentation and
render pool.  The training stages (``vo_app/train``) draw their streams from here, and the
evaluations (``vo_app/eval``) their fixed held-out sets."""

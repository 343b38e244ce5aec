"""Training (secondary module): data, losses and stages.

Stage 1, the flow network: :func:`vo_app.train.flow_stage.train_flow` (``vo-train flow``).
"""

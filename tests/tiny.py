"""Config overrides shared by the tests that train: tiny models, fp32, small batches."""

TINY_MODEL = [
    "model.size=tiny",
    "memory.precision=fp32",
    "data.max_tokens=600",
    "data.max_frames=800",
]
TINY = [*TINY_MODEL, "train.audition_every=0"]  # and no audition pass

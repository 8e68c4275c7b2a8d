"""Audio in and out: decode, mono, resample, loudness, silence slicing."""

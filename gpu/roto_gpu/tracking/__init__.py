"""Video tracking with SAM2's own modules: the streaming propagator, the batched tracker, and the
bounded per-video state and memory it reads."""

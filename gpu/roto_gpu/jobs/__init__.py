"""The GPU daemon's jobs: segment (a keyframe's mask) and propagate (keyframes tracked through a
range), with the storage they read and write."""

"""The SAM2 model: building it from its config and checkpoint, and its batched passes (the only
code that knows devices, dtypes and compilation)."""

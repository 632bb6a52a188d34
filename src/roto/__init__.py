"""Megaton Roto: rotoscoping service built on SAM2."""

"""Megaton Roto's GPU daemon: SQS job -> handler (jobs/) -> batcher -> model (model/, tracking/)
-> storage. Registered as the worker runtime's `gpu` role (`python -m roto.worker --role gpu`)."""

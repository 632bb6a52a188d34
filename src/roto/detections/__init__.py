"""Text and exemplar prompts: every instance of a concept on a frame becomes a new object."""

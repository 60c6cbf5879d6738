"""Training code: plain Python, no Django imports; torch and friends are imported inside functions."""

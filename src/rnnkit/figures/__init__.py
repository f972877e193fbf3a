"""Matplotlib figures drawn off-screen, for TensorBoard and docs."""

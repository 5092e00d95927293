"""Model families implemented in our own PyTorch code."""

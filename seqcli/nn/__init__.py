"""Torch modules only: the shared recurrent backbone and one network per task."""

"""The case store and what lives in it: leads, their lifecycle, publishing, ranking."""

"""Stage 1: the U-Net that finds the lung fields, its post-processing and evaluation."""

"""Stage 2: the four-class classifier on lung-gated images, and Grad-CAM with its in-lung score."""

"""What answers one image: the ``Pipeline`` (lungs, gate, classifier, Grad-CAM, the
in-lung score), its typed ``Result``, the overlays drawn from it and ``lunggate predict``."""

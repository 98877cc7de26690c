"""What joins the stages: image I/O, gating, scoring, the ``analyze`` call and benchmarks."""

"""The studies and the commands that make and measure the models: ``lunggate lab``, the
masked-against-raw comparison, films from other sources, familiarity, benchmarks, the soak."""

"""The audit product: what an audit reads (sources), what analyses it (the local and Ray
engines), the typed entry each image becomes, and the report built from the entries."""

"""Speed measurements, and the paper's cipher exactly as published, kept only
to be measured against (speed, and the known-plaintext attack it falls to)."""

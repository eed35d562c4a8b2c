"""The SecurePix cipher engine: numpy, Pillow and cryptography; no Django.

Modules, each doing one thing: maps (the chaotic maps), keystream, diffusion
(permutation + diffusion), kdf, container (the PNG file format), imagefile
(image decoding), metrics (section 6.2 statistics), envelope (all together).
"""

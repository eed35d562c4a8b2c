"""The SecurePix cipher engine: numpy, Pillow, pydicom and cryptography; no Django.

Modules, each doing one thing: maps (the chaotic maps), keystream, mixing (the
splitmix64 bijection), diffusion (permutation + diffusion), kdf, container (the
PNG file format), imagefile (decoding images to samples and back), dicom
(DICOM files), tones (values to 8 bits for display), limits (default bounds),
metrics (section 6.2 statistics), analysis (those statistics
for one image and its encryption), envelope (all of it together), errors.
"""

"""Image files in and out, Django-free: decoding (Pillow, libpng, tifffile,
pydicom, nibabel), the DICOM and NIfTI containers, 8-bit renderings, limits,
and the parsed upload that classification and encryption share."""

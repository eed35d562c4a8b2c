from __future__ import annotations

from django.db import models


class CipherPermission(models.Model):
    """No table: only carries the permissions to encrypt and decrypt."""

    class Meta:
        managed = False
        default_permissions = ()
        permissions = [("encrypt_image", "Can encrypt images"), ("decrypt_image", "Can decrypt images")]

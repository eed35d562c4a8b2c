"""Roles and the permissions they hold (README: Roles): operators encrypt,
decrypt and classify; auditors read every audit event, export and verify;
administrators (staff superusers) do everything.  Each role is a group with
exactly these permissions; a user in no group may do nothing."""

from __future__ import annotations

OPERATOR, AUDITOR, ADMIN = "operator", "auditor", "admin"

ENCRYPT = "cipher.encrypt_image"
DECRYPT = "cipher.decrypt_image"
CLASSIFY = "classification.classify_image"
OWN_HISTORY = "audit.view_own_history"
ALL_EVENTS = "audit.view_all_events"
EXPORT = "audit.export_events"
VERIFY = "audit.verify_chain"
ALL_ACKNOWLEDGMENTS = "classification.view_all_acknowledgments"

GROUP_PERMISSIONS = {
    OPERATOR: [ENCRYPT, DECRYPT, CLASSIFY, OWN_HISTORY],
    AUDITOR: [OWN_HISTORY, ALL_EVENTS, EXPORT, VERIFY, ALL_ACKNOWLEDGMENTS],
}

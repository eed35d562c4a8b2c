"""The content domains an image can belong to, and what the mismatch policy
can decide about a declared domain."""

from __future__ import annotations

DOMAINS = ("medical", "legal", "surveillance", "finance", "personal", "none")
LABELS = {
    "medical": "Medical",
    "legal": "Legal",
    "surveillance": "Surveillance",
    "finance": "Finance",
    "personal": "Personal Privacy",
    "none": "None",
}
DOMAIN_CHOICES = [(domain, LABELS[domain]) for domain in DOMAINS]

# What the mismatch policy decides for a declared domain.
ALLOW, ACKNOWLEDGE, BLOCK = "allow", "acknowledge", "block"
DECISIONS = (ALLOW, ACKNOWLEDGE, BLOCK)

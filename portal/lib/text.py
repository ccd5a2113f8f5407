"""Rules for text people type."""

from django.core.exceptions import ValidationError


def single_line(value):
    """Refuse line breaks in a field meant as one line: they would write their own lines
    into the emails and exports that quote it ("Approve here: https://...")."""
    if any(mark in value for mark in ("\n", "\r", "\u2028", "\u2029", "\x0b", "\x0c", "\x85")):
        raise ValidationError("This field is one line: remove the line breaks.")

"""Rules for text people type."""

from django.core.exceptions import ValidationError

# Characters that change how text around them is shown without showing themselves: the
# bidirectional overrides and isolates (which can make "approve" read as something else, the
# "Trojan Source" trick) and the zero-width ones.
INVISIBLE = {
    *(chr(c) for c in range(0x202A, 0x202F)),  # LRE RLE PDF LRO RLO
    *(chr(c) for c in range(0x2066, 0x206A)),  # LRI RLI FSI PDI
    *(chr(c) for c in range(0x200B, 0x2010)),  # zero width space, (non-)joiner, LRM, RLM
    "\u2060",  # word joiner
    "\ufeff",  # zero width no-break space
}


def shown_as_typed(value):
    """Refuse characters that are not shown but change what others read."""
    if any(mark in INVISIBLE for mark in value):
        raise ValidationError(
            "Remove the invisible formatting characters (text direction or zero-width marks): "
            "approvers must read what you typed."
        )


def single_line(value):
    """Refuse line breaks in a field meant as one line: they would write their own lines
    into the emails and exports that quote it ("Approve here: https://...")."""
    if any(mark in value for mark in ("\n", "\r", "\u2028", "\u2029", "\x0b", "\x0c", "\x85")):
        raise ValidationError("This field is one line: remove the line breaks.")
    shown_as_typed(value)

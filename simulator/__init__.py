"""An embedded stand-in for Alibaba Cloud PrivateLink, spoken to only over HTTP.

Imports nothing from Django or the portal, and the portal imports nothing from it. Not shipped
with the portal: it runs from the repository root, `python -m simulator`.
"""

"""An embedded stand-in for Alibaba Cloud PrivateLink, spoken to only over HTTP.

Imports nothing from Django or the rest of the portal, and the portal imports nothing from it.
"""

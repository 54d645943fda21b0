"""Outgoing webhooks per the Standard Webhooks specification: endpoints, signing, delivery."""

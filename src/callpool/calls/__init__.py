"""Calls: routing that never drops a call, attribution, the calls API and webhooks."""

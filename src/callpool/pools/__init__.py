"""Pools of every kind: CRUD, tracker provisioning, and source-level (automated / manual) DNI."""

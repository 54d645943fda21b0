"""What leaves callpool: the outbox and the deliveries it feeds (webhooks, email).

Every event that leaves the system is written to the outbox in the transaction of the event
(``events``), and delivered by the worker with retries (``outbox``), one module per kind.
"""

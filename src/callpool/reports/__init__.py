"""Reports: calls and sessions by source, calls over time, pool health, CSV export."""

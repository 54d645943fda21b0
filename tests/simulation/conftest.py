"""A site with a session pool and a browser (the visit tests' own fixtures), to record traffic
that ``callpool simulate --site`` then replays."""

from tests.visits.conftest import browser, make_pool, site_id

__all__ = ["browser", "make_pool", "site_id"]

"""The website snippet: the built script, served under a versioned URL, and its install tag.

The source is in ``snippet/`` at the top of the repository (ES modules, built with esbuild);
the build lands in ``callpool/static/callpool.js`` so the app serves it without Node.
"""

from callpool.snippet.service import Script, debug_script, install_tag, script, script_url

__all__ = ["Script", "debug_script", "install_tag", "script", "script_url"]

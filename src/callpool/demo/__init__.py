"""The sample business website of ``callpool demo``, served at ``/demo/`` with the snippet."""

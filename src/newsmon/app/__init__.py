"""The application shell: the `newsmon` command and the offline demo.

The one place in src/ that may reach flows, tasks and Prefect, and only inside the functions of the
commands that run them (tests/unit/test_structure.py checks it); the core never imports this package.
"""

"""What scenarios are built from, and are not scenarios themselves: the calls several of them
time (calls, floorcalls) and the stale-set storm and the thundering herd (storm, herd), which
scenario 5 and tests/ run."""

"""Quality and speed measured side by side with the baselines, in one process. Not timed tests."""

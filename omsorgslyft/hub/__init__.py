"""JupyterHub configuration as a pure function of settings."""

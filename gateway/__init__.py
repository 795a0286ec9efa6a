"""The edges of ccr-gateway: settings, storage, jobs, the command line and (later) SMTP."""

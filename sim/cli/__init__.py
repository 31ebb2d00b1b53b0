"""The command line and the files and figures it writes."""

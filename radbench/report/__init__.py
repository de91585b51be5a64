"""Reports built from stored results: tables, statistics, plots; md, csv, json, tex and html."""

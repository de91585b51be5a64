"""Reports built from stored results: tables now; statistics, plots and Grad-CAM later."""

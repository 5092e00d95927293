"""cryptocast: reproducible crypto forecasting with Toto and Kronos."""

"""Google Ads offline click conversions, served as a CSV file Google fetches on a schedule."""

"""GA4: a site's calls sent as Measurement Protocol events, joined to the visitor's GA session."""

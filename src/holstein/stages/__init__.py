"""One module per pipeline step: each adapter in workflow/scripts/ imports exactly one of
these, so a step's code fingerprint follows from its imports alone."""

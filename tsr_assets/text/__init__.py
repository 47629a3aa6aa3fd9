"""Pure text functions: parsing, cleaning, script checks, prompt sampling and templates."""

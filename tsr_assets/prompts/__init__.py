"""Word lists, prompt templates, sampling unique combinations and rendering prompts."""

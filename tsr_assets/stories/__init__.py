"""Stories: parsing and cleaning LLM answers, the offline writer, generation, import and the
durable story store."""

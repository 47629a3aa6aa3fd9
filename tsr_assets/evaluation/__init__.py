"""Evaluating trained models: openers, sampling them, the automatic judge, the LLM rubric and
judging."""

"""Translating English stories into a target language: sources, sentence splitting, the LLM and
local seq2seq translators, quality gates and the resumable run."""

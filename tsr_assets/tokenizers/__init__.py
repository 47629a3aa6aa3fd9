"""Tokenizers behind one interface (SentencePiece, UTF-8 bytes, GPT-2, Hugging Face) and the
token bins built from them. Pure Python: nothing here imports Dagster."""

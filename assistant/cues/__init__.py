"""Listening cues: utterance coding on the dialogue stream, cue rules, running MITI counts."""

"""One participant's speech chain: audio in -> 16 kHz mono -> VAD -> ASR -> utterances."""

"""Speech: eSpeak NG synthesis, the split's voices, and the spoken embedded world."""

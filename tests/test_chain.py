"""One participant's chain: real VAD on espeak-ng speech; a scripted fake recogniser."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from assistant.speech.asr import LIVE_WINDOW_S, Transcription, WhisperTranscriber
from assistant.speech.chain import SpeechDetector, SpeechJob, recognise, recognise_recording
from assistant.testing.synth import speak

pytestmark = pytest.mark.model

SR = 16000


def track(*parts: np.ndarray | float) -> np.ndarray:
    """Concatenate speech clips and silences (floats are seconds of silence)."""
    return np.concatenate(
        [p if isinstance(p, np.ndarray) else np.zeros(int(p * SR), np.float32) for p in parts]
    )


class ScriptedTranscriber:
    def __init__(self, text: str) -> None:
        self.text = text
        self.calls: list[tuple[int, bool]] = []

    def transcribe(self, audio: np.ndarray, *, final: bool = True) -> Transcription:
        self.calls.append((len(audio), final))
        return Transcription(text=self.text, avg_logprob=-0.2)

    def transcribe_many(self, segments: Sequence[np.ndarray]) -> list[Transcription]:
        return [self.transcribe(a) for a in segments]


@pytest.fixture(scope="module")
def live(transcriber: WhisperTranscriber) -> WhisperTranscriber:
    """The recogniser as the live room configures it (a short turn read on a 10 s window)."""
    from dataclasses import replace

    return WhisperTranscriber(replace(transcriber.options, segment_window_s=LIVE_WINDOW_S))


def push_in_frames(
    detector: SpeechDetector, audio: np.ndarray, frame: int = 320
) -> list[SpeechJob]:
    jobs = []
    for i in range(0, len(audio), frame):
        jobs += detector.push(audio[i : i + frame])
    return jobs + detector.flush()


def test_two_turns_give_two_final_jobs_with_true_times() -> None:
    a = speak("I have been feeling rather low lately.", "en-us")
    b = speak("Mostly in the evenings.", "en-us")
    audio = track(1.0, a, 1.5, b, 1.0)
    jobs = push_in_frames(SpeechDetector("client"), audio)
    assert [j.final for j in jobs] == [True, True]
    assert [j.utterance_id for j in jobs] == ["c1", "c2"]
    first_end = 1.0 + len(a) / SR
    assert jobs[0].start == pytest.approx(1.0, abs=0.25)
    assert jobs[0].end == pytest.approx(first_end, abs=0.35)
    assert jobs[1].start == pytest.approx(first_end + 1.5, abs=0.25)
    # the job carries the padded speech audio
    assert len(jobs[0].audio) >= (jobs[0].end - jobs[0].start) * SR


def test_offset_puts_times_on_the_session_clock() -> None:
    audio = track(0.5, speak("Hello.", "en-us"), 1.0)
    jobs = push_in_frames(SpeechDetector("therapist", offset_s=100.0), audio)
    assert len(jobs) == 1
    assert jobs[0].start == pytest.approx(100.5, abs=0.25)


def test_interim_jobs_share_the_final_id() -> None:
    long = speak(
        "When I get home from work the house is so quiet and I just sit there thinking "
        "about everything that went wrong this year.",
        "en-us",
    )
    jobs = push_in_frames(SpeechDetector("client", interim_interval_s=1.0), track(0.5, long, 1.0))
    interims = [j for j in jobs if not j.final]
    finals = [j for j in jobs if j.final]
    assert len(finals) == 1
    assert len(interims) >= 3
    assert {j.utterance_id for j in jobs} == {finals[0].utterance_id}
    assert [len(j.audio) for j in interims] == sorted(len(j.audio) for j in interims)


def test_silence_gives_no_jobs() -> None:
    assert push_in_frames(SpeechDetector("client"), np.zeros(SR * 10, np.float32)) == []


def test_recognise_applies_the_guards() -> None:
    jobs = push_in_frames(SpeechDetector("client"), track(0.5, speak("Yes.", "en-us"), 1.0))
    assert recognise(jobs[0], ScriptedTranscriber("Thanks for watching!")).text == ""
    utterance = recognise(jobs[0], ScriptedTranscriber("Yes."))
    assert (utterance.id, utterance.speaker, utterance.text, utterance.final) == (
        "c1",
        "client",
        "Yes.",
        True,
    )


def test_recognise_recording_keeps_one_utterance_per_job_in_order() -> None:
    audio = track(0.5, speak("Yes.", "en-us"), 1.0, speak("No.", "en-us"), 1.0)
    jobs = push_in_frames(SpeechDetector("client"), audio)
    utterances = recognise_recording(jobs, ScriptedTranscriber("Maybe."))
    assert [(u.id, u.text) for u in utterances] == [("c1", "Maybe."), ("c2", "Maybe.")]
    assert [u.start for u in utterances] == [j.start for j in jobs]


class JointRead(ScriptedTranscriber):
    """A joint read that hears "Yeah," at the start of its window, with the window's no-speech
    probability (0.96, as measured); the segment read alone is confident."""

    def transcribe(self, audio: np.ndarray, *, final: bool = True) -> Transcription:
        self.calls.append((len(audio), final))
        return Transcription(text="Yeah.", avg_logprob=-0.3, no_speech_prob=0.3)

    def transcribe_many(self, segments: Sequence[np.ndarray]) -> list[Transcription]:
        weak = Transcription(text="Yeah,", avg_logprob=-1.7, no_speech_prob=0.96, joint=True)
        sure = Transcription(text="Um, I mean,", avg_logprob=-0.2, no_speech_prob=0.96, joint=True)
        return [weak, sure]


def test_a_joint_segment_the_guards_would_drop_is_judged_on_a_read_alone() -> None:
    audio = track(0.5, speak("Yeah.", "en-us"), 1.0, speak("Um, I mean.", "en-us"), 1.0)
    jobs = push_in_frames(SpeechDetector("client"), audio)
    recogniser = JointRead("")
    utterances = recognise_recording(jobs, recogniser)
    assert [u.text for u in utterances] == ["Yeah.", "Um, I mean,"]
    assert recogniser.calls == [(len(jobs[0].audio), True)]  # only the dropped one read again


def test_a_segment_read_alone_is_not_read_again() -> None:
    jobs = push_in_frames(SpeechDetector("client"), track(0.5, speak("Yes.", "en-us"), 1.0))
    recogniser = ScriptedTranscriber("Thanks for watching!")
    assert [u.text for u in recognise_recording(jobs, recogniser)] == [""]
    assert len(recogniser.calls) == 1  # its own read in transcribe_many, not a second one


@pytest.mark.model
def test_whisper_reads_segments_together_and_splits_them_back(transcriber: object) -> None:
    from assistant.speech.asr import WhisperTranscriber

    assert isinstance(transcriber, WhisperTranscriber)
    clips = [speak("I feel tired all the time.", "en-us"), speak("My kids notice it.", "en-us")]
    pad = np.zeros(2400, np.float32)
    results = transcriber.transcribe_many([np.concatenate([pad, c, pad]) for c in clips])
    assert len(results) == 2
    assert "tired" in results[0].text.lower() and "kids" not in results[0].text.lower()
    assert "kids" in results[1].text.lower() and "tired" not in results[1].text.lower()
    assert all(w.start >= 0 for r in results for w in r.words)


def test_a_speculative_job_at_the_pause_has_the_final_jobs_audio() -> None:
    audio = track(0.5, speak("I have been feeling rather low lately.", "en-us"), 1.5)
    jobs = push_in_frames(SpeechDetector("client", speculate_after_ms=160), audio)
    speculative = [j for j in jobs if j.speculative]
    final = [j for j in jobs if j.final]
    assert len(final) == 1
    assert speculative, "a job is sent as soon as the pause begins"
    last = speculative[-1]
    assert (last.utterance_id, last.start, last.end) == (
        final[0].utterance_id,
        final[0].start,
        final[0].end,
    )
    np.testing.assert_array_equal(last.audio, final[0].audio)


@pytest.mark.model
def test_a_short_window_reads_a_live_segment_like_the_full_one(
    transcriber: WhisperTranscriber, live: WhisperTranscriber
) -> None:
    from assistant.testing.scoring import word_error_rate

    text = "I have been feeling tired and lonely since I moved to the city."
    clip = track(0.2, speak(text, "en-us"), 0.3)
    full, short = transcriber.transcribe(clip), live.transcribe(clip)
    assert word_error_rate(text, short.text) <= word_error_rate(text, full.text) + 0.1
    assert short.avg_logprob > -1.0 and short.no_speech_prob < 0.5
    noise = live.transcribe(np.zeros(SR * 3, np.float32))
    from assistant.speech.guards import clean

    assert clean(noise, np.zeros(SR * 3, np.float32)) == ""


def test_synthetic_speech_of_a_line_that_starts_like_an_option() -> None:
    assert len(speak("-and then we left early.", "en-us")) > SR // 2


@pytest.mark.model
def test_short_answers_survive_the_live_read_and_the_guards(live: WhisperTranscriber) -> None:
    """The live room reads each turn on a 10 s window; its log-probability for a plain "Okay."
    is about -1.1 and "Thank you." comes with a no-speech probability of 0.3-0.5, which the
    guards once took for invented text (47 of 80 short turns dropped, bench/short_turns.py)."""
    from assistant.testing.synth import VOICES

    for speaker, voice in VOICES.items():
        for phrase in ("Okay.", "Thank you.", "Thanks."):
            jobs = push_in_frames(SpeechDetector(speaker), track(0.5, speak(phrase, voice), 1.0))
            finals = [j for j in jobs if j.final]
            assert len(finals) == 1, (voice, phrase)
            heard = recognise(finals[0], live).text
            assert heard.lower().strip(".!,") == phrase.lower().strip("."), (voice, phrase, heard)

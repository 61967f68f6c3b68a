"""A 30-turn counselling dialogue (invented) used by the speech benchmarks."""

from __future__ import annotations

from assistant.events import Speaker

TURNS: list[tuple[Speaker, str]] = [
    ("therapist", "Good morning. Thanks for coming in. What would you like to talk about today?"),
    ("client", "My sleep has been terrible for months, and my doctor thought talking might help."),
    ("therapist", "You have been struggling to sleep for a long time."),
    ("client", "Yes. I lie awake until three or four, and then I drag myself through work."),
    ("therapist", "What goes through your mind while you lie awake?"),
    ("client", "Mostly work. Deadlines, emails I forgot to answer, my manager's face."),
    ("therapist", "So the worries from the day follow you into the night."),
    ("client", "Exactly. And then I check my phone, which makes it worse."),
    ("therapist", "How often do you check your phone at night?"),
    ("client", "Maybe five or six times. I know it's a bad habit."),
    ("therapist", "Part of you already sees the phone as part of the problem."),
    ("client", "I do. But it also feels like the only way to stay on top of things."),
    ("therapist", "It gives you a sense of control, even though it costs you sleep."),
    ("client", "That's a good way to put it. I hadn't thought of it like that."),
    ("therapist", "What would it be like to leave the phone in another room?"),
    ("client", "Scary at first. But I think I would sleep better."),
    ("therapist", "Is it all right if I share something that has helped other people?"),
    ("client", "Sure, go ahead."),
    ("therapist", "Some people write tomorrow's worries on paper before bed, so they can let go."),
    ("client", "I could try that. I have a notebook I never use."),
    ("therapist", "How confident are you, from one to ten, that you could try it this week?"),
    ("client", "Maybe a seven. The hard part will be the phone."),
    ("therapist", "A seven is quite high. What makes it a seven and not a three?"),
    ("client", "I really want to feel rested again. I miss having energy for my kids."),
    ("therapist", "Having energy for your children matters a lot to you."),
    ("client", "It does. They deserve a mother who isn't always exhausted."),
    ("therapist", "You want to be present for them, and sleep is part of that."),
    ("client", "Yes. Okay, I will try the notebook and keep the phone in the kitchen."),
    ("therapist", "That sounds like a clear plan. Shall we check in on it next week?"),
    ("client", "Yes, let's do that. Thank you."),
]

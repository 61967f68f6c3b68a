// Names of the cue kinds and the listening thresholds, shared by the live panel and the replay.
export const CUE_NAMES = {
  missed_reflection: "Missed reflection",
  judgmental_language: "Judgmental wording",
  advice_without_permission: "Advice without permission",
  interruption: "Interruption",
  time_check: "Time check",
  closed_question: "Closed question",
  question_streak: "Question streak",
  low_reflection_ratio: "Reflections vs questions",
  talk_time: "Talk time",
  affirmation: "Well done",
};
// MITI 4.2 thresholds; AnnoMI's median therapist talk share in high- and low-quality sessions
export const RQ_FAIR = 1, RQ_GOOD = 2, COMPLEX_FAIR = 0.4, COMPLEX_GOOD = 0.5;
export const SHARE_GOOD = 0.54, SHARE_LOW = 0.64;

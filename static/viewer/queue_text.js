// Every sentence the waiting room shows or speaks, in one place, in the page's language (t(),
// static/i18n/*.json). Numbers, ordinals and times are formatted for it (common/format.js).

import { formatCountdown, formatNumber, formatOrdinal, formatWhen, spokenDuration } from "../common/format.js";
import { LOCALE, t } from "../common/i18n.js";

export { LOCALE };

/** "less than a minute", "about 1 minute", "about 3 minutes", "about 2 hours". */
function about(seconds) {
  if (seconds < 60) return t("queue.less_than_minute");
  if (seconds < 5400) return t("queue.about_minutes", { n: Math.round(seconds / 60) });
  return t("queue.about_hours", { n: Math.round(seconds / 3600) });
}

// English says "3rd"; the other languages say "place 3" in their sentence ({n}).
const ordinal = (position) => ({ n: position, ordinal: formatOrdinal(position, LOCALE) });

export const QUEUE_TEXT = {
  // Before joining
  startsIn: (ms) => t("queue.starts_in", { time: formatCountdown(ms) }),
  startsInSpoken: (ms) => t("queue.starts_in_spoken", { duration: spokenDuration(ms) }),
  explainBefore: (startsAt, now) => t("queue.explain_before", { when: formatWhen(startsAt, now, LOCALE) }),
  get started() { return t("queue.started"); },
  get explainLate() { return t("queue.explain_late"); },
  get join() { return t("queue.join"); },
  get joining() { return t("queue.joining"); },
  get solving() { return t("queue.solving"); },
  get checking() { return t("queue.checking"); },

  // In line, before the draw
  get inLine() { return t("queue.in_line"); },
  get drawnAtStart() { return t("queue.drawn_at_start"); },
  startsInShort: (ms) => t("queue.starts_in_short", { time: formatCountdown(ms) }),
  entry: (entryId) => t("queue.entry", { id: entryId }),
  get checkTheDraw() { return t("queue.check_draw"); },
  get drawing() { return t("queue.drawing"); },
  get drawingDetail() { return t("queue.drawing_detail"); },

  // In line, with a place
  position: (position, etaS) => (etaS === null ? t("queue.position", ordinal(position))
    : t("queue.position_eta", { ...ordinal(position), eta: about(etaS) })),
  positionSpoken: (position) => t("queue.position_spoken", ordinal(position)),
  get keepOpen() { return t("queue.keep_open"); },
  get soldOutWaiting() { return t("queue.sold_out_waiting"); },
  drawNumber: (rank) => t("queue.draw_number", { n: formatNumber(rank, LOCALE) }),

  // Your turn
  get yourTurn() { return t("queue.your_turn"); },
  get gettingPass() { return t("queue.getting_pass"); },
  passExpiresIn: (ms) => t("queue.pass_expires_in", { time: formatCountdown(ms) }),
  passExpiresSpoken: (ms) => t("queue.pass_expires_spoken", { duration: spokenDuration(ms) }),
  get pickAndBuy() { return t("queue.pick_and_buy"); },
  get soldOutYourTurn() { return t("queue.sold_out_your_turn"); },
  yourTurnSpoken: (ms) => t("queue.your_turn_spoken", { duration: spokenDuration(ms) }),

  // After
  get passRanOut() { return t("queue.pass_ran_out"); },
  get placeWentOn() { return t("queue.place_went_on"); },
  get passRanOutNotice() { return t("queue.pass_ran_out_notice"); },
  get turnOver() { return t("queue.turn_over"); },
  get thanks() { return t("queue.thanks"); },
  get boughtYourShare() { return t("queue.bought_share"); },

  // Trouble
  get joinedSpoken() { return t("queue.joined_spoken"); },
  get joinFailed() { return t("queue.join_failed"); },
  get passChecking() { return t("queue.checking"); },
};

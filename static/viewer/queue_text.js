// Every sentence the waiting room shows or speaks, in one place, so that translating it later is
// one file. Numbers, ordinals and times are formatted for the page's language (common/format.js).

import { formatCountdown, formatNumber, formatOrdinal, formatWhen, spokenDuration } from "../common/format.js";

export const LOCALE = document.documentElement.lang || "en";

const minutes = new Intl.PluralRules(LOCALE);

/** "less than a minute", "about 1 minute", "about 3 minutes", "about 2 hours". */
function about(seconds) {
  if (seconds < 60) return "less than a minute";
  if (seconds < 5400) {
    const m = Math.round(seconds / 60);
    return `about ${formatNumber(m, LOCALE)} ${minutes.select(m) === "one" ? "minute" : "minutes"}`;
  }
  const h = Math.round(seconds / 3600);
  return `about ${formatNumber(h, LOCALE)} ${minutes.select(h) === "one" ? "hour" : "hours"}`;
}

export const QUEUE_TEXT = {
  // Before joining
  startsIn: (ms) => `Drop starts in ${formatCountdown(ms)}`,
  startsInSpoken: (ms) => `The drop starts in ${spokenDuration(ms)}`,
  explainBefore: (startsAt, now) =>
    `Everyone who joins before ${formatWhen(startsAt, now, LOCALE)} gets a random place; joining early does not put you ahead.`,
  started: "The drop has started",
  explainLate: "You can still join: new places go to the back of the line.",
  join: "Join the line",
  joining: "Joining…",
  solving: "Checking this is a person… (a second or two)",
  checking: "Checking your place in line…",

  // In line, before the draw
  inLine: "You're in line.",
  drawnAtStart: "Places are drawn at random when the drop starts.",
  startsInShort: (ms) => `starts in ${formatCountdown(ms)}`,
  entry: (entryId) => `Entry ${entryId}`,
  checkTheDraw: "Check the draw",
  drawing: "Drawing places…",
  drawingDetail: "Your place shows here in a moment.",

  // In line, with a place
  position: (position, etaS) => `You are ${formatOrdinal(position, LOCALE)}${etaS === null ? "" : `: ${about(etaS)}`}`,
  positionSpoken: (position) => `You are ${formatOrdinal(position, LOCALE)} in line.`,
  keepOpen: "Keep this page open: Buy appears here when it's your turn.",
  soldOutWaiting: "Sold out for now: the line moves again if units come back.",
  drawNumber: (rank) => `Your number in the draw: ${formatNumber(rank, LOCALE)}`,

  // Your turn
  yourTurn: "It's your turn!",
  gettingPass: "Getting your pass…",
  passExpiresIn: (ms) => `Your pass expires in ${formatCountdown(ms)}`,
  passExpiresSpoken: (ms) => `Your pass expires in ${spokenDuration(ms)}`,
  pickAndBuy: "Pick a size and buy before your pass runs out.",
  soldOutYourTurn: "Sold out right now: if a size comes back before your pass runs out, you can still buy it.",
  yourTurnSpoken: (ms) => `It's your turn. You have ${spokenDuration(ms)} to buy.`,

  // After
  passRanOut: "Your pass ran out.",
  placeWentOn: "Your place went to the next person in line.",
  passRanOutNotice: "Your pass ran out, so your place went to the next person in line.",
  turnOver: "Your turn in line is over.",
  thanks: "Thanks for shopping the drop!",
  boughtYourShare: "You've bought as many as one person may at this drop's price.",

  // Trouble
  joinedSpoken: "You're in line. Places are drawn at random when the drop starts.",
  joinFailed: "We couldn't reach the shop to join the line. Check your connection, then try again.",
  passChecking: "Checking your place in line…",
};

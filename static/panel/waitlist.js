// Back in stock, the host's side (docs/notify.md): how many people wait for each sold-out size, and
// how many hold an offer right now, beside the lineup's stock chips. Polled (GET /api/waitlist):
// the count matters at a glance, not to the second.

import { t } from "../common/i18n.js";

const POLL_MS = 10000;

export class WaitlistCounts {
  constructor(panel) {
    this.panel = panel;
    this.bySku = {}; // sku -> {waiting, offered}
  }

  start() {
    this.refresh();
    setInterval(() => this.refresh(), POLL_MS);
  }

  async refresh() {
    try {
      const answer = await this.panel.api("/api/waitlist");
      this.bySku = Object.fromEntries(answer.sizes.map((s) => [s.sku, { waiting: s.waiting, offered: s.offered }]));
    } catch {
      return; // the next poll tries again; the lineup keeps its last counts
    }
    this.panel.lineup.showStock();
  }

  /** " · 3 waiting, 1 offered" for a chip, or "" when nobody waits for that size. */
  suffix(sku) {
    const counts = this.bySku[sku];
    if (!counts || (!counts.waiting && !counts.offered)) return "";
    return counts.offered ? t("panel.waitlist.waiting_offered", { n: counts.waiting, offered: counts.offered })
      : t("panel.waitlist.waiting", { n: counts.waiting });
  }
}
